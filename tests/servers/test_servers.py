"""The server fixtures work end to end (the foundation of the output sink tests)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import paho.mqtt.publish as publish
import pytest
import requests
from paho.mqtt import MQTTException

from tests.servers.plugin import HomeAssistant, MqttBroker, VictoriaMetrics


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------- mosquitto


@pytest.mark.servers
def test_mqtt_round_trip_with_retain_flags(mosquitto_anon: MqttBroker) -> None:
    root = unique("givtcp-test/")
    with mosquitto_anon.collect(f"{root}/#") as live:
        mosquitto_anon.publish(f"{root}/retained", "1234", retain=True)
        mosquitto_anon.publish(f"{root}/plain", b"5.5", retain=False)
        got = {m.topic: m for m in live.wait_for(count=2)}
    # Live subscriber (retain-as-published): the publisher's flag, payload unchanged.
    assert got[f"{root}/retained"].retain is True
    assert got[f"{root}/retained"].text == "1234"
    assert got[f"{root}/plain"].retain is False
    assert got[f"{root}/plain"].payload == b"5.5"

    # A later subscriber gets only the retained one, flagged retained.
    held = mosquitto_anon.retained(f"{root}/#")
    assert set(held) == {f"{root}/retained"}
    assert held[f"{root}/retained"].retain is True

    assert mosquitto_anon.clear_retained(f"{root}/#") == [f"{root}/retained"]
    assert mosquitto_anon.retained(f"{root}/#") == {}


@pytest.mark.servers
def test_mqtt_v311_subscriber_sees_broker_retain_semantics(mosquitto_anon: MqttBroker) -> None:
    # With v3.1.1 the broker clears the flag on live delivery: why collect() defaults to v5.
    topic = unique("givtcp-test/v311/")
    with mosquitto_anon.collect(topic, retain_as_published=False) as live:
        mosquitto_anon.publish(topic, "x", retain=True)
        (message,) = live.wait_for(topic=topic)
    assert message.retain is False
    mosquitto_anon.clear_retained(topic)


@pytest.mark.servers
def test_mqtt_password_broker(mosquitto_auth: MqttBroker) -> None:
    assert mosquitto_auth.username and mosquitto_auth.password
    ok = mosquitto_auth.try_connect(mosquitto_auth.username, mosquitto_auth.password)
    assert not ok.is_failure
    bad = mosquitto_auth.try_connect(mosquitto_auth.username, "wrong")
    assert bad.is_failure and "authori" in str(bad).lower()
    assert mosquitto_auth.try_connect().is_failure  # anonymous refused

    topic = unique("givtcp-test/auth/")
    with mosquitto_auth.collect(topic) as sub:  # uses the broker's credentials
        mosquitto_auth.publish(topic, "hello")
        assert sub.wait_for(topic=topic)[0].text == "hello"
    with pytest.raises(MQTTException, match=r"(?i)authori"):
        publish.single(
            topic, "x", hostname=mosquitto_auth.host, port=mosquitto_auth.port,
            auth={"username": "inverter", "password": "wrong"},
        )  # fmt: skip


@pytest.mark.servers
def test_mqtt_broker_stop_and_start(mosquitto_stoppable: MqttBroker) -> None:
    broker = mosquitto_stoppable
    assert not broker.try_connect().is_failure
    broker.stop()
    assert not broker.running
    with pytest.raises(ConnectionRefusedError):
        broker.try_connect()
    broker.start()
    assert not broker.try_connect().is_failure


@pytest.mark.servers
def test_free_port_refuses(free_port: int) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{free_port}/", timeout=2)


# --------------------------------------------------------------------------- VictoriaMetrics


def _write_point(url: str, measurement: str, when: datetime, value: float) -> None:
    from influxdb_client import InfluxDBClient, Point
    from influxdb_client.client.write_api import SYNCHRONOUS

    point = (
        Point(measurement)
        .tag("tagKey", "GivReal")
        .field("pv_power", value)
        .field("soc", 57)
        .time(when)
    )
    with InfluxDBClient(url=url, token="ignored", org="ignored", timeout=5_000) as client:
        client.write_api(write_options=SYNCHRONOUS).write(bucket="GivEnergy", record=point)


@pytest.mark.servers
def test_influx_write_read_back(victoria_metrics: VictoriaMetrics) -> None:
    serial = unique("SA").upper()
    when = datetime(2024, 5, 1, 12, 0, 0, 123_000, tzinfo=UTC)
    _write_point(victoria_metrics.url, serial, when, 1234.5)

    series = victoria_metrics.export(f'{{__name__=~"{serial}_.*"}}', until=lambda s: len(s) == 2)
    by_name = {s["metric"]["__name__"]: s for s in series}
    assert set(by_name) == {f"{serial}_pv_power", f"{serial}_soc"}
    power = by_name[f"{serial}_pv_power"]
    assert power["metric"]["tagKey"] == "GivReal"
    assert power["values"] == [1234.5]
    assert power["timestamps"] == [int(when.timestamp() * 1000)]
    assert by_name[f"{serial}_soc"]["values"] == [57]


@pytest.mark.servers
def test_influx_server_down_then_back(victoria_metrics_stoppable: VictoriaMetrics) -> None:
    vm = victoria_metrics_stoppable
    serial = unique("SB").upper()
    when = datetime.now(UTC).replace(microsecond=0)
    vm.stop()
    with pytest.raises(Exception, match=r"(?i)connect|refused"):
        _write_point(vm.url, serial, when, 1.0)
    vm.start()
    _write_point(vm.url, serial, when, 2.0)
    (series,) = vm.export(f"{serial}_pv_power")
    assert series["values"] == [2.0]


# --------------------------------------------------------------------------- Home Assistant


@pytest.mark.homeassistant
def test_ha_rest_states(home_assistant: HomeAssistant) -> None:
    entity = unique("sensor.givtcp_fixture_")
    attributes = {"unit_of_measurement": "W", "device_class": "power", "friendly_name": "PV"}
    created = home_assistant.post_state(entity, "1234.5", attributes)
    assert created.status_code == 201, created.text
    assert home_assistant.post_state(entity, "99", attributes).status_code == 200

    state = home_assistant.get_state(entity)
    assert state is not None
    assert state["state"] == "99"
    assert state["attributes"] == attributes
    assert home_assistant.get_state(unique("sensor.givtcp_missing_")) is None

    bad = requests.get(
        f"{home_assistant.url}/api/states/{entity}",
        headers={"Authorization": "Bearer not-a-token"},
        timeout=10,
    )
    assert bad.status_code == 401


@pytest.mark.homeassistant
def test_ha_mqtt_discovery_creates_entity_once(home_assistant: HomeAssistant) -> None:
    broker = home_assistant.mqtt
    object_id = unique("givtcp_fixture_")
    node = unique("SA")
    state_topic = f"givtcp-test/{node}/Power/PV_Power"
    config = {
        "name": "PV Power",
        "unique_id": f"{node}_pv_power",
        "object_id": object_id,  # entity id in 2024.3 (newer HA: default_entity_id)
        "state_topic": state_topic,
        "unit_of_measurement": "W",
        "device_class": "power",
        "state_class": "measurement",
        "device": {
            "identifiers": [node],
            "name": f"GivEnergy {node}",
            "manufacturer": "GivEnergy",
            "model": "test",
        },
    }
    config_topic = f"homeassistant/sensor/{node}/{object_id}/config"
    broker.publish(config_topic, json.dumps(config), retain=True)
    broker.publish(state_topic, "1500", retain=True)

    state = home_assistant.wait_for_entity(
        f"sensor.{object_id}", until=lambda s: s["state"] == "1500"
    )
    assert state["attributes"]["device_class"] == "power"
    assert state["attributes"]["state_class"] == "measurement"
    assert state["attributes"]["unit_of_measurement"] == "W"

    # Re-publishing the same config must not make a second entity.
    broker.publish(config_topic, json.dumps(config), retain=True)
    broker.publish(state_topic, "1600", retain=True)
    home_assistant.wait_for_entity(f"sensor.{object_id}", until=lambda s: s["state"] == "1600")
    entries = [e for e in home_assistant.entity_registry() if e["unique_id"] == config["unique_id"]]
    assert [e["entity_id"] for e in entries] == [f"sensor.{object_id}"]
    assert entries[0]["platform"] == "mqtt"
    devices = [d for d in home_assistant.device_registry() if ["mqtt", node] in d["identifiers"]]
    assert len(devices) == 1 and devices[0]["manufacturer"] == "GivEnergy"
    assert entries[0]["device_id"] == devices[0]["id"]

    broker.clear_retained(f"givtcp-test/{node}/#")
    broker.clear_retained(config_topic)
