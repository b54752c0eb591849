"""docker/entrypoint.sh run as a script (no Docker engine here): environment -> behaviour.

gunicorn and mosquitto are stubs first on PATH that record how they were started; read.py and
discovery are real, against simulators on loopback. Discovery is only ever pointed at
127.0.0.0/29 (``start`` refuses anything else). The build-context test applies .dockerignore
and runs the app and the entrypoint from what the image would hold.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.conftest import PROJECT_ROOT

ENTRYPOINT = PROJECT_ROOT / "docker" / "entrypoint.sh"
LOOPBACK_SUBNET = "127.0.0.0/29"

GUNICORN_STUB = """#!/usr/bin/env bash
# Records how it was started; exits with STUB_GUNICORN_EXIT, or serves until SIGTERM.
{
    echo "cwd=$PWD"; echo "args=$*"; echo "INVERTOR_IP=${INVERTOR_IP:-}"
    echo "REST_TOKEN_SET=${REST_TOKEN:+yes}"; echo "READ_ONLY=${GIVTCP_REST_READ_ONLY:-}"
} >"$STUB_LOG/gunicorn.tmp"
mv "$STUB_LOG/gunicorn.tmp" "$STUB_LOG/gunicorn"
if [ -n "${STUB_GUNICORN_EXIT:-}" ]; then exit "$STUB_GUNICORN_EXIT"; fi
trap 'exit 0' TERM
while true; do sleep 0.05; done
"""

MOSQUITTO_STUB = """#!/usr/bin/env bash
# Records its arguments and config; with STUB_REAL_MOSQUITTO runs that broker, bound to loopback.
conf="$2"
cp "$conf" "$STUB_LOG/mosquitto.conf"
if [ -f "$(dirname "$conf")/passwd" ]; then cp "$(dirname "$conf")/passwd" "$STUB_LOG/passwd"; fi
echo "args=$*" >"$STUB_LOG/mosquitto"
if [ -n "${STUB_REAL_MOSQUITTO:-}" ]; then
    sed 's/^listener \\([0-9]*\\)$/listener \\1 127.0.0.1/' "$conf" >"$conf.loopback"
    exec "$STUB_REAL_MOSQUITTO" -c "$conf.loopback"
fi
trap 'exit 0' TERM
while true; do sleep 0.05; done
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Entrypoint:
    """One entrypoint run in its own process group, output in files, stubs' records in log."""

    proc: subprocess.Popen[bytes]
    log: Path
    out: Path
    err: Path

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def record(self, name: str) -> dict[str, str]:
        """What a stub recorded ({} if it never ran)."""
        path = self.log / name
        if not path.exists():
            return {}
        return dict(line.split("=", 1) for line in path.read_text().splitlines())

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def wait(self, timeout: float = 20) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"entrypoint still running after {timeout} s:\n{self.stderr}")

    def terminate(self) -> int:
        """SIGTERM, as `docker stop` sends; its exit code once it and its children are gone."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.wait(10)
        wait_until(lambda: not self.group_alive(), 5, "the entrypoint's children to exit")
        return code

    def group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Entrypoint]]:
    """Start the entrypoint with ``env`` over a clean base (stubs, venv, template settings)."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, text in (("gunicorn", GUNICORN_STUB), ("mosquitto", MOSQUITTO_STUB)):
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    started: list[Entrypoint] = []

    def _start(env: dict[str, str], script: Path = ENTRYPOINT) -> Entrypoint:
        ip, subnet = env.get("INVERTOR_IP", ""), env.get("GIVTCP_DISCOVERY_SUBNET", "")
        assert ip or subnet == LOOPBACK_SUBNET, "discovery may only probe 127.0.0.0/29 here"
        log = tmp_path / f"run{len(started)}"
        log.mkdir()
        path = f"{stubs}:{Path(sys.executable).parent}:{os.environ['PATH']}"
        full_env = {
            "PATH": path,
            "HOME": os.environ.get("HOME", str(tmp_path)),
            "GIVTCP_SETTINGS": str(PROJECT_ROOT / "settings_template.py"),
            "STATE_LOCATION": str(tmp_path / "state"),
            "NUM_BATTERIES": "1",
            "STUB_LOG": str(log),
            **env,
        }
        out, err = log / "stdout", log / "stderr"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                ["bash", str(script)],
                cwd=tmp_path,
                env=full_env,
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        run = Entrypoint(proc, log, out, err)
        started.append(run)
        return run

    yield _start
    for run in started:
        if run.group_alive():
            os.killpg(run.proc.pid, signal.SIGKILL)
        run.proc.wait(10)


@pytest.fixture
def simulators() -> Iterator[Callable[..., tuple[int, list[Simulator]]]]:
    """Simulators on the given loopback addresses, all on one port number."""
    stack = ExitStack()

    def _start(*hosts: str, port: int = 0) -> tuple[int, list[Simulator]]:
        wanted = port
        for _attempt in range(5 if wanted == 0 else 1):
            attempt = ExitStack()
            port, sims = wanted, []
            try:
                for host in hosts:
                    sim = Simulator(SimulatorConfig(seed=len(sims) + 1, speed=0.0, heartbeat=0))
                    port = sim.start(host=host, port=port)
                    attempt.callback(sim.stop)
                    sims.append(sim)
            except OSError:
                attempt.close()  # that port is taken on one of the addresses: try another
                continue
            stack.enter_context(attempt)
            return port, sims
        pytest.fail(f"no port free on all of {hosts}")

    with stack:
        yield _start


# -- gunicorn -------------------------------------------------------------------------------


def test_serves_the_rest_api_with_gunicorn_as_the_seed_did(start):
    run = start({"INVERTOR_IP": "127.0.0.1", "STUB_GUNICORN_EXIT": "0"})
    assert run.wait() == 0
    assert run.record("gunicorn") == {
        "cwd": str(PROJECT_ROOT),
        "args": "-w 4 -b 0.0.0.0:6345 REST:giv_api",
        "INVERTOR_IP": "127.0.0.1",
        "REST_TOKEN_SET": "",
        "READ_ONLY": "1",  # no token on a public bind: reads only (test_rest checks the 403)
    }
    assert run.record("mosquitto") == {}
    assert run.stdout == ""  # SELF_RUN is off by default: read.py never ran


@pytest.mark.parametrize("token", ["", "   "])
def test_no_token_on_the_public_bind_turns_the_control_routes_off(start, token):
    run = start({"INVERTOR_IP": "127.0.0.1", "REST_TOKEN": token, "STUB_GUNICORN_EXIT": "0"})
    assert run.wait() == 0
    assert run.record("gunicorn")["READ_ONLY"] == "1"
    assert "REST_TOKEN is empty" in run.stderr
    assert "control (POST) routes are off" in run.stderr


def test_a_token_keeps_the_control_routes_on_and_is_not_logged(start):
    token = "a-long-random-token-4f1c"
    run = start({"INVERTOR_IP": "127.0.0.1", "REST_TOKEN": token, "STUB_GUNICORN_EXIT": "0"})
    assert run.wait() == 0
    record = run.record("gunicorn")
    assert (record["REST_TOKEN_SET"], record["READ_ONLY"]) == ("yes", "")
    assert "REST_TOKEN is empty" not in run.stderr
    assert token not in run.stdout + run.stderr


def test_exit_code_is_gunicorns(start):
    run = start({"INVERTOR_IP": "127.0.0.1", "STUB_GUNICORN_EXIT": "3"})
    assert run.wait() == 3


def test_sigterm_stops_gunicorn_and_exits_cleanly(start):
    run = start({"INVERTOR_IP": "127.0.0.1"})
    wait_until(lambda: run.record("gunicorn"), 10, "gunicorn to start")
    assert run.terminate() == 0


# -- local MQTT broker ----------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "LocalHost"])
def test_local_broker_for_a_local_mqtt_address(start, address):
    port = str(free_port())
    run = start({"INVERTOR_IP": "127.0.0.1", "MQTT_ADDRESS": address, "MQTT_PORT": port})
    wait_until(lambda: run.record("mosquitto"), 10, "mosquitto to start")
    config = (run.log / "mosquitto.conf").read_text().splitlines()
    assert f"listener {port}" in config
    assert "allow_anonymous true" in config
    assert "persistence false" in config
    assert run.terminate() == 0


@pytest.mark.parametrize("address", ["", "127.0.0.2", "mqtt.invalid", "192.0.2.10"])
def test_no_broker_for_any_other_address(start, address):
    # Nothing connects to these: SELF_RUN is off and gunicorn is a stub.
    run = start({"INVERTOR_IP": "127.0.0.1", "MQTT_ADDRESS": address})
    wait_until(lambda: run.record("gunicorn"), 10, "gunicorn to start")
    assert "MQTT broker" not in run.stderr
    assert run.terminate() == 0
    assert run.record("mosquitto") == {}


def _real_binary(name: str) -> str:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    message = f"{name} not found: run scripts/install-test-servers.sh"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.servers
def test_local_broker_with_credentials_refuses_others(start):
    """The real mosquitto with the entrypoint's config and hashed password file."""
    mosquitto, mosquitto_pub = _real_binary("mosquitto"), _real_binary("mosquitto_pub")
    _real_binary("mosquitto_passwd")
    port = free_port()
    password = "s3cret: with spaces"
    run = start(
        {
            "INVERTOR_IP": "127.0.0.1",
            "MQTT_ADDRESS": "127.0.0.1",
            "MQTT_PORT": str(port),
            "MQTT_USERNAME": "givtcp",
            "MQTT_PASSWORD": password,
            "STUB_REAL_MOSQUITTO": mosquitto,
        }
    )

    target = ["-h", "127.0.0.1", "-p", str(port), "-t", "givtcp/test", "-m", "x"]

    def publish(user: str, secret: str) -> int:
        command = [mosquitto_pub, *target, "-u", user, "-P", secret]
        return subprocess.run(command, capture_output=True, timeout=10).returncode

    wait_until(lambda: publish("givtcp", password) == 0, 10, "the broker to accept givtcp")
    assert publish("givtcp", "wrong") != 0
    assert publish("someone", password) != 0
    config = (run.log / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in config
    stored = (run.log / "passwd").read_text()
    assert stored.startswith("givtcp:$7$")  # hashed (sha512-pbkdf2)
    assert password not in stored
    assert run.terminate() == 0
    assert password not in run.stdout + run.stderr


# -- discovery ------------------------------------------------------------------------------


def test_discovery_finds_the_inverter_and_read_py_uses_it(start, simulators):
    port, _ = simulators("127.0.0.5")
    run = start(
        {
            "GIVTCP_DISCOVERY_SUBNET": LOOPBACK_SUBNET,
            "INVERTOR_PORT": str(port),
            "SELF_RUN": "True",
            "SELF_RUN_LOOP_TIMER": "30",
        }
    )
    wait_until(run.json_lines, 30, "read.py's JSON from the self-run loop")
    assert "Power" in run.json_lines()[0]
    assert run.record("gunicorn")["INVERTOR_IP"] == "127.0.0.5"
    assert "using the inverter dongle at 127.0.0.5" in run.stderr
    assert run.terminate() == 0


def test_discovery_takes_the_first_of_several_and_says_so(start, simulators):
    port, _ = simulators("127.0.0.2", "127.0.0.5")
    run = start(
        {
            "INVERTOR_IP": "",  # `docker run -e INVERTOR_IP=` counts as empty
            "GIVTCP_DISCOVERY_SUBNET": LOOPBACK_SUBNET,
            "INVERTOR_PORT": str(port),
            "STUB_GUNICORN_EXIT": "0",
        }
    )
    assert run.wait() == 0
    assert run.record("gunicorn")["INVERTOR_IP"] == "127.0.0.2"
    assert "several dongles answered (127.0.0.2 127.0.0.5)" in run.stderr


def test_no_inverter_found_is_exit_1_before_anything_starts(start):
    port = free_port()
    run = start({"GIVTCP_DISCOVERY_SUBNET": LOOPBACK_SUBNET, "INVERTOR_PORT": str(port)})
    assert run.wait() == 1
    assert "no inverter found: set INVERTOR_IP" in run.stderr
    assert run.record("gunicorn") == {}


# -- self-run loop --------------------------------------------------------------------------


def test_self_run_loop_logs_a_failed_run_and_keeps_going(start, simulators):
    port = free_port()
    run = start(
        {
            "INVERTOR_IP": "127.0.0.1",
            "INVERTOR_PORT": str(port),
            "SELF_RUN": "yes",
            "SELF_RUN_LOOP_TIMER": "0.3",
        }
    )
    # Nothing listens yet: read.py exits 1 and the loop says so.
    wait_until(lambda: "read.py runAll failed (exit code 1)" in run.stderr, 20, "a failed run")
    assert run.json_lines() == []
    simulators("127.0.0.1", port=port)
    wait_until(lambda: len(run.json_lines()) >= 2, 30, "two good runs after the failure")
    assert all("Power" in data for data in run.json_lines())
    assert run.terminate() == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SELF_RUN": "maybe"}, "SELF_RUN must be True or False"),
        ({"SELF_RUN": "True", "SELF_RUN_LOOP_TIMER": "0"}, "above 0, got '0'"),
        ({"SELF_RUN": "True", "SELF_RUN_LOOP_TIMER": "0.0"}, "above 0, got '0.0'"),
        ({"SELF_RUN": "True", "SELF_RUN_LOOP_TIMER": "-5"}, "above 0, got '-5'"),
        ({"SELF_RUN": "True", "SELF_RUN_LOOP_TIMER": "soon"}, "above 0, got 'soon'"),
    ],
)
def test_bad_self_run_settings_are_exit_2_before_anything_starts(start, env, message):
    run = start({"GIVTCP_DISCOVERY_SUBNET": LOOPBACK_SUBNET, "MQTT_ADDRESS": "127.0.0.1", **env})
    assert run.wait() == 2
    assert message in run.stderr
    assert "looking for a GivEnergy dongle" not in run.stderr  # no discovery either
    assert run.record("gunicorn") == {}
    assert run.record("mosquitto") == {}


# -- the script and the image ---------------------------------------------------------------


def test_entrypoint_is_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        message = "shellcheck not found: run scripts/install-test-servers.sh"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    run = subprocess.run([shellcheck, str(ENTRYPOINT)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def _dockerignore_patterns() -> list[str]:
    lines = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert not any(p.startswith("!") for p in patterns), "the matcher below has no exceptions"
    return patterns


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: a path is left out if it or a folder above it matches a pattern."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            return True
    return False


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (PROJECT_ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in joined.splitlines()
        if line.strip()
    ]


@pytest.fixture(scope="module")
def build_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `COPY . .` puts in /app: the repo's files minus .dockerignore."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    patterns = _dockerignore_patterns()
    context = tmp_path_factory.mktemp("context") / "app"
    for name in listed:
        source = PROJECT_ROOT / name
        if source.is_file() and not _ignored(name, patterns):
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, context / name)
    return context


def test_dockerfile_is_the_seed_layout(build_context):
    instructions = _dockerfile()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    workdir = dict(instructions)["WORKDIR"]
    runs = [args for kind, args in instructions if kind == "RUN"]
    assert any("pip install" in args and "-r requirements.txt" in args for args in runs)
    assert any("mosquitto" in args for args in runs)
    for kind, args in instructions:
        if kind == "COPY":
            *sources, _ = shlex.split(args)
            for source in sources:
                assert (build_context / source).exists(), f"COPY {source}: not in the context"
    entrypoint = json.loads(dict(instructions)["ENTRYPOINT"])
    assert entrypoint[0] == "bash"
    script = Path(entrypoint[1]).relative_to(workdir)
    assert (build_context / script).is_file()
    assert "6345" in dict(instructions)["EXPOSE"].split()


def test_build_context_holds_the_app_and_no_local_settings(build_context):
    assert not (build_context / "settings.py").exists()
    assert not (build_context / "tests").exists()
    for command in (
        ["-c", "import REST, read, write, givtcp.discovery, givenergy_modbus_codec.simulator"],
        ["read.py", "--help"],
        ["write.py", "--help"],
        ["-m", "givtcp.discovery", "--help"],
    ):
        run = subprocess.run(
            [sys.executable, *command],
            cwd=build_context,
            env={"PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 0, f"{command}: {run.stderr}"


def test_entrypoint_runs_from_the_build_context(start, build_context):
    run = start(
        {"INVERTOR_IP": "127.0.0.1", "STUB_GUNICORN_EXIT": "0"},
        script=build_context / "docker" / "entrypoint.sh",
    )
    assert run.wait() == 0
    assert run.record("gunicorn")["cwd"] == str(build_context)
