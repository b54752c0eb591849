"""Which battery addresses to read: fixed by NUM_BATTERIES, or probed and remembered."""

import json
import logging
import time

from givenergy_modbus_codec import reader

from .config import Settings
from .files import read_text, write_atomic

log = logging.getLogger(__name__)

BATTERY_REPROBE_SECONDS = 24 * 3600


def _battery_cache_path(settings: Settings) -> str:
    return settings.state_file("batteries")


def battery_plan(settings: Settings) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(known battery addresses to read, addresses to probe) for this run.

    NUM_BATTERIES fixes the count. Otherwise all six addresses are probed once a day and the
    ones that answered with a valid page are remembered in the state folder.
    """
    first = reader.FIRST_BATTERY_ADDRESS
    if settings.num_batteries is not None:
        return tuple(range(first, first + settings.num_batteries)), ()
    try:
        cached = json.loads(read_text(_battery_cache_path(settings)))
        if time.time() - cached["probed_at"] < BATTERY_REPROBE_SECONDS:
            return tuple(cached["addresses"]), ()
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return (), tuple(range(first, first + reader.MAX_BATTERIES))


def remember_batteries(settings: Settings, addresses: list[int]) -> None:
    try:
        payload = json.dumps({"probed_at": time.time(), "addresses": addresses})
        write_atomic(_battery_cache_path(settings), payload)
    except OSError as exc:
        log.warning("cannot remember the battery list in %s: %s", settings.state_folder, exc)
