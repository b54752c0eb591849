"""Issue 12 controls through write.py against the simulator over real TCP.

Expected register numbers are worked out from registers.md §4-5.1 / families.md §3.1 (slot k
of the extended layout: charge HR237+3k/238+3k, target HR239+3k; discharge HR267+3k/268+3k,
target HR269+3k), not taken from the product's tables.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)


@pytest.fixture
def make_sim():
    started: list[Simulator] = []

    def make(model: str = "hybrid", start: dt.datetime = NOON) -> Simulator:
        sim = Simulator(SimulatorConfig(seed=7, model=model, speed=0.0, start_time=start))
        sim.start(host="127.0.0.1", port=0)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def writes(sim: Simulator) -> list:
    return [r for r in sim.requests if r.frame.kind == "write_request"]


def write(sim: Simulator, tmp_path, function: str, payload: dict | None = None):
    args = (function,) if payload is None else (function, json.dumps(payload))
    return run_script("write.py", *args, env=sim_env(sim.port, tmp_path))


def assert_read_back(run, sim: Simulator) -> None:
    hr = sim.truth()["holding"]
    for row in run.json()["writes"]:
        assert row["ok"] is True, row
        assert row["readback"] == row["value"] == hr[row["register"]]


def test_schedule_switches_take_state_or_no_payload(make_sim, tmp_path):
    sim = make_sim()
    run = write(sim, tmp_path, "enableChargeSchedule", {"state": "disable"})
    assert run.code == 0, run.stderr
    assert sim.truth()["holding"][96] == 0
    assert_read_back(run, sim)
    assert write(sim, tmp_path, "enableChargeSchedule").code == 0
    assert sim.truth()["holding"][96] == 1
    assert write(sim, tmp_path, "enableDischargeSchedule", {"state": "enable"}).code == 0
    assert sim.truth()["holding"][59] == 1
    assert write(sim, tmp_path, "enableChargeTarget", {"state": "disable"}).code == 0
    assert sim.truth()["holding"][20] == 0
    assert write(sim, tmp_path, "enableChargeTarget").code == 0  # the v1.0 form
    assert sim.truth()["holding"][20] == 1


def test_battery_reserve_accepts_predbats_key(make_sim, tmp_path):
    sim = make_sim()
    run = write(sim, tmp_path, "setBatteryReserve", {"reservePercent": 17})
    assert run.code == 0, run.stderr
    assert sim.truth()["holding"][114] == 17


def test_extended_slot_with_seconds_and_target_on_gen3(make_sim, tmp_path):
    sim = make_sim("gen3")
    payload = {"start": "23:30:00", "finish": "0130", "chargeToPercent": 80}
    run = write(sim, tmp_path, "setChargeSlot5", payload)
    assert run.code == 0, run.stderr
    hr = sim.truth()["holding"]
    assert (hr[252], hr[253], hr[254], hr[20], hr[96]) == (2330, 130, 80, 1, 1)
    assert_read_back(run, sim)
    run = write(sim, tmp_path, "setDischargeSlot10", {"start": "16:00", "finish": "19:00"})
    assert run.code == 0, run.stderr
    assert (sim.truth()["holding"][297], sim.truth()["holding"][298]) == (1600, 1900)
    run = write(sim, tmp_path, "setDischargeTarget", {"dischargeToPercent": 25, "slot": 3})
    assert run.code == 0, run.stderr
    assert sim.truth()["holding"][278] == 25
    assert write(sim, tmp_path, "clearChargeSlot5").code == 0
    assert (sim.truth()["holding"][252], sim.truth()["holding"][253]) == (0, 0)


def test_gen3_plant_charges_to_the_slot_target(make_sim, tmp_path):
    # 00:10, before the template's own slot 1 (00:30-04:30) has charged anything.
    sim = make_sim("gen3", dt.datetime(2026, 12, 21, 0, 10))
    soc = sim.truth()["plant"]["soc"]
    target = int(soc) + 2
    payload = {"start": "00:05", "finish": "00:25", "chargeToPercent": target}
    assert write(sim, tmp_path, "setChargeSlot7", payload).code == 0
    assert sim.truth()["plant"]["battery_mode"] == "timed charge"
    assert sim.truth()["plant"]["battery_power_w"] < 0
    sim.advance(14 * 60)  # to 00:24
    plant = sim.truth()["plant"]
    assert target - 0.5 <= plant["soc"] <= target + 0.5  # stopped at the slot's own target
    assert plant["battery_mode"] == "charged"


@pytest.mark.parametrize(
    ("model", "function", "payload"),
    [
        ("hybrid", "setChargeSlot3", {"start": "0100", "finish": "0200"}),
        ("gen2", "clearDischargeSlot10", None),
        ("hybrid", "setDischargeTarget", {"dischargeToPercent": 20}),
        ("gen2", "setBatteryPauseMode", {"state": "PauseBoth"}),
        ("hybrid", "setPauseSlot", {"start": "0000", "finish": "2359"}),
        ("gen2", "enableEPS", None),
    ],
)
def test_refused_where_the_model_lacks_it(make_sim, tmp_path, model, function, payload):
    sim = make_sim(model)
    run = write(sim, tmp_path, function, payload)
    assert run.code == 2, run.stderr
    assert run.stdout == ""
    expected = "Gen1 hybrid" if model == "hybrid" else "Gen2 hybrid"
    assert f"{function} is not available on {expected}" in run.error()["error"]
    assert writes(sim) == []


@pytest.mark.parametrize(
    ("function", "payload", "field"),
    [
        ("enableChargeSchedule", {"state": "maybe"}, "state"),
        ("setChargeSlot4", {"start": "01:00:30", "finish": "0200"}, "start"),
        ("setDischargeTarget", {"dischargeToPercent": 2}, "dischargeToPercent"),
        ("setDischargeTarget", {"dischargeToPercent": 20, "slot": 11}, "slot"),
        ("setBatteryReserve", {"reservePercent": 5, "dischargeToPercent": 5}, "dischargeToPercent"),
        ("setBatteryMode", {"mode": "eco"}, "mode"),
        ("setBatteryPauseMode", {"state": "pause"}, "state"),
        ("setExportLimit", {"watts": -1}, "watts"),
        ("setActivePowerRate", {"percent": 101}, "percent"),
        ("rebootInverter", None, "confirm"),
        ("rebootInverter", {"confirm": "yes"}, "confirm"),
        ("syncDateTime", {"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_bad_payloads_exit_2_before_connecting(make_sim, tmp_path, function, payload, field):
    sim = make_sim("aio")
    run = write(sim, tmp_path, function, payload)
    assert run.code == 2
    assert run.error()["field"] == field
    assert sim.requests == []
    assert sim.connections == 0


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("Eco", (4, 0, 1)),
        ("Eco (Paused)", (100, 0, 1)),
        ("Timed Demand", (4, 1, 1)),
        ("Timed Export", (4, 1, 0)),
    ],
)
def test_battery_mode_by_name(make_sim, tmp_path, mode, expected):
    sim = make_sim()
    run = write(sim, tmp_path, "setBatteryMode", {"mode": mode})
    assert run.code == 0, run.stderr
    hr = sim.truth()["holding"]
    assert (hr[110], hr[59], hr[27]) == expected


def test_timed_export_with_export_limit_caps_the_grid(make_sim, tmp_path):
    sim = make_sim()
    assert (
        write(sim, tmp_path, "setDischargeSlot1", {"start": "11:00", "finish": "13:00"}).code == 0
    )
    assert write(sim, tmp_path, "setBatteryMode", {"mode": "Timed Export"}).code == 0
    assert sim.truth()["plant"]["battery_mode"] == "timed export"
    run = write(sim, tmp_path, "setExportLimit", {"watts": 500})
    assert run.code == 0, run.stderr
    assert sim.truth()["holding"][26] == 500
    plant = sim.truth()["plant"]
    assert plant["grid_power_w"] <= 500
    assert plant["export_limit_w"] == 500


def test_pause_mode_and_slot_on_ac_stop_charging(make_sim, tmp_path):
    sim = make_sim("ac", dt.datetime(2026, 12, 21, 0, 10))
    assert write(sim, tmp_path, "setChargeSlot1", {"start": "0000", "finish": "0500"}).code == 0
    assert sim.truth()["plant"]["battery_power_w"] < 0  # charging from the grid
    run = write(sim, tmp_path, "setPauseSlot", {"start": "00:00:00", "finish": "23:59:00"})
    assert run.code == 0, run.stderr
    run = write(sim, tmp_path, "setBatteryPauseMode", {"state": "PauseCharge"})
    assert run.code == 0, run.stderr
    hr = sim.truth()["holding"]
    assert (hr[318], hr[319], hr[320]) == (1, 0, 2359)
    assert sim.truth()["plant"]["battery_power_w"] == 0


def test_eps_on_ac(make_sim, tmp_path):
    sim = make_sim("ac")
    run = write(sim, tmp_path, "disableEPS")
    assert run.code == 0, run.stderr
    assert sim.truth()["holding"][317] == 0
    assert sim.truth()["plant"]["eps_enabled"] is False
    assert sim.truth()["input"][53] == 0  # no EPS voltage
    assert write(sim, tmp_path, "enableEPS").code == 0
    assert sim.truth()["plant"]["eps_enabled"] is True


def test_active_power_rate_reboot_and_calibration(make_sim, tmp_path):
    sim = make_sim()
    assert write(sim, tmp_path, "setActivePowerRate", {"percent": 80}).code == 0
    assert sim.truth()["holding"][50] == 80
    run = write(sim, tmp_path, "rebootInverter", {"confirm": True})
    assert run.code == 0, run.stderr
    assert run.json()["writes"][0]["register"] == 163
    assert sim.truth()["plant"]["rebooting"] is True
    assert sim.truth()["input"][0] == 0  # status: waiting
    sim.advance(120)
    assert sim.truth()["plant"]["rebooting"] is False
    assert write(sim, tmp_path, "startBatteryCalibration").code == 0
    assert sim.truth()["holding"][29] == 1
    assert sim.truth()["plant"]["battery_mode"] == "calibration discharge"
    assert write(sim, tmp_path, "stopBatteryCalibration").code == 0
    assert sim.truth()["holding"][29] == 0


def test_sync_date_time_sets_the_host_clock(make_sim, tmp_path):
    sim = make_sim(start=dt.datetime(2025, 1, 1, 3, 0))
    run = write(sim, tmp_path, "syncDateTime")
    assert run.code == 0, run.stderr
    assert abs((sim.now() - dt.datetime.now()).total_seconds()) < 10


def test_help_shows_the_new_controls_with_examples():
    run = run_script("write.py", "--help", env={})
    for text in (
        'setChargeSlot10 \'{"start": "01:00", "finish": "04:00"}\'',
        'setBatteryPauseMode \'{"state": "PauseCharge"}\'',
        "rebootInverter '{\"confirm\": true}'",
        'setDischargeTarget \'{"dischargeToPercent": 20, "slot": 1}\'',
        'forceCharge \'{"minutes": 30, "chargeToPercent": 90}\'',
        "cancelTimedAction",
    ):
        assert text in run.stdout


def test_run_all_shows_every_slot_and_control_the_model_has(make_sim, tmp_path):
    gen3 = make_sim("gen3")
    payload = {"start": "0100", "finish": "0200", "chargeToPercent": 70}
    assert write(gen3, tmp_path, "setChargeSlot9", payload).code == 0
    assert (
        write(gen3, tmp_path, "setDischargeTarget", {"dischargeToPercent": 30, "slot": 10}).code
        == 0
    )
    out = run_script("read.py", "runAll", env=sim_env(gen3.port, tmp_path)).json()
    slots = out["Timeslots"]
    assert (slots["Charge start time slot 9"], slots["Charge end time slot 9"]) == ("0100", "0200")
    assert len([k for k in slots if k.startswith("Discharge start")]) == 10
    control = out["Control"]
    assert control["Charge Target SOC 9"] == 70
    assert control["Discharge Target SOC 10"] == 30
    assert control["Mode Name"] == "Eco"  # HR27 1, HR59 0, HR110 4 in the template
    assert control["Export Limit"] == gen3.truth()["holding"][26]
    assert "Battery Pause Mode" not in control  # no AC bank on a Gen3 hybrid

    ac_path = tmp_path / "ac"
    ac = make_sim("ac")
    assert write(ac, ac_path, "setPauseSlot", {"start": "0130", "finish": "0245"}).code == 0
    assert write(ac, ac_path, "setBatteryPauseMode", {"state": "PauseBoth"}).code == 0
    assert write(ac, ac_path, "disableEPS").code == 0
    assert write(ac, ac_path, "setBatteryMode", {"mode": "Eco (Paused)"}).code == 0
    out = run_script("read.py", "runAll", env=sim_env(ac.port, ac_path)).json()
    assert out["Control"]["Battery Pause Mode"] == "PauseBoth"
    assert out["Control"]["EPS"] is False
    assert out["Control"]["Mode Name"] == "Eco (Paused)"
    assert out["Timeslots"]["Battery pause start time slot"] == "0130"
    assert out["Timeslots"]["Battery pause end time slot"] == "0245"
    assert "Charge start time slot 3" not in out["Timeslots"]  # 2-slot layout


def test_dry_run_of_a_model_dependent_control_validates_but_cannot_plan(make_sim, tmp_path):
    sim = make_sim()
    env = sim_env(sim.port, tmp_path)
    ok = run_script(
        "write.py", "setChargeSlot5", '{"start":"01:00","finish":"02:00"}', "--dry-run", env=env
    )
    assert ok.code == 2
    assert "cannot be planned offline" in ok.error()["error"]
    bad = run_script(
        "write.py", "setChargeSlot5", '{"start":"25:00","finish":"02:00"}', "--dry-run", env=env
    )
    assert bad.code == 2
    assert bad.error()["field"] == "start"
    assert sim.requests == []
