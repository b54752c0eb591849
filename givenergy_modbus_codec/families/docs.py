"""docs/registers.md's family sections: the manifest's support table, then per family the rows
that differ from the single-phase map, then the HV battery pages."""

from .. import manifest
from ..registers import HOLDING_REGISTERS, INPUT_REGISTERS, Register, table_lines
from . import FAMILY_TABLES, hv_battery


def _banks_text(family: manifest.Family) -> str:
    parts = []
    for planned in family.plan("runAll"):
        text = planned.label
        if planned.fallbacks:
            text += " or " + ", ".join(f"{d:#04x}" for d in planned.fallbacks)
        if planned.optional:
            text += " (optional)"
        parts.append(text)
    return ", ".join(parts)


def _support_table() -> list[str]:
    lines = [
        "| family | HR0 | read | battery | slots | runAll banks | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    prefixes: dict[str, list[str]] = {}
    for prefix, family in manifest.BY_PREFIX.items():
        prefixes.setdefault(family.key, []).append(f"{prefix}xx")
    for family in manifest.FAMILIES:
        banks = _banks_text(family) if family.supported else "HR(0,60)@0x11, then refused"
        cells = (
            family.name,
            ", ".join(prefixes[family.key]),
            "yes" if family.supported else "refused",
            family.battery,
            family.slots,
            banks,
            family.note.replace("|", "\\|"),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _differences(base: tuple[Register, ...], table: tuple[Register, ...]) -> list[str]:
    base_by_name = {r.name: r for r in base}
    if sum(r in base for r in table) < len(table) / 2:
        return table_lines(table)  # a map of its own, not a variant of the base
    names = {r.name for r in table}
    changed = [r for r in table if base_by_name.get(r.name) != r]
    dropped = [r.name for r in base if r.name not in names]
    lines: list[str] = []
    if changed:
        lines += table_lines(changed)
    if dropped:
        lines += ["", "Not decoded: " + ", ".join(f"`{n}`" for n in dropped) + "."]
    return lines or ["Same rows as the single-phase map."]


def family_sections() -> list[str]:
    lines = [
        "",
        "## Model families",
        "",
        "From `givenergy_modbus_codec/manifest.py` (HR0's first two hex digits). A refused",
        "family is never decoded with another family's map: read.py exits 1 after HR(0,60).",
        "",
        *_support_table(),
    ]
    seen = set()
    for tables in FAMILY_TABLES.values():
        if tables.title in seen or tables.holding is HOLDING_REGISTERS:
            continue
        seen.add(tables.title)
        own = sum(r in INPUT_REGISTERS for r in tables.input) < len(tables.input) / 2
        heading = "its own map" if own else "differences from the single-phase map"
        lines += ["", f"## {tables.title}: {heading}", ""]
        lines += ["Holding registers:", "", *_differences(HOLDING_REGISTERS, tables.holding)]
        lines += ["", "Input registers:", "", *_differences(INPUT_REGISTERS, tables.input)]
    for title, table in (
        (f"HV BMS summary IR 60–64 at {hv_battery.BMS_ADDRESS:#04x}", hv_battery.BMS_REGISTERS),
        (
            f"HV stack BCU IR 60–179 at {hv_battery.FIRST_BCU_ADDRESS:#04x} + stack",
            hv_battery.BCU_REGISTERS,
        ),
        (
            f"HV module BMU IR 60–119 at {hv_battery.FIRST_BMU_ADDRESS:#04x} + module",
            hv_battery.BMU_REGISTERS,
        ),
    ):
        lines += ["", f"## {title}", "", *table_lines(table)]
    return lines
