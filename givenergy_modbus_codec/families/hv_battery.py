"""HV battery stacks (AIO, HV Gen3, three-phase): the BMS summary at 0xA0, one BCU per stack at
0x70 + n and one BMU per module at 0x50 + running index (families.md §1.2, §1.4, §2.3).

Rows use ``Bank.BATTERY`` (function 04 at a battery address). BCU current and power are
signed − discharge on the wire, the opposite of the house convention.
"""

from ..registers import Bank, Encoding, Register, _row

E = Encoding

BMS_ADDRESS = 0xA0
FIRST_BCU_ADDRESS = 0x70
LAST_BCU_ADDRESS = 0x8F
FIRST_BMU_ADDRESS = 0x50
LAST_BMU_ADDRESS = 0x6F
MAX_CELLS_PER_MODULE = 24  # IR60-83
MAX_TEMPERATURES_PER_MODULE = 24  # IR90-113

_TEMP = (-60, 100)
_PCT = (0, 100)
_KWH = (0, 1000000)
_DAY_KWH = (0, 200)
_STATUS = {
    0: "initialising",
    1: "precharge",
    2: "standby",
    3: "charging",
    4: "discharging",
    5: "error",
    6: "updating",
    7: "off",
    8: "production",
}
_PLUS_CHARGE = "+ charging / − discharging"


def _bat(name: str, addresses, encoding: Encoding = E.U16, **kw: object) -> Register:
    return _row(Bank.BATTERY, name, addresses, encoding, **kw)


# IR(60,5) at 0xA0: how many stacks (BCUs) there are.
BMS_REGISTERS: tuple[Register, ...] = (
    _bat("num_bcus", 61, bounds=(0, LAST_BCU_ADDRESS - FIRST_BCU_ADDRESS + 1)),
    _bat("num_modules", 62, bounds=(0, 32)),
    _bat("num_cells", 63, bounds=(0, 32 * MAX_CELLS_PER_MODULE)),
    _bat("num_temperatures", 64, bounds=(0, 32 * MAX_TEMPERATURES_PER_MODULE)),
)

# IR(60,60) and IR(120,60) at 0x70 + stack index.
BCU_REGISTERS: tuple[Register, ...] = (
    _bat("num_modules", 64, bounds=(1, 32), description="modules in this stack"),
    _bat("num_cells", 67, bounds=(1, 32 * MAX_CELLS_PER_MODULE), description="whole stack"),
    _bat("num_temperatures", 68, bounds=(0, 32 * MAX_TEMPERATURES_PER_MODULE)),
    _bat("status", 70, E.ENUM, bounds=(0, 8), labels=_STATUS),
    _bat("v_battery", 73, scale=10, unit="V", bounds=(0, 1000)),
    _bat("v_load", 74, scale=10, unit="V", bounds=(0, 1000)),
    _bat("i_battery", 76, E.S16, scale=10, unit="A", sign=_PLUS_CHARGE, bounds=(-100, 100)),
    _bat("soc", 80, E.DUINT8_HIGH, unit="%", bounds=_PCT, description="IR80 high byte"),
    _bat("soh", 81, unit="%", bounds=_PCT),
    _bat("e_charge_total", (82, 83), E.U32, scale=10, unit="kWh", bounds=_KWH),
    _bat("e_discharge_total", (84, 85), E.U32, scale=10, unit="kWh", bounds=_KWH),
    _bat("e_charge_day", (90, 91), E.U32, scale=10, unit="kWh", bounds=_DAY_KWH),
    _bat("e_discharge_day", (92, 93), E.U32, scale=10, unit="kWh", bounds=_DAY_KWH),
    _bat("cap_design", 98, scale=10, unit="Ah", bounds=(0, 1000), description="per string"),
    _bat("cap_remaining", 99, scale=10, unit="Ah", bounds=(0, 1000)),
    _bat("v_discharge_min", 102, scale=10, unit="V", bounds=(0, 1000)),
    _bat("v_charge_max", 103, scale=10, unit="V", bounds=(0, 1000)),
    _bat("serial_number", range(138, 143), E.ASCII, description="in the IR(120,60) page"),
)

# IR(60,60) at 0x50 + running module index: 24 cells, up to 24 temperatures, the serial.
BMU_REGISTERS: tuple[Register, ...] = (
    *(
        _bat(f"v_cell_{i:02d}", 59 + i, scale=1000, unit="V", bounds=(1.0, 5.0))
        for i in range(1, MAX_CELLS_PER_MODULE + 1)
    ),
    *(
        _bat(f"t_cell_{i:02d}", 89 + i, E.S16, scale=10, unit="°C", bounds=_TEMP)
        for i in range(1, MAX_TEMPERATURES_PER_MODULE + 1)
    ),
    _bat("serial_number", range(114, 119), E.ASCII, description="some firmware: prefix at IR110"),
)
