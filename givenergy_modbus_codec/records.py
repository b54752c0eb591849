"""A base for the few mutable records on the read path (stats, snapshots, histories).

Immutable records are ``typing.NamedTuple``s. Neither uses ``dataclasses``: importing it costs
a cron-started read.py about 20 ms (it pulls in inspect and ast) and each class ~1 ms more.
A subclass lists its attributes in ``_fields`` (like a NamedTuple's, in constructor order),
uses them as its ``__slots__`` and sets them in ``__init__``; it gets a dataclass-like repr and
field-by-field equality.
"""

from __future__ import annotations

from typing import Any


class Record:
    """Mutable record with ``__slots__``: repr ``Name(a=1, b=2)``, equality by attributes."""

    _fields: tuple[str, ...] = ()
    __slots__ = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable, like a non-frozen dataclass
