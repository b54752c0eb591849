"""The decoded model against real register dumps, and what it does with garbage."""

from __future__ import annotations

import datetime as dt

import pytest

from givenergy_modbus_codec import registers as R
from givenergy_modbus_codec.commands import InverterContext
from givenergy_modbus_codec.model import Battery, decode_battery, decode_inverter
from givenergy_modbus_codec.registers import Bank
from tests.conftest import load_vectors

# dewet22 name -> our name, where they differ (same register, same value and unit).
INVERTER_RENAMES = {
    "status": "inverter_status",
    "e_battery_throughput": "e_battery_throughput_total",
    "pf_inverter_output_now": "pf_inverter_output",
    "p_grid_out_ph1": "p_inverter_out",
    "p_backup": "p_eps_backup",
    "e_ac_charge_today": "e_ac_charge_day",
    "e_battery_charge_today_alt1": "e_battery_charge_day",
    "e_battery_discharge_today_alt1": "e_battery_discharge_day",
    "countdown": "inverter_countdown",
    "inverter_fault_code": "fault_code",
    "inverter_warning_code": "warning_code",
    "t_inverter_heatsink": "temp_inverter_heatsink",
    "e_pv_generation_today": "e_inverter_out_day",
    "e_pv_generation_total": "e_inverter_out_total",
    "work_time_total_hours": "work_time_total",
    "v_ac1_output": "v_eps_backup",
    "f_ac1_output": "f_eps_backup",
    "t_charger": "temp_charger",
    "t_battery": "temp_battery",
    "battery_soc": "battery_percent",
    "e_battery_discharge_total_alt1": "e_battery_discharge_total_gen1",
    "e_battery_charge_total_alt1": "e_battery_charge_total_gen1",
    "e_battery_discharge_today_alt2": "e_battery_discharge_day_gen1",
    "e_battery_charge_today_alt2": "e_battery_charge_day_gen1",
}
# dewet22 attributes derived from registers: compared with our derived attributes below.
INVERTER_DERIVED = {
    "firmware_version": "firmware",
    "battery_max_power": "battery_max_power_w",
    "inverter_max_power": "rated_power_w",
}
SLOTS = ("charge_slot_1", "charge_slot_2", "discharge_slot_1", "discharge_slot_2")
# Not decoded here: HR121-179 installer/grid-code settings, IR23/IR29 (disputed, registers.md §6)
# and dewet22's own derived sums, which read.py computes with GivTCP v1.0's formulas instead.
INVERTER_NOT_MODELLED_PREFIXES = ("power_factor_point_", "cei021_", "lvfrt_", "threephase_")
INVERTER_NOT_MODELLED = {
    "model",
    "enable_local_command_test",
    "power_factor_function_model",
    "frequency_load_limit_rate",
    "enable_low_voltage_fault_ride_through",
    "enable_frequency_derating",
    "enable_above_6kw_system",
    "start_system_auto_test",
    "enable_spi",
    "power_factor_cmd_memory_state",
    "enable_battery_on_pv_or_grid",
    "debug_inverter",
    "enable_ups_mode",
    "enable_g100_limit_switch",
    "enable_battery_cable_impedance_alarm",
    "e_solar_diverter",
    "e_discharge_year",
    "charge_status_label",
    "charger_warning_messages",
    "e_battery_charge_today",
    "e_battery_discharge_today",
    "e_battery_charge_total",
    "e_battery_discharge_total",
    "grid_import_power",
    "grid_export_power",
    "battery_charge_power",
    "battery_discharge_power",
    "is_ac_coupled",
    "e_consumption_today",
    "e_self_consumption_today",
    "e_self_consumption_total",
    "e_pv_direct_today",
    "battery_capacity_kwh",  # dewet22 does not round; compared separately
}


def _split_registers(registers: dict[str, int]) -> tuple[dict[int, int], dict[int, int]]:
    holding, inputs = {}, {}
    for key, value in registers.items():
        bank, address = key.split(":")
        (holding if bank == "HR" else inputs)[int(address)] = value
    return holding, inputs


def _physical(register: R.Register, expected):
    """dewet22's JSON dump -> our Python types (times and datetimes dump as ISO strings)."""
    if register.encoding is R.Encoding.HHMM:
        return dt.time.fromisoformat(expected)
    if register.encoding is R.Encoding.DATETIME:
        return dt.datetime.fromisoformat(expected)
    if register.name == "modbus_version":
        return float(expected)  # dumped as "1.40"
    return expected


def _vectors(kind_prefix: str) -> list[dict]:
    data = load_vectors("dewet22_register_caches.json")
    return [v for v in data["vectors"] if v["id"].startswith(kind_prefix)]


def _assert_same(actual, expected, name):
    assert actual == expected, name
    if isinstance(expected, float):
        assert isinstance(actual, float), name


def test_real_inverter_dump_matches_the_reference_decode():
    (vector,) = _vectors("json_inverter")
    holding, inputs = _split_registers(vector["registers"])
    inverter = decode_inverter(holding, inputs)
    expected = vector["expect_decoded"]

    assert inverter.invalid == {}, "a real, healthy dump has nothing implausible"
    compared = set()
    for key, value in expected.items():
        if value is None or key in INVERTER_NOT_MODELLED:
            continue
        if key.startswith(INVERTER_NOT_MODELLED_PREFIXES):
            continue
        if key in SLOTS:
            start, end = (dt.time.fromisoformat(value[k]) for k in ("start", "end"))
            assert inverter.slots[key] == (None if start == end == dt.time(0) else (start, end))
        elif key in INVERTER_DERIVED:
            assert getattr(inverter, INVERTER_DERIVED[key]) == value, key
        else:
            name = INVERTER_RENAMES.get(key, key)
            bank = Bank.HOLDING if name in {r.name for r in R.HOLDING_REGISTERS} else Bank.INPUT
            register = R.by_name(bank, name)  # KeyError = an unmapped reference key
            _assert_same(inverter.values[name], _physical(register, value), name)
        compared.add(key)
    assert len(compared) >= 150
    assert inverter.battery_capacity_kwh == pytest.approx(
        expected["battery_capacity_kwh"], abs=0.005
    )


def test_real_inverter_derived_attributes():
    (vector,) = _vectors("json_inverter")
    inverter = decode_inverter(*_split_registers(vector["registers"]))
    assert inverter.serial == "SA1234G567"
    assert inverter.device_type_code == "2001"
    assert inverter.family == "Hybrid"
    assert inverter.generation == "Gen1"
    assert inverter.rated_power_w == 5000
    assert inverter.grid_certification == "G98"
    assert inverter.battery_max_power_w == 2600
    assert inverter.battery_capacity_kwh == 8.19
    assert inverter.firmware == "D0.449-A0.449"
    assert inverter.system_time == dt.datetime(2022, 1, 11, 11, 51, 46)
    assert inverter.slots == {
        "charge_slot_1": (dt.time(0, 30), dt.time(4, 30)),
        "charge_slot_2": (dt.time(0, 0), dt.time(0, 4)),
        "discharge_slot_1": None,
        "discharge_slot_2": None,
    }
    assert inverter.legacy_type == "Hybrid"
    assert inverter.context() == InverterContext(
        battery_capacity_wh=8192.0, battery_max_power_w=2600
    )
    # The signs the publishers rely on: discharging 360 W, exporting 21 W.
    assert inverter.values["p_battery"] == 360
    assert inverter.values["p_grid_out"] == 21


@pytest.mark.parametrize("vector_id", ["daytime_discharging", "unsure", "missing"])
def test_real_battery_pages_match_the_reference_decode(vector_id):
    (vector,) = _vectors(f"json_battery_{vector_id}")
    regs = {int(k.split(":")[1]): v for k, v in vector["registers"].items()}
    battery = decode_battery(regs)
    expected = vector["expect_decoded"]
    for key, value in expected.items():
        if key.startswith("remaining_energy_"):
            continue
        register = R.by_name(Bank.BATTERY, key)
        if key in battery.values:
            _assert_same(battery.values[key], value, key)
        else:
            # Kept out of values because implausible, but the decode itself agrees.
            assert key in battery.invalid, key
            assert register.decode(regs) == value, key
    assert battery.remaining_energy_nominal_wh == expected["remaining_energy_nominal_wh"]


def test_real_battery_page_is_valid_and_typed():
    (vector,) = _vectors("json_battery_daytime")
    battery = decode_battery({int(k.split(":")[1]): v for k, v in vector["registers"].items()})
    assert battery.is_valid_page() == (True, "")
    assert battery.invalid == {}
    assert battery.serial == "BG1234G567"
    assert battery.soc == 67
    assert battery.cell_voltages[0] == 3.232 and battery.cell_voltages[15] == 3.238
    assert len(battery.cell_voltages) == 16
    assert battery.temperatures["t_cells_01_04"] == 16.8
    assert battery.temperatures["t_bms_mosfet"] == 17.2
    assert battery.cap_design_ah == 160.0
    assert battery.cap_calibrated_ah == 195.13
    assert battery.cap_remaining_ah == 131.42
    assert battery.cycles == 23


def test_real_empty_slot_pages_are_rejected():
    for vector_id, reason in (("unsure", "serial ''"), ("missing", "all-zero")):
        (vector,) = _vectors(f"json_battery_{vector_id}")
        battery = decode_battery({int(k.split(":")[1]): v for k, v in vector["registers"].items()})
        valid, why = battery.is_valid_page()
        assert not valid
        assert reason in why
        assert "v_cell_01" in battery.invalid and "v_cell_01" not in battery.values


# -- hand-built garbage --------------------------------------------------------------------------


def _good_battery_page() -> dict[int, int]:
    page = dict.fromkeys(range(60, 120), 0)
    page.update({a: 3300 for a in range(60, 76)})
    page.update({76: 200, 77: 201, 78: 202, 79: 203, 80: 52800, 81: 250, 82: 0, 83: 52800})
    page.update({86: 0, 87: 18600, 88: 0, 89: 9300, 96: 100, 97: 16, 98: 3015, 100: 50})
    serial = b"DZ1234G567"
    page.update({110 + i: int.from_bytes(serial[2 * i : 2 * i + 2], "big") for i in range(5)})
    return page


def test_hand_built_battery_page_is_valid():
    battery = decode_battery(_good_battery_page())
    assert battery.is_valid_page() == (True, "")
    assert battery.soc == 50
    assert battery.remaining_energy_nominal_wh == round(93.0 * 51.2)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({110: 0x647A}, "does not match"),  # lower-case "dz"
        ({113: 0x3735}, "does not match"),  # digit where the letter goes
        ({78: 0xF556}, "-273.0"),
        ({104: 0xF556}, "-273.0"),
        ({63: 0}, "cell 4 reads 0.0 V"),
        ({75: 6000}, "cell 16 reads 6.0 V"),
    ],
)
def test_hand_built_bad_battery_pages(changes, reason):
    page = _good_battery_page() | changes
    valid, why = decode_battery(page).is_valid_page()
    assert not valid
    assert reason in why


def test_battery_cell_count_limits_the_cell_check():
    page = _good_battery_page() | {97: 8} | {a: 0 for a in range(68, 76)}
    assert decode_battery(page).is_valid_page() == (True, "")


def test_incomplete_and_zero_battery_pages():
    page = _good_battery_page()
    del page[100]
    valid, why = decode_battery(page).is_valid_page()
    assert not valid and "incomplete" in why and "IR100" in why
    assert decode_battery({}).is_valid_page()[0] is False
    zero = decode_battery(dict.fromkeys(range(60, 120), 0))
    assert zero.is_valid_page() == (False, "all-zero page (empty slot or BMS glitch)")
    assert isinstance(zero, Battery)


def test_battery_soc_255_is_invalid_and_not_published():
    battery = decode_battery(_good_battery_page() | {100: 255})
    assert "soc" not in battery.values
    assert battery.soc is None
    assert "raw 255" in battery.invalid["soc"]
    assert "-273" not in str(battery.temperatures)
    sentinel = decode_battery(_good_battery_page() | {76: 0xF556})
    assert sentinel.temperatures["t_cells_01_04"] is None
    assert "raw 62806 = -273.0 °C" in sentinel.invalid["t_cells_01_04"]


def test_implausible_inverter_values_are_kept_out_of_values():
    inputs = {18: 65535, 20: 120, 59: 255, 52: 0x8000, 56: 2058, 30: 0xFF75}
    inverter = decode_inverter({}, inputs)
    assert inverter.values == {"p_pv2": 120, "p_grid_out": -139}
    assert inverter.invalid["p_pv1"] == ("raw 65535 = 65535 W: above the plausible maximum 15000 W")
    assert inverter.invalid["battery_percent"].startswith("raw 255 = 255 %")
    assert inverter.invalid["p_battery"].startswith("raw 32768 = -32768 W: below")
    assert inverter.invalid["temp_battery"].startswith("raw 2058 = 205.8 °C: above")


def test_undecodable_times_are_invalid_and_slots_none():
    holding = {94: 160, 95: 430, 56: 1600, 57: 700, 44: 0, 45: 0, 31: 2400, 32: 100}
    holding |= dict(zip(range(35, 41), (23, 2, 30, 12, 0, 0), strict=True))
    inverter = decode_inverter(holding, {})
    assert inverter.invalid["charge_slot_1_start"] == "raw 160: 160 is not a time of day (hhmm)"
    assert inverter.invalid["charge_slot_2_start"].startswith("raw 2400:")
    assert inverter.invalid["system_time"].startswith("raw [23, 2, 30, 12, 0, 0]:")
    assert inverter.system_time is None
    assert inverter.slots == {
        "charge_slot_1": None,
        "charge_slot_2": None,
        "discharge_slot_1": (dt.time(16, 0), dt.time(7, 0)),
        "discharge_slot_2": None,
    }


def test_missing_registers_are_simply_absent():
    inverter = decode_inverter({}, {})
    assert inverter.values == {} and inverter.invalid == {}
    assert inverter.serial is None
    assert inverter.family is None
    assert inverter.generation is None
    assert inverter.rated_power_w is None
    assert inverter.firmware is None
    assert inverter.battery_capacity_kwh is None
    assert inverter.legacy_type is None
    assert inverter.context() is None
    assert set(inverter.slots.values()) == {None}


# -- model detection (registers.md §2) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtc", "arm", "family", "generation", "battery_w"),
    [
        (0x2001, 449, "Hybrid", "Gen1", 2600),
        (0x2001, 920, "Hybrid", "Gen2", 3600),
        (0x2003, 815, "Hybrid", "Gen2", 3600),
        (0x2002, 302, "Hybrid", "Gen3", 3600),
        (0x3001, 449, "AC", None, 3000),
        (0x4001, 100, "Three-phase hybrid", None, None),
        (0x5001, 100, "EMS", None, None),
        (0x6001, 100, "Three-phase AC", None, None),
        (0x7001, 100, "Gateway", None, None),
        (0x8001, 100, "All-in-One", None, 6000),
        (0x8101, 100, "HV hybrid", None, None),
        (0x1001, 100, None, None, None),
    ],
)
def test_family_and_generation(dtc, arm, family, generation, battery_w):
    inverter = decode_inverter({0: dtc, 21: arm}, {})
    assert inverter.family == family
    assert inverter.generation == generation
    assert inverter.battery_max_power_w == battery_w


@pytest.mark.parametrize(
    ("dtc", "hr2", "rated", "certification"),
    [
        (0x2001, 0x0832, 5000, "G98"),  # registers.md example
        (0x2003, 0x0C32, 3600, "G99"),  # DTC table wins over HR2
        (0x2004, 0x0C3C, 6000, "G99"),  # unknown DTC: HR2 low byte × 100
        (0x2004, 0x1024, 3600, "G98NI"),
        (0x2004, 0x1124, 3600, "G99NI"),
        (0x2004, 0x0524, 3600, None),
    ],
)
def test_rated_power_and_certification(dtc, hr2, rated, certification):
    inverter = decode_inverter({0: dtc, 1: 0, 2: hr2}, {})
    assert inverter.rated_power_w == rated
    assert inverter.grid_certification == certification


@pytest.mark.parametrize(
    ("serial", "legacy"),
    [("CE1234G567", "AC"), ("ED1234G567", "Gen 2"), ("SA1234G567", "Hybrid"), ("", "Hybrid")],
)
def test_legacy_type_from_serial_prefix(serial, legacy):
    holding = R.by_name(Bank.HOLDING, "serial_number").encode(serial)
    assert decode_inverter(holding, {}).legacy_type == legacy


def test_battery_capacity_and_context():
    inverter = decode_inverter({0: 0x2001, 21: 920, 55: 186}, {})
    assert inverter.battery_capacity_kwh == 9.52
    assert inverter.context() == InverterContext(
        battery_capacity_wh=9523.2, battery_max_power_w=3600
    )
    no_battery = decode_inverter({0: 0x2001, 21: 920, 55: 0}, {})
    assert no_battery.context() is None
    unknown_model = decode_inverter({0: 0x4001, 21: 100, 55: 186}, {})
    assert unknown_model.context() is None


def test_simulator_style_round_trip_through_the_model():
    """Values written with Register.encode come back unchanged through decode_inverter."""
    plant = {
        "p_pv1": 2100,
        "p_battery": -1500,
        "p_grid_out": -230,
        "battery_percent": 42,
        "v_battery": 52.34,
        "temp_battery": -3.5,
        "e_pv_total": 12345.6,
    }
    inputs: dict[int, int] = {}
    for name, value in plant.items():
        inputs.update(R.by_name(Bank.INPUT, name).encode(value))
    inverter = decode_inverter({}, inputs)
    assert inverter.values == plant


@pytest.mark.parametrize(
    ("holding", "name", "raw", "kept"),
    [
        ({0: 0x2003}, "p_inverter_out", 5400, True),  # 3.6 kW inverter: 1.5 x 3600 W
        ({0: 0x2003}, "p_inverter_out", 5401, False),
        ({0: 0x2003}, "p_inverter_out", 0x10000 - 5401, False),  # s16: -5401 W
        ({0: 0x2001}, "p_inverter_out", 7000, True),  # 5 kW inverter: within the margin
        ({0: 0x2001}, "p_eps_backup", 9000, False),
        ({0: 0x2001, 21: 449}, "p_battery", 3900, True),  # Gen1: 2.6 kW battery
        ({0: 0x2001, 21: 449}, "p_battery", 4000, False),
        ({0: 0x2001, 21: 920}, "p_battery", 4000, True),  # Gen2: 3.6 kW battery
        ({}, "p_battery", 9000, True),  # model unknown: only the table's bounds apply
    ],
)
def test_powers_beyond_the_models_rating_are_rejected(holding, name, raw, kept):
    address = R.by_name(Bank.INPUT, name).addresses[0]
    inverter = decode_inverter(holding, {address: raw})
    assert (name in inverter.values) is kept
    if not kept:
        assert "rating of this" in inverter.invalid[name]


def _first_frame(capture: dict, function: int, base: int) -> dict[int, int]:
    for vector in capture["vectors"]:
        decoded = vector.get("decoded") or {}
        if (
            vector["direction"] == "to_client"
            and vector["wire"].get("crc_ok_unified")
            and (decoded.get("function"), decoded.get("base_register")) == (function, base)
            and decoded.get("register_count") == 60
        ):
            return {base + i: raw for i, raw in enumerate(decoded["register_values"])}
    raise AssertionError(f"no clean {function}/{base} frame")


def test_an_all_in_ones_hv_battery_voltage_is_plausible():
    """A real All-in-One reads ~312 V at IR50 (an HV stack): not implausible there, or every
    read of it would look garbled (and its counters never be trusted on a first run)."""
    capture = load_vectors("captures/aio_a__aio_arm612_5min.log.json")
    hr, ir = _first_frame(capture, 3, 0), _first_frame(capture, 4, 0)
    aio = decode_inverter(hr, ir)
    assert aio.family == "All-in-One"
    assert aio.values["v_battery"] == ir[50] / 100
    assert 250 < aio.values["v_battery"] < 400
    assert [n for n in aio.invalid if n in {r.name for r in R.INPUT_REGISTERS}] == []
    # the same voltage on an LV hybrid is still out of bounds
    lv = {**hr, 0: 0x2001}
    assert "v_battery" in decode_inverter(lv, ir).invalid
