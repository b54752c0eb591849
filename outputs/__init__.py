"""Output sinks: one small module each, behind one interface.

A sink's module (and its heavy library: paho, influxdb_client, requests) is imported only when
the sink is enabled, because read.py is started afresh by every cron call.
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

import importlib
import importlib.util
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from givenergy_modbus_codec.errors import GivTCPError


def slug(text: str) -> str:
    """Lower-case with runs of anything but letters and digits as one "_": the form of HA
    entity ids and of v1.0's InfluxDB field names ("PV Power" -> "pv_power")."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def os_reason(exc: BaseException) -> str:
    """The operating system's words for a connection failure ("Connection refused"), found by
    walking the exception chain that HTTP libraries wrap around it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        current = current.__cause__ or current.__context__
    return str(exc)


class OutputError(GivTCPError):
    """A sink could not deliver; read.py reports it and exits 3 after trying the others."""


_NOTHING: Mapping[Any, Any] = MappingProxyType({})  # read-only: one shared default is safe


class Publication(NamedTuple):
    """What one read produced, in the shape every sink understands."""

    # inverter serial: MQTT root, Influx measurement, HA device; None when it could not be
    # read this run (garbled, none remembered): sinks that are named by it do not publish
    serial: str | None
    # "Power" -> {"PV Power": 1234, ...}; "Battery Details" -> {serial: {...}}
    groups: dict[str, Any]
    meta: Mapping[tuple[str, str], Any] = _NOTHING  # (group, key) -> report.Entry
    device: Mapping[str, str] = _NOTHING  # model, firmware, manufacturer
    timestamp: float = 0.0  # time of the read (epoch seconds)


def require_serial(publication: Publication, sink: str) -> str:
    """The inverter serial, or OutputError for a sink whose topics or series it names."""
    if publication.serial is None:
        raise OutputError(
            f"the inverter serial could not be read (garbled, none remembered; see Data "
            f"Quality): nothing sent to {sink} this run, since the serial names what it writes"
        )
    return publication.serial


class Sink(Protocol):
    name: str

    def publish(self, publication: Publication) -> None:
        """Deliver everything or raise OutputError saying what failed and why."""


# setting attribute -> module in this package, in delivery order
SINK_MODULES = (
    ("json_output", "json_sink"),
    ("mqtt_output", "mqtt"),
    ("influx_output", "influx"),
    ("ha_output", "homeassistant"),
)


def enabled_sinks(settings: Any) -> tuple[list[Sink], list[str]]:
    """The sinks switched on in ``settings`` (importing only those), and one message per
    enabled sink that could not be started."""
    sinks: list[Sink] = []
    problems: list[str] = []
    for flag, module_name in SINK_MODULES:
        if not getattr(settings, flag):
            continue
        if importlib.util.find_spec(f"outputs.{module_name}") is None:
            problems.append(f"{flag.upper()} is on, but that output is not available yet")
            continue
        try:
            sinks.append(importlib.import_module(f"outputs.{module_name}").create(settings))
        except OutputError as exc:
            problems.append(f"{flag.upper()}: {exc}")
    return sinks, problems
