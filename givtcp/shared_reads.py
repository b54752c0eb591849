"""REST reads shared between worker processes for a few seconds, and not after a write.

Any write, from any process (write.py, a REST worker), changes write_state's stamp before it
sends its first register; a shared read is served only while the stamp it was read under is
still the current one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from givenergy_modbus_codec.errors import TransportError

from . import publishing, reading, report, write_state
from .config import Settings
from .files import read_text, with_suffix, write_atomic

log = logging.getLogger(__name__)

SHARED_READ_SECONDS = 5.0


def _shared_cache_path(settings: Settings, function: str) -> str:
    return settings.state_file(f"rest-{function}")


def _fresh_cache(path: str, window: float, stamp: str) -> dict[str, Any] | None:
    """The cached groups if read less than ``window`` s ago and since the last write."""
    try:
        cached = json.loads(read_text(path))
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or cached.get("stamp") != stamp:
        return None
    read_at = cached.get("read_at")
    if not isinstance(read_at, int | float) or not 0 <= time.time() - read_at <= window:
        return None
    return cached.get("groups")


def read_shared(
    function: str, settings: Settings, window: float = SHARED_READ_SECONDS
) -> tuple[dict[str, Any], list[str]]:
    """Read for a REST request; requests within ``window`` seconds share one inverter read.

    REST workers are separate processes, so the sharing goes through a file per function: the
    first worker reads (under a per-function lock) and stores the groups; workers that queued
    behind it find them fresh and answer from them. Returns (groups, output failures).
    """
    from givenergy_modbus_codec.transport import DongleClient, DongleLock

    path = _shared_cache_path(settings, function)
    groups = _fresh_cache(path, window, write_state.current_stamp(settings))
    if groups is not None:
        return groups, []
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lock = DongleLock(with_suffix(path, ".lock"), timeout=60.0)
    lock.acquire()
    try:
        stamp = write_state.current_stamp(settings)  # before the read: a write after it counts
        groups = _fresh_cache(path, window, stamp)
        if groups is not None:
            return groups, []
        try:
            with DongleClient(settings.transport_config()) as dongle:
                result = reading.read_inverter(function, settings, dongle)
                write_state.note_interrupted(result.groups, settings, report.GROUP_QUALITY)
        except TransportError:
            for failure in publishing.mark_offline(settings):
                log.warning("%s", failure)
            raise
        write_atomic(
            path,
            json.dumps(
                {"read_at": time.time(), "stamp": stamp, "groups": result.groups}, default=str
            ),
        )
        failures = publishing.publish(result, settings)
        return json.loads(json.dumps(result.groups, default=str)), failures
    finally:
        lock.release()
