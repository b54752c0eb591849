"""REST.py under real gunicorn (4 workers) on loopback, against the simulator."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.conftest import PROJECT_ROOT

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)
TOKEN = "rest-token-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def sim():
    simulator = Simulator(SimulatorConfig(seed=11, speed=0.0, start_time=NOON))
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def rest(sim, tmp_path_factory) -> str:
    state: Path = tmp_path_factory.mktemp("rest-state")
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "GIVTCP_SETTINGS": str(PROJECT_ROOT / "settings_template.py"),
        "INVERTOR_IP": "127.0.0.1",
        "INVERTOR_PORT": str(sim.port),
        "STATE_LOCATION": str(state),
        "NUM_BATTERIES": "1",
        "REST_TOKEN": TOKEN,
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [str(gunicorn), "-w", "4", "-b", f"127.0.0.1:{port}", "REST:giv_api"],
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


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def hr0_reads(sim: Simulator) -> int:
    return sum(
        1
        for r in sim.requests
        if r.frame.kind == "read_request" and r.frame.function == 3 and r.frame.base == 0
    )


def test_get_routes_return_the_read_groups(sim, rest):
    for route, group in [
        ("runAll", "Power"),
        ("runALL", "Control"),
        ("getTimeslots", "Timeslots"),
        ("getCombinedStats", "Energy/Today"),
        ("getModesandTimes", "Control"),
    ]:
        response = requests.get(f"{rest}/{route}", timeout=30)
        assert response.status_code == 200, route
        assert group in response.json(), route
    assert (
        requests.get(f"{rest}/runAll", timeout=30).json()["Power"]["SOC"]
        == sim.truth()["input"][59]
    )


def test_concurrent_reads_share_one_inverter_read(sim, rest):
    time.sleep(SHARE_WINDOW_PAUSE)  # let earlier cached reads expire
    before = hr0_reads(sim)
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda _: requests.get(f"{rest}/runAll", timeout=60), range(50)))
    assert all(r.status_code == 200 for r in responses)
    bodies = {r.text for r in responses}
    assert len(bodies) == 1  # everyone got the same read
    assert hr0_reads(sim) - before == 1


def test_post_writes_and_reads_back(sim, rest):
    response = requests.post(
        f"{rest}/setChargeTarget", json={"chargeToPercent": "77"}, headers=auth(), timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"] == "setChargeTarget: success"
    assert sim.truth()["holding"][116] == 77
    # a read right after the write is not served from a stale shared read
    control = requests.get(f"{rest}/getModesandTimes", timeout=30).json()["Control"]
    assert control["Target SOC"] == 77


def test_post_bad_payload_is_400_and_sends_nothing(sim, rest):
    before = len(sim.requests)
    response = requests.post(
        f"{rest}/setChargeTarget", json={"chargeToPercent": "150"}, headers=auth(), timeout=30
    )
    assert response.status_code == 400
    assert response.json()["field"] == "chargeToPercent"
    bad_json = requests.post(f"{rest}/setBatteryMode", data="{mode", headers=auth(), timeout=30)
    assert bad_json.status_code == 400
    assert len(sim.requests) == before


def test_post_issue_12_controls_same_payloads_as_write_py(sim, rest):
    """Predbat's POSTs (names and bodies from predbat.json) and a refusal on this Gen1."""
    response = requests.post(
        f"{rest}/enableChargeSchedule", json={"state": "disable"}, headers=auth(), timeout=30
    )
    assert response.status_code == 200, response.text
    assert sim.truth()["holding"][96] == 0
    response = requests.post(
        f"{rest}/setBatteryMode", json={"mode": "Timed Export"}, headers=auth(), timeout=30
    )
    assert response.status_code == 200, response.text
    hr = sim.truth()["holding"]
    assert (hr[110], hr[59], hr[27]) == (4, 1, 0)
    response = requests.post(
        f"{rest}/setBatteryReserve", json={"reservePercent": 6}, headers=auth(), timeout=30
    )
    assert response.status_code == 200, response.text
    assert sim.truth()["holding"][114] == 6
    before = [r for r in sim.requests if r.frame.kind == "write_request"]
    response = requests.post(
        f"{rest}/setChargeSlot4",
        json={"start": "01:00", "finish": "02:00"},
        headers=auth(),
        timeout=30,
    )
    assert response.status_code == 400
    assert "setChargeSlot4 is not available on Gen1 hybrid" in response.json()["error"]
    assert [r for r in sim.requests if r.frame.kind == "write_request"] == before


def test_post_timed_action_and_cancel(sim, rest):
    before = {a: sim.truth()["holding"][a] for a in (31, 32, 96, 20, 116)}
    response = requests.post(
        f"{rest}/forceCharge", json={"minutes": 15}, headers=auth(), timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["slot"] == "charge slot 2"
    assert body["ends"] == "2026-06-21T12:15:00"
    assert sim.truth()["holding"][31] == 1200 and sim.truth()["holding"][32] == 1215
    groups = requests.get(f"{rest}/getModesandTimes", timeout=30).json()
    assert groups["Timed Action"]["in_progress"]["function"] == "forceCharge"
    assert groups["Control"]["Timed Action"] == (
        "forceCharge until 2026-06-21T12:15:00 (charge slot 2)"
    )
    response = requests.post(f"{rest}/cancelTimedAction", headers=auth(), timeout=30)
    assert response.status_code == 200, response.text
    assert {a: sim.truth()["holding"][a] for a in before} == before
    bad = requests.post(f"{rest}/forceExport", json={"minutes": 0}, headers=auth(), timeout=30)
    assert bad.status_code == 400
    assert bad.json()["field"] == "minutes"


def test_post_without_token_is_401(sim, rest):
    before = len(sim.requests)
    response = requests.post(f"{rest}/pauseChargeSchedule", timeout=30)
    assert response.status_code == 401
    wrong = requests.post(
        f"{rest}/pauseChargeSchedule", headers={"Authorization": "Bearer x"}, timeout=30
    )
    assert wrong.status_code == 401
    assert len(sim.requests) == before


def test_silent_inverter_is_504(sim, rest):
    time.sleep(SHARE_WINDOW_PAUSE)
    sim.faults.silent = True
    try:
        response = requests.get(f"{rest}/getTimeslots", timeout=60)
    finally:
        sim.faults.silent = False
    assert response.status_code == 504
    assert "did not answer" in response.json()["error"]


SHARE_WINDOW_PAUSE = 5.2
