"""How a family table is built: a base table plus replaced and dropped rows."""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

from collections.abc import Iterable
from typing import NamedTuple

from ..errors import CodecError
from ..registers import Register


class FamilyTables(NamedTuple):
    """One family's inverter register file: holding and input rows, and a title for docs."""

    title: str
    holding: tuple[Register, ...]
    input: tuple[Register, ...]


def derive(
    base: tuple[Register, ...],
    replace: Iterable[Register] = (),
    drop: Iterable[str] = (),
    add: Iterable[Register] = (),
) -> tuple[Register, ...]:
    """``base`` with rows of the same name replaced, rows named in ``drop`` left out and
    ``add`` appended; unknown names are an error, so a family never silently drifts."""
    names = {r.name for r in base}
    replacing = {r.name: r for r in replace}
    dropping = set(drop)
    unknown = (set(replacing) | dropping) - names
    if unknown:
        raise CodecError(f"rows not in the base table: {', '.join(sorted(unknown))}")
    rows = [replacing.get(r.name, r) for r in base if r.name not in dropping]
    added = list(add)
    clash = {r.name for r in added} & names
    if clash:
        raise CodecError(f"added rows already in the base table: {', '.join(sorted(clash))}")
    return (*rows, *added)
