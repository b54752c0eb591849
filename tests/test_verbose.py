"""read.py -v: stderr tells what happened (requests and their timing, failed attempts and why,
rejected values and why, what each output did); without -v a good run is silent."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)
SECRET = "rest-secret-token-0815"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(SimulatorConfig(seed=11, speed=0.0, start_time=NOON, batteries=1))
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


def published_values(out: dict) -> int:
    """Values a run hands to MQTT: every key of every group but Data Quality, battery keys
    one per battery."""
    count = 0
    for group, content in out.items():
        if group == "Data Quality":
            continue
        if group == "Battery Details":
            count += sum(len(keys) for keys in content.values())
        else:
            count += len(content)
    return count


def test_a_good_run_without_v_writes_nothing_to_stderr(sim, tmp_path):
    run = run_script("read.py", "runAll", env=sim_env(sim.port, tmp_path, NUM_BATTERIES="1"))
    assert run.code == 0, run.stderr
    assert run.stderr == ""


@pytest.mark.servers
def test_v_shows_requests_timing_retries_and_each_output(sim, tmp_path, mosquitto_anon):
    root = f"givtcp-verbose-{sim.port}"
    env = sim_env(
        sim.port,
        tmp_path,
        NUM_BATTERIES="1",
        MQTT_OUTPUT="True",
        MQTT_ADDRESS=mosquitto_anon.host,
        MQTT_PORT=str(mosquitto_anon.port),
        MQTT_TOPIC=root,
        HA_DISCOVERY="False",
        REST_TOKEN=SECRET,
    )
    sim.faults.close_after_frames = 3  # the dongle hangs up after every third answer
    try:
        run = run_script("read.py", "runAll", "-v", env=env)
    finally:
        mosquitto_anon.clear_retained(f"{root}/#")
    assert run.code == 0, run.stderr
    err = run.stderr
    for bank in ("HR(0,60)", "HR(60,60)", "IR(0,60)", "IR(180,60)"):
        assert re.search(rf"answer to {re.escape(bank)} at 0x11 after \d+\.\d{{3}} s", err), bank
    assert re.search(r"IR\(60,60\) at 0x32 after \d+\.\d{3} s", err)
    failed = re.findall(r"attempt 1 for (\S+) at 0x\w+ failed: (.+)", err)
    assert failed and all("closed the connection" in why for _, why in failed), err
    assert err.count("connected to 127.0.0.1:") == 1 + len(failed)  # one reconnect per hang-up
    summary = re.search(r"read runAll in \d+\.\d\d s: (\d+) requests, (\d+) retries", err)
    assert summary and int(summary.group(2)) == len(failed), err
    want = published_values(run.json())
    where = f"{mosquitto_anon.host}:{mosquitto_anon.port}"
    assert f"MQTT: published {want} values under {root} to {where}" in err
    assert f"JSON: printed {len(run.json())} groups on stdout" in err
    assert SECRET not in err


def test_v_says_what_was_rejected_and_why(sim, tmp_path):
    sim.faults.garbage_values_rate = 1.0
    env = sim_env(sim.port, tmp_path, NUM_BATTERIES="1")
    run = run_script("read.py", "getCombinedStats", "-v", env=env)
    assert run.code == 0, run.stderr
    rejected = run.json()["Data Quality"]["rejected"]
    assert rejected
    for key, why in rejected.items():
        assert f"rejected {key}: {why}" in run.stderr, key
    assert re.search(r"reading again: .*IR\(0,60\)@0x11", run.stderr)  # the garbled block
