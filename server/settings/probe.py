"""Is a service up? Kept apart from env.py so callers can ask before the environment is read."""
import socket
from urllib.parse import urlparse


def reachable(url: str | None, *, timeout: float = 0.5) -> bool:
    """True when a TCP connection to the URL's host and port succeeds (sqlite is always reachable)."""
    if not url:
        return False
    parsed = urlparse(url)
    if parsed.scheme.startswith("sqlite"):
        return True
    default_port = {"postgres": 5432, "postgresql": 5432, "redis": 6379}.get(parsed.scheme, 0)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout):
            return True
    except OSError:
        return False
