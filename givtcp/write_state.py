"""What a write leaves in the state folder for other processes: the write stamp, the plan.

* The write stamp changes whenever a write is about to be sent, by any process (write.py or a
  REST worker); REST's shared reads remember the stamp they were read under and are not shared
  once it has changed (shared_reads.py).
* The plan of the write in progress is recorded before the first register is sent and updated
  after each one; a finished write removes it. A plan found by the next process that holds the
  dongle lock therefore belongs to a write that was killed part-way: write.py and read.py say
  so (stderr, and read's "Data Quality" / "interrupted write") until a later write confirms
  those registers.

Only json/os here: read.py imports this module on every run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
from collections.abc import Iterable
from typing import Any

from .config import Settings
from .files import read_text, write_atomic

log = logging.getLogger(__name__)

INTERRUPTED_NOTE = "interrupted write"
_SETTLED = ("confirmed", "unchanged")  # row statuses that need no warning afterwards


def _stamp_path(settings: Settings) -> str:
    return settings.state_file("write-stamp")


def _plan_path(settings: Settings) -> str:
    return settings.state_file("write-plan")


def _interrupted_path(settings: Settings) -> str:
    return settings.state_file("write-interrupted")


def current_stamp(settings: Settings) -> str:
    """The write stamp ("" before the first write)."""
    try:
        return read_text(_stamp_path(settings))
    except OSError:
        return ""


def bump_stamp(settings: Settings) -> None:
    """Mark that a write is being sent: reads made before it are not to be shared any more."""
    stamp = f"{dt.datetime.now().isoformat()} {os.getpid()} {os.urandom(4).hex()}"
    try:
        write_atomic(_stamp_path(settings), stamp)
    except OSError as exc:
        log.warning("could not record the write in %s: %s", _stamp_path(settings), exc)


def _load(path: str, kind: type) -> Any:
    """The JSON in ``path`` if it is of ``kind``; a broken file is dropped with a warning."""
    try:
        data = json.loads(read_text(path))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        data = exc
    if not isinstance(data, kind):
        log.warning("ignoring the unreadable write record %s", path)
        with contextlib.suppress(OSError):
            os.remove(path)
        return None
    return data


def _unconfirmed(plan: dict[str, Any]) -> dict[str, Any] | None:
    """A dead plan as an interrupted-write entry, or None when every row had settled."""
    rows = plan.get("rows")
    if not isinstance(rows, list):
        return None
    open_rows = [
        r
        for r in rows
        if isinstance(r, dict) and r.get("status") not in _SETTLED and "register" in r
    ]
    if not open_rows:
        return None
    return {
        "function": str(plan.get("function", "?")),
        "started": str(plan.get("started", "?")),
        "rows": [{k: r.get(k) for k in ("register", "name", "value", "status")} for r in open_rows],
    }


def _entries(settings: Settings) -> list[dict[str, Any]]:
    """Interrupted writes on record, a dead plan included (the caller holds the dongle lock)."""
    entries = [
        e
        for e in _load(_interrupted_path(settings), list) or []
        if isinstance(e, dict) and isinstance(e.get("rows"), list)
    ]
    plan = _load(_plan_path(settings), dict)
    dead = _unconfirmed(plan) if plan is not None else None
    return [*entries, dead] if dead is not None else entries


def describe(entry: dict[str, Any]) -> tuple[str, str]:
    """(key, text) of one interrupted write, as shown in warnings and Data Quality."""
    rows = ", ".join(
        f"HR{r.get('register')} {r.get('name')} = {r.get('value')} ({r.get('status')})"
        for r in entry["rows"]
        if isinstance(r, dict)
    )
    return f"{entry.get('function')} at {entry.get('started')}", f"not confirmed: {rows}"


def interrupted_notes(settings: Settings) -> dict[str, str]:
    """Interrupted writes, key -> rows not confirmed; call while holding the dongle lock."""
    return dict(describe(entry) for entry in _entries(settings))


def note_interrupted(groups: dict[str, Any], settings: Settings, quality_group: str) -> None:
    """Add interrupted writes to a read's quality group, with a warning on stderr."""
    notes = interrupted_notes(settings)
    for key, text in notes.items():
        log.warning("a write was interrupted: %s, %s", key, text)
    if notes:
        groups.setdefault(quality_group, {})[INTERRUPTED_NOTE] = notes


class WriteJournal:
    """The plan of one write session, kept in the state folder while it runs."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._plan: dict[str, Any] | None = None

    def _save(self, path: str, data: Any) -> None:
        try:
            write_atomic(path, json.dumps(data))
        except OSError as exc:
            log.warning("could not record the write plan in %s: %s", path, exc)

    def begin(self, function: str, rows: list[dict[str, Any]]) -> None:
        """Take over earlier interrupted writes (warning about them), then record this plan."""
        entries = _entries(self._settings)
        for entry in entries:
            key, text = describe(entry)
            log.warning("an earlier write was interrupted: %s, %s", key, text)
        if entries:
            self._save(_interrupted_path(self._settings), entries)
        started = dt.datetime.now().isoformat(timespec="seconds")
        self._plan = {"function": function, "started": started, "rows": rows}
        self._save(_plan_path(self._settings), self._plan)

    def update(self) -> None:
        """Record the rows' statuses as they stand now (before and after each register)."""
        if self._plan is not None:
            self._save(_plan_path(self._settings), self._plan)

    def finish(self, settled: Iterable[int]) -> None:
        """This write was reported: drop its plan and earlier rows for registers it settled."""
        done = set(settled)
        path = _interrupted_path(self._settings)
        entries = _load(path, list) or []
        kept = []
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("rows"), list):
                rows = [
                    r
                    for r in entry["rows"]
                    if isinstance(r, dict) and r.get("register") not in done
                ]
                if rows:
                    kept.append({**entry, "rows": rows})
        if kept != entries:
            if kept:
                self._save(path, kept)
            else:
                with contextlib.suppress(OSError):
                    os.remove(path)
        with contextlib.suppress(OSError):
            os.remove(_plan_path(self._settings))
