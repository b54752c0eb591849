"""Single-phase Gen1/Gen2/Gen3 hybrids and AC inverters: the tables of ``..registers``
(registers.md), re-exported unchanged so every existing register name stays stable."""

from ..registers import HOLDING_REGISTERS, INPUT_REGISTERS
from .base import FamilyTables

TABLES = FamilyTables(
    title="Single-phase hybrid and AC (20xx, 21xx, 22xx, 30xx)",
    holding=HOLDING_REGISTERS,
    input=INPUT_REGISTERS,
)
