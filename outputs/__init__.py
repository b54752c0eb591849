"""Output sinks: one small module each, behind one interface.

A sink's module (and its heavy library: paho, influxdb_client, requests) is imported only when
the sink is enabled, because read.py is started afresh by every cron call.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from givenergy_modbus_codec.errors import GivTCPError


class OutputError(GivTCPError):
    """A sink could not deliver; read.py reports it and exits 3 after trying the others."""


@dataclass(frozen=True)
class Publication:
    """What one read produced, in the shape every sink understands."""

    serial: str  # inverter serial: MQTT root, Influx measurement, HA device
    groups: dict[
        str, Any
    ]  # "Power" -> {"PV Power": 1234, ...}; "Battery Details" -> {serial: {...}}
    meta: dict[tuple[str, str], Any] = field(default_factory=dict)  # (group, key) -> report.Entry
    device: dict[str, str] = field(default_factory=dict)  # model, firmware, manufacturer
    timestamp: float = 0.0  # time of the read (epoch seconds)


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


def enabled_sinks(settings: Any) -> list[Sink]:
    """Instantiate the sinks switched on in ``settings``, importing only those."""
    sinks = []
    for flag, module_name in SINK_MODULES:
        if getattr(settings, flag):
            module = importlib.import_module(f"outputs.{module_name}")
            sinks.append(module.create(settings))
    return sinks
