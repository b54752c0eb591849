"""Timed actions end on the inverter's own clock and are restored by the next run.

Against the simulator over real TCP with write.py / read.py as subprocesses: when write.py has
exited there is no client at all, so advancing the plant clock shows what the inverter does
alone. Expected registers come from registers.md §4/§9 and the values read before the action.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.scripts import run_script, sim_env

CLOCK = range(35, 41)


@pytest.fixture
def make_sim():
    started: list[Simulator] = []

    def make(model: str, start: dt.datetime) -> Simulator:
        sim = Simulator(SimulatorConfig(seed=3, model=model, speed=0.0, start_time=start))
        sim.start(host="127.0.0.1", port=0)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def holding(sim: Simulator) -> dict[int, int]:
    return {a: v for a, v in sim.truth()["holding"].items() if a not in CLOCK}


def run(sim: Simulator, tmp_path, *args: str):
    return run_script(*args, env=sim_env(sim.port, tmp_path))


def test_abandoned_force_charge_ends_on_the_inverter_clock_across_midnight(make_sim, tmp_path):
    sim = make_sim("hybrid", dt.datetime(2026, 3, 1, 23, 50))
    before = holding(sim)
    started = run(
        sim, tmp_path, "write.py", "forceCharge", '{"minutes": 30, "chargeToPercent": 95}'
    )
    assert started.code == 0, started.stderr
    answer = started.json()
    # Gen1: charge slot 1 holds the template's 00:30-04:30, slot 2 (HR31/32) is free.
    assert answer["slot"] == "charge slot 2"
    assert answer["ends"] == "2026-03-02T00:20:00"
    assert answer["notes"] == []
    restore = {row["register"]: row["value"] for row in answer["will_restore"]}
    assert restore == {a: before[a] for a in (116, 20, 31, 32, 96)}
    hr = holding(sim)
    assert (hr[31], hr[32], hr[116], hr[20], hr[96]) == (2350, 20, 95, 1, 1)
    assert sim.truth()["plant"]["battery_mode"] == "timed charge"
    assert sim.truth()["plant"]["battery_power_w"] < 0
    # write.py has exited: no client. The plant runs on past the end, alone.
    sim.advance(20 * 60)  # 00:10, after midnight, still inside
    assert sim.truth()["plant"]["battery_mode"] in ("timed charge", "charged")
    sim.advance(15 * 60)  # 00:25: the slot ended at 00:20 by the inverter clock
    plant = sim.truth()["plant"]
    assert plant["battery_mode"] not in ("timed charge", "charged")
    assert plant["battery_power_w"] >= 0 or plant["pv_power_w"] > 0
    assert sim.connections == 0
    # The next read restores what was saved, slot by slot, and reports it.
    read = run(sim, tmp_path, "read.py", "runAll")
    assert read.code == 0, read.stderr
    assert read.json()["Control"]["Timed Action"] == (
        "forceCharge ended 2026-03-02T00:20:00: restored"
    )
    restored = read.json()["Timed Action"]["restored"]
    assert restored["function"] == "forceCharge"
    for row in restored["writes"]:
        assert row["ok"] and row["readback"] == row["value"] == before[row["register"]]
    assert holding(sim) == before
    timeslots = read.json()["Timeslots"]
    assert (timeslots["Charge start time slot 2"], timeslots["Charge end time slot 2"]) == (
        "0000",
        "0000",
    )
    again = run(sim, tmp_path, "read.py", "runAll")
    assert "Timed Action" not in again.json()["Control"]
    assert "Timed Action" not in again.json()


def test_force_export_takes_a_used_slot_only_saying_so_and_cancel_restores(make_sim, tmp_path):
    sim = make_sim("hybrid", dt.datetime(2026, 6, 21, 12, 0))
    for function, payload in (
        ("setDischargeSlot1", '{"start": "1600", "finish": "1900"}'),
        ("setDischargeSlot2", '{"start": "2000", "finish": "2100"}'),
    ):
        assert run(sim, tmp_path, "write.py", function, payload).code == 0
    before = holding(sim)
    started = run(
        sim, tmp_path, "write.py", "forceExport", '{"minutes": 45, "dischargeToPercent": 20}'
    )
    assert started.code == 0, started.stderr
    answer = started.json()
    assert answer["slot"] == "discharge slot 1"
    assert "16:00-19:00" in answer["notes"][0]
    hr = holding(sim)
    assert (hr[56], hr[57], hr[27], hr[59], hr[110]) == (1200, 1245, 0, 1, 20)
    plant = sim.truth()["plant"]
    assert plant["battery_mode"] == "timed export"
    assert plant["battery_power_w"] > 0 and plant["grid_power_w"] > 0
    groups = run(sim, tmp_path, "read.py", "runAll").json()
    assert groups["Control"]["Mode Name"] == "Timed Export"
    assert groups["Timed Action"]["in_progress"]["ends"] == "2026-06-21T12:45:00"
    cancel = run(sim, tmp_path, "write.py", "cancelTimedAction")
    assert cancel.code == 0, cancel.stderr
    assert cancel.json()["result"] == "cancelTimedAction: success"
    assert holding(sim) == before
    assert run(sim, tmp_path, "write.py", "cancelTimedAction").json()["result"] == (
        "cancelTimedAction: no timed action in progress"
    )


def test_a_later_action_replaces_the_earlier_restoring_first(make_sim, tmp_path):
    sim = make_sim("gen3", dt.datetime(2026, 6, 21, 12, 0))
    before = holding(sim)
    assert run(sim, tmp_path, "write.py", "forceCharge", '{"minutes": 60}').code == 0
    charged = holding(sim)
    assert charged != before
    second = run(sim, tmp_path, "write.py", "forceExport", '{"minutes": 10}')
    assert second.code == 0, second.stderr
    answer = second.json()
    assert answer["restored"]["function"] == "forceCharge"
    # Gen3 (extended): the first free discharge slot and its own target (HR272 for slot 1).
    assert answer["slot"] == "discharge slot 1"
    hr = holding(sim)
    for address in (94, 95, 242, 246, 247):  # nothing of the charge action is left
        assert hr[address] == before[address]
    assert (hr[272], hr[27], hr[59]) == (4, 0, 1)
    sim.advance(11 * 60)
    assert sim.truth()["plant"]["battery_mode"] != "timed export"
    # A write.py run after the end restores too (before its own writes).
    later = run(sim, tmp_path, "write.py", "setActivePowerRate", '{"percent": 100}')
    assert later.code == 0, later.stderr
    assert later.json()["timed_action"]["restored"]["function"] == "forceExport"
    assert holding(sim) == before


def test_temporary_pause_uses_the_pause_slot_on_ac(make_sim, tmp_path):
    sim = make_sim("ac", dt.datetime(2026, 12, 21, 0, 10))
    assert (
        run(sim, tmp_path, "write.py", "setChargeSlot1", '{"start":"0000","finish":"0500"}').code
        == 0
    )
    assert sim.truth()["plant"]["battery_power_w"] < 0
    before = holding(sim)
    started = run(sim, tmp_path, "write.py", "tempPauseCharge", '{"minutes": 20}')
    assert started.code == 0, started.stderr
    hr = holding(sim)
    assert (hr[318], hr[319], hr[320]) == (1, 10, 30)
    assert sim.truth()["plant"]["battery_power_w"] == 0
    sim.advance(21 * 60)
    assert sim.truth()["plant"]["battery_power_w"] < 0  # the pause slot ended: charging again
    read = run(sim, tmp_path, "read.py", "getModesandTimes")
    assert read.json()["Timed Action"]["restored"]["function"] == "tempPauseCharge"
    assert holding(sim) == before


def test_temporary_pause_is_refused_without_a_pause_slot(make_sim, tmp_path):
    sim = make_sim("gen2", dt.datetime(2026, 6, 21, 12, 0))
    result = run(sim, tmp_path, "write.py", "tempPauseDischarge", '{"minutes": 20}')
    assert result.code == 2
    assert "tempPauseDischarge is not available on Gen2 hybrid" in result.error()["error"]
    assert [r for r in sim.requests if r.frame.kind == "write_request"] == []
    assert not list(tmp_path.glob("timed-action*"))
    # With an action in progress the refusal still comes first: nothing restored or written.
    assert run(sim, tmp_path, "write.py", "forceCharge", '{"minutes": 20}').code == 0
    sent = len([r for r in sim.requests if r.frame.kind == "write_request"])
    result = run(sim, tmp_path, "write.py", "tempPauseCharge", '{"minutes": 20}')
    assert result.code == 2
    assert len([r for r in sim.requests if r.frame.kind == "write_request"]) == sent
    assert list(tmp_path.glob("timed-action*"))


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "minutes"),
        ({"minutes": 0}, "minutes"),
        ({"minutes": 1440}, "minutes"),
        ({"minutes": "٣٠"}, "minutes"),
        ({"minutes": 30, "chargeToPercent": 101}, "chargeToPercent"),
        ({"minutes": 30, "colour": "red"}, "colour"),
    ],
)
def test_bad_payloads_exit_2_before_connecting(make_sim, tmp_path, payload, field):
    sim = make_sim("hybrid", dt.datetime(2026, 6, 21, 12, 0))
    result = run(sim, tmp_path, "write.py", "forceCharge", json.dumps(payload))
    assert result.code == 2
    assert result.error()["field"] == field
    assert sim.requests == []


def test_a_register_changed_during_the_action_is_left_alone(make_sim, tmp_path):
    sim = make_sim("hybrid", dt.datetime(2026, 6, 21, 12, 0))
    before = holding(sim)
    assert run(sim, tmp_path, "write.py", "forceCharge", '{"minutes": 20}').code == 0
    # The user moves charge slot 2 while the action runs: their change must survive.
    user = run(sim, tmp_path, "write.py", "setChargeSlot2", '{"start":"0300","finish":"0400"}')
    assert user.code == 0, user.stderr
    assert user.json()["timed_action"]["in_progress"]["function"] == "forceCharge"
    sim.advance(25 * 60)
    read = run(sim, tmp_path, "read.py", "getModesandTimes")
    rows = {row["register"]: row for row in read.json()["Timed Action"]["restored"]["writes"]}
    assert rows[31]["left_alone"] and rows[32]["left_alone"]
    hr = holding(sim)
    assert (hr[31], hr[32]) == (300, 400)
    assert (hr[116], hr[20]) == (before[116], before[20])
