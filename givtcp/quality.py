"""Never publish a wrong value: checks that need history, kept across runs.

Each cron call is a new process, so the last good values live in a small JSON state file
(atomic writes, a lock around read-compare-write). With it:

* lifetime energy totals may never decrease (16-bit ones may wrap) and never grow faster than
  the equipment could deliver since the last good read;
* daily counters may only fall back when the inverter's date changed (midnight reset);
* "since the last good read" is the longer of the host's and the inverter's clock (the latter
  at most an hour more than the host's, so a wrong inverter clock cannot excuse a big jump);
* a rejected value is replaced by its last good value while that is fresh ("held"), and the
  output says so; older than the hold limit, it is left out;
* a last good value can itself be wrong (a first run that accepted a garbled total, or a
  counter reset by a firmware update): a counter rejected against it, whose readings from
  clean blocks agree with each other over REBASELINE_READS runs and REBASELINE_SECONDS, becomes
  the new last good value ("re-baselined"), and the output says so.

Single-read bounds (65535 W, SOC 255) are the register table's job (model.invalid).
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

import contextlib
import datetime as dt
import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from givenergy_modbus_codec.records import Record
from givenergy_modbus_codec.registers import TABLES, Bank
from givenergy_modbus_codec.transport import DongleLock

from .files import StrPath, read_text, with_suffix, write_atomic

log = logging.getLogger(__name__)

ROUNDING_KWH = 0.2  # two 0.1 kWh ticks: counters read a moment apart may differ by this
U16_WRAP_KWH = 6553.6  # 16-bit /10 counters wrap here
# Runs whose readings of a rejected counter must agree with each other, spread over at least
# REBASELINE_SECONDS, to replace its last good value. An hour: a reset counter is missing from
# the output for that long, but garbage has to fool every check for an hour to get in.
REBASELINE_READS = 4
REBASELINE_SECONDS = 3600


def _counter_kinds() -> dict[str, tuple[str, bool]]:
    """name -> ("total" | "day", wraps at 16 bits), derived from the register tables."""
    kinds: dict[str, tuple[str, bool]] = {}
    for bank in (Bank.INPUT, Bank.BATTERY):
        for reg in TABLES[bank]:
            if reg.unit != "kWh":
                continue
            kind = "day" if "_day" in reg.name else "total"
            kinds[reg.name] = (kind, len(reg.addresses) == 1)
    return kinds


COUNTERS = _counter_kinds()


def max_power_kw(name: str, rated_power_w: int | None) -> float:
    """The fastest a counter can honestly grow: grid flows are bounded by the supply fuse,
    PV by the arrays, everything through the inverter by its rating."""
    if "grid" in name:
        return 25.0
    if "pv" in name:
        return 15.0
    return max(rated_power_w or 0, 6000) / 1000 * 1.5


class Challenger(NamedTuple):
    """Readings of a counter rejected against its last good value that agree with each other:
    the latest one, when the first and latest were seen, and how many runs they span."""

    value: float
    first_seen: float
    last_seen: float
    reads: int


class History(Record):
    """Last good values of one inverter (and its batteries), with when each was seen."""

    _fields = ("values", "seen_at", "inverter_time", "challengers", "address")
    __slots__ = _fields

    def __init__(
        self,
        values: dict[str, Any] | None = None,
        seen_at: dict[str, float] | None = None,
        inverter_time: str | None = None,
        challengers: dict[str, Challenger] | None = None,
        address: int | None = None,
    ) -> None:
        self.values: dict[str, Any] = {} if values is None else values
        self.seen_at: dict[str, float] = {} if seen_at is None else seen_at
        self.inverter_time = inverter_time  # ISO inverter clock at the last good read
        self.challengers: dict[str, Challenger] = {} if challengers is None else challengers
        # a battery's device address: finds its last good values when its page is garbled
        self.address = address

    def as_json(self) -> dict[str, Any]:
        return {
            "values": self.values,
            "seen_at": self.seen_at,
            "inverter_time": self.inverter_time,
            "challengers": {name: list(c) for name, c in self.challengers.items()},
            "address": self.address,
        }

    @classmethod
    def from_json(cls, data: Any) -> "History":
        """The history stored as ``data``; ValueError saying what is wrong when any part of it
        does not check out (a hand-edited or damaged state file must not be trusted in part)."""
        if not isinstance(data, dict):
            raise ValueError(f"not an object but {_shown(data)}")
        values = _mapping(data.get("values"), "values")
        for name, value in values.items():
            if name in COUNTERS:
                _number(value, f"values.{name}")
            elif not _storable(value):
                raise ValueError(f"values.{name} is {_shown(value)}")
        seen_at = {
            name: _number(when, f"seen_at.{name}")
            for name, when in _mapping(data.get("seen_at"), "seen_at").items()
        }
        inverter_time = data.get("inverter_time")
        if inverter_time is not None:
            try:
                dt.datetime.fromisoformat(inverter_time)
            except (TypeError, ValueError):
                raise ValueError(f"inverter_time is {_shown(inverter_time)}") from None
        challengers: dict[str, Challenger] = {}
        for name, fields in _mapping(data.get("challengers"), "challengers").items():
            if not isinstance(fields, list) or len(fields) != 4:
                raise ValueError(f"challengers.{name} is {_shown(fields)}")
            value, first_seen, last_seen, reads = (
                _number(f, f"challengers.{name}") for f in fields
            )
            challengers[name] = Challenger(value, first_seen, last_seen, int(reads))
        address = data.get("address")
        if address is not None and (isinstance(address, bool) or not isinstance(address, int)):
            raise ValueError(f"address is {_shown(address)}")
        return cls(dict(values), seen_at, inverter_time, challengers, address)


def _shown(value: Any) -> str:
    text = json.dumps(value) if _plain_json(value) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _plain_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} is {_shown(value)}, not an object")
    return value


def _number(value: Any, what: str) -> float:
    """A finite int or float (not a bool, a string or NaN/Infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} is {_shown(value)}, not a number")
    return float(value)


def _storable(value: Any) -> bool:
    """Plain JSON scalars only: never NaN or Infinity, which json would write as invalid JSON."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int | str | bool)


def _inverter_seconds(then: str | None, now: str | None) -> float:
    """Seconds between two ISO inverter clock readings (0 when either is unknown)."""
    if not then or not now:
        return 0.0
    try:
        return (dt.datetime.fromisoformat(now) - dt.datetime.fromisoformat(then)).total_seconds()
    except ValueError:
        return 0.0


def _impossible_change(
    name: str, value: Any, previous: float, hours: float, new_day: bool, rated_power_w: int | None
) -> str | None:
    """Why going from ``previous`` to ``value`` in ``hours`` is impossible, or None."""
    kind, wraps = COUNTERS[name]
    limit = max_power_kw(name, rated_power_w) * hours + ROUNDING_KWH
    delta = float(value) - previous
    if delta < 0 and kind == "day" and new_day:
        return None  # reset at midnight: the new day's count starts again
    if delta < -ROUNDING_KWH / 2 and wraps and previous + limit >= U16_WRAP_KWH:
        delta += U16_WRAP_KWH
    if delta < -ROUNDING_KWH / 2:
        what = "a lifetime total" if kind == "total" else "a daily counter before midnight"
        return f"{value} kWh is below the last good {previous} kWh ({what} cannot fall)"
    if delta > limit:
        return (
            f"{value} kWh jumped {delta:.1f} kWh since the last good {previous} kWh, more "
            f"than {limit:.1f} kWh possible in {hours * 60:.1f} min"
        )
    return None


def check_counters(
    values: Mapping[str, Any],
    history: History,
    now: float,
    inverter_time: str | None,
    rated_power_w: int | None,
) -> dict[str, str]:
    """Counters whose change since the last good read is impossible: name -> reason.

    ``inverter_time`` is the inverter's clock now (ISO), compared with the one in ``history``.
    """
    rejected: dict[str, str] = {}
    new_day = bool(inverter_time and history.inverter_time) and (
        inverter_time[:10] != history.inverter_time[:10]  # type: ignore[index]
    )
    inverter_elapsed = _inverter_seconds(history.inverter_time, inverter_time)
    for name, value in values.items():
        if name not in COUNTERS or name not in history.values:
            continue
        wall_elapsed = max(now - history.seen_at.get(name, now), 0.0)
        elapsed = max(wall_elapsed, min(inverter_elapsed, wall_elapsed + 3600))
        previous = float(history.values[name])
        problem = _impossible_change(name, value, previous, elapsed / 3600, new_day, rated_power_w)
        if problem is not None:
            rejected[name] = problem
    return rejected


def challenge(
    readings: Mapping[str, Any],
    history: History,
    now: float,
    rated_power_w: int | None,
) -> tuple[dict[str, str], dict[str, Challenger]]:
    """Weigh counters rejected against their last good value (``readings``: name -> this run's
    value, only from blocks with no other implausible value) against their earlier rejected
    readings.

    Returns (names to accept after all -> why, challengers to remember). A reading that agrees
    with the challenger before it (as a last good value would have to) extends its run;
    otherwise it starts a new one.
    """
    accepted: dict[str, str] = {}
    challengers: dict[str, Challenger] = {}
    for name, value in readings.items():
        before = history.challengers.get(name)
        agrees = before is not None and (
            _impossible_change(
                name,
                value,
                before.value,
                max(now - before.last_seen, 0.0) / 3600,
                False,
                rated_power_w,
            )
            is None
        )
        if before is not None and agrees:
            current = Challenger(float(value), before.first_seen, now, before.reads + 1)
        else:
            current = Challenger(float(value), now, now, 1)
        span = current.last_seen - current.first_seen
        if current.reads >= REBASELINE_READS and span >= REBASELINE_SECONDS:
            accepted[name] = (
                f"re-baselined: {current.reads} reads over {span / 60:.0f} min agree with each "
                f"other, not with the last good {history.values.get(name)} kWh (a reset "
                "counter or a wrong earlier value)"
            )
        else:
            challengers[name] = current
    return accepted, challengers


def hold(
    values: dict[str, Any],
    invalid: Mapping[str, str],
    history: History,
    now: float,
    hold_seconds: float,
    inverter_time: str | None = None,
) -> dict[str, str]:
    """Put back the last good value of each rejected name seen within ``hold_seconds``.

    A daily counter is not held across midnight (``inverter_time``: the inverter clock now):
    yesterday's count is not today's. Mutates ``values``; returns name -> why it is held.
    """
    held: dict[str, str] = {}
    if hold_seconds <= 0:
        return held
    for name, reason in invalid.items():
        if name not in history.values:
            continue
        age = now - history.seen_at.get(name, 0.0)
        if age > hold_seconds or not _same_day(name, inverter_time, age):
            continue
        values[name] = history.values[name]
        held[name] = f"last good value from {age:.0f} s ago held; now {reason}"
    return held


def hold_page(history: History, now: float, hold_seconds: float) -> dict[str, Any]:
    """A rejected battery page's last good values seen within ``hold_seconds`` (all of them
    came from the same kind of page, so they are held together, as the page they replace)."""
    if hold_seconds <= 0:
        return {}
    return {
        name: value
        for name, value in history.values.items()
        if now - history.seen_at.get(name, 0.0) <= hold_seconds
    }


def _same_day(name: str, inverter_time: str | None, age: float) -> bool:
    """False for a daily counter last seen on an earlier inverter date than now's."""
    if COUNTERS.get(name, ("", False))[0] != "day" or not inverter_time:
        return True
    clock = dt.datetime.fromisoformat(inverter_time)
    return (clock - dt.timedelta(seconds=age)).date() == clock.date()


def remember(
    history: History,
    values: Mapping[str, Any],
    held: Mapping[str, str],
    now: float,
    inverter_time: str | None,
    challengers: Mapping[str, Challenger] | None = None,
) -> History:
    """History updated with this run's good (not held) values and rejected counters'
    ``challengers``; a counter accepted this run drops its challenger."""
    good = {name: value for name, value in values.items() if name not in held and _storable(value)}
    updated = History(
        {**history.values, **good},
        {**history.seen_at, **dict.fromkeys(good, now)},
        history.inverter_time,
        {n: c for n, c in history.challengers.items() if n not in good},
        history.address,
    )
    updated.challengers.update(challengers or {})
    if inverter_time:
        updated.inverter_time = inverter_time
    return updated


def agree(first: Mapping[str, Any], *others: Mapping[str, Any]) -> dict[str, str]:
    """Counters that differ between reads moments apart: name -> reason (first read wins
    where a majority agrees with it; otherwise the counter is rejected)."""
    disputed: dict[str, str] = {}
    for name, value in first.items():
        if name not in COUNTERS:
            continue
        readings = [value] + [o[name] for o in others if name in o]
        close = [r for r in readings if abs(float(r) - float(value)) <= ROUNDING_KWH]
        if len(close) * 2 <= len(readings):
            disputed[name] = f"unstable across reads moments apart: {readings} kWh"
    return disputed


class StateFile:
    """The last-good state of one inverter, safe with several processes at once."""

    def __init__(self, path: StrPath) -> None:
        self.path = path

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, History]]:
        """Yields {"inverter": History, "<battery serial>": History, ...}; saved on exit."""
        os.makedirs(os.path.dirname(os.fspath(self.path)) or ".", exist_ok=True)
        lock = DongleLock(with_suffix(self.path, ".lock"), timeout=30.0)
        lock.acquire()
        try:
            histories = self._load()
            yield histories
            self._save({k: h.as_json() for k, h in histories.items()})
        finally:
            lock.release()

    def _load(self) -> dict[str, History]:
        """The stored histories; what does not check out is discarded with one warning each
        (a damaged or hand-edited file must neither crash every later run nor be trusted)."""
        try:
            text = read_text(self.path)
        except OSError:
            return {}  # no state yet
        try:
            raw = json.loads(text)  # NaN/Infinity parse; the entry checks below reject them
        except ValueError as exc:
            log.warning("last-good state %s is not valid JSON (%s): discarded", self.path, exc)
            return {}
        if not isinstance(raw, dict):
            log.warning(
                "last-good state %s is %s, not an object: discarded", self.path, _shown(raw)
            )
            return {}
        histories: dict[str, History] = {}
        for key, entry in raw.items():
            try:
                histories[key] = History.from_json(entry)
            except ValueError as exc:
                log.warning(
                    "last-good state %s: entry %r discarded, it does not check out (%s)",
                    self.path,
                    key,
                    exc,
                )
        return histories

    def _save(self, data: dict[str, Any]) -> None:
        try:
            write_atomic(self.path, json.dumps(data, allow_nan=False))
        except (OSError, ValueError) as exc:
            log.warning("cannot save the last-good state %s: %s", self.path, exc)
