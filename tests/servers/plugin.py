"""Real servers on loopback for integration tests: mosquitto, VictoriaMetrics, Home Assistant.

A pytest plugin (``pytest_plugins = ["tests.servers.plugin"]`` in the root conftest). Each server
fixture picks a free 127.0.0.1 port, starts the daemon in its own temp dir, waits (bounded) until
it answers, yields a small handle and SIGTERMs the daemon at the end. A missing binary fails the
test under CI=true and skips it locally; either way the message says to run
scripts/install-test-servers.sh.

Fixtures:
  mosquitto_anon, mosquitto_auth (session)   -> MqttBroker
  mosquitto_stoppable (function)             -> MqttBroker, free to stop()/start()
  victoria_metrics (session)                 -> VictoriaMetrics
  victoria_metrics_stoppable (function)      -> VictoriaMetrics, free to stop()/start()
  home_assistant (session)                   -> HomeAssistant (its own broker: .mqtt)
  free_port (function)                       -> an unused loopback port (a "server down" URL)
Tests using these get the ``servers`` / ``homeassistant`` markers automatically.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import paho.mqtt.client as mqtt
import pytest
import requests
from paho.mqtt.subscribeoptions import SubscribeOptions

__all__ = [
    "HA_VERSION",
    "HomeAssistant",
    "MqttBroker",
    "MqttCollector",
    "MqttMessage",
    "VictoriaMetrics",
    "find_free_port",
    "free_port",
    "home_assistant",
    "mosquitto_anon",
    "mosquitto_auth",
    "mosquitto_stoppable",
    "pytest_collection_modifyitems",
    "victoria_metrics",
    "victoria_metrics_stoppable",
]

LOOPBACK = "127.0.0.1"
HA_VERSION = "2024.3.3"
INSTALL_HINT = "run scripts/install-test-servers.sh"

# Fixtures whose users get a marker, so `-m "not homeassistant"` deselects them without any
# decorator (tests should still carry the marker explicitly, for readers).
_SERVER_FIXTURES = {
    "mosquitto_anon",
    "mosquitto_auth",
    "mosquitto_stoppable",
    "victoria_metrics",
    "victoria_metrics_stoppable",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "home_assistant" in names and not item.get_closest_marker("homeassistant"):
            item.add_marker(pytest.mark.homeassistant)
        if names & _SERVER_FIXTURES and not item.get_closest_marker("servers"):
            item.add_marker(pytest.mark.servers)


# --------------------------------------------------------------------------- process plumbing


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _missing(what: str) -> NoReturn:
    # In CI a missing server must fail loudly: a silent skip would hide an install problem.
    message = f"{what} not found: {INSTALL_HINT}"
    if _in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _find_binary(name: str) -> str:
    # mosquitto lives in /usr/sbin, which is not on every user's PATH.
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/sbin", "/usr/local/sbin", "/usr/bin"):
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    _missing(f"{name!r}")


def find_free_port() -> int:
    """A loopback TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _port_open(port: int, host: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


_LIVE: set[Daemon] = set()


@atexit.register
def _stop_leftovers() -> None:
    # Safety net when pytest dies before fixture finalizers run.
    for daemon in list(_LIVE):
        daemon.stop()


class Daemon:
    """One background server process: start, wait until ready, stop with SIGTERM."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        ready: Callable[[], bool],
        *,
        start_timeout: float = 15.0,
        stop_timeout: float = 15.0,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.ready = ready
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> None:
        if self.running:
            return
        with self.log_path.open("ab") as log:
            # Same process group as pytest, so a Ctrl-C in a terminal stops the servers too.
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.cwd,
            )  # fmt: skip
        _LIVE.add(self)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                _LIVE.discard(self)
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} during start-up "
                    f"({' '.join(self.argv)}); log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if self.ready():
                    return
            except Exception:  # not ready yet (connection refused, 5xx, ...)
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(
                    f"{self.name} not ready after {self.start_timeout:.0f} s; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        _LIVE.discard(self)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _start_with_port_retry(make: Callable[[int], Daemon], attempts: int = 3) -> tuple[Daemon, int]:
    """Start make(port) on a fresh free port, retrying if the port was taken meanwhile.

    The port is fixed from then on, so stop()/start() comes back at the same address.
    """
    error: Exception | None = None
    for _ in range(attempts):
        port = find_free_port()
        daemon = make(port)
        try:
            daemon.start()
            return daemon, port
        except RuntimeError as exc:  # exited during start-up, e.g. "Address already in use"
            error = exc
    raise RuntimeError(f"could not start after {attempts} attempts") from error


# --------------------------------------------------------------------------- MQTT


@dataclass(frozen=True)
class MqttMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool

    @property
    def text(self) -> str:
        return self.payload.decode()

    def json(self) -> Any:
        return json.loads(self.payload)


def _paho_client(*, protocol: int, username: str | None, password: str | None) -> mqtt.Client:
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"givtcp-test-{uuid.uuid4().hex[:12]}",
        protocol=protocol,
    )
    if username is not None:
        client.username_pw_set(username, password)
    return client


def _connect(client: mqtt.Client, broker: MqttBroker, timeout: float) -> mqtt.ReasonCode:
    """Connect, start the network loop and wait for CONNACK; returns its reason code."""
    done = threading.Event()
    result: list[mqtt.ReasonCode] = []

    def on_connect(client, userdata, flags, reason_code, properties):
        result.append(reason_code)
        done.set()

    client.on_connect = on_connect
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    if not done.wait(timeout):
        client.loop_stop()
        raise TimeoutError(f"no CONNACK from {broker.host}:{broker.port} within {timeout} s")
    return result[0]


class MqttCollector:
    """Records every message on some topic filters, with its retain flag.

    Uses MQTT v5 with retain-as-published by default, so ``retain`` is the flag the publisher
    set, also for live messages (with v3.1.1 a broker clears it on live delivery). Messages the
    broker replays from its retained store on subscribe also have ``retain`` True.
    Subscribed (SUBACK received) when the constructor returns. Use as a context manager.
    """

    def __init__(
        self,
        broker: MqttBroker,
        topics: str | list[str],
        *,
        retain_as_published: bool = True,
        qos: int = 1,
        timeout: float = 5.0,
    ) -> None:
        self.broker = broker
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        self.messages: list[MqttMessage] = []
        self._cond = threading.Condition()
        protocol = mqtt.MQTTv5 if retain_as_published else mqtt.MQTTv311
        self.client = _paho_client(
            protocol=protocol, username=broker.username, password=broker.password
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        codes: list[Any] = []

        def on_subscribe(client, userdata, mid, reason_code_list, properties):
            codes.extend(reason_code_list)
            subscribed.set()

        self.client.on_subscribe = on_subscribe
        rc = _connect(self.client, broker, timeout)
        if rc.is_failure:
            self.close()
            raise ConnectionError(f"MQTT connect refused: {rc}")
        if retain_as_published:
            opts = SubscribeOptions(qos=qos, retainAsPublished=True)
            self.client.subscribe([(t, opts) for t in self.topics])
        else:
            self.client.subscribe([(t, qos) for t in self.topics])
        if not subscribed.wait(timeout) or any(c.is_failure for c in codes):
            self.close()
            raise ConnectionError(f"MQTT subscribe to {self.topics} failed: {codes}")

    def _on_message(self, client, userdata, msg) -> None:
        message = MqttMessage(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain))
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def snapshot(self) -> list[MqttMessage]:
        with self._cond:
            return list(self.messages)

    def by_topic(self) -> dict[str, MqttMessage]:
        """The last message per topic."""
        return {m.topic: m for m in self.snapshot()}

    def wait_for(
        self,
        predicate: Callable[[list[MqttMessage]], bool] | None = None,
        *,
        topic: str | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[MqttMessage]:
        """Wait until predicate(all messages) holds, or `count` messages (on `topic`) arrived.

        Returns all messages (on `topic`, if given); raises TimeoutError with what did arrive.
        """

        def selected() -> list[MqttMessage]:
            return [m for m in self.messages if topic is None or m.topic == topic]

        def satisfied() -> bool:
            return predicate(list(self.messages)) if predicate else len(selected()) >= count

        with self._cond:
            if not self._cond.wait_for(satisfied, timeout):
                seen = sorted({m.topic for m in self.messages})
                raise TimeoutError(
                    f"MQTT: condition not met within {timeout} s on {self.topics}; "
                    f"{len(self.messages)} messages, topics {seen[:20]}"
                )
            return selected()

    def wait_quiet(self, quiet: float = 0.5, timeout: float = 10.0) -> list[MqttMessage]:
        """Wait until no message arrived for `quiet` seconds (the burst is over)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                before = len(self.messages)
                self._cond.wait(quiet)
                if len(self.messages) == before or time.monotonic() > deadline:
                    return list(self.messages)

    def close(self) -> None:
        # Disconnect first: the network thread then ends at once instead of on its 1 s select.
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> MqttCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaemonControl:
    """Stop/start for server handles whose ``_daemon`` runs the server: for "server down"
    tests; start() brings it back on the same port with its data kept."""

    _daemon: Daemon

    @property
    def log_path(self) -> Path:
        return self._daemon.log_path

    @property
    def running(self) -> bool:
        return self._daemon.running

    def stop(self) -> None:
        """SIGTERM the server."""
        self._daemon.stop()

    def start(self) -> None:
        self._daemon.start()

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class MqttBroker(DaemonControl):
    """A mosquitto on loopback. username/password are None on an anonymous broker."""

    host: str
    port: int
    username: str | None
    password: str | None
    workdir: Path
    _daemon: Daemon = field(repr=False)

    def auth(self) -> dict[str, str] | None:
        """The `auth` argument for paho.mqtt.publish.single/multiple."""
        if self.username is None:
            return None
        return {"username": self.username, "password": self.password or ""}

    def collect(self, topics: str | list[str], **kwargs: Any) -> MqttCollector:
        """Subscribe now; see MqttCollector. ``with broker.collect("GivEnergy/#") as sub: ...``"""
        return MqttCollector(self, topics, **kwargs)

    def publish(self, topic: str, payload: str | bytes, *, retain: bool = False, qos: int = 1):
        import paho.mqtt.publish as publish

        publish.single(
            topic, payload, qos=qos, retain=retain, hostname=self.host, port=self.port,
            auth=self.auth(), protocol=mqtt.MQTTv311,
        )  # fmt: skip

    def try_connect(
        self, username: str | None = None, password: str | None = None, timeout: float = 5.0
    ) -> mqtt.ReasonCode:
        """Connect with these credentials and return the CONNACK reason code (then disconnect).

        ``.is_failure`` tells refusal; bad credentials give "Not authorized" (v3.1.1 code 5,
        mapped to 135 by paho). A stopped broker raises ConnectionRefusedError.
        """
        client = _paho_client(protocol=mqtt.MQTTv311, username=username, password=password)
        try:
            return _connect(client, self, timeout)
        finally:
            with contextlib.suppress(Exception):
                client.disconnect()
            client.loop_stop()

    def retained(self, topic_filter: str = "#", timeout: float = 5.0) -> dict[str, MqttMessage]:
        """What the broker holds retained under `topic_filter` right now (fresh subscription)."""
        sentinel = f"givtcp-test/sentinel/{uuid.uuid4().hex}"
        with self.collect([topic_filter, sentinel], timeout=timeout) as sub:
            # Retained messages are queued on subscribe, before the sentinel we publish after it.
            sub.client.publish(sentinel, b"", qos=1)
            sub.wait_for(topic=sentinel, timeout=timeout)
            return {
                m.topic: m for m in sub.snapshot() if m.retain and m.topic != sentinel and m.payload
            }

    def clear_retained(self, topic_filter: str = "#") -> list[str]:
        """Delete retained messages under `topic_filter` (empty retained payload); the topics."""
        topics = sorted(self.retained(topic_filter))
        for topic in topics:
            self.publish(topic, b"", retain=True)
        return topics


def _start_mosquitto(
    workdir: Path, name: str, *, users: dict[str, str] | None = None
) -> MqttBroker:
    binary = _find_binary("mosquitto")
    workdir.mkdir(parents=True, exist_ok=True)
    passwd = workdir / "passwd"
    if users:
        tool = _find_binary("mosquitto_passwd")
        passwd.unlink(missing_ok=True)
        for i, (user, password) in enumerate(users.items()):
            create = ["-c"] if i == 0 else []
            subprocess.run(
                [tool, *create, "-b", str(passwd), user, password],
                check=True, capture_output=True, stdin=subprocess.DEVNULL,
            )  # fmt: skip

    def make(port: int) -> Daemon:
        lines = []
        if os.geteuid() == 0:
            # As root mosquitto drops to user "mosquitto", who cannot read pytest's 0700 tmp dirs.
            lines.append("user root")
        lines += [
            "persistence false",
            "log_dest stderr",  # stdout is block-buffered when redirected
            "max_queued_messages 100000",  # big discovery bursts to a slow subscriber
            f"listener {port} {LOOPBACK}",
        ]
        if users:
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines += ["allow_anonymous true"]
        conf = workdir / f"{name}.conf"
        conf.write_text("\n".join(lines) + "\n")
        return Daemon(
            f"mosquitto ({name})",
            [binary, "-c", str(conf)],
            workdir / f"{name}.log",
            lambda: _port_open(port),
        )

    daemon, port = _start_with_port_retry(make)
    user, password = next(iter(users.items())) if users else (None, None)
    return MqttBroker(LOOPBACK, port, user, password, workdir, daemon)


MQTT_USER = "inverter"
MQTT_PASSWORD = "s3cret"


@pytest.fixture(scope="session")
def mosquitto_anon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MqttBroker]:
    """Anonymous mosquitto, shared by the session: use unique topics per test."""
    broker = _start_mosquitto(tmp_path_factory.mktemp("mosquitto-anon"), "anon")
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def mosquitto_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MqttBroker]:
    """Password mosquitto (anonymous refused); .username/.password are the valid credentials."""
    broker = _start_mosquitto(
        tmp_path_factory.mktemp("mosquitto-auth"), "auth", users={MQTT_USER: MQTT_PASSWORD}
    )
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto_stoppable(tmp_path: Path) -> Iterator[MqttBroker]:
    """A test's own anonymous broker: stop()/start()/restart() freely (same port)."""
    broker = _start_mosquitto(tmp_path / "mosquitto", "stoppable")
    yield broker
    broker.stop()


@pytest.fixture
def free_port() -> int:
    """A loopback port with nothing listening: a "server down" address."""
    return find_free_port()


# --------------------------------------------------------------------------- VictoriaMetrics


@dataclass
class VictoriaMetrics(DaemonControl):
    """VictoriaMetrics as the InfluxDB v2 write API (``influxdb_client.InfluxDBClient(url=...)``).

    Bucket, org and token are ignored by it; metric names are ``<measurement>_<field>``, tags
    become labels, strings are stored as 0 (see shared/reference/test-servers.md §3).
    """

    host: str
    port: int
    data_dir: Path
    _daemon: Daemon = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def force_flush(self) -> None:
        """Make recently written samples searchable (they otherwise lag by seconds)."""
        requests.post(f"{self.url}/internal/force_flush", timeout=10).raise_for_status()

    def export(
        self,
        match: str,
        *,
        timeout: float = 10.0,
        until: Callable[[list[dict[str, Any]]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Series matching a selector, e.g. ``'{__name__=~"SA1234G567_.*"}'`` or a metric name.

        Each series is ``{"metric": {"__name__": ..., labels}, "values": [...],
        "timestamps": [ms, ...]}``. Flushes and polls until ``until(series)`` holds (default:
        any series found) or `timeout` passes, then returns what it has (maybe []).
        """
        until = until or bool
        deadline = time.monotonic() + timeout
        while True:
            self.force_flush()
            response = requests.get(
                f"{self.url}/api/v1/export", params={"match[]": match}, timeout=10
            )
            response.raise_for_status()
            series = [json.loads(line) for line in response.text.splitlines() if line.strip()]
            if until(series) or time.monotonic() > deadline:
                return series
            time.sleep(0.2)

    def query(self, promql: str) -> dict[str, Any]:
        """Instant PromQL query (``/api/v1/query``); returns the JSON ``data`` member."""
        response = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        response.raise_for_status()
        return response.json()["data"]


def _start_victoria_metrics(workdir: Path) -> VictoriaMetrics:
    binary = _find_binary("victoria-metrics")
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "vm-data"

    def make(port: int) -> Daemon:
        def ready() -> bool:
            return requests.get(f"http://{LOOPBACK}:{port}/health", timeout=1).text.strip() == "OK"

        return Daemon(
            "victoria-metrics",
            [
                binary,
                f"-httpListenAddr={LOOPBACK}:{port}",
                f"-storageDataPath={data_dir}",
                "-retentionPeriod=100y",  # keep old test timestamps
                "-search.latencyOffset=0s",  # fresh points queryable at once
                "-search.disableCache",
            ],
            workdir / "vm.log",
            ready,
        )

    daemon, port = _start_with_port_retry(make)
    return VictoriaMetrics(LOOPBACK, port, data_dir, daemon)


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """Shared by the session: use unique measurement names (serials) per test."""
    vm = _start_victoria_metrics(tmp_path_factory.mktemp("victoria-metrics"))
    yield vm
    vm.stop()


@pytest.fixture
def victoria_metrics_stoppable(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A test's own VictoriaMetrics: stop()/start() freely (same port and data)."""
    vm = _start_victoria_metrics(tmp_path / "victoria-metrics")
    yield vm
    vm.stop()


# --------------------------------------------------------------------------- Home Assistant


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_jwt(claims: dict[str, Any], key: str) -> str:
    """A signed HS256 JWT, standard library only (what HA's access tokens are)."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def _ha_venv() -> Path:
    # Same default as scripts/install-test-servers.sh.
    if os.environ.get("GIVTCP_HA_VENV"):
        return Path(os.environ["GIVTCP_HA_VENV"])
    cache = os.environ.get("GIVTCP_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "givtcp"
    )
    return Path(cache) / f"ha-{HA_VERSION}"


def _seed_ha_config(config_dir: Path, port: int, broker: MqttBroker) -> str:
    """Write an onboarded HA config with an owner, a long-lived token and an MQTT entry.

    Offline seeding (test-servers.md §4.3 Method B): no browser, no onboarding API. Returns the
    access token (HS256 JWT over the seeded refresh token's jwt_key).
    """
    storage = config_dir / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(
        "homeassistant:\n"
        "  name: Test\n"
        "  latitude: 52.5\n"
        "  longitude: 13.4\n"
        "  elevation: 0\n"
        "  unit_system: metric\n"
        "  time_zone: UTC\n"
        "  country: DE\n"
        "  currency: EUR\n"
        "http:\n"
        f"  server_host: {LOOPBACK}\n"
        f"  server_port: {port}\n"
        "api:\n"
        "logger:\n"
        "  default: warning\n"
    )
    now = time.time()
    created = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now))
    user_id = uuid.uuid4().hex
    token_id = uuid.uuid4().hex
    jwt_key = secrets.token_hex(64)

    def store(key: str, data: Any, *, version: int = 1, minor: int = 1) -> None:
        doc = {"version": version, "minor_version": minor, "key": key, "data": data}
        (storage / key).write_text(json.dumps(doc, indent=2))

    store(
        "auth",
        {
            "users": [
                {
                    "id": user_id,
                    "group_ids": ["system-admin"],
                    "is_owner": True,
                    "is_active": True,
                    "name": "GivTCP test",
                    "system_generated": False,
                    "local_only": False,
                }
            ],
            # System groups: HA fills in their names and policies on load.
            "groups": [
                {"id": "system-admin", "name": "Administrators"},
                {"id": "system-users", "name": "Users"},
                {"id": "system-read-only", "name": "Read Only"},
            ],
            "credentials": [],
            "refresh_tokens": [
                {
                    "id": token_id,
                    "user_id": user_id,
                    "client_id": None,
                    "client_name": "givtcp-tests",
                    "client_icon": None,
                    "token_type": "long_lived_access_token",
                    "created_at": created,
                    "access_token_expiration": 315360000.0,
                    "token": secrets.token_hex(64),
                    "jwt_key": jwt_key,
                    "last_used_at": None,
                    "last_used_ip": None,
                    "expire_at": None,
                    "credential_id": None,
                    "version": HA_VERSION,
                }
            ],
        },
    )
    store(
        "onboarding",
        {"done": ["user", "core_config", "analytics", "integration"]},
        version=4,
    )
    mqtt_data: dict[str, Any] = {"broker": broker.host, "port": broker.port, "discovery": True}
    if broker.username is not None:
        mqtt_data |= {"username": broker.username, "password": broker.password}
    store(
        "core.config_entries",
        {
            "entries": [
                {
                    "entry_id": uuid.uuid4().hex,
                    "version": 1,
                    "minor_version": 1,
                    "domain": "mqtt",
                    "title": broker.host,
                    "data": mqtt_data,
                    "options": {},
                    "pref_disable_new_entities": False,
                    "pref_disable_polling": False,
                    "source": "user",
                    "unique_id": None,
                    "disabled_by": None,
                }
            ]
        },
    )
    iat = int(now) - 60
    return _hs256_jwt({"iss": token_id, "iat": iat, "exp": iat + 10 * 365 * 86400}, jwt_key)


@dataclass
class HomeAssistant:
    """Home Assistant 2024.3.3 on loopback, onboarded, with MQTT discovery on ``mqtt``.

    ``token`` is a long-lived admin access token (``Authorization: Bearer``).
    """

    host: str
    port: int
    token: str
    config_dir: Path
    mqtt: MqttBroker
    _daemon: Daemon = field(repr=False)
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def log_path(self) -> Path:
        return self._daemon.log_path

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A REST call with the admin token, e.g. ``api("GET", "/api/states")``."""
        kwargs.setdefault("timeout", 10)
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.session.request(method, f"{self.url}{path}", headers=headers, **kwargs)

    def get_state(self, entity_id: str) -> dict[str, Any] | None:
        """The state object (``state``, ``attributes``, ...) or None when HA has no such entity."""
        response = self.api("GET", f"/api/states/{entity_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def post_state(
        self, entity_id: str, state: str, attributes: dict[str, Any] | None = None
    ) -> requests.Response:
        body: dict[str, Any] = {"state": state}
        if attributes is not None:
            body["attributes"] = attributes
        return self.api("POST", f"/api/states/{entity_id}", json=body)

    def states(self) -> list[dict[str, Any]]:
        response = self.api("GET", "/api/states")
        response.raise_for_status()
        return response.json()

    def wait_for_entity(
        self,
        entity_id: str,
        timeout: float = 30.0,
        until: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Poll until the entity exists (and ``until(state)`` holds); TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        state = None
        while True:
            state = self.get_state(entity_id)
            if state is not None and (until is None or until(state)):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{entity_id} not as expected after {timeout} s; last state: {state}"
                )
            time.sleep(0.2)

    def ws(self, command: str, **payload: Any) -> Any:
        """One websocket API command (admin), e.g. ``ws("config/entity_registry/list")``."""
        import websocket  # websocket-client, from requirements-dev.txt

        conn = websocket.create_connection(
            f"ws://{self.host}:{self.port}/api/websocket", timeout=15
        )
        try:
            assert json.loads(conn.recv())["type"] == "auth_required"
            conn.send(json.dumps({"type": "auth", "access_token": self.token}))
            auth = json.loads(conn.recv())
            if auth["type"] != "auth_ok":
                raise PermissionError(f"HA websocket auth failed: {auth}")
            conn.send(json.dumps({"id": 1, "type": command, **payload}))
            while True:
                reply = json.loads(conn.recv())
                if reply.get("id") == 1 and reply.get("type") == "result":
                    break
        finally:
            conn.close()
        if not reply.get("success"):
            raise RuntimeError(f"HA websocket {command} failed: {reply.get('error')}")
        return reply["result"]

    def entity_registry(self) -> list[dict[str, Any]]:
        """Registry entries (entity_id, unique_id, platform, device_id, ...): duplicate checks."""
        return self.ws("config/entity_registry/list")

    def device_registry(self) -> list[dict[str, Any]]:
        """Devices (id, identifiers, manufacturer, model, sw_version, name, ...)."""
        return self.ws("config/device_registry/list")

    def render_template(self, template: str) -> str:
        response = self.api("POST", "/api/template", json={"template": template})
        response.raise_for_status()
        return response.text


@pytest.fixture(scope="session")
def home_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HomeAssistant]:
    """HA 2024.3.3 from its own venv, once per session (start-up takes seconds).

    It has its own anonymous broker (``.mqtt``), discovery prefix ``homeassistant``; it is ready
    (REST up and MQTT birth ``homeassistant/status`` = online seen) when this returns.
    """
    hass = _ha_venv() / "bin" / "hass"
    if not hass.exists():
        _missing(f"Home Assistant {HA_VERSION} ({hass})")
    workdir = tmp_path_factory.mktemp("home-assistant")
    broker = _start_mosquitto(workdir / "mosquitto", "ha")
    config_dir = workdir / "config"
    port = find_free_port()
    token = _seed_ha_config(config_dir, port, broker)
    headers = {"Authorization": f"Bearer {token}"}

    def api_up() -> bool:
        response = requests.get(f"http://{LOOPBACK}:{port}/api/", headers=headers, timeout=2)
        return response.status_code == 200

    daemon = Daemon(
        f"Home Assistant {HA_VERSION}",
        # --skip-pip: never install packages at run time (no network but loopback anyway).
        [str(hass), "-c", str(config_dir), "--skip-pip", "--log-no-color"],
        workdir / "ha.log",
        api_up,
        start_timeout=120,  # cold start on a busy 2-core CI box
        stop_timeout=30,
    )
    try:
        # Subscribe before the start: the birth message is not retained.
        with broker.collect("homeassistant/status", retain_as_published=False) as birth:
            daemon.start()
            birth.wait_for(lambda ms: any(m.payload == b"online" for m in ms), timeout=60)
    except BaseException:
        daemon.stop()
        broker.stop()
        raise
    ha = HomeAssistant(LOOPBACK, port, token, config_dir, broker, daemon)
    yield ha
    ha.session.close()
    daemon.stop()
    broker.stop()
