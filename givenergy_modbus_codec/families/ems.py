"""EMS (50xx): a plant controller managing up to 4 inverters and 8 meters; its own values in
IR 2040-2095 and its schedule in HR 2040-2075 at 0x11 (families.md §2.4). Of IR 0-59 only IR59
(the mean SOC of the managed inverters) is used; HR2 and HR19 mean nothing here.

Signs: IR2089 (grid) and the meters are + import on the wire, the opposite of the house
convention; inverter and battery powers are + discharge.
"""

from ..registers import HOLDING_REGISTERS, Bank, Encoding, Register, _row
from .base import FamilyTables
from .identity import IDENTITY_NAMES

E = Encoding
MAX_INVERTERS = 4
MAX_METERS = 8
_W = (-30000, 30000)
_PLUS_IMPORT = "+ import / − export"
_PLUS_DISCHARGE = "+ discharging / − charging"


def _ir(name: str, addresses, encoding: Encoding = E.U16, **kw: object) -> Register:
    return _row(Bank.INPUT, name, addresses, encoding, **kw)


def _hr(name: str, addresses, encoding: Encoding = E.U16, **kw: object) -> Register:
    return _row(Bank.HOLDING, name, addresses, encoding, **kw)


INPUT: tuple[Register, ...] = (
    _ir("soc", 59, unit="%", bounds=(0, 100), description="mean SOC of the managed inverters"),
    _ir("plant_status", 2040),
    _ir("meter_count", 2041, bounds=(0, MAX_METERS)),
    _ir("meter_status", 2043, E.HEX, description="2 bits per meter, meter 1 lowest"),
    _ir("inverter_count", 2044, bounds=(0, MAX_INVERTERS)),
    _ir("inverter_status", 2045, E.HEX, description="3 bits per slot, slot 1 lowest; 2 online"),
    *(
        _ir(f"meter_{k}_power", 2045 + k, E.S16, unit="W", sign=_PLUS_IMPORT, bounds=_W)
        for k in range(1, MAX_METERS + 1)
    ),
    *(
        _ir(f"inverter_{k}_power", 2053 + k, E.S16, unit="W", sign=_PLUS_DISCHARGE, bounds=_W)
        for k in range(1, MAX_INVERTERS + 1)
    ),
    *(
        _ir(f"inverter_{k}_soc", 2057 + k, unit="%", bounds=(0, 100))
        for k in range(1, MAX_INVERTERS + 1)
    ),
    *(
        _ir(f"inverter_{k}_temperature", 2061 + k, E.S16, scale=10, unit="°C", bounds=(-60, 100))
        for k in range(1, MAX_INVERTERS + 1)
    ),
    *(
        _ir(f"inverter_{k}_serial_number", range(2061 + 5 * k, 2066 + 5 * k), E.ASCII)
        for k in range(1, MAX_INVERTERS + 1)
    ),
    _ir("load_power", 2086, unit="W", bounds=(0, 60000), description="calculated"),
    _ir("generation_power", 2088, unit="W", bounds=(0, 60000)),
    _ir("grid_power", 2089, E.S16, unit="W", sign=_PLUS_IMPORT, bounds=_W),
    _ir("battery_power", 2090, E.S16, unit="W", sign=_PLUS_DISCHARGE, bounds=_W),
    _ir("remaining_battery_energy", 2091, unit="Wh", description="drops secondary packs"),
)

# Schedule (D/slot, D/ems; read only): charge slots HR2053/54, 2056/57; discharge 2044/45,
# 2047/48; the third slots and export slots are not published yet.
_SLOTS = {
    "discharge_slot_1": 2044,
    "discharge_slot_2": 2047,
    "charge_slot_1": 2053,
    "charge_slot_2": 2056,
}
_IDENTITY = IDENTITY_NAMES - {"module", "dsp_firmware_version"}
HOLDING: tuple[Register, ...] = (
    *(r for r in HOLDING_REGISTERS if r.name in _IDENTITY),
    *(
        row
        for name, start in _SLOTS.items()
        for row in (_hr(f"{name}_start", start, E.HHMM), _hr(f"{name}_end", start + 1, E.HHMM))
    ),
)

TABLES = FamilyTables(title="EMS (50xx)", holding=HOLDING, input=INPUT)
