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

    NUM_BATTERIES fixes the count. Otherwise the addresses from 0x32 up are probed once a day,
    up to the first silent one (reader.read_banks), and the ones that answered with a valid
    page are remembered in the state folder.
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


def remember_batteries(
    settings: Settings, addresses: list[int], uncertain: dict[int, str] | None = None
) -> None:
    """Remember the probed battery list, unless a probe failed by a transport fault
    (``uncertain``: address -> why): then whether a battery is there is not known, and caching
    the list would hide that battery for a day. The next run probes again."""
    if uncertain:
        for address, why in sorted(uncertain.items()):
            log.warning("battery probe at %#04x failed (%s); probing again next run", address, why)
        return
    try:
        payload = json.dumps({"probed_at": time.time(), "addresses": addresses})
        write_atomic(_battery_cache_path(settings), payload)
    except OSError as exc:
        log.warning("cannot remember the battery list in %s: %s", settings.state_folder, exc)
