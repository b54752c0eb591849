"""Every shared capture: its register file built from the response frames, the model detected
from HR0, and the values decoded with that family's map, checked against our own decode of the
raw registers worked out from families.md (skipped when shared/vectors is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from givenergy_modbus_codec import hv_stack, manifest
from givenergy_modbus_codec.errors import UnsupportedModel
from givenergy_modbus_codec.families.identity import IDENTITY_NAMES
from givenergy_modbus_codec.frames import Function, ReadResponse, decode_frame
from givenergy_modbus_codec.model import decode_inverter
from givenergy_modbus_codec.reader import RegisterSnapshot
from givtcp import hv_batteries, reading
from tests.conftest import capture_files, load_vectors

Registers = dict[tuple[int, int], dict[int, int]]

HR, IR = Function.READ_HOLDING, Function.READ_INPUT
AIO = "aio_a__aio_arm612_5min.log.json"
THREE_PHASE = "three_phase_hv_a__giv3hy11_da011_10min.log.json"
GATEWAY = "gateway_2aio_a__gateway_gaaa0014_10min_night.log.json"
EMS = "ems_2_inv_3_bat_a__ems_arm1036_60s.log.json"
AC_BEHIND_EMS = "ems_2_inv_3_bat_a__ac_arm282_1x_givbat512gen3_30min.log.json"

# families.md §1.1 and the capture names: HR0, family, read by this version, generation.
EXPECTED = {
    AIO: ("8001", "aio", True, None),
    AC_BEHIND_EMS: ("3001", "ac", True, None),
    EMS: ("5001", "ems", True, None),
    GATEWAY: ("7001", "gateway", True, None),
    "hybrid_2_bat_a__hybrid_gen1_arm449_0x11_poll_10min.log.json": ("2001", "hybrid", True, "Gen1"),
    "hybrid_gen2_1_bat_a__hybrid_gen2_arm920_60s.log.json": ("2003", "hybrid", True, "Gen2"),
    THREE_PHASE: ("4004", "three_phase", True, None),
}


def register_file(name: str) -> Registers:
    """(device, function) -> {register: last value answered} over the capture's CRC-valid
    read responses. The three-phase capture holds no HR(0,60) answer: its HR0 is the 4004
    families.md reports for that unit (C:three_phase_hv_a)."""
    registers: Registers = {}
    if name == THREE_PHASE:
        registers[(0x11, HR)] = {0: 0x4004}
    for vector in load_vectors(str(Path("captures") / name))["vectors"]:
        if vector["direction"] != "to_client":
            continue
        frame = decode_frame(bytes.fromhex(vector["hex"]))
        if isinstance(frame, ReadResponse):
            page = registers.setdefault((frame.device, frame.function), {})
            page.update(enumerate(frame.values, start=frame.base))
    return registers


def s16(raw: int) -> int:
    return raw - 0x10000 if raw >= 0x8000 else raw


def ascii_of(regs: dict[int, int], addresses) -> str:
    return b"".join(regs[a].to_bytes(2, "big") for a in addresses).decode("latin-1").strip("\0")


def test_every_capture_has_an_expectation():
    names = {p.name for p in capture_files()}
    if not names:
        pytest.skip("no captures")
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", EXPECTED)
def test_model_detected_from_hr0(name):
    code, key, supported, generation = EXPECTED[name]
    regs = register_file(name)
    holding = regs[(0x11, HR)]
    assert f"{holding[0]:04x}" == code
    family = manifest.resolve(code)
    assert (family.key, family.supported) == (key, supported)
    inverter = decode_inverter(holding, regs.get((0x11, IR), {}))
    assert inverter.family == family.name
    assert inverter.generation == generation
    if not supported:
        with pytest.raises(UnsupportedModel, match=f"^inverter model {code} "):
            manifest.require_supported(code)


@pytest.mark.parametrize("code", [0x6001, 0x8201, 0x9999])
def test_refused_codes_decode_identity_only(code):
    """Never a screen of zeros: the three-phase capture's registers under a code this version
    refuses (three-phase AC, AIO Hybrid, unknown) decode to identity only, whatever they hold."""
    regs = register_file(THREE_PHASE)
    holding = {**regs[(0x11, HR)], 0: code}
    inverter = decode_inverter(holding, regs[(0x11, IR)])
    assert set(inverter.values) | set(inverter.invalid) <= IDENTITY_NAMES
    assert "battery_percent" not in inverter.values and "soc" not in inverter.values


def test_all_in_one_values():
    regs = register_file(AIO)
    hr, ir = regs[(0x11, HR)], regs[(0x11, IR)]
    inverter = decode_inverter(hr, ir)
    v = inverter.values
    # IR50 is the HV stack voltage /100 (families.md §2.1): ~313 V is normal, not implausible.
    assert 300 < ir[50] / 100 < 330
    assert v["v_battery"] == ir[50] / 100
    assert "v_battery" not in inverter.invalid
    assert v["battery_percent"] == ir[59]
    assert v["p_battery"] == s16(ir[52])
    assert v["p_grid_out"] == s16(ir[30])
    assert inverter.rated_power_w == 6000  # DTC 8001: All in One 6 kW
    # HR55 = 52 Ah of a 96-cell string × 307 V (families.md §2.8) = 15964 Wh; not 52 × 51.2.
    assert hr[55] == 52
    assert inverter.battery_capacity_kwh == 15.96
    assert inverter.invalid == {}
    result = reading.build_result("runAll", inverter, [], RegisterSnapshot(hr, ir), False, 0.0)
    assert result.groups["Power"]["SOC"] == ir[59]
    assert result.groups["Invertor Details"]["Battery Capacity kWh"] == 15.96
    # IR44 is the AIO's AC output, not PV: no source computes its load energy (D: None).
    assert "Load Energy Today kWh" not in result.groups["Energy/Today"]
    assert "Energy/Today/Load Energy Today kWh" not in result.rejected


def _stack(name: str) -> hv_stack.HvStack:
    regs = register_file(name)
    bms = regs[(0xA0, IR)]
    assert hv_stack.bcu_count(bms) == bms[61] == 1
    bcu = regs[(0x70, IR)]
    modules = {d: page for (d, f), page in regs.items() if 0x50 <= d <= 0x6F and f == IR}
    return hv_stack.decode_stack(0, bcu, modules)


def test_all_in_one_hv_stack():
    regs = register_file(AIO)
    bcu = regs[(0x70, IR)]
    stack = _stack(AIO)
    assert bcu[64] == 4 and bcu[67] == 96 and bcu[68] == 48  # 4 modules, 24 cells, 12 sensors
    details, rejected = hv_batteries.details((stack,))
    assert rejected == {}
    serial = ascii_of(bcu, range(138, 143))
    assert set(details) == {serial, *(f"{serial} Module {k}" for k in range(1, 5))}
    top = details[serial]
    assert top["Battery Serial Number"] == serial
    assert top["Battery Voltage"] == bcu[73] / 10
    assert top["Battery Current"] == -s16(bcu[76]) / 10  # the BCU counts − discharge
    assert top["Battery SOC"] == bcu[80] >> 8
    assert top["Battery Modules"] == 4
    assert top["Battery Design Capacity Ah"] == bcu[98] / 10
    assert top["Battery Charge Energy Total kWh"] == ((bcu[82] << 16) + bcu[83]) / 10
    assert top["Battery Discharge Energy Total kWh"] == ((bcu[84] << 16) + bcu[85]) / 10
    for k, address in enumerate(range(0x50, 0x54), start=1):
        page = regs[(address, IR)]
        module = details[f"{serial} Module {k}"]
        for cell in range(1, 25):
            assert module[f"Battery Cell {cell} Voltage"] == page[59 + cell] / 1000
        for sensor in range(1, 13):
            assert module[f"Battery Cell {sensor} Temperature"] == s16(page[89 + sensor]) / 10
        # IR102-113 read 0 on an AIO module: not 0 °C, there are no such sensors.
        assert "Battery Cell 13 Temperature" not in module
        assert module["Battery Serial Number"] == ascii_of(page, range(114, 119))


def test_three_phase_hv_stack_with_a_split_serial():
    regs = register_file(THREE_PHASE)
    stack = _stack(THREE_PHASE)
    details, _ = hv_batteries.details((stack,))
    assert len(stack.modules) == 6  # 144 cells, 72 sensors: 24 cells, 12 sensors each
    last = regs[(0x55, IR)]
    assert last[114] == 0 and last[110] != 0
    module = details[f"{ascii_of(regs[(0x70, IR)], range(138, 143))} Module 6"]
    assert module["Battery Serial Number"] == ascii_of(last, (110, 115, 116, 117, 118))
    assert module["Battery Cell 24 Voltage"] == last[83] / 1000
    assert "Battery Cell 13 Temperature" not in module


def u32(regs: dict[int, int], first: int) -> float:
    return ((regs[first] << 16) + regs[first + 1]) / 10


def test_three_phase_values():
    """families.md §2.2, decoded by hand from the IR 1000-1413 registers."""
    regs = register_file(THREE_PHASE)
    hr, ir = regs[(0x11, HR)], regs[(0x11, IR)]
    inverter = decode_inverter(hr, ir)
    assert inverter.invalid == {}
    assert inverter.rated_power_w == 11000  # GIV-3HY-11
    snapshot = RegisterSnapshot(holding=hr, input=ir)
    result = reading.build_result("runAll", inverter, [], snapshot, False, 0.0)
    power, phases = result.groups["Power"], result.groups["Power/Phases"]
    assert power["SOC"] == ir[1132]
    assert power["PV Power"] == round(u32(ir, 1017) + u32(ir, 1019), 1)
    grid = u32(ir, 1081) - u32(ir, 1079)  # export - import, + export
    assert power["Grid Power"] == round(grid, 1)
    assert power["Battery Power"] == round(u32(ir, 1136) - u32(ir, 1138), 1)  # + discharge
    assert power["Load Power"] == u32(ir, 1089)
    inverter_w = (ir[1069] << 16) + ir[1070]
    inverter_w = (inverter_w - 2**32 if inverter_w >= 2**31 else inverter_w) / 10
    assert power["Invertor Power"] == inverter_w
    # Per phase: the CTs are signed (+ export) and sum to the net grid power; the loads sum to
    # the total (families.md §2.2, both from the same IR(1060,60) answer).
    grid_phases = [phases[f"Grid Power Phase {p}"] for p in (1, 2, 3)]
    assert grid_phases == [s16(ir[a]) for a in (1083, 1084, 1085)]
    assert sum(grid_phases) == grid
    loads = [phases[f"Load Power Phase {p}"] for p in (1, 2, 3)]
    assert sum(loads) == u32(ir, 1089)
    assert phases["Grid Voltage L1-L2"] == ir[1061] / 10  # line-to-line, ~400 V
    assert phases["Output Voltage Phase 1"] == ir[1094] / 10
    today, total = result.groups["Energy/Today"], result.groups["Energy/Total"]
    assert today["Load Energy Today kWh"] == u32(ir, 1396) >= 0
    assert today["PV Energy Today kWh"] == u32(ir, 1412)
    assert total["Import Energy Total kWh"] == u32(ir, 1382)
    assert total["Battery Discharge Energy Total kWh"] == u32(ir, 1390)
    assert result.groups["Invertor Details"]["Invertor Temperature"] == s16(ir[1128]) / 10
    # Nothing from the all-zero single-phase banks (families.md §4).
    assert "battery_percent" not in inverter.values and "p_pv1" not in inverter.values


def test_ems_values():
    """families.md §2.4: the plant from the EMS's own registers, not IR42 / IR 0-59."""
    regs = register_file(EMS)
    hr, ir = regs[(0x11, HR)], regs[(0x11, IR)]
    inverter = decode_inverter(hr, ir)
    assert inverter.invalid == {}
    assert inverter.serial == ascii_of(hr, range(13, 18))
    assert inverter.serial.startswith("EMS")
    assert inverter.firmware is None and inverter.rated_power_w is None  # HR19 = 0, HR2 no rating
    snapshot = RegisterSnapshot(holding=hr, input=ir)
    result = reading.build_result("runAll", inverter, [], snapshot, False, 0.0)
    power = result.groups["Power"]
    assert power["Load Power"] == ir[2086] != ir[42]  # the EMS's own load, not IR42
    assert power["Grid Power"] == -s16(ir[2089])  # IR2089 is + import; published + export
    assert power["Grid Power"] == s16(ir[30])  # the aggregate page agrees (house sign)
    assert power["Battery Power"] == s16(ir[2090])
    assert power["Battery Power"] == sum(s16(ir[a]) for a in (2054, 2055))  # Σ inverters
    assert power["PV Power"] == ir[2088]
    assert power["SOC"] == ir[59]
    # No energy counters are known for an EMS: none published (no negative Load Energy).
    assert "Energy/Today" not in result.groups and "Energy/Total" not in result.groups
    per_unit = result.groups["Power/Inverters"]
    online = [k for k in range(1, 5) if (ir[2045] >> (3 * (k - 1))) & 7 == 2]
    assert online == [1, 2]
    for k in online:
        assert per_unit[f"Inverter {k} Power"] == s16(ir[2053 + k])
        assert per_unit[f"Inverter {k} SOC"] == ir[2057 + k]
        assert per_unit[f"Inverter {k} Temperature"] == s16(ir[2061 + k]) / 10
        first = 2061 + 5 * k
        assert per_unit[f"Inverter {k} Serial Number"] == ascii_of(ir, range(first, first + 5))
    assert "Inverter 3 Power" not in per_unit
    meters = [k for k in range(1, 9) if (ir[2043] >> (2 * (k - 1))) & 3]
    assert meters == [1, 3]  # meters at 0x01 and 0x03 in this capture
    assert per_unit["Meter 1 Power"] == -s16(ir[2046])
    slots = result.groups["Timeslots"]
    assert slots["Discharge start time slot 1"] == f"{hr[2044]:04d}"
    assert slots["Discharge end time slot 1"] == f"{hr[2045]:04d}"
    assert result.groups["Invertor Details"]["Invertor Model"] == "EMS"
    assert "Invertor Type" not in result.groups["Invertor Details"]


def test_gateway_values():
    """families.md §2.5: AIO powers are + charging on the wire, published + discharging."""
    regs = register_file(GATEWAY)
    hr, ir = regs[(0x11, HR)], regs[(0x11, IR)]
    inverter = decode_inverter(hr, ir)
    assert inverter.invalid == {}
    assert inverter.rated_power_w == 12000  # DTC 7001 (HR2 says 6 kW: not used)
    snapshot = RegisterSnapshot(holding=hr, input=ir)
    result = reading.build_result("runAll", inverter, [], snapshot, False, 0.0)
    power, aios = result.groups["Power"], result.groups["Power/AIOs"]
    assert power["Grid Power"] == s16(ir[1616])
    assert power["Load Power"] == ir[1618]
    assert power["Battery Power"] == -s16(ir[1702])
    count = ir[1700]
    assert count == 2
    socs = [ir[1800 + k] for k in range(1, count + 1)]
    assert power["SOC"] == round(sum(socs) / count)
    assert sum(aios[f"AIO {k} Battery Power"] for k in (1, 2)) == power["Battery Power"]
    for k in (1, 2):
        assert aios[f"AIO {k} SOC"] == ir[1800 + k]
        first = 1836 + 5 * k
        assert aios[f"AIO {k} Serial Number"] == ascii_of(ir, range(first, first + 5))
        assert aios[f"AIO {k} Charge Energy Today kWh"] == ir[1702 + 3 * k] / 10
    assert "AIO 3 SOC" not in aios
    today, total = result.groups["Energy/Today"], result.groups["Energy/Total"]
    assert today["Import Energy Today kWh"] == ir[1640] / 10
    assert total["Import Energy Total kWh"] == ((ir[1641] << 16) + ir[1642]) / 10
    # The plant's battery charge today is the sum of the AIOs' (C: IR1795 = IR1705 + IR1708).
    assert today["Battery Charge Energy Today kWh"] == round((ir[1705] + ir[1708]) / 10, 1)
    assert result.groups["Timeslots"]["Discharge start time slot 1"] == f"{hr[56]:04d}"
    assert "PV Power" not in power  # IR1617's meaning is disputed: not published


def test_raw_dump_names_registers_with_the_family_map():
    regs = register_file(THREE_PHASE)
    hr, ir = regs[(0x11, HR)], regs[(0x11, IR)]
    inverter = decode_inverter(hr, ir)
    snapshot = RegisterSnapshot(holding=hr, input=ir)
    raw = reading.build_result("runAll", inverter, [], snapshot, True, 0.0).groups["raw/input"]
    assert raw["soc(1132)"] == ir[1132]
    assert raw["IR59"] == ir[59]  # not "battery_percent": that is the single-phase map
