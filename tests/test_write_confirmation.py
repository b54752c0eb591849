"""A write is confirmed only when both the echo and the read-back say the asked value.

Each fault breaks exactly one of the two (the simulator's ``readback_mismatch`` and
``echo_mismatch``), so a write outcome that ignored either one would call these writes ok.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.conftest import PROJECT_ROOT
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)
TOKEN = "confirmation-token"
CHARGE_TARGET = 116  # HR116 charge target SOC, percent (registers.md)
FAULTS = ("readback_mismatch", "echo_mismatch")


@pytest.fixture
def sim():
    simulator = Simulator(SimulatorConfig(seed=5, speed=0.0, start_time=NOON))
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


def other_value(current: int) -> int:
    return 50 if current != 50 else 60


def expected_row(fault: str, before: int, target: int) -> dict:
    """What the one HR116 row must say: the echo and read-back the fault produces."""
    if fault == "readback_mismatch":  # echoed as asked, never stored
        echo, readback = target, before
    else:  # stored, echoed as stored + 1
        echo, readback = target + 1, target
    return {
        "register": CHARGE_TARGET,
        "name": "charge_target_soc",
        "value": target,
        "echo": echo,
        "readback": readback,
        "status": "not confirmed",
        "ok": False,
    }


@pytest.mark.parametrize("fault", FAULTS)
def test_write_py_exits_4_when_one_half_of_the_confirmation_differs(sim, tmp_path, fault):
    before = sim.truth()["holding"][CHARGE_TARGET]
    target = other_value(before)
    setattr(sim.faults, fault, True)
    payload = json.dumps({"chargeToPercent": target})
    run = run_script("write.py", "setChargeTarget", payload, env=sim_env(sim.port, tmp_path))
    assert run.code == 4, run.stderr
    out = run.json()
    assert out["writes"] == [expected_row(fault, before, target)]
    assert out["result"] == "setChargeTarget: HR116 did not read back as asked"
    stored = before if fault == "readback_mismatch" else target
    assert sim.truth()["holding"][CHARGE_TARGET] == stored


@pytest.mark.parametrize("fault", FAULTS)
def test_an_unconfirmed_register_stops_the_rest(sim, tmp_path, fault):
    """setChargeSlot1 writes several registers; after the first unconfirmed one nothing more
    is sent, and every later row says so."""
    setattr(sim.faults, fault, True)
    payload = '{"enable": true,"start": "0110","finish": "0410","chargeToPercent": "55"}'
    run = run_script("write.py", "setChargeSlot1", payload, env=sim_env(sim.port, tmp_path))
    assert run.code == 4, run.stderr
    rows = run.json()["writes"]
    sent = [r for r in rows if not r.get("unchanged")]
    assert len(sent) >= 2
    first, rest = sent[0], sent[1:]
    assert first["ok"] is False
    assert all(r["ok"] is False for r in rest)
    writes = [r for r in sim.requests if r.frame.kind == "write_request"]
    assert [w.frame.register for w in writes] == [first["register"]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def rest(sim, tmp_path) -> str:
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "GIVTCP_SETTINGS": str(PROJECT_ROOT / "settings_template.py"),
        "INVERTOR_IP": "127.0.0.1",
        "INVERTOR_PORT": str(sim.port),
        "STATE_LOCATION": str(tmp_path),
        "NUM_BATTERIES": "1",
        "REST_TOKEN": TOKEN,
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [str(gunicorn), "-w", "1", "-b", f"127.0.0.1:{port}", "REST:giv_api"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/nothing", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"gunicorn did not start: {proc.stderr.read().decode()}")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.mark.parametrize("fault", FAULTS)
def test_rest_answers_502_when_one_half_of_the_confirmation_differs(sim, rest, fault):
    before = sim.truth()["holding"][CHARGE_TARGET]
    target = other_value(before)
    setattr(sim.faults, fault, True)
    response = requests.post(
        f"{rest}/setChargeTarget",
        json={"chargeToPercent": str(target)},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert response.status_code == 502, response.text
    assert response.json()["writes"] == [expected_row(fault, before, target)]
