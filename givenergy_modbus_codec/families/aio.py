"""All-in-One (80xx): the single-phase layout at 0x11 with an HV battery stack
(families.md §2.1). Differences from single_phase: IR50 is the HV stack voltage (~300 V),
HR55 is the Ah of a 96-cell string, HR97/98 are HV limits, IR44-46 count the inverter's AC
output (not PV), HR3 (MPPTs, phases) reads 0."""

from ..registers import HOLDING_REGISTERS, INPUT_REGISTERS, by_name
from ..registers import Bank as RegisterBank
from .base import FamilyTables, derive

HV_STACK_VOLTS = (0, 600)  # families.md §2.1 (D's bound); C: 312.8 V AIO, 240.1 V HV Gen3


def _input(name: str, **changes: object):
    return by_name(RegisterBank.INPUT, name)._replace(**changes)


def _holding(name: str, **changes: object):
    return by_name(RegisterBank.HOLDING, name)._replace(**changes)


HV_BATTERY_VOLTAGE = _input(
    "v_battery", minimum=HV_STACK_VOLTS[0], maximum=HV_STACK_VOLTS[1], description="HV stack"
)
# HR97/98 hold the HV stack's protection limits (C: 200.0 / 350.0 V on an AIO).
HV_PROTECTION_LIMITS = tuple(
    _holding(name, minimum=HV_STACK_VOLTS[0], maximum=HV_STACK_VOLTS[1])
    for name in ("battery_low_voltage_protection_limit", "battery_high_voltage_protection_limit")
)

TABLES = FamilyTables(
    title="All-in-One (80xx)",
    holding=derive(
        HOLDING_REGISTERS,
        replace=(
            _holding(
                "battery_capacity_ah",
                description="Ah of the 96-cell HV string; nominal Wh = Ah × 307 V",
            ),
            _holding("first_battery_serial_number", description="the BCU serial (IR138-142)"),
            *HV_PROTECTION_LIMITS,
        ),
        drop=("num_mppt", "num_phases"),  # HR3 reads 0 on an AIO (families.md §4)
    ),
    input=derive(
        INPUT_REGISTERS,
        replace=(
            HV_BATTERY_VOLTAGE,
            _input("e_inverter_out_day", description="AC output (battery discharge), not PV"),
            _input("e_inverter_out_total", description="AC output, not PV"),
        ),
    ),
)
