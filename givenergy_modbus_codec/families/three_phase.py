"""Three-phase hybrid (40xx, GIV-3HY): values in IR 1000-1413 and slots in HR 1113-1121 at
0x11 (families.md §2.2). IR 0-59 and 120-239 read all zero on these units, so nothing of the
single-phase input map is used; of HR 0-59 only identity and the clock.

Names differ from the single-phase rows on purpose where the register or its meaning differs
(the per-bank re-read and last-good checks key on names); the slot rows keep the single-phase
names, so Timeslots reads the same.
"""

from ..registers import HOLDING_REGISTERS, Bank, Encoding, Register, _row
from .base import FamilyTables
from .identity import IDENTITY_NAMES

E = Encoding
_TEMP = (-60, 100)
_PCT = (0, 100)
_DC_W = (0, 30000)  # PV/battery DC powers of an 11-20 kW unit
_AC_W = (0, 60000)  # per-direction AC powers (supply of a three-phase house)
_PHASE_W = (-25000, 25000)
_TOTAL_KWH = (0, 1000000)
_DAY_KWH = (0, 500)
_PLUS_EXPORT = "+ export / − import"
_PLUS_DISCHARGE = "+ discharging / − charging"
_PLUS_DELIVERING = "+ delivering to AC / − drawing from AC"


def _ir(name: str, addresses, encoding: Encoding = E.U16, **kw: object) -> Register:
    return _row(Bank.INPUT, name, addresses, encoding, **kw)


def _hr(name: str, addresses, encoding: Encoding = E.U16, **kw: object) -> Register:
    return _row(Bank.HOLDING, name, addresses, encoding, **kw)


def _u32(name: str, first: int, unit: str, bounds, **kw: object) -> Register:
    return _ir(name, (first, first + 1), E.U32, scale=10, unit=unit, bounds=bounds, **kw)


def _per_phase(name: str, first: int, encoding: Encoding, **kw: object) -> tuple[Register, ...]:
    return tuple(_ir(f"{name}_phase_{p}", first + p - 1, encoding, **kw) for p in (1, 2, 3))


INPUT: tuple[Register, ...] = (
    _ir("pv1_voltage", 1001, scale=10, unit="V", bounds=(0, 1100)),
    _ir("pv2_voltage", 1002, scale=10, unit="V", bounds=(0, 1100)),
    _ir("pv1_current", 1009, scale=10, unit="A", bounds=(0, 40)),
    _ir("pv2_current", 1010, scale=10, unit="A", bounds=(0, 40)),
    _u32("pv1_power", 1017, "W", _DC_W),
    _u32("pv2_power", 1019, "W", _DC_W),
    _ir("grid_voltage_l1_l2", 1061, scale=10, unit="V", bounds=(0, 500), description="line"),
    _ir("grid_voltage_l2_l3", 1062, scale=10, unit="V", bounds=(0, 500)),
    _ir("grid_voltage_l3_l1", 1063, scale=10, unit="V", bounds=(0, 500)),
    *_per_phase("output_current", 1064, E.U16, scale=10, unit="A", bounds=(0, 100)),
    _ir("grid_frequency", 1067, scale=100, unit="Hz", bounds=(0, 70)),
    _ir(
        "inverter_power",
        (1069, 1070),
        E.S32,
        scale=10,
        unit="W",
        sign=_PLUS_DELIVERING,
        bounds=(-30000, 30000),
        rated="inverter",
    ),
    _u32("ac_charge_power", 1071, "W", _AC_W),
    _ir(
        "inverter_state",
        1076,
        E.ENUM,
        bounds=(0, 4),
        labels={0: "waiting", 1: "normal", 2: "warning", 3: "fault", 4: "firmware update"},
    ),
    _u32("grid_import_power", 1079, "W", _AC_W),
    _u32("grid_export_power", 1081, "W", _AC_W),
    *_per_phase("grid_power", 1083, E.S16, unit="W", sign=_PLUS_EXPORT, bounds=_PHASE_W),
    *_per_phase("load_power", 1086, E.U16, unit="W", bounds=(0, 25000)),
    _u32("load_power", 1089, "W", _AC_W),
    *_per_phase("inverter_power", 1091, E.S16, unit="W", sign=_PLUS_DELIVERING, bounds=_PHASE_W),
    *_per_phase("output_voltage", 1094, E.U16, scale=10, unit="V", bounds=(0, 300)),
    _ir("inverter_temperature", 1128, E.S16, scale=10, unit="°C", bounds=_TEMP),
    _ir("boost_temperature", 1129, E.S16, scale=10, unit="°C", bounds=_TEMP),
    _ir("buck_boost_temperature", 1130, E.S16, scale=10, unit="°C", bounds=_TEMP),
    _ir("battery_voltage", 1131, scale=10, unit="V", bounds=(0, 1000), description="BMS"),
    _ir("soc", 1132, unit="%", bounds=_PCT),
    _u32("battery_discharge_power", 1136, "W", _DC_W, rated="inverter"),
    _u32("battery_charge_power", 1138, "W", _DC_W, rated="inverter"),
    _ir(
        "battery_current",
        1140,
        E.S16,
        scale=100,
        unit="A",
        sign=_PLUS_DISCHARGE,
        bounds=(-100, 100),
        description="/100 (V × I checked)",
    ),
    _u32("e_ac_output_today", 1360, "kWh", _DAY_KWH),
    _u32("e_ac_output_total", 1362, "kWh", _TOTAL_KWH),
    _u32("e_solar_total", 1374, "kWh", _TOTAL_KWH),
    _u32("e_ac_charge_today", 1376, "kWh", _DAY_KWH),
    _u32("e_ac_charge_total", 1378, "kWh", _TOTAL_KWH),
    _u32("e_import_today", 1380, "kWh", _DAY_KWH),
    _u32("e_import_total", 1382, "kWh", _TOTAL_KWH),
    _u32("e_export_today", 1384, "kWh", _DAY_KWH),
    _u32("e_export_total", 1386, "kWh", _TOTAL_KWH),
    _u32("e_battery_discharged_today", 1388, "kWh", _DAY_KWH),
    _u32("e_battery_discharged_total", 1390, "kWh", _TOTAL_KWH),
    _u32("e_battery_charged_today", 1392, "kWh", _DAY_KWH),
    _u32("e_battery_charged_total", 1394, "kWh", _TOTAL_KWH),
    _u32("e_load_today", 1396, "kWh", _DAY_KWH),
    _u32("e_load_total", 1398, "kWh", _TOTAL_KWH),
    _u32("e_solar_today", 1412, "kWh", _DAY_KWH),
)

# Slots (D/slot, unverified on the wire): read only; writing them is not implemented yet.
_SLOTS = {
    "charge_slot_1": 1113,
    "charge_slot_2": 1115,
    "discharge_slot_1": 1118,
    "discharge_slot_2": 1120,
}
# HR19/HR21 read 0 here (firmware lives in IR1317-1327, decoding unverified): not decoded.
_IDENTITY = IDENTITY_NAMES - {"dsp_firmware_version", "arm_firmware_version"}
# HR1012's first hex digit indexes these ratings (G/3ph; C: 0xB19B on a GIV-3HY-11 = 11 kW).
RATINGS_W = (1000, 2000, 3000, 3600, 4000, 4600, 5000, 6000, 7000, 8000, 10000, 11000, 15000)
RATINGS_W += (20000, 30000, 50000)
HOLDING: tuple[Register, ...] = (
    *(r for r in HOLDING_REGISTERS if r.name in _IDENTITY),
    _hr("power_rating_code", 1012, E.HEX, description="first hex digit: index into RATINGS_W"),
    *(
        row
        for name, start in _SLOTS.items()
        for row in (
            _hr(f"{name}_start", start, E.HHMM),
            _hr(f"{name}_end", start + 1, E.HHMM),
        )
    ),
)

TABLES = FamilyTables(title="Three-phase hybrid (40xx)", holding=HOLDING, input=INPUT)
