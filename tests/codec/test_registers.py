"""The register map: names others rely on, encodings, bounds, the write allow-list and docs."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from givenergy_modbus_codec import registers as R
from givenergy_modbus_codec.errors import CodecError
from givenergy_modbus_codec.registers import Bank, Encoding, Register

DOCS = Path(__file__).resolve().parents[2] / "docs" / "registers.md"

# The names and addresses the rest of the project uses (the brief's contract).
REQUIRED_HOLDING = {
    "device_type_code": (0,),
    "module": (1, 2),
    "num_mppt": (3,),
    "num_phases": (3,),
    "enable_ammeter": (7,),
    "first_battery_serial_number": (8, 9, 10, 11, 12),
    "serial_number": (13, 14, 15, 16, 17),
    "first_battery_bms_firmware_version": (18,),
    "dsp_firmware_version": (19,),
    "enable_charge_target": (20,),
    "arm_firmware_version": (21,),
    "usb_device_inserted": (22,),
    "select_arm_chip": (23,),
    "variable_address": (24,),
    "variable_value": (25,),
    "grid_port_max_power_output": (26,),
    "battery_power_mode": (27,),
    "enable_60hz_freq_mode": (28,),
    "battery_calibration_stage": (29,),
    "modbus_address": (30,),
    "charge_slot_2_start": (31,),
    "charge_slot_2_end": (32,),
    "user_code": (33,),
    "modbus_version": (34,),
    "system_time": (35, 36, 37, 38, 39, 40),
    "enable_drm_rj45_port": (41,),
    "enable_reversed_ct_clamp": (42,),
    "charge_soc": (43,),
    "discharge_soc": (43,),
    "discharge_slot_2_start": (44,),
    "discharge_slot_2_end": (45,),
    "bms_firmware_version": (46,),
    "meter_type": (47,),
    "enable_reversed_115_meter": (48,),
    "enable_reversed_418_meter": (49,),
    "active_power_rate": (50,),
    "reactive_power_rate": (51,),
    "power_factor": (52,),
    "enable_inverter_auto_restart": (53,),
    "enable_inverter": (53,),
    "battery_type": (54,),
    "battery_capacity_ah": (55,),
    "discharge_slot_1_start": (56,),
    "discharge_slot_1_end": (57,),
    "enable_auto_judge_battery_type": (58,),
    "enable_discharge": (59,),
    "v_pv_start": (60,),
    "charge_slot_1_start": (94,),
    "charge_slot_1_end": (95,),
    "enable_charge": (96,),
    "battery_low_voltage_protection_limit": (97,),
    "battery_high_voltage_protection_limit": (98,),
    "battery_soc_reserve": (110,),
    "battery_charge_limit": (111,),
    "battery_discharge_limit": (112,),
    "enable_buzzer": (113,),
    "battery_discharge_min_power_reserve": (114,),
    "charge_target_soc": (116,),
    "charge_soc_stop_2": (117,),
    "discharge_soc_stop_2": (118,),
    "charge_soc_stop_1": (119,),
    "inverter_reboot": (163,),
    "battery_pause_mode": (318,),
    "battery_pause_slot_start": (319,),
    "battery_pause_slot_end": (320,),
}
REQUIRED_INPUT = {
    "inverter_status": (0,),
    "v_pv1": (1,),
    "v_pv2": (2,),
    "v_p_bus": (3,),
    "v_n_bus": (4,),
    "v_ac1": (5,),
    "e_battery_throughput_total": (6, 7),
    "i_pv1": (8,),
    "i_pv2": (9,),
    "i_ac1": (10,),
    "e_pv_total": (11, 12),
    "f_ac1": (13,),
    "charge_status": (14,),
    "v_highbrigh_bus": (15,),
    "pf_inverter_output": (16,),
    "e_pv1_day": (17,),
    "p_pv1": (18,),
    "e_pv2_day": (19,),
    "p_pv2": (20,),
    "e_grid_out_total": (21, 22),
    "p_inverter_out": (24,),
    "e_grid_out_day": (25,),
    "e_grid_in_day": (26,),
    "e_inverter_in_total": (27, 28),
    "p_grid_out": (30,),
    "p_eps_backup": (31,),
    "e_grid_in_total": (32, 33),
    "e_ac_charge_day": (35,),
    "e_battery_charge_day": (36,),
    "e_battery_discharge_day": (37,),
    "inverter_countdown": (38,),
    "fault_code": (39,),
    "warning_code": (40,),
    "temp_inverter_heatsink": (41,),
    "p_load_demand": (42,),
    "p_grid_apparent": (43,),
    "e_inverter_out_day": (44,),
    "e_inverter_out_total": (45, 46),
    "work_time_total": (47, 48),
    "system_mode": (49,),
    "v_battery": (50,),
    "i_battery": (51,),
    "p_battery": (52,),
    "v_eps_backup": (53,),
    "f_eps_backup": (54,),
    "temp_charger": (55,),
    "temp_battery": (56,),
    "charger_warning_code": (57,),
    "i_grid_port": (58,),
    "battery_percent": (59,),
    "e_battery_discharge_total_gen1": (180,),
    "e_battery_charge_total_gen1": (181,),
    "e_battery_discharge_day_gen1": (182,),
    "e_battery_charge_day_gen1": (183,),
    "e_battery_charge_total_2": (194, 195),
    "e_battery_discharge_total_2": (196, 197),
}
REQUIRED_BATTERY = {
    **{f"v_cell_{i:02d}": (59 + i,) for i in range(1, 17)},
    "t_cells_01_04": (76,),
    "t_cells_05_08": (77,),
    "t_cells_09_12": (78,),
    "t_cells_13_16": (79,),
    "v_cells_sum": (80,),
    "t_bms_mosfet": (81,),
    "v_out": (82, 83),
    "cap_calibrated": (84, 85),
    "cap_design": (86, 87),
    "cap_remaining": (88, 89),
    "status_1": (90,),
    "status_2": (90,),
    "status_3": (91,),
    "status_4": (91,),
    "status_5": (92,),
    "status_6": (92,),
    "status_7": (93,),
    "warning_1": (94,),
    "warning_2": (94,),
    "i_battery": (95,),
    "num_cycles": (96,),
    "num_cells": (97,),
    "bms_firmware_version": (98,),
    "soc": (100,),
    "cap_design2": (101, 102),
    "t_max": (103,),
    "t_min": (104,),
    "e_battery_discharge_total": (105,),
    "e_battery_charge_total": (106,),
    "force_discharge_flag": (107,),
    "serial_number": (110, 111, 112, 113, 114),
    "usb_device_inserted": (115,),
}

# registers.md §9: the project's write allow-list (extended slots 242-299 not modelled).
ALLOWLIST_ADDRESSES = {
    20,
    26,  # export limit (issue 12: setExportLimit)
    27,
    29,  # battery calibration: 0 / 1 only
    31,
    32,
    *range(35, 41),
    44,
    45,
    50,
    56,
    57,
    59,
    94,
    95,
    96,
    110,
    111,
    112,
    114,
    116,
    163,
    # extended slots 3-10 and every slot's target; slot 2's times stay at HR31/32 and HR44/45
    # (HR243/244, HR273/274 and HR270/271 are not written)
    *(set(range(242, 270)) - {243, 244}),
    *(set(range(272, 300)) - {273, 274}),
    311,
    313,
    314,
    317,
    318,
    319,
    320,
}

ALL = [*R.HOLDING_REGISTERS, *R.INPUT_REGISTERS, *R.BATTERY_REGISTERS]


def hr(name: str) -> Register:
    return R.by_name(Bank.HOLDING, name)


def ir(name: str) -> Register:
    return R.by_name(Bank.INPUT, name)


def bat(name: str) -> Register:
    return R.by_name(Bank.BATTERY, name)


# -- the table as a contract -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("bank", "required"),
    [
        (Bank.HOLDING, REQUIRED_HOLDING),
        (Bank.INPUT, REQUIRED_INPUT),
        (Bank.BATTERY, REQUIRED_BATTERY),
    ],
)
def test_required_names_live_at_their_addresses(bank, required):
    for name, addresses in required.items():
        register = R.by_name(bank, name)
        assert register.addresses == addresses, name
        assert register.bank is bank


def test_names_are_unique_within_each_bank_and_across_the_inverter_banks():
    for table in R.TABLES.values():
        names = [r.name for r in table]
        assert len(names) == len(set(names))
    inverter_names = [r.name for r in (*R.HOLDING_REGISTERS, *R.INPUT_REGISTERS)]
    assert len(inverter_names) == len(set(inverter_names)), "model.values merges HR and IR"


def test_only_byte_halves_share_an_address():
    for table in R.TABLES.values():
        owners: dict[int, list[Register]] = {}
        for register in table:
            for address in register.addresses:
                owners.setdefault(address, []).append(register)
        for address, regs in owners.items():
            if len(regs) > 1:
                encodings = sorted(r.encoding.value for r in regs)
                assert set(encodings) <= {"duint8 high byte", "duint8 low byte"}, address
                assert len(set(encodings)) == len(encodings), address


def test_bank_address_ranges():
    assert {a for r in R.BATTERY_REGISTERS for a in r.addresses} <= set(range(60, 120))
    input_addresses = {a for r in R.INPUT_REGISTERS for a in r.addresses}
    assert input_addresses <= set(range(0, 60)) | set(range(180, 200))
    for register in ALL:
        bases = R.bank_bases(register.bank)
        assert all(R.bank_base(a) in bases for a in register.addresses), register.name


def test_bank_constants():
    assert R.bank_bases(Bank.HOLDING) == (0, 60, 120, 180, 240, 300)
    assert R.bank_bases(Bank.INPUT) == (0, 60, 120, 180)
    assert R.bank_bases(Bank.BATTERY) == (60,)
    assert R.BATTERY_ADDRESSES == (0x32, 0x33, 0x34, 0x35, 0x36, 0x37)
    assert R.INVERTER_ADDRESS == 0x11
    assert R.bank_base(119) == 60 and R.bank_base(120) == 120 and R.bank_base(0) == 0


def test_by_name_unknown_says_which_bank():
    with pytest.raises(KeyError, match="IR register named 'nope'"):
        R.by_name(Bank.INPUT, "nope")


def test_misdeclared_rows_fail_at_import_time():
    with pytest.raises(CodecError, match="addresses"):
        Register("x", Bank.INPUT, (1,), Encoding.U32)
    with pytest.raises(CodecError, match="scaled"):
        Register("x", Bank.INPUT, (1,), Encoding.BOOL, scale=10)
    with pytest.raises(CodecError, match="one Allowed per address"):
        Register("x", Bank.HOLDING, (35, 36), Encoding.U32, writable=(R.HHMM_ALLOWED,))


def test_signed_power_registers_document_their_sign():
    for register in (ir("p_battery"), ir("i_battery"), bat("i_battery")):
        assert register.sign.startswith("+ discharging")
    assert ir("p_grid_out").sign.startswith("+ export")
    assert ir("p_inverter_out").sign


# -- decoding: registers.md §1.1 worked examples -----------------------------------------------


@pytest.mark.parametrize(
    ("register", "regs", "expected"),
    [
        (ir("p_grid_out"), {30: 0xFF75}, -139),
        (ir("v_ac1"), {5: 2363}, 236.3),
        (ir("v_battery"), {50: 5173}, 51.73),
        (bat("v_cell_01"), {60: 3322}, 3.322),
        (ir("e_pv_total"), {11: 0, 12: 263}, 26.3),
        (ir("e_grid_in_total"), {32: 1, 33: 0}, 6553.6),
        (hr("num_mppt"), {3: 0x0201}, 2),
        (hr("num_phases"), {3: 0x0201}, 1),
        (hr("charge_slot_1_start"), {94: 30}, dt.time(0, 30)),
        (hr("charge_slot_1_end"), {95: 430}, dt.time(4, 30)),
        (ir("pf_inverter_output"), {16: 9531}, -0.0469),
        (hr("device_type_code"), {0: 8193}, "2001"),
        (hr("module"), {1: 3, 2: 0x0832}, "00030832"),
        (hr("modbus_version"), {34: 140}, 1.4),
        (ir("temp_battery"), {56: 0xFFF6}, -1.0),
        (bat("t_cells_01_04"), {76: 0xF556}, -273.0),
        (ir("i_battery"), {51: 0xFD7F}, -6.41),
        (hr("enable_charge"), {96: 1}, True),
        (hr("enable_reversed_ct_clamp"), {42: 2}, True),
        (ir("fault_code"), {39: 0x1A2B}, "1a2b"),
    ],
)
def test_decode_examples(register, regs, expected):
    value = register.decode(regs)
    assert value == expected
    assert type(value) is type(expected)


def test_decode_ascii_and_datetime():
    serial = {13: 0x5341, 14: 0x3132, 15: 0x3334, 16: 0x4735, 17: 0x3637}
    assert hr("serial_number").decode(serial) == "SA1234G567"
    padded = {110: 0x4447, 111: 0x3132, 112: 0x3334, 113: 0x4700, 114: 0}
    assert bat("serial_number").decode(padded) == "DG1234G"
    clock = dict(zip(range(35, 41), (23, 4, 28, 12, 15, 36), strict=True))
    assert hr("system_time").decode(clock) == dt.datetime(2023, 4, 28, 12, 15, 36)


def test_decode_missing_address_is_none():
    assert ir("e_pv_total").decode({11: 0}) is None
    assert hr("system_time").decode({35: 23}) is None
    assert ir("p_battery").decode({}) is None


@pytest.mark.parametrize("raw", [160, 2400, 2360, 9999, 65535])
def test_decode_rejects_impossible_times(raw):
    with pytest.raises(CodecError, match="not a time of day"):
        hr("charge_slot_1_start").decode({94: raw})


def test_decode_rejects_impossible_dates():
    clock = dict(zip(range(35, 41), (23, 13, 28, 12, 15, 36), strict=True))
    with pytest.raises(CodecError, match="not a date and time"):
        hr("system_time").decode(clock)


def test_enum_labels():
    assert hr("battery_type").label(1) == "Lithium"
    assert hr("battery_type").label(0) == "Lead Acid"
    assert hr("meter_type").label(1) == "EM115"
    assert ir("charge_status").label(5) == "discharging"
    assert ir("charge_status").label(1) is None
    assert ir("p_battery").label(1) is None


# -- encoding: the inverse of decode ----------------------------------------------------------

RAW_SAMPLES = (0, 1, 59, 100, 1234, 0x0101, 0x7FFF, 0x8000, 0xF556, 0xFFFF)


@pytest.mark.parametrize("register", [r for r in ALL if r.encoding is not Encoding.ASCII], ids=str)
def test_raw_round_trip(register):
    """decode -> encode gives back the raw values (BOOL normalises to 0/1)."""
    for sample in RAW_SAMPLES:
        raw = tuple((sample + 7 * i) & 0xFFFF for i in range(len(register.addresses)))
        regs = dict(zip(register.addresses, raw, strict=True))
        try:
            value = register.decode(regs)
        except CodecError:
            continue
        encoded = register.encode(value, regs)
        assert register.decode(encoded) == value
        if register.encoding is Encoding.BOOL:
            assert encoded == {register.addresses[0]: int(raw[0] != 0)}
        else:
            assert encoded == regs


@given(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127), max_size=10))
def test_ascii_round_trip(text):
    assert hr("serial_number").decode(hr("serial_number").encode(text)) == text


@given(st.integers(-32768, 32767))
def test_signed_scaled_round_trip(raw):
    register = ir("i_battery")
    value = raw / 100
    assert register.decode(register.encode(value)) == round(value, 2)


@given(st.integers(0, 2**32 - 1))
def test_u32_round_trip(raw):
    register = ir("e_pv_total")
    value = round(raw / 10, 1)
    encoded = register.encode(value)
    assert encoded == {11: raw >> 16, 12: raw & 0xFFFF}
    assert register.decode(encoded) == value


def test_physical_values_encode_as_documented():
    assert ir("p_grid_out").encode(-139) == {30: 0xFF75}
    assert ir("v_ac1").encode(236.3) == {5: 2363}
    assert hr("charge_slot_1_end").encode(dt.time(4, 30)) == {95: 430}
    assert hr("system_time").encode(dt.datetime(2023, 4, 28, 12, 15, 36)) == dict(
        zip(range(35, 41), (23, 4, 28, 12, 15, 36), strict=True)
    )
    assert hr("power_factor").encode(-0.0469) == {52: 9531}
    assert hr("module").encode("00030832") == {1: 3, 2: 0x0832}
    assert hr("enable_charge").encode(True) == {96: 1}


def test_duint8_encode_keeps_the_other_byte():
    regs = {43: 0x1234}
    assert hr("charge_soc").encode(0x56, regs) == {43: 0x5634}
    assert hr("discharge_soc").encode(0x56, regs) == {43: 0x1256}
    assert hr("charge_soc").encode(7) == {43: 0x0700}


@pytest.mark.parametrize(
    ("register", "value"),
    [
        (ir("p_pv1"), 70000),
        (ir("p_pv1"), -1),
        (ir("p_grid_out"), -40000),
        (ir("p_battery"), True),
        (ir("p_battery"), "100"),
        (ir("p_battery"), math.nan),
        (ir("v_ac1"), math.inf),
        (hr("charge_soc"), 256),
        (hr("power_factor"), 6.0),
        (hr("device_type_code"), "201"),
        (hr("device_type_code"), "20g1"),
        (hr("device_type_code"), "-001"),
        (hr("serial_number"), "SA1234G5678"),
        (hr("serial_number"), "SÄ1234G567"),
        (hr("serial_number"), "SA\x001234"),
        (hr("charge_slot_1_start"), dt.time(1, 30, 15)),
        (hr("charge_slot_1_start"), 130),
        (hr("system_time"), dt.datetime(1999, 12, 31)),
        (hr("system_time"), dt.date(2023, 1, 1)),
        (hr("enable_charge"), 2),
        (hr("enable_charge"), "yes"),
    ],
)
def test_encode_rejects_unrepresentable_values(register, value):
    with pytest.raises(CodecError):
        register.encode(value)


# -- plausible bounds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("register", "value"),
    [
        (ir("p_pv1"), 65535),
        (ir("p_load_demand"), 65535),
        (ir("battery_percent"), 255),
        (bat("soc"), 255),
        (ir("p_battery"), 32767),
        (ir("p_battery"), -32768),
        (ir("p_grid_out"), -25000),
        (ir("temp_battery"), 205.8),
        (bat("t_cells_01_04"), -273.0),
        (bat("v_cell_01"), 0.0),
        (bat("v_cell_01"), 65.535),
        (ir("e_pv_total"), 429496729.5),
        (ir("e_grid_in_day"), 6553.5),
        (ir("v_ac1"), 6553.5),
        (hr("charge_target_soc"), 101),
    ],
)
def test_implausible_values_fail_the_bounds(register, value):
    reason = register.check(value)
    assert reason is not None
    assert "plausible" in reason


@pytest.mark.parametrize(
    ("register", "value"),
    [
        (ir("p_pv1"), 0),
        (ir("p_pv1"), 15000),
        (ir("battery_percent"), 0),
        (ir("battery_percent"), 100),
        (ir("p_battery"), -3600),
        (ir("p_grid_out"), -139),
        (ir("temp_battery"), -10.5),
        (bat("v_cell_01"), 3.322),
        (ir("e_grid_in_total"), 624.2),
        (hr("system_time"), dt.datetime(2023, 4, 28)),
        (hr("serial_number"), "SA1234G567"),
    ],
)
def test_plausible_values_pass(register, value):
    assert register.check(value) is None


def test_bound_messages_carry_the_unit():
    assert ir("p_pv1").check(65535) == "above the plausible maximum 15000 W"
    assert bat("t_min").check(-273.0) == "below the plausible minimum -60 °C"


# -- the write allow-list -----------------------------------------------------------------------


def test_allowlist_is_exactly_the_documented_set():
    assert set(R.WRITE_ALLOWLIST) == ALLOWLIST_ADDRESSES
    assert R.WRITE_ALLOWLIST[116].name == "charge_target_soc"
    assert R.WRITE_ALLOWLIST[38].name == "system_time"


def test_installer_and_identity_registers_are_not_writable():
    for name in ("serial_number", "battery_capacity_ah", "module"):
        register = hr(name)
        assert register.writable is None
        assert not any(R.is_writable(a, 0) for a in register.addresses)
    assert not R.is_writable(29, 3)  # calibration: only start (1) and stop (0) are sent
    assert not R.is_writable(166, 1)


@pytest.mark.parametrize(
    ("address", "value", "ok"),
    [
        (20, 0, True),
        (20, 1, True),
        (20, 2, False),
        (116, 4, True),
        (116, 100, True),
        (116, 3, False),
        (116, 101, False),
        (110, 4, True),
        (114, 2, False),
        (111, 0, True),
        (111, 50, True),
        (111, 51, False),
        (163, 100, True),
        (163, 1, False),
        (163, 200, False),
        (94, 0, True),
        (94, 2359, True),
        (94, 160, False),
        (94, 2400, False),
        (35, 99, True),
        (35, 100, False),
        (36, 12, True),
        (36, 13, False),
        (36, 0, False),
        (37, 31, True),
        (40, 60, False),
        (27, 1, True),
        (27, 2, False),
        (318, 3, True),
        (318, 4, False),
        (313, 0, False),
        (313, 100, True),
        (26, 0, True),
        (26, 60001, False),
        (29, 1, True),
        (29, 2, False),
        (248, 4, True),
        (248, 3, False),
        (270, 0, False),
        (0, 0, False),
        (20, True, False),
        (50, 100, True),
        (50, 101, False),
    ],
)
def test_is_writable(address, value, ok):
    assert R.is_writable(address, value) is ok


def test_allowed_text_is_human_readable():
    assert R.Allowed.span(4, 100).text == "4..100"
    assert R.Allowed.of(100).text == "100"
    assert "2359" in R.HHMM_ALLOWED.text
    assert hr("charge_target_soc").allowed_at(116) == R.Allowed.span(4, 100)
    assert hr("charge_target_soc").allowed_at(117) is None
    assert ir("p_battery").allowed_at(52) is None


# -- generated documentation --------------------------------------------------------------------


def test_docs_match_the_tables():
    assert DOCS.read_text() == R.render_markdown(), (
        "docs/registers.md is stale: python -m givenergy_modbus_codec.registers > docs/registers.md"
    )


def test_markdown_lists_every_register_once_per_bank():
    text = R.render_markdown().split("## Model families")[0]  # family sections come after
    for register in ALL:
        assert f"`{register.name}`" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == len(ALL)
    assert "| 35–40 | `system_time` | datetime |" in text
    assert (
        "| 52 | `p_battery` | s16 |  | W | + discharging / − charging "
        "| -10000..10000, within 1.5 x the battery rating |"
    ) in text
