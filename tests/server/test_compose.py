"""The compose file defines Django once and runs web, worker and beat from it, all health-checked."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


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


def test_the_web_tier_runs_the_measured_gunicorn_settings():
    import subprocess
    import sys

    web = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"]
    assert "-c server/gunicorn.conf.py" in web  # the settings bench/annotate_load.py measures
    check = subprocess.run([sys.executable, "-m", "gunicorn", "--check-config", "-c", "server/gunicorn.conf.py", "server.wsgi"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    from gunicorn.config import Config

    config = Config()
    namespace = {}
    exec(compile((ROOT / "server/gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    for key in ("workers", "threads", "worker_class", "keepalive"):
        config.set(key, namespace[key])
    assert (config.workers, config.threads, config.worker_class_str) == (3, 3, "gthread")


def test_every_job_queue_has_a_worker_in_compose_and_in_the_demo():
    import re

    from annotate.management.commands import demo
    from annotate.services.job_kinds import JOB_KINDS, QUEUE_ML
    from server.settings import base

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    consumed = {name: set(re.search(r"-Q (\S+)", s["command"]).group(1).split(",")) for name, s in services.items()
                if "celery" in str(s.get("command", "")) and " worker " in s["command"]}
    assert consumed == {"worker": {"default"}, "worker-ml": {"ml"}}
    needed = {base.FERLAB_JOB_QUEUES[spec.queue] for spec in JOB_KINDS.values()}
    assert needed == {"default", "ml"} and base.CELERY_TASK_DEFAULT_QUEUE == "default"
    assert base.FERLAB_JOB_QUEUES[QUEUE_ML] == "ml"
    assert set(demo.WORKER_QUEUES.split(",")) == needed  # the demo's one worker consumes both
