"""MQTT output: one topic per value as GivTCP v1.0, plus availability and HA discovery.

Topics are ``<MQTT_TOPIC or GivEnergy/<serial>>/<group>/<key>`` (battery values under
``Battery Details/<battery serial>/<key>``); payloads are plain text: numbers as JSON numbers,
booleans ``true``/``false``, strings as they are. ``<root>/Data Quality`` carries the run's
rejected (and held) values with reasons as one JSON object (``{}`` when none), so a stale report
does not linger. Everything goes out with QoS 1 over one connection per run and is confirmed by
the broker before disconnecting; values follow MQTT_RETAIN, while ``<root>/status`` (online, with
an ``offline`` last will) and the discovery configs are always retained, because Home Assistant
needs them after its own restarts.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt

from givtcp import report
from givtcp.config import Settings

from . import OutputError, Publication, require_serial
from .ha_discovery import (
    PAYLOAD_FALSE,
    PAYLOAD_OFFLINE,
    PAYLOAD_ONLINE,
    PAYLOAD_TRUE,
    StateValue,
    discovery_messages,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # TCP connect, TLS handshake and CONNACK together
PUBLISH_TIMEOUT = 20.0  # until the broker has acknowledged every message of the run
KEEPALIVE = 60
QOS = 1
_NOT_AUTHORISED = {134, 135}  # CONNACK "Bad user name or password", "Not authorized"


class Message(NamedTuple):
    topic: str
    payload: str
    retain: bool


def root_topic(settings: Settings, serial: str) -> str:
    return settings.mqtt_topic.rstrip("/") or f"GivEnergy/{serial}"


def status_topic(root: str) -> str:
    return f"{root}/status"


def payload(value: Any) -> str:
    """A value as MQTT text: what json.dumps gives for numbers and booleans, strings bare."""
    if isinstance(value, bool):
        return PAYLOAD_TRUE if value else PAYLOAD_FALSE
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def state_values(publication: Publication, root: str) -> list[StateValue]:
    """Every published value with its topic; "Data Quality" is not a value (see messages)."""
    values = []
    for group, content in publication.groups.items():
        if group == report.GROUP_QUALITY:
            continue
        if group == report.GROUP_BATTERIES:
            for battery, keys in content.items():
                for key, value in keys.items():
                    topic = f"{root}/{group}/{battery}/{key}"
                    values.append(StateValue(group, key, value, topic, battery))
        else:
            for key, value in content.items():
                values.append(StateValue(group, key, value, f"{root}/{group}/{key}"))
    return values


def messages(publication: Publication, settings: Settings) -> list[Message]:
    """What one run publishes, in order: availability, discovery configs, values, data quality."""
    root = root_topic(settings, publication.serial)
    values = state_values(publication, root)
    out = [Message(status_topic(root), PAYLOAD_ONLINE, True)]
    if settings.ha_discovery:
        out += [Message(t, p, True) for t, p in discovery_messages(publication, values, root)]
    retain = settings.mqtt_retain
    out += [Message(v.topic, payload(v.value), retain) for v in values]
    quality = publication.groups.get(report.GROUP_QUALITY, {})
    out.append(Message(f"{root}/{report.GROUP_QUALITY}", payload(quality), retain))
    return out


def client_id(serial: str) -> str:
    """Unique per process, so overlapping runs (cron, Node-RED, REST) never kick each other off."""
    return f"givtcp-{serial}-{os.getpid()}-{secrets.token_hex(3)}"


class Connection:
    """One MQTT connection, driven from this thread with bounded waits.

    No background loop thread: nothing reconnects behind our back, and a broker that stops
    answering ends the run with an OutputError instead of a hang.
    """

    def __init__(self, settings: Settings, client_name: str, will_topic: str) -> None:
        self.address = f"{settings.mqtt_address}:{settings.mqtt_port}"
        self._settings = settings
        self._connack: Any = None
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_name, protocol=mqtt.MQTTv311
        )
        client.connect_timeout = CONNECT_TIMEOUT
        if settings.mqtt_username:
            client.username_pw_set(settings.mqtt_username, settings.mqtt_password or None)
        if settings.mqtt_tls:
            try:
                client.tls_set(
                    ca_certs=settings.mqtt_ca_file or None,
                    certfile=settings.mqtt_cert_file or None,
                    keyfile=settings.mqtt_key_file or None,
                )
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise OutputError(f"MQTT TLS set-up failed: {exc}") from exc
        client.will_set(will_topic, PAYLOAD_OFFLINE, qos=QOS, retain=True)
        client.on_connect = self._on_connect
        self._client = client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._connack = reason

    def _fail(self, what: str) -> OutputError:
        return OutputError(f"MQTT broker {self.address}: {what}")

    def _loop(self) -> bool:
        """Run the network loop once; False when the connection is gone (never retried)."""
        return self._client.loop(timeout=0.05) == mqtt.MQTT_ERR_SUCCESS

    def open(self) -> None:
        settings = self._settings
        log.debug("MQTT: connecting to %s (TLS %s)", self.address, settings.mqtt_tls)
        deadline = time.monotonic() + CONNECT_TIMEOUT
        try:
            self._client.connect(settings.mqtt_address, settings.mqtt_port, KEEPALIVE)
        except (OSError, ValueError) as exc:  # refused, unknown host, timeout, TLS failure
            raise self._fail(f"cannot connect: {exc}") from exc
        while self._connack is None:
            if time.monotonic() > deadline:
                raise self._fail(f"no CONNACK within {CONNECT_TIMEOUT:.0f} s")
            if not self._loop() and self._connack is None:
                raise self._fail("connection closed before CONNACK")
        if self._connack.is_failure:
            if self._connack.value in _NOT_AUTHORISED:
                raise self._fail(
                    f"not authorised ({self._connack}): check MQTT_USERNAME and MQTT_PASSWORD"
                )
            raise self._fail(f"connection refused: {self._connack}")

    def publish(self, batch: list[Message]) -> None:
        """Publish everything and wait until the broker acknowledged each message (QoS 1)."""
        pending = [
            self._client.publish(m.topic, m.payload, qos=QOS, retain=m.retain) for m in batch
        ]
        deadline = time.monotonic() + PUBLISH_TIMEOUT
        while pending:
            try:
                pending = [info for info in pending if not info.is_published()]
            except (RuntimeError, ValueError) as exc:
                raise self._fail(f"publish failed: {exc}") from exc
            if not pending:
                break
            if time.monotonic() > deadline:
                raise self._fail(
                    f"{len(pending)} of {len(batch)} messages not acknowledged "
                    f"within {PUBLISH_TIMEOUT:.0f} s"
                )
            if not self._loop():
                raise self._fail(f"connection lost, {len(pending)} messages unacknowledged")

    def close(self) -> None:
        """A clean DISCONNECT (the broker drops the last will, so the status stays online);
        harmless when the connection never came up."""
        self._client.disconnect()

    def __enter__(self) -> Connection:
        try:
            self.open()
        except BaseException:
            self.close()  # e.g. after a refused CONNACK or none at all: release the socket
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _status_memory(settings: Settings) -> Path:
    return Path(settings.state_file("mqtt-status", ".txt"))


def _remember_status_topic(settings: Settings, topic: str) -> None:
    """Keep this inverter's status topic, so a later run that cannot read the serial can still
    mark it offline."""
    path = _status_memory(settings)
    try:
        if not path.exists() or path.read_text() != topic:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(topic)
    except OSError as exc:
        log.warning("cannot remember the MQTT status topic in %s: %s", path, exc)


class MqttSink:
    name = "mqtt"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def publish(self, publication: Publication) -> None:
        require_serial(publication, "MQTT")
        batch = messages(publication, self._settings)
        status = batch[0].topic
        with Connection(self._settings, client_id(publication.serial), status) as connection:
            connection.publish(batch)
        root = root_topic(self._settings, publication.serial)
        log.info(
            "MQTT: published %d values under %s to %s (%d messages with status, discovery and "
            "data quality, all acknowledged)",
            len(state_values(publication, root)),
            root,
            connection.address,
            len(batch),
        )
        _remember_status_topic(self._settings, status)


def publish_offline(settings: Settings) -> bool:
    """Mark the inverter offline (retained) after a run that could not read it.

    The serial is unknown then, so the status topic is MQTT_TOPIC's or the one the last
    successful run for this inverter address used. Returns False when there is none yet.
    Raises OutputError when the broker cannot be reached.
    """
    if settings.mqtt_topic:
        topic = status_topic(settings.mqtt_topic.rstrip("/"))
    else:
        try:
            topic = _status_memory(settings).read_text().strip()
        except OSError:
            topic = ""
    if not topic:
        log.info("MQTT: no status topic known for this inverter yet; offline not published")
        return False
    with Connection(settings, client_id("offline"), topic) as connection:
        connection.publish([Message(topic, PAYLOAD_OFFLINE, True)])
    return True


def create(settings: Settings) -> MqttSink:
    """Check the settings before any reading is wasted on a sink that cannot work."""
    if not settings.mqtt_address:
        raise OutputError("MQTT_ADDRESS is not set")
    for name in ("mqtt_ca_file", "mqtt_cert_file", "mqtt_key_file"):
        path = getattr(settings, name)
        if settings.mqtt_tls and path and not Path(path).is_file():
            raise OutputError(f"{name.upper()} {path} is not a file")
    return MqttSink(settings)
