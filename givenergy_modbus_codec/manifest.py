"""One place that knows each GivEnergy model family: what it is, what a read needs, and whether
this version can read it at all (../shared/reference/families.md §1).

``resolve`` decides the family from HR0's device type code (DTC) alone; the Gen1/Gen2/Gen3 split
of single-phase hybrids (HR21) stays in model.py. Each family carries its read plan: which
banks, at which device address, each read function needs; optional banks (their refusal never
fails a run) and fallback addresses (a bank some plants serve elsewhere, such as HR(60,60) at
0x31 on an AC inverter behind an EMS). A family that is not ``supported`` is refused before
anything but HR(0,60) is read: its registers are never decoded with another family's map.
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from .errors import UnsupportedModel
from .frames import INVERTER_ADDRESS, Function
from .reader import HR_0, HR_60, IR_0, IR_180, Bank

AC_FACADE_ADDRESS = 0x31  # AC/Gen1 facade; some plants (AC behind an EMS) serve HR60+ only here

# Battery kinds: LV packs answer IR(60,60) at 0x32..0x37; an HV stack is found through the
# BMS summary at 0xA0, its BCUs at 0x70.. and its modules at 0x50..; "none" has no battery
# pages of its own (EMS, Gateway: per-unit values live in the controller's own registers).
BATTERY_LV = "lv"
BATTERY_HV = "hv"
BATTERY_NONE = "none"

# Slot layouts (families.md §3.1).
SLOTS_2 = "2-slot"
SLOTS_EXTENDED_10 = "extended 10-slot"
SLOTS_THREE_PHASE_10 = "three-phase 10-slot"
SLOTS_EMS = "EMS 3+3+3"

CONTROLS_SINGLE_PHASE = "single-phase"


class PlannedBank(NamedTuple):
    """One bank of a read plan. ``optional``: a refusal or silence is recorded, never fatal.
    ``fallbacks``: other device addresses to try, in order, when the bank's own one fails."""

    bank: Bank
    optional: bool = False
    fallbacks: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        return self.bank.label


class Family(NamedTuple):
    """What this version knows about one model family."""

    key: str  # stable identifier, remembered in the state folder
    name: str  # "Invertor Model" as published (v1.0 wording where it had one)
    supported: bool
    phases: int
    battery: str  # BATTERY_LV / BATTERY_HV / BATTERY_NONE
    slots: str
    battery_voltage: float | None  # V per HR55 Ah for the nominal capacity; None: no figure
    rated_power_w: Mapping[str, int]  # DTC -> rated AC power
    battery_max_power_w: int | None  # charge/discharge limit assumed for the rate commands
    reads: Mapping[str, tuple[PlannedBank, ...]]  # read function -> banks (HR(0,60) first)
    note: str = ""  # why it is refused / what is special (README support table)
    # Control registers write.py may use: "single-phase" (HR20-320 of registers.md, also on
    # AIO / HV Gen3, families.md §3.2); "" = none yet, every write function is refused.
    controls: str = ""

    def plan(self, function: str) -> tuple[PlannedBank, ...]:
        return self.reads[function]

    def rated_power(self, dtc: str) -> int | None:
        return self.rated_power_w.get(dtc)


def _reads(
    slots: tuple[PlannedBank, ...], stats: tuple[PlannedBank, ...]
) -> Mapping[str, tuple[PlannedBank, ...]]:
    """The four read functions from the banks slots/modes need and the banks stats need."""
    first = PlannedBank(HR_0)
    everything = tuple(dict.fromkeys((*slots, *stats)))
    return MappingProxyType(
        {
            "getTimeslots": (first, *slots),
            "getModesandTimes": (first, *slots),
            "getCombinedStats": (first, *stats),
            "runAll": (first, *everything),
        }
    )


_SINGLE_PHASE_READS = _reads(
    slots=(PlannedBank(HR_60),),
    stats=(PlannedBank(IR_0), PlannedBank(IR_180, optional=True)),
)
# An AC inverter behind an EMS answers HR(0,60) and IR(0,60) at 0x11 but HR60+ and IR180+ only
# at its 0x31 facade (C:ems_2_inv_3_bat_a).
_AC_READS = _reads(
    slots=(PlannedBank(HR_60, fallbacks=(AC_FACADE_ADDRESS,)),),
    stats=(
        PlannedBank(IR_0, fallbacks=(AC_FACADE_ADDRESS,)),
        PlannedBank(IR_180, optional=True, fallbacks=(AC_FACADE_ADDRESS,)),
    ),
)


def _bank(function: int, base: int, count: int = 60) -> Bank:
    return Bank(INVERTER_ADDRESS, function, base, count)


# Three-phase: the banks dewet22/givenergy-modbus polls there (families.md §1.3), without the
# all-zero single-phase input banks. Slot banks of the newer families are optional: their
# schedule registers are not wire-confirmed, and a refusal must not cost the values.
_THREE_PHASE_READS = _reads(
    slots=(
        PlannedBank(_bank(Function.READ_HOLDING, 1060), optional=True),
        PlannedBank(_bank(Function.READ_HOLDING, 1120, 5), optional=True),
    ),
    stats=(
        PlannedBank(_bank(Function.READ_HOLDING, 1000), optional=True),  # HR1012: the rating
        PlannedBank(_bank(Function.READ_INPUT, 1000)),
        PlannedBank(_bank(Function.READ_INPUT, 1060)),
        PlannedBank(_bank(Function.READ_INPUT, 1120)),
        PlannedBank(_bank(Function.READ_INPUT, 1360, 54), optional=True),
    ),
)
_EMS_READS = _reads(
    slots=(PlannedBank(_bank(Function.READ_HOLDING, 2040, 36), optional=True),),
    stats=(PlannedBank(IR_0), PlannedBank(_bank(Function.READ_INPUT, 2040))),
)
# Gateway: IR 1600-1859 (IR 1860+ holds nothing known); the 2-slot layout in HR(60,60).
_GATEWAY_READS = _reads(
    slots=(PlannedBank(HR_60, optional=True),),
    stats=tuple(PlannedBank(_bank(Function.READ_INPUT, base)) for base in range(1600, 1900, 60)),
)
_IDENTITY_ONLY = _reads(slots=(), stats=())  # refused families: HR(0,60) decides, then stop

_NO_RATINGS: Mapping[str, int] = MappingProxyType({})


def _ratings(**by_dtc: int) -> Mapping[str, int]:
    return MappingProxyType({code.removeprefix("dtc_"): watts for code, watts in by_dtc.items()})


HYBRID = Family(
    key="hybrid",
    name="Hybrid",
    supported=True,
    phases=1,
    battery=BATTERY_LV,
    slots=SLOTS_2,
    battery_voltage=51.2,
    rated_power_w=_ratings(dtc_2001=5000, dtc_2002=4600, dtc_2003=3600),
    battery_max_power_w=None,  # per generation (model.py)
    reads=_SINGLE_PHASE_READS,
    note="Gen1/Gen2/Gen3 by HR21; 21xx (Polar) and 22xx (Gen3 Plus) use the same map "
    "(unverified on the wire)",
    controls=CONTROLS_SINGLE_PHASE,
)
AC = Family(
    key="ac",
    name="AC",
    supported=True,
    phases=1,
    battery=BATTERY_LV,
    slots=SLOTS_2,
    battery_voltage=51.2,
    rated_power_w=_ratings(dtc_3001=3000, dtc_3002=3600),
    battery_max_power_w=3000,
    reads=_AC_READS,
    note="HR(60,60), IR(0,60) and IR(180,60) fall back to 0x31 (AC behind an EMS)",
    controls=CONTROLS_SINGLE_PHASE,
)
ALL_IN_ONE = Family(
    key="aio",
    name="All-in-One",
    supported=True,
    phases=1,
    battery=BATTERY_HV,
    slots=SLOTS_EXTENDED_10,
    battery_voltage=307.0,  # HR55 is the Ah of a 96-cell HV string (families.md §2.8, D)
    rated_power_w=_ratings(dtc_8001=6000, dtc_8002=3600, dtc_8003=5000),
    battery_max_power_w=6000,
    reads=_SINGLE_PHASE_READS,
    note="single-phase layout; IR50 is the HV stack voltage; HV stack at 0xA0/0x70/0x50",
    controls=CONTROLS_SINGLE_PHASE,
)
HV_GEN3 = Family(
    key="hv_gen3",
    name="HV hybrid",
    supported=True,
    phases=1,
    battery=BATTERY_HV,
    slots=SLOTS_EXTENDED_10,
    battery_voltage=307.0,  # D's coarse "8" family figure (families.md §2.8); unverified
    rated_power_w=_ratings(dtc_8101=6000, dtc_8102=8000, dtc_8103=10000),
    battery_max_power_w=None,  # no source gives one
    reads=_SINGLE_PHASE_READS,
    note="single-phase layout with real PV strings; HV stack at 0xA0/0x70/0x50",
    controls=CONTROLS_SINGLE_PHASE,
)


def _refused(key: str, name: str, phases: int, battery: str, slots: str, note: str) -> Family:
    return Family(
        key=key,
        name=name,
        supported=False,
        phases=phases,
        battery=battery,
        slots=slots,
        battery_voltage=None,
        rated_power_w=_NO_RATINGS,
        battery_max_power_w=None,
        reads=_IDENTITY_ONLY,
        note=note,
    )


THREE_PHASE = Family(
    key="three_phase",
    name="Three-phase hybrid",
    supported=True,
    phases=3,
    battery=BATTERY_HV,
    slots=SLOTS_THREE_PHASE_10,
    battery_voltage=None,  # HR55 reads 0 (families.md §2.8); capacity comes from the stack
    rated_power_w=_ratings(dtc_4004=11000),
    battery_max_power_w=None,
    reads=_THREE_PHASE_READS,
    note="values in IR 1000-1413, slots HR 1113-1121 (read only); per-phase values",
)
THREE_PHASE_COMMERCIAL = _refused(
    "three_phase_commercial",
    "Commercial All-in-One",
    3,
    BATTERY_HV,
    SLOTS_THREE_PHASE_10,
    "GIV-PM 30/50 kW: three-phase map, no capture",
)
THREE_PHASE_AC = _refused(
    "three_phase_ac",
    "Three-phase AC",
    3,
    BATTERY_HV,
    SLOTS_THREE_PHASE_10,
    "three-phase map, no capture",
)
EMS = Family(
    key="ems",
    name="EMS",
    supported=True,
    phases=1,
    battery=BATTERY_NONE,
    slots=SLOTS_EMS,
    battery_voltage=None,
    rated_power_w=_NO_RATINGS,
    battery_max_power_w=None,
    reads=_EMS_READS,
    note="plant values in IR 2040-2095 (+ IR59 mean SOC); per managed inverter and meter; "
    "schedule HR 2044-2057 read only",
)
EMS_COMMERCIAL = _refused(
    "ems_commercial", "Commercial EMS", 1, BATTERY_NONE, SLOTS_EMS, "no capture, no register map"
)
GATEWAY = Family(
    key="gateway",
    name="Gateway",
    supported=True,
    phases=1,
    battery=BATTERY_NONE,  # the AIOs' batteries are reported by the Gateway (IR 1700-1818)
    slots=SLOTS_EXTENDED_10,
    battery_voltage=None,
    rated_power_w=_ratings(dtc_7001=12000),
    battery_max_power_w=None,
    reads=_GATEWAY_READS,
    note="plant and per-AIO values in IR 1600-1859; 2-slot layout read only",
)
AIO_HYBRID = _refused(
    "aio_hybrid",
    "All-in-One Hybrid",
    1,
    BATTERY_HV,
    SLOTS_EXTENDED_10,
    "the two reference libraries disagree on its map (three- vs single-phase); no capture",
)
GEN4 = _refused(
    "gen4",
    "Battery Ready hybrid",
    1,
    BATTERY_LV,
    SLOTS_EXTENDED_10,
    "no capture; battery enumeration disputed",
)
PV_ONLY = _refused(
    "pv", "PV inverter", 1, BATTERY_NONE, SLOTS_2, "PV-only inverter with its own map; no capture"
)

# First two hex digits of HR0 -> family (families.md §1.1). A prefix not listed is refused.
BY_PREFIX: Mapping[str, Family] = MappingProxyType(
    {
        "20": HYBRID,
        "21": HYBRID,
        "22": HYBRID,
        "23": PV_ONLY,
        "30": AC,
        "40": THREE_PHASE,
        "41": THREE_PHASE_COMMERCIAL,
        "50": EMS,
        "51": EMS_COMMERCIAL,
        "60": THREE_PHASE_AC,
        "70": GATEWAY,
        "80": ALL_IN_ONE,
        "81": HV_GEN3,
        "82": AIO_HYBRID,
        "83": GEN4,
    }
)
BY_KEY: Mapping[str, Family] = MappingProxyType({f.key: f for f in BY_PREFIX.values()})
FAMILIES: tuple[Family, ...] = tuple(BY_KEY.values())


def resolve(dtc: str | None) -> Family | None:
    """The family of a device type code (4 hex digits, as model.py decodes HR0); None when
    nobody knows the code."""
    if not dtc:
        return None
    return BY_PREFIX.get(dtc[:2].lower())


def require_supported(dtc: str | None) -> Family:
    """The family of ``dtc`` if this version reads it; UnsupportedModel (exit 1) otherwise."""
    family = resolve(dtc)
    if family is None or not family.supported:
        raise UnsupportedModel(dtc or "?", family.name if family else None)
    return family


def plan_devices(planned: PlannedBank) -> tuple[int, ...]:
    """The device addresses to try for a planned bank, its own first."""
    return (planned.bank.device, *planned.fallbacks)


def at_device(bank: Bank, device: int) -> Bank:
    return Bank(device, bank.function, bank.base, bank.count)
