"""Each 16-bit lifetime counter wraps at 6553.6 kWh (registers.md §1.1: IR180/181 and the
battery page's IR105/106): the reading just after the wrap is published, not rejected as a
lifetime total that fell. 32-bit totals never wrap, so the same fall is rejected there."""

from __future__ import annotations

import datetime as dt

import pytest

from givenergy_modbus_codec.registers import TABLES, Bank, by_name
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givtcp import reading
from givtcp.config import Settings
from givtcp.quality import History, check_counters

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)
BATTERY = 0x32

# (register name, bank, address, where the simulator keeps the energy behind it)
# addresses and wrap from registers.md: IR180 / IR181 "u16 /10 kWh", battery IR105 / IR106 "wraps"
WRAPPING = [
    ("e_battery_discharge_total_gen1", Bank.INPUT, 180, "total:battery_discharge"),
    ("e_battery_charge_total_gen1", Bank.INPUT, 181, "total:battery_charge"),
    ("e_battery_discharge_total", Bank.BATTERY, 105, "pack:discharge_wh"),
    ("e_battery_charge_total", Bank.BATTERY, 106, "pack:charge_wh"),
]
PUBLISHED = {
    "e_battery_discharge_total_gen1": ("Energy/Total", "Battery Discharge Energy Total kWh"),
    "e_battery_charge_total_gen1": ("Energy/Total", "Battery Charge Energy Total kWh"),
    "e_battery_discharge_total": ("Battery Details", "Battery Discharge Energy Total kWh"),
    "e_battery_charge_total": ("Battery Details", "Battery Charge Energy Total kWh"),
}
IDS = [row[0] for row in WRAPPING]


def past(name: str, kwh: float) -> History:
    return History({name: kwh}, {name: 0.0}, "2026-06-21T12:00:00")


@pytest.mark.parametrize(("name", "bank", "address", "_where"), WRAPPING, ids=IDS)
def test_the_counter_is_one_16_bit_register(name, bank, address, _where):
    assert by_name(bank, name).addresses == (address,)
    assert by_name(bank, name) in TABLES[bank]


@pytest.mark.parametrize(("name", "_bank", "_address", "_where"), WRAPPING, ids=IDS)
def test_a_wrap_past_6553_6_is_accepted(name, _bank, _address, _where):
    # 6553.3 kWh + 0.5 kWh in ten minutes = 6553.8, which the register shows as 0.2
    assert check_counters({name: 0.2}, past(name, 6553.3), 600.0, None, 5000) == {}


@pytest.mark.parametrize(("name", "_bank", "_address", "_where"), WRAPPING, ids=IDS)
def test_a_fall_far_from_the_wrap_is_still_rejected(name, _bank, _address, _where):
    rejected = check_counters({name: 0.2}, past(name, 1200.0), 600.0, None, 5000)
    assert "cannot fall" in rejected[name]


@pytest.mark.parametrize("name", ["e_pv_total", "e_grid_in_total", "e_battery_charge_total_2"])
def test_32_bit_totals_do_not_wrap_at_6553_6(name):
    rejected = check_counters({name: 0.2}, past(name, 6553.3), 600.0, None, 5000)
    assert "cannot fall" in rejected[name]


def _set_kwh(sim: Simulator, where: str, kwh: float) -> None:
    kind, field = where.split(":")
    with sim.device.lock:
        plant = sim.device.plant
        if kind == "total":
            plant.totals[field] = kwh * 1000
        else:
            setattr(plant.packs[0], field, kwh * 1000)


@pytest.mark.parametrize(("name", "bank", "address", "where"), WRAPPING, ids=IDS)
def test_a_wrapped_counter_is_published_through_the_reader(tmp_path, name, bank, address, where):
    config = SimulatorConfig(seed=9, speed=0.0, start_time=NOON, batteries=1)
    with Simulator(config) as sim:
        settings = Settings(
            invertor_ip="127.0.0.1",
            invertor_port=sim.port,
            num_batteries=1,
            state_location=str(tmp_path),
            request_spacing=0.0,
            hold_seconds=0,
        )
        _set_kwh(sim, where, 6553.3)
        before = reading.read_inverter("runAll", settings).groups
        sim.advance(600)
        _set_kwh(sim, where, 6553.8)
        truth = sim.truth()
        raw = (truth["input"] if bank is Bank.INPUT else truth["batteries"][BATTERY])[address]
        assert raw == 2, "the simulator's register wrapped: 65538 % 65536"
        after = reading.read_inverter("runAll", settings).groups
    group, key = PUBLISHED[name]

    def published(groups: dict) -> float | None:
        values = groups[group]
        if group == "Battery Details":  # keyed by the battery's serial
            values = next(iter(values.values()))
        return values.get(key)

    assert published(before) == 6553.3
    assert published(after) == 0.2
    assert name not in str(after.get("Data Quality", "")), after.get("Data Quality")
