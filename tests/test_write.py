"""write.py end to end against the simulator: validation before any byte, writes read back."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from givenergy_modbus_codec.commands import CONTROL_FUNCTIONS
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
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
    }
    assert "did not read back" in run.json()["result"]
    assert sim.truth()["holding"][116] == before
