"""Register maps per model family, as data: one module per family, each a base table plus how
it differs (style: a family is a base table plus its changes).

``tables(family_key)`` is what the decoder uses; ``FAMILY_TABLES`` feeds docs/registers.md
(one section per family). Shared row shape and encodings: ``..registers`` (Register, Encoding,
Allowed). A family this version refuses decodes only its identity rows, never another
family's map.
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

from collections.abc import Mapping
from types import MappingProxyType

from . import aio, ems, gateway, hv_gen3, identity, single_phase, three_phase
from .base import FamilyTables

FAMILY_TABLES: Mapping[str, FamilyTables] = MappingProxyType(
    {
        "hybrid": single_phase.TABLES,
        "ac": single_phase.TABLES,
        "aio": aio.TABLES,
        "hv_gen3": hv_gen3.TABLES,
        "three_phase": three_phase.TABLES,
        "ems": ems.TABLES,
        "gateway": gateway.TABLES,
    }
)


def tables(family_key: str | None) -> FamilyTables:
    """The inverter tables of a family (``None``/unknown/refused: identity rows only)."""
    if family_key is None:
        return single_phase.TABLES  # no HR0 read: decode what there is, as before
    return FAMILY_TABLES.get(family_key, identity.TABLES)


__all__ = ["FAMILY_TABLES", "FamilyTables", "tables"]
