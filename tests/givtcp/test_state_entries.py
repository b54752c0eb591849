"""A last-good state file that is valid JSON but holds the wrong types (hand-edited, damaged,
written by another version): the entry that does not check out is discarded with one warning,
the run goes on as if that entry had never been there, and no NaN/Infinity reaches stdout."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

import pytest

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givtcp import reading
from givtcp.config import Settings
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)


def _strict_json(text: str) -> dict:
    """json.loads that refuses NaN/Infinity, as every other JSON parser does."""

    def refuse(name: str) -> float:
        raise ValueError(f"{name} in the output is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def sim():
    with Simulator(SimulatorConfig(seed=4, speed=0.0, start_time=NOON, batteries=1)) as simulator:
        yield simulator


def _write_state(settings: Settings, data: dict) -> None:
    with open(settings.state_file("last-good"), "w") as handle:
        json.dump(data, handle)  # json writes float("inf") as Infinity, as a damaged file may


BAD_ENTRIES = {
    "values as a list": {"values": [1, 2, 3], "seen_at": {}},
    "a counter 'abc'": {"values": {"e_pv_total": "abc"}, "seen_at": {"e_pv_total": 0.0}},
    "a counter null": {"values": {"e_grid_in_total": None}, "seen_at": {}},
    "seen_at 'yesterday'": {"values": {"p_pv1": 5}, "seen_at": {"p_pv1": "yesterday"}},
    "a counter Infinity": {"values": {"e_pv_total": float("inf")}, "seen_at": {}},
    "a seen_at NaN": {"values": {"p_pv1": 5}, "seen_at": {"p_pv1": float("nan")}},
    "an inverter_time 'noon'": {"values": {}, "seen_at": {}, "inverter_time": "noon"},
    "a challenger 'x'": {"values": {}, "seen_at": {}, "challengers": {"e_pv_total": "x"}},
    "not an object": [1, 2],
}


@pytest.mark.parametrize("case", BAD_ENTRIES)
def test_an_entry_that_does_not_check_out_is_discarded_with_one_warning(
    sim, tmp_path, caplog, case
):
    settings = Settings(
        invertor_ip="127.0.0.1",
        invertor_port=sim.port,
        num_batteries=1,
        state_location=str(tmp_path),
        request_spacing=0.0,
    )
    serial = sim.truth()["plant"]["inverter_serial"]
    good_battery = sim.truth()["plant"]["battery_serials"][0]
    reading.read_inverter("runAll", settings)  # a good run: the battery's entry is sound
    with open(settings.state_file("last-good")) as handle:
        state = json.load(handle)
    state[f"inverter:{serial}"] = BAD_ENTRIES[case]
    _write_state(settings, state)

    with caplog.at_level(logging.WARNING, logger="givtcp"):
        result = reading.read_inverter("runAll", settings)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert f"inverter:{serial}" in warnings[0] and "discarded" in warnings[0]
    # the run went on: the inverter as on a first run, the sound battery entry kept
    assert result.groups["Invertor Details"]["Invertor Serial Number"] == serial
    assert good_battery in result.groups["Battery Details"]
    assert "Data Quality" not in result.groups, result.groups.get("Data Quality")
    with open(settings.state_file("last-good")) as handle:
        rebuilt = _strict_json(handle.read())
    assert isinstance(rebuilt[f"inverter:{serial}"]["values"], dict)
    assert rebuilt[f"battery:{good_battery}"]["values"]["soc"] == result.batteries[0].soc


def test_infinity_in_the_state_is_never_printed(sim, tmp_path):
    """A fresh Infinity in the state, and a dongle answering garbage: the held value would
    have been Infinity, printed as invalid JSON. read.py exits 0 with valid JSON instead."""
    settings = Settings(
        invertor_ip="127.0.0.1", invertor_port=sim.port, state_location=str(tmp_path)
    )
    serial = sim.truth()["plant"]["inverter_serial"]
    now = time.time()
    _write_state(
        settings,
        {
            f"inverter:{serial}": {
                "values": {"p_pv1": float("inf"), "battery_percent": float("nan")},
                "seen_at": {"p_pv1": now, "battery_percent": now},
                "inverter_time": NOON.isoformat(),
            }
        },
    )
    sim.faults.garbage_values_rate = 1.0  # p_pv1 65535 and SOC 255: rejected, so held if possible
    run = run_script("read.py", "runAll", env=sim_env(sim.port, tmp_path, NUM_BATTERIES="1"))
    assert run.code == 0, run.stderr
    out = _strict_json(run.stdout)
    assert "PV Power String 1" not in out["Power"]
    assert "SOC" not in out["Power"]
    assert "held" not in out["Data Quality"]
    assert run.stderr.count("discarded") == 1, run.stderr
