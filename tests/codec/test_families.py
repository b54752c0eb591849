"""The per-family register maps: conventions every table follows, and each family's own rows
against worked examples from families.md."""

from __future__ import annotations

from collections import Counter

import pytest

from givenergy_modbus_codec import families, manifest
from givenergy_modbus_codec.families import hv_battery
from givenergy_modbus_codec.model import decode_inverter
from givenergy_modbus_codec.registers import HOLDING_REGISTERS, INPUT_REGISTERS, Bank, Encoding

TABLES = {key: families.tables(key) for key in families.FAMILY_TABLES}
ALL_ROWS = [
    (key, bank, row)
    for key, tables in TABLES.items()
    for bank, rows in ((Bank.HOLDING, tables.holding), (Bank.INPUT, tables.input))
    for row in rows
] + [
    ("hv", Bank.BATTERY, row)
    for rows in (hv_battery.BMS_REGISTERS, hv_battery.BCU_REGISTERS, hv_battery.BMU_REGISTERS)
    for row in rows
]


def test_every_supported_family_has_a_map_and_refused_ones_do_not():
    for family in manifest.FAMILIES:
        assert (family.key in families.FAMILY_TABLES) == family.supported, family.key


@pytest.mark.parametrize("key", TABLES)
def test_names_are_unique_per_table(key):
    for rows in (TABLES[key].holding, TABLES[key].input):
        assert not [n for n, c in Counter(r.name for r in rows).items() if c > 1]


@pytest.mark.parametrize(("key", "bank", "row"), ALL_ROWS, ids=lambda x: getattr(x, "name", x))
def test_rows_follow_the_conventions(key, bank, row):
    assert row.bank is bank, "a row sits in its own bank's table"
    if row.unit == "kWh":
        assert row.scale == 10 and row.encoding in (Encoding.U16, Encoding.U32)
    if row.unit in ("W", "VA", "%"):
        assert row.scale in (1, 10)
    new = row not in HOLDING_REGISTERS and row not in INPUT_REGISTERS  # this work's rows
    if new and bank is not Bank.HOLDING and row.unit in ("W", "V", "A", "°C", "%", "kWh"):
        assert row.minimum is not None and row.maximum is not None, "powers etc. are bounded"
    if new and row.encoding in (Encoding.S16, Encoding.S32) and row.unit in ("W", "A"):
        assert row.sign, "signed flows say which way is +"


def test_hv_gen3_battery_voltage_is_an_hv_stack():
    """C:hybrid_hv_gen3_a: IR50 = 240.1 V on a GIV-HY-8.0-G3-HV (families.md §2.1)."""
    inverter = decode_inverter({0: 0x8102}, {50: 24010})
    assert inverter.values["v_battery"] == 240.1
    assert inverter.family == "HV hybrid"
    assert inverter.rated_power_w == 8000


def test_single_phase_hybrid_still_rejects_an_hv_voltage():
    inverter = decode_inverter({0: 0x2001, 21: 449}, {50: 24010})
    assert "v_battery" in inverter.invalid


def test_three_phase_11_kw_is_not_a_spike():
    """IR1069-1070 s32 /10: 11 kW from an 11 kW unit is normal; -194.0 W from 0xFFFF 0xF86C
    (families.md §2.2); 20 kW is beyond 1.5 x its rating."""
    high, low = divmod(110000, 0x10000)
    inverter = decode_inverter({0: 0x4004}, {1069: high, 1070: low})
    assert inverter.values["inverter_power"] == 11000.0
    assert (
        decode_inverter({0: 0x4004}, {1069: 0xFFFF, 1070: 0xF86C}).values["inverter_power"]
        == -194.0
    )
    high, low = divmod(200000, 0x10000)
    spike = decode_inverter({0: 0x4004}, {1069: high, 1070: low})
    assert (
        "inverter_power" in spike.invalid and "1.5 x the 11000 W" in spike.invalid["inverter_power"]
    )


def test_three_phase_battery_current_is_hundredths():
    """C: 471.8 V × 3.61 A ≈ 1704.8 W: IR1140 is /100 (families.md §2.2)."""
    inverter = decode_inverter({0: 0x4004}, {1140: 361, 1131: 4718})
    assert inverter.values["battery_current"] == 3.61
    assert inverter.values["battery_voltage"] == 471.8
