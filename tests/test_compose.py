"""The compose file defines Django once and runs web, worker and beat from it, all health-checked."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_services_share_one_django_definition_and_have_health_checks():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    assert text.count("<<: *django") >= 3
    for name in ("web", "worker", "beat"):
        assert services[name]["image"] == "ferlab:latest"
        assert services[name]["environment"]["DJANGO_SETTINGS_MODULE"] == "server.settings.production"
    assert "gunicorn" in services["web"]["command"]
    assert all("healthcheck" in service for service in services.values())
