"""HV battery stacks under "Battery Details": one sub-object per stack and per module, with
the LV packs' key names wherever the meaning is the same (report.py's v1.0 contract).

Keys: the stack's BCU serial (unique per stack, so Home Assistant devices of two plants never
merge; "HV Stack <n>" when the serial page was not served), modules "<stack> Module <k>" by
position: module serials repeat in redacted captures, and a module's place in its stack is
what an owner sees on the wall.
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

from typing import TYPE_CHECKING, Any

from givenergy_modbus_codec.families.hv_battery import (
    BCU_REGISTERS,
    MAX_CELLS_PER_MODULE,
    MAX_TEMPERATURES_PER_MODULE,
)
from givenergy_modbus_codec.hv_stack import HvStack

from .report import GROUP_BATTERIES, Entry, build_groups, metadata

if TYPE_CHECKING:
    from .reading import ReadResult

G = GROUP_BATTERIES


def _value(key: str, name: str, unit: str | None, device_class: str | None, state: str | None):
    return Entry(G, key, (name,), lambda v: v[name], unit, device_class, state)


def _energy(key: str, name: str) -> Entry:
    return _value(key, name, "kWh", "energy", "total_increasing")


STACK_ENTRIES: tuple[Entry, ...] = (
    _value("Battery SOC", "soc", "%", "battery", "measurement"),
    _value("Battery SOH", "soh", "%", None, "measurement"),
    _value("Battery Voltage", "v_battery", "V", "voltage", "measurement"),
    # The BCU counts − discharge; "Battery Current" is + discharging, as on LV packs.
    Entry(
        G,
        "Battery Current",
        ("i_battery",),
        lambda v: round(-v["i_battery"], 1) + 0.0,
        "A",
        "current",
        "measurement",
    ),
    Entry(G, "Battery Status", ("status",), lambda v: _status_label(v["status"])),
    _value("Battery Modules", "num_modules", None, None, None),
    _value("Battery Cells", "num_cells", None, None, None),
    _value("Battery Design Capacity Ah", "cap_design", "Ah", None, "measurement"),
    _value("Battery Remaining Capacity Ah", "cap_remaining", "Ah", None, "measurement"),
    _energy("Battery Charge Energy Total kWh", "e_charge_total"),
    _energy("Battery Discharge Energy Total kWh", "e_discharge_total"),
    _energy("Battery Charge Energy Today kWh", "e_charge_day"),
    _energy("Battery Discharge Energy Today kWh", "e_discharge_day"),
)
MODULE_ENTRIES: tuple[Entry, ...] = (
    *(
        _value(f"Battery Cell {i} Voltage", f"v_cell_{i:02d}", "V", "voltage", "measurement")
        for i in range(1, MAX_CELLS_PER_MODULE + 1)
    ),
    *(
        _value(
            f"Battery Cell {i} Temperature", f"t_cell_{i:02d}", "°C", "temperature", "measurement"
        )
        for i in range(1, MAX_TEMPERATURES_PER_MODULE + 1)
    ),
)


_STATUS = next(r for r in BCU_REGISTERS if r.name == "status")


def _status_label(raw: int) -> str:
    return _STATUS.label(raw) or str(raw)


def entries() -> list[Entry]:
    return [*STACK_ENTRIES, *MODULE_ENTRIES]


def details(stacks: tuple[HvStack, ...]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """{"<BCU serial>" / "<BCU serial> Module k": {key: value}} and the rejected values
    ("Battery Details/<name>/<key>"). A module publishes only the cells and temperature
    sensors its stack says it has (missing ones are not "rejected", they do not exist)."""
    out: dict[str, dict[str, Any]] = {}
    rejected: dict[str, str] = {}

    def add(name: str, serial: str | None, table: tuple[Entry, ...], values, invalid) -> None:
        present = [e for e in table if all(s in values or s in invalid for s in e.sources)]
        groups, bad = build_groups(present, values, invalid)
        item = {"Battery Serial Number": serial} if serial else {}
        out[name] = {**item, **groups.get(G, {})}
        for key, reason in bad.items():
            rejected[f"{G}/{name}/{key.split('/', 1)[1]}"] = reason

    for stack in stacks:
        name = stack.serial or f"HV Stack {stack.index + 1}"
        add(name, stack.serial, STACK_ENTRIES, stack.values, stack.invalid)
        for number, module in enumerate(stack.modules, start=1):
            add(
                f"{name} Module {number}",
                module.serial,
                MODULE_ENTRIES,
                module.values,
                module.invalid,
            )
    return out, rejected


def add_to(result: "ReadResult", stacks: tuple[HvStack, ...]) -> None:
    """Put the stacks under "Battery Details", with their metadata and rejected values."""
    groups, rejected = details(stacks)
    result.groups.setdefault(GROUP_BATTERIES, {}).update(groups)
    result.rejected.update(rejected)
    result.meta.update(metadata(entries()))
