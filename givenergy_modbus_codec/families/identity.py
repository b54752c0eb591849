"""What is decoded of a family this version refuses: who it is, nothing more (its values live
in other registers, and another family's map would turn them into confident zeros)."""

from ..registers import HOLDING_REGISTERS
from .base import FamilyTables

IDENTITY_NAMES = frozenset(
    {
        "device_type_code",
        "module",
        "serial_number",
        "dsp_firmware_version",
        "arm_firmware_version",
        "system_time",
    }
)

TABLES = FamilyTables(
    title="Refused families: identity only",
    holding=tuple(r for r in HOLDING_REGISTERS if r.name in IDENTITY_NAMES),
    input=(),
)
