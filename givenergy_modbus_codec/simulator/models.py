"""Inverter profiles: identity, limits, which addresses and register banks answer, write ranges.

The answering rules follow protocol.md §6-§7: a read is answered when every register it asks
for is implemented at that address; otherwise the first missing register's bank decides
between an error frame and silence (e.g. Gen1 answers IR(236,60) with an error but stays
silent on HR(300,60)). Absent addresses are always silent.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..frames import BATTERY_ADDRESSES, INVERTER_ADDRESS, Function
from ..registers import HHMM_ALLOWED, Allowed

INVERTER = INVERTER_ADDRESS
FIRST_BATTERY = BATTERY_ADDRESSES[0]  # battery k (1..6) answers at 0x31 + k
MAX_BATTERIES = len(BATTERY_ADDRESSES)
BATTERY_PAGE = range(60, 120)

Ranges = tuple[range, ...]


@dataclass(frozen=True)
class ModelSpec:
    """What differs between the simulated inverter models."""

    name: str
    summary: str
    device_type_code: int
    dsp_firmware: int
    arm_firmware: int
    serial_prefix: str  # GivTCP v1.0 guessed the type from it: CE = AC, ED = Gen 2
    rated_power_w: int
    battery_max_w: int
    has_pv: bool  # False: AC-coupled, the PV is a separate inverter seen only through the CT
    inverter_views: frozenset[int]  # addresses that answer the inverter register file
    holding: Ranges  # implemented holding registers
    holding_errors: Ranges  # unimplemented holding registers answered with an error frame
    inputs: Ranges  # implemented inverter input registers (battery pages are separate)
    uses_charge_slot_2: bool  # Gen2 ignores HR31/32 (dewet22/givenergy-modbus #413)
    gen1_battery_counters: bool  # IR180-183 (Gen1 ARM >= 449)
    battery_totals_32bit: bool  # IR194-197 (vendor v4.1.5+); 0 on Gen1
    has_pause_mode: bool  # HR318-320 battery pause (AC / AIO bank)
    extended_slots: bool = False  # HR242-299: slots 3-10 and a target per slot
    # Registers this plant serves only at its 0x31 facade, silence at 0x11 (an AC inverter
    # behind an EMS, C:ems_2_inv_3_bat_a): (holding ranges, input ranges).
    facade_only: tuple[Ranges, Ranges] = ((), ())

    def facade_only_at(self, device: int, function: int, registers: range) -> bool:
        """True if a read of ``registers`` at ``device`` gets silence on this plant."""
        if device != INVERTER:
            return False
        banks = self.facade_only[0 if function == Function.READ_HOLDING else 1]
        return any(r in bank for bank in banks for r in registers)

    def implemented(self, function: int, registers: range) -> bool:
        """True if the inverter register file holds every register in ``registers``."""
        banks = self.holding if function == Function.READ_HOLDING else self.inputs
        return all(any(r in bank for bank in banks) for r in registers)

    def refusal(self, function: int, registers: range) -> str:
        """'error' or 'silence' for a read that is not fully implemented."""
        missing = next(r for r in registers if not self.implemented(function, range(r, r + 1)))
        if function == Function.READ_HOLDING:
            return "error" if any(missing in bank for bank in self.holding_errors) else "silence"
        return "error"


_GEN1_VIEWS = frozenset({INVERTER, 0x31, 0x32})
MODELS: dict[str, ModelSpec] = {
    "hybrid": ModelSpec(
        name="hybrid",
        summary="Gen1 single-phase 5 kW hybrid (DTC 2001, firmware D0.449-A0.449)",
        device_type_code=0x2001,
        dsp_firmware=449,
        arm_firmware=449,
        serial_prefix="SA",
        rated_power_w=5000,
        battery_max_w=2600,
        has_pv=True,
        inverter_views=_GEN1_VIEWS,
        holding=(range(0, 240),),
        holding_errors=(range(240, 300),),
        inputs=(range(0, 60), range(120, 240)),
        uses_charge_slot_2=True,
        gen1_battery_counters=True,
        battery_totals_32bit=False,
        has_pause_mode=False,
    ),
    "ac": ModelSpec(
        name="ac",
        summary="Gen1 3 kW AC-coupled inverter (DTC 3001), PV on a separate inverter",
        device_type_code=0x3001,
        dsp_firmware=449,
        arm_firmware=449,
        serial_prefix="CE",
        rated_power_w=3000,
        battery_max_w=3000,
        has_pv=False,
        inverter_views=_GEN1_VIEWS,
        holding=(range(0, 240), range(300, 360)),
        holding_errors=(range(240, 300),),
        inputs=(range(0, 60), range(120, 240)),
        uses_charge_slot_2=True,
        gen1_battery_counters=False,
        battery_totals_32bit=False,
        has_pause_mode=True,
    ),
    "ac-ems": ModelSpec(
        name="ac-ems",
        summary="3 kW AC-coupled inverter behind an EMS (DTC 3001): HR60-179, HR240-299 and "
        "IR180-239 answer only at 0x31",
        device_type_code=0x3001,
        dsp_firmware=282,
        arm_firmware=282,
        serial_prefix="CE",
        rated_power_w=3000,
        battery_max_w=3000,
        has_pv=False,
        inverter_views=_GEN1_VIEWS,
        holding=(range(0, 240), range(300, 360)),
        holding_errors=(range(240, 300),),
        inputs=(range(0, 60), range(120, 240)),
        uses_charge_slot_2=True,
        gen1_battery_counters=False,
        battery_totals_32bit=False,
        has_pause_mode=True,
        facade_only=((range(60, 180), range(240, 300)), (range(180, 240),)),
    ),
    "gen2": ModelSpec(
        name="gen2",
        summary="Gen2 single-phase 5 kW hybrid (DTC 2001, ARM 920), inverter at 0x11 only",
        device_type_code=0x2001,
        dsp_firmware=920,
        arm_firmware=920,
        serial_prefix="ED",
        rated_power_w=5000,
        battery_max_w=3600,
        has_pv=True,
        inverter_views=frozenset({INVERTER}),
        holding=(range(0, 240),),
        holding_errors=(range(240, 300),),
        inputs=(range(0, 60), range(120, 240)),
        uses_charge_slot_2=False,
        gen1_battery_counters=False,
        battery_totals_32bit=True,
        has_pause_mode=False,
    ),
    "gen3": ModelSpec(
        name="gen3",
        summary="Gen3 single-phase 3.6 kW hybrid (DTC 2003, ARM 310): 10 slots with targets",
        device_type_code=0x2003,
        dsp_firmware=310,
        arm_firmware=310,
        serial_prefix="FA",
        rated_power_w=3600,
        battery_max_w=3600,
        has_pv=True,
        inverter_views=frozenset({INVERTER}),
        holding=(range(0, 300),),
        holding_errors=(),
        inputs=(range(0, 60), range(120, 240)),
        uses_charge_slot_2=True,
        gen1_battery_counters=False,
        battery_totals_32bit=True,
        has_pause_mode=False,
        extended_slots=True,
    ),
    "aio": ModelSpec(
        name="aio",
        summary="All-in-One 6 kW (DTC 8001, ARM 612): 10 slots, AC bank; LV pack pages kept "
        "for simplicity (a real AIO has an HV stack)",
        device_type_code=0x8001,
        dsp_firmware=612,
        arm_firmware=612,
        serial_prefix="CH",
        rated_power_w=6000,
        battery_max_w=6000,
        has_pv=False,
        inverter_views=frozenset({INVERTER}),
        holding=(range(0, 360),),
        holding_errors=(),
        inputs=(range(0, 60), range(120, 240)),
        uses_charge_slot_2=True,
        gen1_battery_counters=False,
        battery_totals_32bit=True,
        has_pause_mode=True,
        extended_slots=True,
    ),
}

# A real Gen1 HR 0-179 dump (dewet22 register cache "daytime discharging"); serials, firmware,
# capacity and the clock are overwritten per run, HR32's implausible 4 is cleared.
HOLDING_TEMPLATE: tuple[int, ...] = (
    8193, 3, 2098, 513, 0, 50000, 3600, 1, 16967, 12594, 13108, 18229,  # HR0
    13879, 21313, 12594, 13108, 18229, 13879, 3005, 449, 0, 449, 2, 0,  # HR12
    32768, 30235, 6000, 1, 0, 0, 17, 0, 0, 7, 140, 22,  # HR24
    1, 11, 11, 51, 46, 1, 2, 0, 0, 0, 101, 1,  # HR36
    0, 0, 100, 0, 0, 1, 1, 160, 0, 0, 1, 0,  # HR48
    1500, 30, 30, 1840, 2740, 4700, 5198, 126, 27, 24, 28, 1840,  # HR60
    2620, 4745, 5200, 126, 52, 1, 28, 1755, 2837, 4700, 5200, 2740,  # HR72
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 30, 430,  # HR84
    1, 4320, 5850, 0, 0, 0, 0, 0, 0, 0, 0, 0,  # HR96
    6, 1, 4, 50, 50, 0, 4, 0, 100, 0, 0, 0,  # HR108
    0, 0, 0, 24, 0, 1, 0, 0, 1, 1, 255, 20000,  # HR120
    255, 20000, 255, 20000, 255, 20000, 2484, 2530, 2116, 2070, 20, 5,  # HR132
    2415, 2300, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  # HR144
)  # fmt: skip
# The AC bank HR300-359: export priority, AC charge/discharge power 100 %, EPS on, no pause.
AC_BANK_DEFAULTS: dict[int, int] = {311: 0, 313: 100, 314: 100, 317: 1, 318: 0}


_BOOL = Allowed.of(0, 1)
_PERCENT = Allowed.span(0, 100)
# HR242-299 (extended models only): slot times hhmm, targets 0..100 %, HR270/271 reserved.
_EXTENDED_RULES: dict[int, Allowed] = {
    a: (_PERCENT if (a - 242) % 3 == 0 else HHMM_ALLOWED)
    for a in (*range(242, 270), *range(272, 300))
}

# Raw values the simulated inverter accepts on writes: the vendor ranges (registers.md §4, §5),
# wider than this project's own allow-list (registers.WRITE_ALLOWLIST). A value outside gets an
# error frame. Registers not listed accept any 16-bit value, except those in READ_ONLY.
WRITE_RULES: dict[int, Allowed] = {
    20: _BOOL,
    26: Allowed.span(0, 60000),
    27: _BOOL,
    29: Allowed.span(0, 7),
    31: HHMM_ALLOWED,
    32: HHMM_ALLOWED,
    35: Allowed.span(0, 99),  # HR35-40: the clock, year - 2000 .. second
    36: Allowed.span(1, 12),
    37: Allowed.span(1, 31),
    38: Allowed.span(0, 23),
    39: Allowed.span(0, 59),
    40: Allowed.span(0, 59),
    44: HHMM_ALLOWED,
    45: HHMM_ALLOWED,
    50: _PERCENT,
    55: Allowed.span(0, 10000),
    56: HHMM_ALLOWED,
    57: HHMM_ALLOWED,
    59: _BOOL,
    94: HHMM_ALLOWED,
    95: HHMM_ALLOWED,
    96: _BOOL,
    104: _BOOL,
    110: _PERCENT,
    111: _PERCENT,
    112: _PERCENT,
    114: _PERCENT,
    116: Allowed.span(4, 100),
    163: Allowed.of(100),
    166: _BOOL,
    199: _BOOL,
    311: Allowed.of(0, 1, 2),
    313: Allowed.span(1, 100),
    314: Allowed.span(1, 100),
    317: _BOOL,
    318: Allowed.of(0, 1, 2, 3),
    319: HHMM_ALLOWED,
    320: HHMM_ALLOWED,
    **_EXTENDED_RULES,
}
READ_ONLY: frozenset[int] = frozenset(
    {*range(0, 7), *range(8, 20), *range(21, 26), 30, 33, 34, 43, 46}
)
# A Gen1 AC refuses writes to the grid import limit (dewet22 command docstrings).
AC_READ_ONLY: frozenset[int] = frozenset({101, 102})


def write_allowed(model: ModelSpec, register: int, value: int) -> bool:
    """Whether the simulated inverter stores ``value`` in ``register``."""
    if register in READ_ONLY or (model.name == "ac" and register in AC_READ_ONLY):
        return False
    rule = WRITE_RULES.get(register)
    return rule is None or value in rule
