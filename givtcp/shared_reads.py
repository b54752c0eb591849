"""REST reads shared between worker processes for a few seconds, and dropped after a write."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from typing import Any

from givenergy_modbus_codec.errors import TransportError

from . import publishing, reading
from .config import Settings
from .files import read_text, with_suffix, write_atomic

log = logging.getLogger(__name__)

SHARED_READ_SECONDS = 5.0


def _shared_cache_path(settings: Settings, function: str) -> str:
    return settings.state_file(f"rest-{function}")


def _fresh_cache(path: str, window: float) -> dict[str, Any] | None:
    try:
        cached = json.loads(read_text(path))
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or time.time() - cached.get("read_at", 0) > window:
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
    from givenergy_modbus_codec.transport import DongleLock

    path = _shared_cache_path(settings, function)
    groups = _fresh_cache(path, window)
    if groups is not None:
        return groups, []
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lock = DongleLock(with_suffix(path, ".lock"), timeout=60.0)
    lock.acquire()
    try:
        groups = _fresh_cache(path, window)
        if groups is not None:
            return groups, []
        try:
            result = reading.read_inverter(function, settings)
        except TransportError:
            for failure in publishing.mark_offline(settings):
                log.warning("%s", failure)
            raise
        write_atomic(
            path, json.dumps({"read_at": time.time(), "groups": result.groups}, default=str)
        )
        failures = publishing.publish(result, settings)
        return json.loads(json.dumps(result.groups, default=str)), failures
    finally:
        lock.release()


def forget_shared_reads(settings: Settings) -> None:
    """After a write, cached reads are stale: drop them."""
    for function in reading.READ_FUNCTIONS:
        with contextlib.suppress(FileNotFoundError):
            os.remove(_shared_cache_path(settings, function))
