"""Computed energy values: never negative, never mixed from different reads or days, and not
offered to Home Assistant's energy dashboard when they can dip."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givtcp import quality, reading, report
from givtcp.config import Settings

TODAY = "Energy/Today"
LOAD_TODAY = "Load Energy Today kWh"
COMPUTED = {
    (TODAY, "Import for Load Energy Today kWh"),
    (TODAY, LOAD_TODAY),
    (TODAY, "Self Consumption Energy Today kWh"),
    ("Energy/Total", "Load Energy Total kWh"),
    ("Energy/Total", "Self Consumption Energy Total kWh"),
}


def settings_for(sim: Simulator, state, **extra) -> Settings:
    return Settings(
        invertor_ip="127.0.0.1",
        invertor_port=sim.port,
        num_batteries=1,
        state_location=str(state),
        request_spacing=0.0,
        **extra,
    )


@pytest.mark.parametrize("hour", [12, 20])
def test_an_ac_coupled_inverter_publishes_no_load_energy_it_cannot_know(tmp_path, hour):
    """v1.0's load formula on an AC-coupled inverter (its PV is behind another inverter, so
    it reads PV 0) gave -5.8 kWh at noon. The house's energy is not known there: left out."""
    config = SimulatorConfig(
        seed=1, speed=0.0, model="ac", batteries=1, start_time=dt.datetime(2026, 6, 21, hour)
    )
    with Simulator(config) as sim:
        groups = reading.read_inverter("getCombinedStats", settings_for(sim, tmp_path)).groups
        ir = sim.truth()["input"]
    # what v1.0 computed from the registers (IR44 - IR35 - (IR25 - IR26) + IR17 + IR19)
    v1 = (ir[44] - ir[35] - (ir[25] - ir[26]) + ir[17] + ir[19]) / 10
    assert v1 < 0, "the simulated AC plant exports PV the inverter does not see"
    rejected = groups["Data Quality"]["rejected"]
    for group, key in COMPUTED:
        assert key not in groups[group], (key, groups[group][key])
        assert "AC-coupled" in rejected[f"{group}/{key}"]
    for group in (TODAY, "Energy/Total"):
        assert all(value >= 0 for value in groups[group].values()), groups[group]


def test_a_computed_energy_below_zero_is_rejected_not_published():
    values = {  # a hybrid whose house took less than the counters say left the inverter
        "e_inverter_out_day": 1.0,
        "e_ac_charge_day": 0.0,
        "e_grid_out_day": 5.0,
        "e_grid_in_day": 0.0,
        "e_pv1_day": 3.0,
        "e_pv2_day": 0.0,
    }
    entries = [
        e
        for e in report.stats_entries({"charge_day": "x", "discharge_day": "y"}, False)
        if e.key in (LOAD_TODAY, "Self Consumption Energy Today kWh")
    ]
    groups, rejected = report.build_groups(entries, values, {})
    assert groups == {}
    assert "-4.0 kWh, below zero" in rejected[f"{TODAY}/{LOAD_TODAY}"]
    assert "-2.0 kWh, below zero" in rejected[f"{TODAY}/Self Consumption Energy Today kWh"]


def test_computed_energy_is_not_offered_to_the_energy_dashboard():
    """HA's energy dashboard and long-term statistics take sensors with a state class; values
    computed from several counters can dip, and HA recorded negative sums for them."""
    meta = report.metadata(report.stats_entries({"charge_day": "a", "discharge_day": "b"}, False))
    for group, key in COMPUTED:
        assert meta[(group, key)].device_class == "energy"
        assert meta[(group, key)].state_class is None, key
    assert meta[(TODAY, "Import Energy Today kWh")].state_class == "total_increasing"


def test_a_held_counter_is_never_mixed_with_fresh_ones(tmp_path):
    """A counter rejected this run and held from the last good read: it is published as held,
    but nothing is computed from it together with this read's counters."""
    noon = dt.datetime(2026, 6, 21, 12, 0, 0)
    with Simulator(SimulatorConfig(seed=6, speed=0.0, start_time=noon, batteries=1)) as sim:
        settings = settings_for(sim, tmp_path)
        reading.read_inverter("getCombinedStats", settings)
        (path,) = tmp_path.glob("last-good-*.json")
        state = json.loads(path.read_text())
        (key,) = [k for k in state if k.startswith("inverter:")]
        high = state[key]["values"]["e_grid_in_day"] + 3.0  # so this run's reading "fell"
        state[key]["values"]["e_grid_in_day"] = high
        path.write_text(json.dumps(state))
        groups = reading.read_inverter("getCombinedStats", settings).groups
    quality_notes = groups["Data Quality"]
    assert "e_grid_in_day" in quality_notes["held"]
    assert groups[TODAY]["Import Energy Today kWh"] == round(high, 1)
    for name in (LOAD_TODAY, "Import for Load Energy Today kWh"):
        assert name not in groups[TODAY]
        assert "held from an earlier read" in quality_notes["rejected"][f"{TODAY}/{name}"]
    assert "PV Energy Today kWh" in groups[TODAY]  # computed from fresh counters only


def test_a_daily_counter_is_not_held_across_midnight():
    past = quality.History(
        {"e_grid_in_day": 12.3, "e_grid_in_total": 500.0},
        {"e_grid_in_day": 1000.0, "e_grid_in_total": 1000.0},
        "2026-06-21T23:59:00",
    )
    invalid = {"e_grid_in_day": "raw 65535", "e_grid_in_total": "raw 65535"}
    before = {}
    held = quality.hold(before, invalid, past, 1120.0, 300, "2026-06-21T23:59:59")
    assert set(held) == {"e_grid_in_day", "e_grid_in_total"}
    after = {}
    held = quality.hold(after, invalid, past, 1120.0, 300, "2026-06-22T00:01:00")
    assert after == {"e_grid_in_total": 500.0}  # yesterday's 12.3 kWh is not today's
    assert set(held) == {"e_grid_in_total"}
