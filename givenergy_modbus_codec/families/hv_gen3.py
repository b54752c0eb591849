"""HV Gen3 hybrid (81xx): the single-phase layout at 0x11 with an HV battery stack; unlike the
AIO its PV strings are real (IR1/2, IR8/9; families.md §2.1)."""

from ..registers import HOLDING_REGISTERS, INPUT_REGISTERS
from .aio import HV_BATTERY_VOLTAGE, HV_PROTECTION_LIMITS, _holding, _input
from .base import FamilyTables, derive

TABLES = FamilyTables(
    title="HV Gen3 hybrid (81xx)",
    holding=derive(
        HOLDING_REGISTERS,
        replace=(
            _holding(
                "battery_capacity_ah",
                description="Ah of the HV string; nominal Wh = Ah × 307 V (unverified)",
            ),
            *HV_PROTECTION_LIMITS,
        ),
    ),
    input=derive(
        INPUT_REGISTERS,
        replace=(
            HV_BATTERY_VOLTAGE,
            _input("v_pv1", description="real PV string 1 (captured)"),
        ),
    ),
)
