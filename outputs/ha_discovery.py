"""Home Assistant MQTT discovery configs for one publication (pure: no paho, no I/O).

Every discoverable value gets a retained ``homeassistant/<component>/<node_id>/<object_id>/config``
whose ids derive only from serials and key names, so re-running republishes the same configs and
Home Assistant updates its entities instead of adding new ones. The inverter and each battery are
devices of their own; batteries hang off the inverter (``via_device``).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from givtcp import report

from . import Publication, slug

DISCOVERY_PREFIX = "homeassistant"  # Home Assistant's default discovery prefix
PAYLOAD_ONLINE = "online"
PAYLOAD_OFFLINE = "offline"
# Booleans travel as the JSON literals, so Node-RED's auto-parse and HA agree on them.
PAYLOAD_TRUE = "true"
PAYLOAD_FALSE = "false"


class StateValue(NamedTuple):
    """One value as published on MQTT: where it came from and its state topic."""

    group: str  # "Power", ..., "Battery Details" for every battery's values
    key: str
    value: Any
    topic: str
    battery: str | None = None  # battery serial, for "Battery Details" values


def discoverable(group: str) -> bool:
    """Raw register dumps, the data-quality report and a timed action's per-register detail
    are diagnostics, not entities (Control/Timed Action is the entity)."""
    return group not in (report.GROUP_QUALITY, report.GROUP_TIMED_ACTION) and not (
        group.startswith("raw/")
    )


def _inverter_device(publication: Publication) -> dict[str, Any]:
    device = {
        "identifiers": [publication.serial],
        "manufacturer": publication.device.get("manufacturer") or "GivEnergy",
        "model": publication.device.get("model"),
        "sw_version": publication.device.get("firmware"),
        "name": f"GivEnergy inverter {publication.serial}",
    }
    return {k: v for k, v in device.items() if v}


def _battery_device(publication: Publication, battery: str) -> dict[str, Any]:
    values = publication.groups.get(report.GROUP_BATTERIES, {}).get(battery, {})
    firmware = values.get("Battery Firmware Version")
    device = {
        "identifiers": [battery],
        "manufacturer": "GivEnergy",
        "model": "Battery",
        "name": f"GivEnergy battery {battery}",
        "via_device": publication.serial,
    }
    if firmware is not None:
        device["sw_version"] = str(firmware)
    return device


def config(publication: Publication, value: StateValue, root: str) -> tuple[str, dict[str, Any]]:
    """(config topic, config) for one value: a binary_sensor for booleans, else a sensor.

    Units and classes come from the report metadata only, so ``total_increasing`` appears just
    where the report says a value is a counter; text values (mode, schedule states, serials,
    "HHMM" slot times) carry none and stay plain sensors.
    """
    component = "binary_sensor" if isinstance(value.value, bool) else "sensor"
    owner = value.battery or publication.serial
    object_id = f"givtcp_{slug(owner)}_{slug(value.key)}"
    ids = (publication.serial, value.battery, value.key)
    body: dict[str, Any] = {
        "name": value.key,
        "unique_id": "givtcp_" + "_".join(slug(part) for part in ids if part),
        "object_id": object_id,  # HA 2024.3 (tested): entity id = <component>.<object_id>
        "default_entity_id": f"{component}.{object_id}",  # its successor in newer HA
        "state_topic": value.topic,
        "availability_topic": f"{root}/status",
        "payload_available": PAYLOAD_ONLINE,
        "payload_not_available": PAYLOAD_OFFLINE,
        "device": (
            _battery_device(publication, value.battery)
            if value.battery
            else _inverter_device(publication)
        ),
    }
    if component == "binary_sensor":
        body |= {"payload_on": PAYLOAD_TRUE, "payload_off": PAYLOAD_FALSE}
    else:
        entry = publication.meta.get((value.group, value.key))
        for field in ("unit", "device_class", "state_class"):
            setting = getattr(entry, field, None)
            if setting is not None:
                body["unit_of_measurement" if field == "unit" else field] = setting
    node_id = f"givtcp_{slug(publication.serial)}"
    return f"{DISCOVERY_PREFIX}/{component}/{node_id}/{object_id}/config", body


def discovery_messages(
    publication: Publication, values: list[StateValue], root: str
) -> list[tuple[str, str]]:
    """(topic, JSON payload) for every discoverable value, in a stable order and encoding."""
    messages = []
    for value in values:
        if discoverable(value.group):
            topic, body = config(publication, value, root)
            messages.append((topic, json.dumps(body, ensure_ascii=False, sort_keys=True)))
    return messages
