"""REST.py under real gunicorn (4 workers) on loopback, against the simulator."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givtcp.shared_reads import SHARED_READ_SECONDS
from tests.conftest import PROJECT_ROOT
from tests.scripts import run_script, sim_env

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
def rest_state(tmp_path_factory) -> Path:
    """The state folder of the REST service (write.py run with it shares its state)."""
    return tmp_path_factory.mktemp("rest-state")


@pytest.fixture(scope="module")
def rest(sim, rest_state) -> Iterator[str]:
    yield from serve(sim, rest_state, {"REST_TOKEN": TOKEN})


def serve(sim: Simulator, state: Path, extra: dict[str, str], workers: int = 4) -> Iterator[str]:
    """REST.py under gunicorn on a free loopback port until the generator is closed."""
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "GIVTCP_SETTINGS": str(PROJECT_ROOT / "settings_template.py"),
        "INVERTOR_IP": "127.0.0.1",
        "INVERTOR_PORT": str(sim.port),
        "STATE_LOCATION": str(state),
        "NUM_BATTERIES": "1",
        **extra,
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [str(gunicorn), "-w", str(workers), "-b", f"127.0.0.1:{port}", "REST:giv_api"],
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
    requests.get(f"{rest}/getModesandTimes", timeout=30)  # a shared read the write must end
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


# -- issue 10 item 23 / issue 14: a write from another process ends the sharing window ---------


def test_a_read_right_after_write_py_sees_the_new_value(sim, rest, rest_state):
    time.sleep(SHARE_WINDOW_PAUSE)  # the first read below is a fresh one, not an older share
    started = time.monotonic()  # the shared read is at least this recent
    reads = hr0_reads(sim)
    first = requests.get(f"{rest}/getModesandTimes", timeout=30).json()["Control"]["Target SOC"]
    assert hr0_reads(sim) == reads + 1
    shared = requests.get(f"{rest}/getModesandTimes", timeout=30).json()["Control"]["Target SOC"]
    assert (shared, hr0_reads(sim)) == (first, reads + 1)  # the window is open: shared
    target = 33 if first != 33 else 42
    payload = json.dumps({"chargeToPercent": target})
    run = run_script(
        "write.py", "setChargeTarget", payload, env=sim_env(sim.port, rest_state, NUM_BATTERIES="1")
    )
    assert run.code == 0, run.stderr
    asked_at = time.monotonic()
    after = requests.get(f"{rest}/getModesandTimes", timeout=30).json()["Control"]["Target SOC"]
    assert asked_at - started < SHARED_READ_SECONDS, "too slow to be inside the window: re-run"
    assert after == target == sim.truth()["holding"][116]


# -- item 22: JSON everywhere, a body limit, JSON whatever the Content-Type, key order -----------


def test_unknown_route_and_wrong_method_answer_json(sim, rest):
    before = len(sim.requests)
    missing = requests.get(f"{rest}/nothing", timeout=30)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/json"
    assert "no such route" in missing.json()["error"]
    for method, route in (("GET", "setChargeTarget"), ("POST", "runAll"), ("PUT", "runAll")):
        wrong = requests.request(method, f"{rest}/{route}", headers=auth(), timeout=30)
        assert wrong.status_code == 405, (method, route)
        assert f"{method} is not allowed" in wrong.json()["error"]
    assert len(sim.requests) == before


def test_huge_body_is_413_and_not_echoed(sim, rest):
    before = len(sim.requests)
    body = '{"chargeToPercent": "' + "9" * 3_000_000 + '"}'
    response = requests.post(
        f"{rest}/setChargeTarget",
        data=body,
        headers={**auth(), "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]
    assert len(response.content) < 500
    assert len(sim.requests) == before


@pytest.mark.parametrize(
    "body",
    [
        '{"chargeToPercent": ' + "7" * 5000 + "}",
        "[" * 60_000 + "]" * 60_000,
        '{"a":' * 5000 + "1" + "}" * 5000,
        '{"chargeToPercent": "٥٠"}',
        '{"chargeToPercent": "' + "x" * 10_000 + '"}',
        b"\xff\xfe{",
    ],
    ids=["5000 digits", "60000 deep", "5000 deep", "arabic digits", "long value", "not utf-8"],
)
def test_hostile_payload_is_400_json_and_sends_nothing(sim, rest, body):
    before = len(sim.requests)
    response = requests.post(f"{rest}/setChargeTarget", data=body, headers=auth(), timeout=30)
    assert response.status_code == 400
    assert response.json()["field"] in ("payload", "chargeToPercent")
    assert len(response.content) < 1000
    assert len(sim.requests) == before


def test_rate_payload_is_checked_before_any_read(sim, rest):
    before = len(sim.requests)
    for payload in ('{"chargeRate":"abc"}', "{}", "[]"):
        response = requests.post(f"{rest}/setChargeRate", data=payload, headers=auth(), timeout=30)
        assert response.status_code == 400, payload
    assert len(sim.requests) == before


def test_plain_curl_d_body_is_read_as_json(sim, rest):
    target = 71 if sim.truth()["holding"][116] != 71 else 72
    # requests sends a str body as form data: no Content-Type: application/json, as `curl -d`
    response = requests.post(
        f"{rest}/setChargeTarget",
        data=f'{{"chargeToPercent":"{target}"}}',
        headers={**auth(), "Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert sim.truth()["holding"][116] == target


def test_answers_keep_the_cli_key_order(sim, rest, rest_state):
    env = sim_env(sim.port, rest_state, NUM_BATTERIES="1")
    cli = run_script("read.py", "getModesandTimes", env=env)
    assert cli.code == 0, cli.stderr
    over_rest = requests.get(f"{rest}/getModesandTimes", timeout=30).json()
    assert list(over_rest) == list(cli.json())
    for group, values in cli.json().items():
        if isinstance(values, dict):
            assert list(over_rest[group]) == list(values), group
    # A first write leaves the slot's other registers as the two writes below want them, so
    # both report the same rows (changed times, the rest unchanged).
    first = run_script("write.py", "setChargeSlot2", '{"start": "0100", "finish": "0130"}', env=env)
    assert first.code == 0, first.stderr
    write = requests.post(
        f"{rest}/setChargeSlot2",
        json={"start": "0200", "finish": "0300"},
        headers=auth(),
        timeout=30,
    ).json()
    cli_write = run_script(
        "write.py", "setChargeSlot2", '{"start": "0230", "finish": "0330"}', env=env
    ).json()
    assert list(write) == list(cli_write) == ["result", "writes"]
    assert [list(r) for r in write["writes"]] == [list(r) for r in cli_write["writes"]]
    assert list(write["writes"][0])[:3] == ["register", "name", "value"]


# -- item 13: a write cut off midway is 502 with the rows done -----------------------------------


def test_write_cut_off_midway_is_502_with_the_rows(sim, rest):
    hr = sim.truth()["holding"]
    payload = {"start": "0115", "finish": "0415", "chargeToPercent": 63 if hr[116] != 63 else 64}
    sim.faults.silent_after_writes = 1  # HR116 answered, then the dongle is gone
    try:
        response = requests.post(f"{rest}/setChargeSlot1", json=payload, headers=auth(), timeout=60)
    finally:
        sim.faults.silent_after_writes = 0
        sim.faults.silent = False
    assert response.status_code == 502
    rows = response.json()["writes"]
    assert [r["status"] for r in rows] == [
        "confirmed",
        "unknown",
        "not sent",
        "not sent",
        "not sent",
    ]
    assert rows[0]["readback"] == payload["chargeToPercent"] == sim.truth()["holding"][116]


# -- item 24: no token on a public bind: the control routes are off ------------------------------


@pytest.fixture(scope="module")
def read_only_rest(sim, tmp_path_factory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("read-only-state")
    yield from serve(sim, state, {"REST_TOKEN": "", "GIVTCP_REST_READ_ONLY": "1"}, workers=1)


def test_control_routes_are_off_without_a_token_on_a_public_bind(sim, read_only_rest):
    before = len(sim.requests)
    response = requests.post(
        f"{read_only_rest}/setChargeTarget", json={"chargeToPercent": "50"}, timeout=30
    )
    assert response.status_code == 403
    assert "REST_TOKEN" in response.json()["error"]
    assert len(sim.requests) == before
    assert requests.get(f"{read_only_rest}/getTimeslots", timeout=30).status_code == 200
