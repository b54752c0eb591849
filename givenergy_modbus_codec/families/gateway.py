"""Gateway (70xx): fronts up to 3 parallel All-in-Ones; plant and per-AIO values in IR 1600-1859
at 0x11 (families.md §2.5). IR 0-59 and 120-239 read zero here; of HR 0-59 only identity.

Signs: battery (AIO) powers are + charging on the wire, the opposite of the house convention;
grid power IR1616 is + export. Today counters are u16 /10 (wrap at 6553.5), totals u32 /10.
"""

from ..registers import HOLDING_REGISTERS, Bank, Encoding, Register, _row
from .base import FamilyTables
from .identity import IDENTITY_NAMES

SLOT_NAMES = ("charge_slot_1", "charge_slot_2", "discharge_slot_1", "discharge_slot_2")

E = Encoding
MAX_AIOS = 3
_W = (-30000, 30000)
_DAY_KWH = (0, 200)
_TOTAL_KWH = (0, 1000000)
_PLUS_CHARGE = "+ charging / − discharging"


def _ir(name: str, addresses, encoding: Encoding = E.U16, **kw: object) -> Register:
    return _row(Bank.INPUT, name, addresses, encoding, **kw)


def _energy(name: str, today: int, total: int) -> tuple[Register, Register]:
    return (
        _ir(f"{name}_today", today, scale=10, unit="kWh", bounds=_DAY_KWH),
        _ir(f"{name}_total", (total, total + 1), E.U32, scale=10, unit="kWh", bounds=_TOTAL_KWH),
    )


INPUT: tuple[Register, ...] = (
    _ir(
        "work_mode",
        1604,
        E.ENUM,
        bounds=(0, 4),
        labels={0: "initialising", 1: "off-grid", 2: "on-grid", 3: "fault", 4: "update"},
    ),
    _ir("grid_voltage", 1608, E.S16, scale=10, unit="V", bounds=(0, 300)),
    _ir("load_voltage", 1610, scale=10, unit="V", bounds=(0, 300)),
    _ir("grid_power", 1616, E.S16, unit="W", sign="+ export / − import", bounds=_W),
    _ir("load_power", 1618, unit="W", bounds=(0, 30000)),
    *_energy("e_import", 1640, 1641),
    *_energy("e_pv", 1643, 1644),
    *_energy("e_export", 1646, 1647),
    *_energy("e_load", 1655, 1656),
    *_energy("e_battery_charge", 1795, 1796),
    *_energy("e_battery_discharge", 1798, 1799),
    _ir("aio_count", 1700, bounds=(0, MAX_AIOS)),
    _ir("aio_online", 1701, bounds=(0, MAX_AIOS)),
    _ir("aio_total_power", 1702, E.S16, unit="W", sign=_PLUS_CHARGE, bounds=_W),
    *(
        row
        for k in range(1, MAX_AIOS + 1)
        for row in (
            _ir(f"aio_{k}_soc", 1800 + k, unit="%", bounds=(0, 100)),
            _ir(f"aio_{k}_power", 1815 + k, E.S16, unit="W", sign=_PLUS_CHARGE, bounds=_W),
            _ir(f"aio_{k}_serial_number", range(1836 + 5 * k, 1841 + 5 * k), E.ASCII),
            *_energy(f"e_aio_{k}_charge", 1702 + 3 * k, 1703 + 3 * k),
            *_energy(f"e_aio_{k}_discharge", 1747 + 3 * k, 1748 + 3 * k),
        )
    ),
)

# HR19 = 0 and HR2 (a 6 kW code on a 12 kW table) mean nothing here (families.md §1.1). The
# slots are the single-phase 2-slot ones (D/man; C: HR56/57 22:35-00:01, HR94/95 00:00-05:00).
_SLOT_NAMES = {f"{s}_{e}" for s in SLOT_NAMES for e in ("start", "end")}
HOLDING: tuple[Register, ...] = tuple(
    r
    for r in HOLDING_REGISTERS
    if r.name in (IDENTITY_NAMES - {"module", "dsp_firmware_version"}) | _SLOT_NAMES
)

TABLES = FamilyTables(title="Gateway (70xx)", holding=HOLDING, input=INPUT)
