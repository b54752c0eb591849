"""read.py with unusable settings, state folders and outputs, run as a user would (a subprocess
against the simulator): a clear answer with the documented exit code, never a traceback, never a
secret on stderr, and nothing left in the clone."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.conftest import PROJECT_ROOT
from tests.scripts import Run

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)
TEMPLATE = PROJECT_ROOT / "settings_template.py"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(SimulatorConfig(seed=5, speed=0.0, start_time=NOON, batteries=1))
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


def run_read(*args: str, env: dict[str, str], user: int | None = None, timeout: float = 60) -> Run:
    """read.py with exactly ``env`` (plus PATH and LANG): no STATE_LOCATION unless given."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG")}
    proc = subprocess.run(
        [sys.executable, "read.py", *args],
        cwd=PROJECT_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def inverter_env(sim: Simulator, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "HOME": str(tmp_path / "home"),
        "GIVTCP_SETTINGS": str(TEMPLATE),
        "INVERTOR_IP": "127.0.0.1",
        "INVERTOR_PORT": str(sim.port),
        "NUM_BATTERIES": "1",
        "STATE_LOCATION": str(tmp_path / "state"),
        **extra,
    }


def assert_clear_error(run: Run, code: int, *words: str) -> str:
    assert run.code == code, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    message = run.error()["error"]
    for word in words:
        assert word in message, message
    return message


# --------------------------------------------------------------------------- item 16: state


def test_a_file_where_the_state_folder_should_be_exits_2_before_reading(sim, tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("not a folder")
    for location in (blocker, blocker / "below"):
        run = run_read("runAll", env=inverter_env(sim, tmp_path, STATE_LOCATION=str(location)))
        assert_clear_error(run, 2, "STATE_LOCATION", "State_Location", str(location))
    assert sim.requests == []


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder this user may not write to. Root writes through any mode bits, so for root it
    is /sys, a folder of the kernel's where nobody may create a file."""
    if os.geteuid() == 0:
        if not os.path.isdir("/sys"):
            pytest.skip("running as root without /sys: no folder that root cannot write")
        yield Path("/sys")
        return
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def test_a_read_only_state_folder_exits_2_before_reading(sim, tmp_path, read_only_folder):
    before = set(read_only_folder.iterdir())
    env = inverter_env(sim, tmp_path, STATE_LOCATION=str(read_only_folder))
    run = run_read("runAll", env=env)
    assert_clear_error(run, 2, "STATE_LOCATION", "State_Location", "Permission denied")
    assert sim.requests == []
    assert set(read_only_folder.iterdir()) == before


def test_a_missing_tmpdir_still_reads_with_one_warning(sim, tmp_path):
    env = inverter_env(sim, tmp_path, TMPDIR=str(tmp_path / "missing"))
    run = run_read("getTimeslots", env=env)
    assert run.code == 0, run.stderr
    assert "Timeslots" in run.json()
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "TMPDIR" in lines[0] and "/tmp" in lines[0] and lines[0].startswith("WARNING")
    assert not (tmp_path / "missing").exists()


def test_an_overlong_inverter_address_exits_2_naming_it(tmp_path):
    env = {"GIVTCP_SETTINGS": str(TEMPLATE), "STATE_LOCATION": str(tmp_path)}
    run = run_read("runAll", env={**env, "INVERTOR_IP": "a" * 300})
    assert_clear_error(run, 2, "INVERTOR_IP", "300 characters")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- item 17: outputs


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"MQTT_OUTPUT": "True"}, ("MQTT_ADDRESS", "MQTT_Address", "empty")),
        ({"MQTT_OUTPUT": "True", "MQTT_ADDRESS": "mqtt://broker"}, ("MQTT_ADDRESS", "scheme")),
        ({"HA_OUTPUT": "True", "HA_TOKEN": "t"}, ("HA_URL", "HA_url", "empty")),
        ({"HA_OUTPUT": "True", "HA_URL": "homeassistant:8123", "HA_TOKEN": "t"}, ("HA_URL",)),
        ({"HA_OUTPUT": "True", "HA_URL": "http://127.0.0.1:8123"}, ("HA_TOKEN", "HA_token")),
        ({"INFLUX_OUTPUT": "True", "INFLUX_URL": ""}, ("INFLUX_URL", "influxURL", "empty")),
        (
            {"INFLUX_OUTPUT": "True", "INFLUX_URL": "ftp://127.0.0.1", "INFLUX_TOKEN": "t"},
            ("INFLUX_URL", "http://"),
        ),
        (
            {"INFLUX_OUTPUT": "True", "INFLUX_URL": "http://127.0.0.1:99999", "INFLUX_TOKEN": "t"},
            ("INFLUX_URL", "port"),
        ),
        ({"INFLUX_OUTPUT": "True"}, ("INFLUX_TOKEN", "influxToken")),
        ({"INFLUX_OUTPUT": "True", "INFLUX_TOKEN": "t", "INFLUX_ORG": ""}, ("INFLUX_ORG",)),
        ({"INFLUX_OUTPUT": "True", "INFLUX_TOKEN": "t", "INFLUX_BUCKET": ""}, ("INFLUX_BUCKET",)),
    ],
)
def test_an_output_without_its_settings_exits_2_before_reading(sim, tmp_path, extra, words):
    run = run_read("runAll", env=inverter_env(sim, tmp_path, **extra))
    assert_clear_error(run, 2, *words)
    assert sim.requests == [], "nothing may be read with a bad setting"


def test_an_influx_url_with_a_password_is_refused_without_echoing_it(sim, tmp_path):
    url = "http://admin:pa55-word-xyz@127.0.0.1:8086"
    run = run_read("runAll", env=inverter_env(sim, tmp_path, INFLUX_OUTPUT="1", INFLUX_URL=url))
    assert_clear_error(run, 2, "INFLUX_URL", "password")
    assert "pa55-word-xyz" not in run.stderr
    assert sim.requests == []


# --------------------------------------------------------------------------- item 18: secrets


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    """A server that fails every request with a 500 whose body echoes the request headers, as
    some proxies and debug builds do."""

    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
        type(self).seen.append(headers)
        body = json.dumps({"code": "internal error", "message": f"cannot handle {headers}"})
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    _EchoHandler.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("extra", "secret"),
    [
        ({"INFLUX_OUTPUT": "True", "INFLUX_TOKEN": "influx-tok-4711abc"}, "influx-tok-4711abc"),
        ({"HA_OUTPUT": "True", "HA_TOKEN": "ha-long-lived-0815xyz"}, "ha-long-lived-0815xyz"),
    ],
)
def test_a_server_echoing_the_token_in_its_error_never_puts_it_on_stderr(
    sim, tmp_path, echo_server, extra, secret
):
    url = {"INFLUX_URL": echo_server} if "INFLUX_OUTPUT" in extra else {"HA_URL": echo_server}
    run = run_read("runAll", "-v", env=inverter_env(sim, tmp_path, **extra, **url))
    assert run.code == 3, run.stderr
    assert any(secret in headers for headers in _EchoHandler.seen), "the server saw the token"
    assert "500" in run.stderr
    assert "Authorization: ***" in run.stderr
    assert secret not in run.stderr
    assert secret not in run.stdout


def test_an_unquoted_password_in_settings_py_is_never_echoed(tmp_path):
    settings = tmp_path / "settings.py"
    settings.write_text(
        'class GiV_Settings:\n    invertorIP = "127.0.0.1"\n    MQTT_Password = hunter2secretpw\n'
    )
    run = run_read("runAll", env={"GIVTCP_SETTINGS": str(settings), "HOME": str(tmp_path)})
    message = assert_clear_error(run, 2, str(settings), "line 3", "MQTT_Password", "quotes")
    assert "hunter2secretpw" not in run.stderr, message


# --------------------------------------------------------------------------- item 19: places


def tree_files() -> set[str]:
    """Every file of the clone, without caches, virtualenvs and VCS data."""
    skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
    skip |= {".test-servers"}
    found = set()
    for folder, dirs, files in os.walk(PROJECT_ROOT):
        dirs[:] = [d for d in dirs if d not in skip]
        found |= {os.path.relpath(os.path.join(folder, f), PROJECT_ROOT) for f in files}
    return found


@pytest.mark.servers
def test_a_full_read_leaves_nothing_in_the_clone(sim, tmp_path, mosquitto_anon):
    """State, the MQTT status memory and the debug log go to the documented defaults: beside
    the settings file in use, else ~/.local/state/givtcp; never into the source folder."""
    if (PROJECT_ROOT / "settings.py").exists():
        pytest.skip("this clone has a settings.py: read.py would use it")
    before = tree_files()
    outputs = {
        "MQTT_OUTPUT": "True",
        "MQTT_ADDRESS": mosquitto_anon.host,
        "MQTT_PORT": str(mosquitto_anon.port),
        "MQTT_TOPIC": f"givtcp-tree-{os.getpid()}",
        "HA_DISCOVERY": "False",
        "DEBUG": "True",
    }
    env = inverter_env(sim, tmp_path, **outputs)
    del env["STATE_LOCATION"], env["GIVTCP_SETTINGS"]  # the defaults, as a user has them
    run = run_read("runAll", env=env)
    assert run.code == 0, run.stderr
    per_user = tmp_path / "home" / ".local" / "state" / "givtcp"
    names = {p.name for p in per_user.iterdir()}
    assert f"last-good-127_0_0_1-{sim.port}.json" in names
    assert f"mqtt-status-127_0_0_1-{sim.port}.txt" in names
    assert "givtcp_debug.log" in names

    settings = tmp_path / "config" / "settings.py"
    settings.parent.mkdir()
    settings.write_text(TEMPLATE.read_text())
    env["GIVTCP_SETTINGS"] = str(settings)
    run = run_read("getTimeslots", env=env)
    assert run.code == 0, run.stderr
    beside = {p.name for p in (settings.parent / ".state").iterdir()}
    assert f"last-good-127_0_0_1-{sim.port}.json" in beside
    assert "givtcp_debug.log" in beside
    assert tree_files() == before
    mosquitto_anon.clear_retained(f"{outputs['MQTT_TOPIC']}/#")


def test_docker_keeps_the_state_in_its_documented_volume():
    """No settings.py in the image: without STATE_LOCATION the state would go to root's home,
    not the /app/.state volume README tells users to mount, also for `docker exec read.py`."""
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "STATE_LOCATION=/app/.state" in dockerfile.replace("\\\n", " ")
    assert "WORKDIR /app" in dockerfile
    entrypoint = (PROJECT_ROOT / "docker" / "entrypoint.sh").read_text()
    assert 'export STATE_LOCATION="${STATE_LOCATION:-$APP_DIR/.state}"' in entrypoint
    assert "Mount a volume on `/app/.state`" in (PROJECT_ROOT / "README.md").read_text()


def test_rest_answers_an_unusable_state_folder_with_json_naming_it(sim, tmp_path, monkeypatch):
    blocker = tmp_path / "state"
    blocker.write_text("not a folder")
    for name, value in inverter_env(sim, tmp_path, STATE_LOCATION=str(blocker)).items():
        monkeypatch.setenv(name, value)
    import REST

    client = REST.giv_api.test_client()
    for answer in (client.get("/runAll"), client.post("/setChargeTarget", json={})):
        assert answer.status_code == 500
        assert "STATE_LOCATION" in answer.get_json()["error"]
    assert sim.requests == []
