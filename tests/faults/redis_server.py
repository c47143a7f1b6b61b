"""A redis-server of the test's own, on a free port, that a test can kill and bring back on the same port."""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """`redis-server` with no persistence (`--save "" --appendonly no`): a restart comes back empty, as a
    cache or broker host that was replaced would. `kill()` is SIGKILL (no goodbye to clients), `shutdown()`
    is SHUTDOWN NOSAVE; `start()` brings it back on the same port."""

    def __init__(self, directory: Path, *, port: int | None = None):
        self.directory, self.port = Path(directory), port or free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = self.directory / "redis.log"
        self.starts = 0

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, *, timeout: float = 15.0) -> "RedisServer":
        assert not self.running, "redis-server is already running"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--logfile", str(self.log_path), "--daemonize", "no",
             "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.process.returncode}):\n{self._log()}")
            if self.ping():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer PING within {timeout} s:\n{self._log()}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> bytes:
        """One command in the inline protocol (enough for INFO, DBSIZE, SHUTDOWN)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall((" ".join(args) + "\r\n").encode())
            try:
                return conn.recv(65536)
            except OSError:
                return b""

    def dbsize(self, db: int) -> int:
        """How many keys database `db` holds."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(f"SELECT {db}\r\nDBSIZE\r\n".encode())
            reply = b""
            while reply.count(b"\r\n") < 2:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                reply += chunk
        return int(reply.split(b"\r\n")[1].lstrip(b":"))

    def kill(self) -> None:
        """SIGKILL: open connections are cut without a word, the port refuses new ones at once."""
        if self.running:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def shutdown(self) -> None:
        """SHUTDOWN NOSAVE, the orderly way down."""
        if self.running:
            self.command("SHUTDOWN", "NOSAVE")
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def _log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""
