"""The v1.0 output contract built from real register dumps, and the power-flow split."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from givenergy_modbus_codec.model import decode_inverter
from givtcp import report
from tests.conftest import load_vectors


def _real_inverter():
    cache = next(
        v
        for v in load_vectors("dewet22_register_caches.json")["vectors"]
        if v["id"] == "json_inverter_daytime_discharging_with_solar_generation"
    )
    regs = cache["registers"]
    holding = {int(k[3:]): v for k, v in regs.items() if k.startswith("HR:")}
    inputs = {int(k[3:]): v for k, v in regs.items() if k.startswith("IR:")}
    return decode_inverter(holding, inputs), holding, inputs


def _s16(raw: int) -> int:
    return raw - 65536 if raw >= 32768 else raw


def test_combined_stats_from_real_gen1_dump():
    inverter, _, ir = _real_inverter()
    entries = report.stats_entries(report.battery_energy_registers(inverter), False)
    groups, rejected = report.build_groups(entries, inverter.values, inverter.invalid)
    assert rejected == {}
    power = groups["Power"]
    assert power["PV Power"] == ir[18] + ir[20]
    assert power["Grid Power"] == _s16(ir[30])
    assert power["Battery Power"] == _s16(ir[52])
    assert power["Discharge Power"] == max(_s16(ir[52]), 0)
    assert power["SOC"] == ir[59]
    today = groups["Energy/Today"]
    # Gen1 keeps the authoritative daily battery energy at IR182/183 (registers.md §7).
    assert today["Battery Charge Energy Today kWh"] == round(ir[183] / 10, 1)
    assert today["Battery Discharge Energy Today kWh"] == round(ir[182] / 10, 1)
    assert today["PV Energy Today kWh"] == round((ir[17] + ir[19]) / 10, 1)
    total = groups["Energy/Total"]
    assert total["PV Energy Total kWh"] == round(((ir[11] << 16) + ir[12]) / 10, 1)
    assert total["Export Energy Total kWh"] == round(((ir[21] << 16) + ir[22]) / 10, 1)
    expected_load = ((ir[45] << 16) + ir[46] - (ir[27] << 16) - ir[28]) / 10 - (
        ((ir[21] << 16) + ir[22]) - ((ir[32] << 16) + ir[33])
    ) / 10
    assert abs(total["Load Energy Total kWh"] - expected_load) < 0.01
    assert groups["Invertor Details"]["Invertor Temperature"] == _s16(ir[41]) / 10


# registers.md §10.2 "Mode decode": mode -> (HR110, HR27, HR59)
V1_MODE = {(4, 1, 0): 1, (100, 1, 1): 3, (4, 0, 1): 4, (4, 1, 1): 5}


def test_modes_and_times_from_real_dump():
    inverter, hr, _ = _real_inverter()
    entries = report.timeslot_entries() + report.control_entries()
    groups, _ = report.build_groups(entries, inverter.values, inverter.invalid)
    slots = groups["Timeslots"]
    assert slots["Charge start time slot 1"] == f"{hr[94]:04d}"
    assert slots["Charge end time slot 1"] == f"{hr[95]:04d}"
    assert slots["Discharge start time slot 1"] == f"{hr[56]:04d}"
    control = groups["Control"]
    assert control["Mode"] == V1_MODE.get((hr[110], hr[27], hr[59]), "unknown")
    assert control["Target SOC"] == hr[116]
    assert control["Battery Power Reserve"] == hr[114]
    assert control["Charge Schedule State"] == ("Active" if hr[96] else "Paused")
    details = report.inverter_details(inverter, full=True)
    assert details["Invertor Serial Number"] == "SA1234G567"
    assert details["Battery Capacity kWh"] == round(hr[55] * 51.2 / 1000, 2)
    assert details["Invertor Type"] == "Hybrid"
    assert details["Firmware Version"] == "D0.449-A0.449"


def test_value_outside_bounds_is_left_out_and_explained():
    _, hr, ir = _real_inverter()
    ir = dict(ir)
    ir[18] = 65535  # absurd PV string power
    ir[59] = 255  # absurd SOC
    bad = decode_inverter(hr, ir)
    entries = report.stats_entries(report.battery_energy_registers(bad), False)
    groups, rejected = report.build_groups(entries, bad.values, bad.invalid)
    for key in ("PV Power String 1", "PV Power", "SOC"):
        assert key not in groups["Power"]
        assert f"Power/{key}" in rejected
    assert "Power/Flows/Solar to House" in rejected
    assert groups["Power"]["PV Power String 2"] == ir[20]
    assert "65535" in rejected["Power/PV Power String 1"]


@given(
    pv=st.integers(0, 8000),
    load=st.integers(0, 12000),
    battery=st.integers(-3600, 3600),
)
def test_flows_account_for_every_watt(pv, load, battery):
    """With an exact power balance, the seven flows add up to each measured power."""
    grid = pv + battery - load  # + export, − import
    values = {
        "p_pv1": pv,
        "p_pv2": 0,
        "p_load_demand": load,
        "p_grid_out": grid,
        "p_battery": battery,
    }
    f = report._flows(values)
    assert all(v >= 0 for v in f.values())
    export, import_ = max(grid, 0), max(-grid, 0)
    charge, discharge = max(-battery, 0), max(battery, 0)
    assert f["Solar to House"] + f["Solar to Battery"] + f["Solar to Grid"] == pv
    assert f["Solar to House"] + f["Battery to House"] + f["Grid to House"] == load
    assert f["Solar to Battery"] + f["Grid to Battery"] == charge
    assert f["Battery to House"] + f["Battery to Grid"] == discharge
    assert f["Solar to Grid"] + f["Battery to Grid"] == export
    assert f["Grid to House"] + f["Grid to Battery"] == import_


def test_hhmm_formats_times_as_v1_strings():
    assert report.hhmm(dt.time(0, 30)) == "0030"
    assert report.hhmm(dt.time(16, 5)) == "1605"
