"""Sink servers on loopback for the cold-start benchmark: mosquitto, VictoriaMetrics, a HA stub.

Each ``start_*`` returns a ``Server`` (port, settings for read.py, a stop function) or raises
Unavailable with the reason, so the benchmark can report "not available" and go on.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .common import LOOPBACK

READY_TIMEOUT = 10.0


class Unavailable(Exception):
    """A sink server could not be started here."""


@dataclass
class Server:
    """A running sink server: its port, the read.py settings that use it, and how to stop it."""

    name: str
    port: int
    settings: dict[str, str]
    stop: Callable[[], None]
    requests: Callable[[], int] | None = None  # requests received so far, where counted


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _wait(ready: Callable[[], bool], proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Unavailable(f"{name} exited at start: {log.read_text()[-300:]}")
        if ready():
            return
        time.sleep(0.02)
    _terminate(proc)
    raise Unavailable(f"{name} did not become ready within {READY_TIMEOUT:.0f} s")


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _daemon(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=handle)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=0.2).close()
        return True
    except OSError:
        return False


def start_mosquitto(workdir: Path) -> Server:
    """Anonymous mosquitto on a free loopback port (test-servers.md §1)."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise Unavailable("mosquitto is not installed (scripts/install-test-servers.sh)")
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"persistence false\nlog_dest stderr\nlistener {port} {LOOPBACK}\nallow_anonymous true\n"
    )
    proc = _daemon([binary, "-c", str(conf)], workdir / "mosquitto.log")
    _wait(lambda: _accepts(port), proc, "mosquitto", workdir / "mosquitto.log")
    settings = {"MQTT_OUTPUT": "True", "MQTT_ADDRESS": LOOPBACK, "MQTT_PORT": str(port)}
    return Server("mosquitto", port, settings, lambda: _terminate(proc))


def start_victoria_metrics(workdir: Path) -> Server:
    """VictoriaMetrics (InfluxDB v2 write API) on a free loopback port (test-servers.md §3)."""
    binary = shutil.which("victoria-metrics")
    if binary is None:
        raise Unavailable("victoria-metrics is not installed (scripts/install-test-servers.sh)")
    port = free_port()
    argv = [
        binary,
        f"-httpListenAddr={LOOPBACK}:{port}",
        f"-storageDataPath={workdir / 'vm'}",
        "-retentionPeriod=100y",
    ]
    proc = _daemon(argv, workdir / "vm.log")

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/health", timeout=0.5) as reply:
                return reply.read().strip() == b"OK"
        except OSError:
            return False

    _wait(healthy, proc, "victoria-metrics", workdir / "vm.log")
    settings = {
        "INFLUX_OUTPUT": "True",
        "INFLUX_URL": f"http://{LOOPBACK}:{port}",
        "INFLUX_TOKEN": "benchmark",
    }
    return Server("victoria-metrics", port, settings, lambda: _terminate(proc))


class _HaHandler(BaseHTTPRequestHandler):
    """Answers like Home Assistant's REST API: GET /api/ and POST /api/states/<entity>, with
    keep-alive and TCP_NODELAY as Home Assistant's aiohttp server does (without TCP_NODELAY,
    Nagle and delayed ACKs would add ~40 ms to every request on a kept-alive connection)."""

    server: _HaServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.server.count()
        self._reply(200, {"message": "API running."})

    def do_POST(self) -> None:
        self.server.count()
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._reply(400, {"message": "Invalid JSON specified."})
            return
        entity = self.path.rsplit("/", 1)[-1]
        self._reply(200, {"entity_id": entity, **body})

    def _reply(self, status: int, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the benchmark's stdout is its result."""


class _HaServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _HaHandler)
        self.received = 0
        self._lock = threading.Lock()

    def count(self) -> None:
        with self._lock:
            self.received += 1


def start_ha_stub() -> Server:
    """A tiny local stand-in for Home Assistant's REST API (any token accepted)."""
    httpd = _HaServer()
    thread = threading.Thread(target=httpd.serve_forever, name="ha-stub", daemon=True)
    thread.start()
    port = int(httpd.server_address[1])

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()

    settings = {"HA_OUTPUT": "True", "HA_URL": f"http://{LOOPBACK}:{port}", "HA_TOKEN": "benchmark"}
    return Server("HA REST stub", port, settings, stop, lambda: httpd.received)
