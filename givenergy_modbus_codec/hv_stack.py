"""Decoded HV battery stacks: pure functions of the BCU and BMU pages (families.md §2.3).

A stack's BCU says how many modules, cells and temperature sensors it has; each module page is
decoded only for its share of them (an AIO module fills 12 of its 24 temperature registers,
the rest read 0, which must not be published as 0 °C).
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

from collections.abc import Mapping
from typing import Any, NamedTuple

from .families.hv_battery import (
    BCU_REGISTERS,
    BMS_REGISTERS,
    BMU_REGISTERS,
    FIRST_BCU_ADDRESS,
    LAST_BCU_ADDRESS,
    LAST_BMU_ADDRESS,
    MAX_CELLS_PER_MODULE,
    MAX_TEMPERATURES_PER_MODULE,
)
from .model import _decode_table
from .registers import Bank, Encoding, Register

_SPLIT_SERIAL = Register("serial_number", Bank.BATTERY, (110, 115, 116, 117, 118), Encoding.ASCII)


class HvModule(NamedTuple):
    """One battery module (BMU) of a stack."""

    address: int
    values: dict[str, Any]
    invalid: dict[str, str]

    @property
    def serial(self) -> str | None:
        return self.values.get("serial_number")


class HvStack(NamedTuple):
    """One stack: its BCU's values and its modules in order."""

    index: int  # 0-based
    address: int
    values: dict[str, Any]
    invalid: dict[str, str]
    modules: tuple[HvModule, ...]

    @property
    def serial(self) -> str | None:
        return self.values.get("serial_number")


def bcu_count(bms_page: Mapping[int, int]) -> int:
    """Stacks behind the BMS summary page (0 when the page says nothing plausible)."""
    values, _ = _decode_table(BMS_REGISTERS, bms_page)
    return values.get("num_bcus", 0)


def bcu_addresses(count: int) -> tuple[int, ...]:
    return tuple(range(FIRST_BCU_ADDRESS, min(FIRST_BCU_ADDRESS + count, LAST_BCU_ADDRESS + 1)))


def module_addresses(first: int, count: int) -> tuple[int, ...]:
    """``count`` module addresses from ``first`` (modules number on across stacks)."""
    return tuple(range(first, min(first + count, LAST_BMU_ADDRESS + 1)))


def _per_module(total: Any, modules: int, most: int) -> int:
    if not isinstance(total, int) or modules <= 0:
        return 0
    return min(total // modules, most)


def decode_stack(
    index: int, bcu_page: Mapping[int, int], module_pages: Mapping[int, Mapping[int, int]]
) -> HvStack:
    """Decode a BCU page (IR 60-179) and its modules' pages (address -> IR 60-119)."""
    values, invalid = _decode_table(BCU_REGISTERS, bcu_page)
    modules = values.get("num_modules", 0)
    cells = _per_module(values.get("num_cells"), modules, MAX_CELLS_PER_MODULE)
    temperatures = _per_module(values.get("num_temperatures"), modules, MAX_TEMPERATURES_PER_MODULE)
    wanted = {f"v_cell_{i:02d}" for i in range(1, cells + 1)}
    wanted |= {f"t_cell_{i:02d}" for i in range(1, temperatures + 1)}
    rows = [r for r in BMU_REGISTERS if r.name in wanted or r.name == "serial_number"]
    decoded = []
    for address, page in sorted(module_pages.items()):
        if not any(page.get(a, 0) for a in range(60, 120)):
            continue  # an all-zero page: no module answered there
        table = rows
        if not page.get(114) and page.get(110):  # serial prefix at IR110 (families.md §2.3)
            table = [r for r in rows if r.name != "serial_number"] + [_SPLIT_SERIAL]
        module_values, module_invalid = _decode_table(table, page)
        decoded.append(HvModule(address, module_values, module_invalid))
    address = FIRST_BCU_ADDRESS + index
    return HvStack(index, address, values, invalid, tuple(decoded))
