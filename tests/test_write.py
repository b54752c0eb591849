"""write.py end to end against the simulator: validation before any byte, writes read back."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from givenergy_modbus_codec.commands import CONTROL_FUNCTIONS
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.conftest import PROJECT_ROOT
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)


@pytest.fixture
def sim():
    simulator = Simulator(SimulatorConfig(seed=5, speed=0.0, start_time=NOON))
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


def write_requests(sim: Simulator) -> list:
    return [r for r in sim.requests if r.frame.kind == "write_request"]


def test_seed_example_sets_charge_slot_and_reads_back(sim, tmp_path):
    payload = '{"enable": true,"start": "0100","finish": "0400","chargeToPercent": "100"}'
    run = run_script("write.py", "setChargeSlot1", payload, env=sim_env(sim.port, tmp_path))
    assert run.code == 0, run.stderr
    out = run.json()
    assert out["result"] == "setChargeSlot1: success"
    hr = sim.truth()["holding"]
    assert (hr[94], hr[95], hr[96], hr[116]) == (100, 400, 1, 100)
    for row in out["writes"]:
        assert row["ok"] is True
        assert row["readback"] == row["value"] == hr[row["register"]]
        if not row.get("unchanged"):
            assert row["echo"] == row["value"]


def test_unchanged_registers_are_not_written_again(sim, tmp_path):
    env = sim_env(sim.port, tmp_path)
    payload = '{"start":"0130","finish":"0430","chargeToPercent":"60"}'
    assert run_script("write.py", "setChargeSlot2", payload, env=env).code == 0
    written = len(write_requests(sim))
    again = run_script("write.py", "setChargeSlot2", payload, env=env)
    assert again.code == 0
    assert len(write_requests(sim)) == written
    assert all(row["unchanged"] for row in again.json()["writes"])


def test_battery_mode_changes_plant_behaviour(sim, tmp_path):
    env = sim_env(sim.port, tmp_path)
    run = run_script("write.py", "setBatteryMode", '{"mode": "4"}', env=env)
    assert run.code == 0, run.stderr
    hr = sim.truth()["holding"]
    assert (hr[110], hr[59], hr[27]) == (4, 1, 0)
    mode = run_script("read.py", "getModesandTimes", env=env).json()["Control"]["Mode"]
    assert mode == 4


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("setChargeSlot1", '{"start":"2500","finish":"0400"}'), "start"),
        (("setChargeSlot1", '{"start":"0100"}'), "finish"),
        (("setChargeTarget", '{"chargeToPercent":"101"}'), "chargeToPercent"),
        (("setChargeTarget", '{"chargeToPercent":"lots"}'), "chargeToPercent"),
        (("setBatteryReserve", '{"dischargeToPercent":"2"}'), "dischargeToPercent"),
        (("setBatteryMode", '{"mode":"7"}'), "mode"),
        (("setBatteryMode", '{"mode":"1","colour":"red"}'), "colour"),
        (("setDischargeSlot1", "[1, 2]"), "payload"),
        (("formatInverter",), "function"),
    ],
)
def test_bad_input_exits_2_and_sends_nothing(sim, tmp_path, args, field):
    run = run_script("write.py", *args, env=sim_env(sim.port, tmp_path))
    assert run.code == 2
    assert run.stdout == ""
    error = run.error()
    assert error["field"] == field
    assert error["allowed"]
    assert sim.requests == []
    assert sim.connections == 0


def test_invalid_json_exits_2_and_sends_nothing(sim, tmp_path):
    run = run_script(
        "write.py", "setChargeTarget", "{chargeToPercent: 50", env=sim_env(sim.port, tmp_path)
    )
    assert run.code == 2
    assert "not valid JSON" in run.error()["error"]
    assert sim.requests == []


def test_dry_run_plans_without_connecting(sim, tmp_path):
    run = run_script(
        "write.py", "setBatteryMode", '{"mode":"2"}', "--dry-run", env=sim_env(sim.port, tmp_path)
    )
    assert run.code == 0
    writes = [(w["register"], w["value"]) for w in run.json()["writes"]]
    assert writes == [(110, 100), (59, 1), (27, 1), (56, 1600), (57, 700)]
    assert sim.requests == []


def test_rate_function_uses_battery_size_read_from_inverter(sim, tmp_path):
    run = run_script(
        "write.py", "setChargeRate", '{"chargeRate":"1000"}', env=sim_env(sim.port, tmp_path)
    )
    assert run.code == 0, run.stderr
    capacity_wh = sim.truth()["holding"][55] * 51.2
    expected = min(int(1000 / (capacity_wh / 2) * 50 + 0.5), 50)
    assert sim.truth()["holding"][111] == expected


def test_unreachable_inverter_exits_1(sim, tmp_path):
    sim.faults.silent = True
    run = run_script("write.py", "pauseChargeSchedule", env=sim_env(sim.port, tmp_path))
    assert run.code == 1
    assert write_requests(sim) == []


def test_help_lists_every_control_function():
    run = run_script("write.py", "--help", env={})
    assert run.code == 0
    for name in CONTROL_FUNCTIONS:
        assert name in run.stdout
    example = json.dumps(dict(CONTROL_FUNCTIONS["setChargeSlot1"].example))
    assert example in run.stdout


def test_write_that_does_not_take_exits_4(sim, tmp_path):
    """Some inverters silently ignore a write: the read-back tells, and the exit code says so."""
    sim.faults.drop_writes = True
    before = sim.truth()["holding"][116]
    target = 50 if before != 50 else 60
    payload = json.dumps({"chargeToPercent": target})
    run = run_script("write.py", "setChargeTarget", payload, env=sim_env(sim.port, tmp_path))
    assert run.code == 4
    row = run.json()["writes"][0]
    assert row == {
        "register": 116,
        "name": "charge_target_soc",
        "value": target,
        "echo": None,
        "readback": before,
        "ok": False,
        "status": "not confirmed",
    }
    assert "did not read back" in run.json()["result"]
    assert sim.truth()["holding"][116] == before


# -- issue 10 item 14: rate payloads validated before any I/O ----------------------------------


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("setChargeRate", '{"chargeRate":"abc"}'), "chargeRate"),
        (("setChargeRate", "{}"), "chargeRate"),
        (("setChargeRate", "[]"), "payload"),
        (("setDischargeRate", '{"dischargeRate":"-1"}'), "dischargeRate"),
    ],
)
def test_rate_payloads_are_checked_before_reading_the_inverter(sim, tmp_path, args, field):
    run = run_script("write.py", *args, env=sim_env(sim.port, tmp_path))
    assert run.code == 2, run.stderr
    assert run.error()["field"] == field
    assert sim.connections == 0 and sim.requests == []


def test_bad_rate_payload_is_exit_2_even_with_nothing_listening(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]  # closed again: nothing listens there
    run = run_script(
        "write.py", "setChargeRate", '{"chargeRate":"abc"}', env=sim_env(dead, tmp_path)
    )
    assert run.code == 2, run.stderr
    assert run.error()["field"] == "chargeRate"


# -- item 15: hostile payloads are exit 2 with a message, never a traceback ---------------------


@pytest.mark.parametrize(
    "payload",
    [
        '{"chargeToPercent": ' + "7" * 5000 + "}",  # json refuses > 4300 digits (ValueError)
        "[" * 60_000 + "]" * 60_000,  # nested 60,000 deep
        '{"a":' * 5000 + "1" + "}" * 5000,  # deep enough for a RecursionError, under the limit
        '{"chargeToPercent": "٥٠"}',  # Arabic-Indic digits: "50" to int(), not to GivTCP
    ],
    ids=["5000 digits", "60000 deep", "5000 deep", "arabic digits"],
)
def test_hostile_payload_is_exit_2_without_traceback(sim, tmp_path, payload):
    run = run_script("write.py", "setChargeTarget", payload, env=sim_env(sim.port, tmp_path))
    assert run.code == 2
    assert "Traceback" not in run.stderr
    error = run.error()
    assert error["field"] in ("payload", "chargeToPercent")
    assert len(run.stderr) < 1000  # the payload is not echoed back
    assert sim.connections == 0
    assert sim.truth()["holding"][116] != 50


# -- item 12: a clock write is compared as a clock ----------------------------------------------


def test_set_date_time_is_confirmed_though_the_clock_ticked(tmp_path):
    """At 5x speed the clock has always ticked by the time HR40 is read back (>= 0.25 s)."""
    simulator = Simulator(SimulatorConfig(seed=5, speed=5.0, start_time=NOON))
    simulator.start(host="127.0.0.1", port=0)
    try:
        asked = dt.datetime(2026, 11, 24, 14, 5, 30)
        payload = json.dumps({"dateTime": asked.strftime("%d/%m/%Y %H:%M:%S")})
        run = run_script("write.py", "setDateTime", payload, env=sim_env(simulator.port, tmp_path))
        now = simulator.truth()["time"]
    finally:
        simulator.stop()
    assert run.code == 0, run.stdout + run.stderr
    rows = run.json()["writes"]
    assert [r["register"] for r in rows] == [35, 36, 37, 38, 39, 40]
    assert all(r["ok"] and r["status"] == "confirmed" for r in rows)
    seconds_row = rows[-1]
    assert seconds_row["value"] == 30 and seconds_row["echo"] == 30
    assert 30 < seconds_row["readback"] <= 40  # it ticked, within the documented tolerance
    assert asked < now < asked + dt.timedelta(seconds=30)


def test_a_clock_beyond_the_tolerance_is_exit_4(tmp_path):
    """At 60x speed the clock reads back well over 10 s after the asked time."""
    simulator = Simulator(SimulatorConfig(seed=5, speed=60.0, start_time=NOON))
    simulator.start(host="127.0.0.1", port=0)
    try:
        payload = json.dumps({"dateTime": "24/11/2026 14:05:30"})
        run = run_script("write.py", "setDateTime", payload, env=sim_env(simulator.port, tmp_path))
    finally:
        simulator.stop()
    assert run.code == 4, run.stdout + run.stderr
    assert [r["status"] for r in run.json()["writes"]] == ["not confirmed"] * 6


def test_a_clock_that_does_not_take_is_exit_4(sim, tmp_path):
    sim.faults.drop_writes = True
    payload = json.dumps({"dateTime": "24/11/2026 14:05:00"})
    run = run_script("write.py", "setDateTime", payload, env=sim_env(sim.port, tmp_path))
    assert run.code == 4
    assert not any(row["ok"] for row in run.json()["writes"])


# -- item 13: a write cut off midway ------------------------------------------------------------

SLOT = {"start": "0130", "finish": "0430", "chargeToPercent": "61"}


def test_write_cut_off_midway_is_exit_4_with_the_rows_done(sim, tmp_path):
    before = sim.truth()["holding"]
    assert (before[116], before[20], before[94]) != (61, 1, 130)  # each one is really written
    sim.faults.silent_after_writes = 2  # HR116 and HR20 are answered, then the dongle is gone
    run = run_script(
        "write.py", "setChargeSlot1", json.dumps(SLOT), env=sim_env(sim.port, tmp_path)
    )
    assert run.code == 4, run.stderr
    out = run.json()
    assert "stopped answering while HR94" in out["result"]
    rows = {row["register"]: row for row in out["writes"]}
    assert list(rows) == [116, 20, 94, 95, 96]
    for register, value in ((116, 61), (20, 1)):
        row = rows[register]
        assert (row["echo"], row["readback"], row["status"], row["ok"]) == (
            value,
            value,
            "confirmed",
            True,
        )
    assert rows[94]["status"] == "unknown" and rows[94]["ok"] is False
    assert "did not answer" in rows[94]["error"]
    assert rows[95]["status"] == rows[96]["status"] == "not sent"
    hr = sim.truth()["holding"]
    assert (hr[116], hr[20]) == (61, 1)
    assert [r.frame.register for r in write_requests(sim)] == [116, 20, 94]


def _read(env) -> dict:
    run = run_script("read.py", "getModesandTimes", env=env)
    assert run.code == 0, run.stderr
    return run


def test_a_write_killed_midway_is_reported_until_a_write_settles_it(sim, tmp_path):
    env = sim_env(sim.port, tmp_path)
    sim.faults.latency = 0.4  # time to kill it between two registers
    proc = subprocess.Popen(
        [sys.executable, "write.py", "setChargeSlot1", json.dumps(SLOT)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "GIVTCP_SETTINGS": str(PROJECT_ROOT / "settings_template.py"), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while len([r for r in write_requests(sim) if r.outcome == "answered"]) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, "write.py ended too soon"
        time.sleep(0.01)
    proc.kill()  # SIGKILL: no clean-up runs
    proc.wait(10)
    sim.faults.latency = 0.0
    time.sleep(1.0)  # let the answer in flight go
    read = _read(env)
    notes = read.json()["Data Quality"]["interrupted write"]
    [(key, text)] = notes.items()
    assert key.startswith("setChargeSlot1 at ")
    assert "HR94 charge_slot_1_start = 130" in text and "HR96" in text
    assert "HR116" not in text  # confirmed before the kill
    assert "interrupted" in read.stderr
    # the next write says so too, and settles those registers: the note goes away
    again = run_script("write.py", "setChargeSlot1", json.dumps(SLOT), env=env)
    assert again.code == 0, again.stderr
    assert "earlier write was interrupted" in again.stderr
    assert "interrupted write" not in _read(env).json().get("Data Quality", {})
