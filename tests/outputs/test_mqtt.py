"""MQTT output: payload rules, then read.py against real mosquitto brokers and Home Assistant.

End-to-end tests run read.py as a user would (a subprocess against the simulator) and check what
a subscriber receives against the JSON printed by the same run and against the simulator's
truth. Each test uses its own simulator seed (so its own serials, hence its own discovery topics)
and its own MQTT_TOPIC, and clears what it left retained on the shared broker.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from givenergy_modbus_codec.simulator import Simulator
from givtcp.config import Settings
from outputs import OutputError, Publication
from outputs import mqtt as mqtt_output
from outputs.mqtt import client_id, create, messages, payload, publish_offline
from tests.conftest import PROJECT_ROOT
from tests.outputs import simulator
from tests.scripts import Run, run_script, sim_env
from tests.servers.plugin import Daemon, MqttBroker, MqttMessage, find_free_port

# --------------------------------------------------------------------------- payload rules

PUB = Publication(
    serial="SA1234G567",
    groups={
        "Power": {"PV Power": 1234, "SOC": 88},
        "Control": {"Charge Target Enabled": True, "Mode": 1},
        "Timeslots": {"Charge start time slot 1": "0030"},
        "Battery Details": {"BG7654G321": {"Battery SOC": 87, "Battery Voltage": 53.1}},
        "raw/holding": {"charge_slot_1_start(94)": 30},
        "Data Quality": {"rejected": {"Power/Grid Power": "p_grid_out: 65535 out of range"}},
    },
    device={"manufacturer": "GivEnergy", "model": "Hybrid Gen1", "firmware": "D0.449-A0.449"},
)


def settings(**overrides: Any) -> Settings:
    return Settings(**({"mqtt_output": True, "mqtt_address": "127.0.0.1"} | overrides))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (4281, "4281"),
        (-120, "-120"),
        (7.0, "7.0"),
        (53.126, "53.126"),
        ("0030", "0030"),
        ("Active", "Active"),
        ({"rejected": {}}, '{"rejected": {}}'),
    ],
)
def test_payloads_are_plain_text(value, text):
    assert payload(value) == text


def test_one_run_publishes_status_configs_values_then_data_quality():
    out = messages(PUB, settings())
    topics = [m.topic for m in out]
    assert len(topics) == len(set(topics))
    root = "GivEnergy/SA1234G567"
    assert out[0] == (f"{root}/status", "online", True)
    assert out[-1] == (f"{root}/Data Quality", json.dumps(PUB.groups["Data Quality"]), True)
    values = {m.topic: m.payload for m in out if m.topic.startswith(f"{root}/")}
    assert values == {
        f"{root}/status": "online",
        f"{root}/Power/PV Power": "1234",
        f"{root}/Power/SOC": "88",
        f"{root}/Control/Charge Target Enabled": "true",
        f"{root}/Control/Mode": "1",
        f"{root}/Timeslots/Charge start time slot 1": "0030",
        f"{root}/Battery Details/BG7654G321/Battery SOC": "87",
        f"{root}/Battery Details/BG7654G321/Battery Voltage": "53.1",
        f"{root}/raw/holding/charge_slot_1_start(94)": "30",
        f"{root}/Data Quality": json.dumps(PUB.groups["Data Quality"]),
    }
    configs = [m for m in out if m.topic.startswith("homeassistant/")]
    # every value but the raw register and the data-quality report, before any value
    assert len(configs) == 7
    assert all(m.retain for m in configs)
    assert max(topics.index(m.topic) for m in configs) < topics.index(f"{root}/Power/PV Power")


def test_retain_setting_applies_to_values_only():
    out = messages(PUB, settings(mqtt_retain=False))
    retained = {m.topic for m in out if m.retain}
    assert "GivEnergy/SA1234G567/status" in retained
    assert all(m.topic in retained for m in out if m.topic.startswith("homeassistant/"))
    assert not any(m.retain for m in out if m.topic.startswith("GivEnergy/SA1234G567/P"))
    assert not any(m.retain for m in out if m.topic.endswith("/Data Quality"))


def test_discovery_off_and_own_root_topic():
    out = messages(PUB, settings(ha_discovery=False, mqtt_topic="home/inverter/"))
    assert not [m for m in out if m.topic.startswith("homeassistant/")]
    assert all(m.topic.startswith("home/inverter/") for m in out)
    assert "home/inverter/Power/PV Power" in {m.topic for m in out}


def test_a_clean_report_still_replaces_the_last_data_quality():
    clean = Publication(serial=PUB.serial, groups={"Power": {"PV Power": 5}})
    assert messages(clean, settings())[-1].topic == "GivEnergy/SA1234G567/Data Quality"
    assert messages(clean, settings())[-1].payload == "{}"


def test_settings_checked_before_reading(tmp_path):
    with pytest.raises(OutputError, match="MQTT_ADDRESS"):
        create(settings(mqtt_address=""))
    with pytest.raises(OutputError, match="MQTT_CA_FILE"):
        create(settings(mqtt_tls=True, mqtt_ca_file=str(tmp_path / "missing.crt")))
    assert create(settings(mqtt_ca_file=str(tmp_path / "unused without TLS")))


def test_client_ids_are_unique_per_process_and_run():
    first, second = client_id("SA1234G567"), client_id("SA1234G567")
    assert first != second
    assert first.startswith(f"givtcp-SA1234G567-{os.getpid()}-")


# --------------------------------------------------------------------------- helpers


def run_read(
    sim: Simulator, state: Path, broker: MqttBroker, function: str = "runAll", **env: str
) -> Run:
    """read.py with JSON and MQTT on, credentials from the broker unless given."""
    extra = {"MQTT_OUTPUT": "true", "MQTT_ADDRESS": broker.host, "MQTT_PORT": str(broker.port)}
    if broker.username is not None:
        extra |= {"MQTT_USERNAME": broker.username, "MQTT_PASSWORD": broker.password or ""}
    extra |= {"NUM_BATTERIES": str(len(sim.truth()["batteries"]))} | env
    return run_script("read.py", function, env=sim_env(sim.port, state, **extra))


def unique_root() -> str:
    return f"givtcp-test/{uuid.uuid4().hex[:10]}"


def discovery_filter(serial: str) -> str:
    return f"homeassistant/+/givtcp_{serial.lower()}/#"


@pytest.fixture
def forget() -> Iterator[Callable[[MqttBroker, str], None]]:
    """forget(broker, topic_filter): clear what is retained there when the test ends."""
    cleared: list[tuple[MqttBroker, str]] = []
    yield lambda broker, topic_filter: cleared.append((broker, topic_filter))
    for broker, topic_filter in cleared:
        if broker.running:
            broker.clear_retained(topic_filter)


def flatten(groups: dict[str, Any], root: str) -> dict[str, Any]:
    """The JSON output's values by the topic each should have (Data Quality excluded)."""
    expected = {}
    for group, content in groups.items():
        if group == "Data Quality":
            continue
        for key, value in content.items():
            if group == "Battery Details":
                expected |= {f"{root}/{group}/{key}/{k}": v for k, v in value.items()}
            else:
                expected[f"{root}/{group}/{key}"] = value
    return expected


def as_json_value(message: MqttMessage, like: Any) -> Any:
    """The payload read back as the type the JSON output has (strings are bare)."""
    return message.text if isinstance(like, str) else json.loads(message.text)


def discoverable(topic: str, root: str) -> bool:
    return not topic.startswith(f"{root}/raw/")


# --------------------------------------------------------------------------- real brokers


@pytest.mark.servers
def test_run_all_delivers_every_value_as_the_json_output(mosquitto_anon, tmp_path, forget):
    root = unique_root()
    with simulator(seed=404) as sim:
        serial = sim.truth()["plant"]["inverter_serial"]
        forget(mosquitto_anon, f"{root}/#")
        forget(mosquitto_anon, discovery_filter(serial))
        with mosquitto_anon.collect([f"{root}/#", discovery_filter(serial)]) as sub:
            run = run_read(sim, tmp_path, mosquitto_anon, MQTT_TOPIC=root, PRINT_RAW="true")
            assert run.code == 0, run.stderr
            sub.wait_for(topic=f"{root}/Data Quality")  # the run's last message
            received = sub.wait_quiet(0.2)
        truth = sim.truth()

    topics = [m.topic for m in received]
    assert len(topics) == len(set(topics)), "a topic was published twice"
    assert all(m.qos == 1 and m.retain for m in received)
    by_topic = {m.topic: m for m in received}
    out = run.json()

    # every value of the JSON output, and nothing else, on its own topic
    expected = flatten(out, root)
    assert "raw/holding" in out and len(out["Battery Details"]) == 2
    values = {t: m for t, m in by_topic.items() if t.startswith(f"{root}/")}
    assert set(values) == set(expected) | {f"{root}/status", f"{root}/Data Quality"}
    for topic, value in expected.items():
        assert as_json_value(by_topic[topic], value) == value, topic
        assert type(as_json_value(by_topic[topic], value)) is type(value), topic
    assert by_topic[f"{root}/Data Quality"].json() == out.get("Data Quality", {})
    assert by_topic[f"{root}/status"].text == "online"

    # the same values as the simulated inverter
    ir, plant = truth["input"], truth["plant"]
    assert by_topic[f"{root}/Power/PV Power"].text == str(ir[18] + ir[20])
    assert by_topic[f"{root}/Power/SOC"].text == str(ir[59])
    assert by_topic[f"{root}/Invertor Details/Invertor Serial Number"].text == serial
    for battery, page in zip(plant["battery_serials"], truth["batteries"].values(), strict=True):
        assert by_topic[f"{root}/Battery Details/{battery}/Battery SOC"].text == str(page[100])

    # one discovery config per value (raw registers excepted), each on a value's topic
    configs = {t: m.json() for t, m in by_topic.items() if t.startswith("homeassistant/")}
    assert sorted(c["state_topic"] for c in configs.values()) == sorted(
        t for t in expected if discoverable(t, root)
    )
    assert len({c["unique_id"] for c in configs.values()}) == len(configs)
    s = serial.lower()
    pv = configs[f"homeassistant/sensor/givtcp_{s}/givtcp_{s}_pv_power/config"]
    assert pv == {
        "name": "PV Power",
        "unique_id": f"givtcp_{s}_pv_power",
        "object_id": f"givtcp_{s}_pv_power",
        "default_entity_id": f"sensor.givtcp_{s}_pv_power",
        "state_topic": f"{root}/Power/PV Power",
        "availability_topic": f"{root}/status",
        "payload_available": "online",
        "payload_not_available": "offline",
        "unit_of_measurement": "W",
        "device_class": "power",
        "state_class": "measurement",
        "device": {
            "identifiers": [serial],
            "manufacturer": "GivEnergy",
            "model": "Hybrid Gen1",
            "sw_version": out["Invertor Details"]["Firmware Version"],
            "name": f"GivEnergy inverter {serial}",
        },
    }

    # a clean disconnect: the last will was not sent, the status stays online
    assert mosquitto_anon.retained(f"{root}/status")[f"{root}/status"].text == "online"


@pytest.mark.servers
def test_retain_off_keeps_values_live_only(mosquitto_anon, tmp_path, forget):
    root = unique_root()
    with simulator(seed=405) as sim:
        serial = sim.truth()["plant"]["inverter_serial"]
        forget(mosquitto_anon, f"{root}/#")
        forget(mosquitto_anon, discovery_filter(serial))
        with mosquitto_anon.collect([f"{root}/#", discovery_filter(serial)]) as sub:
            run = run_read(sim, tmp_path, mosquitto_anon, MQTT_TOPIC=root, MQTT_RETAIN="false")
            assert run.code == 0, run.stderr
            sub.wait_for(topic=f"{root}/Data Quality")
            received = sub.snapshot()
    flags = {m.topic: m.retain for m in received}
    assert flags.pop(f"{root}/status") is True
    assert all(flag for topic, flag in flags.items() if topic.startswith("homeassistant/"))
    value_flags = [flag for topic, flag in flags.items() if topic.startswith(f"{root}/")]
    assert len(value_flags) > 100
    assert not any(value_flags)
    assert set(mosquitto_anon.retained(f"{root}/#")) == {f"{root}/status"}


@pytest.mark.servers
def test_password_broker_with_the_right_credentials(mosquitto_auth, tmp_path, forget):
    root = unique_root()
    forget(mosquitto_auth, f"{root}/#")
    with simulator(seed=406) as sim, mosquitto_auth.collect(f"{root}/#") as sub:
        run = run_read(
            sim, tmp_path, mosquitto_auth, "getTimeslots", MQTT_TOPIC=root, HA_DISCOVERY="0"
        )
        assert run.code == 0, run.stderr
        sub.wait_for(topic=f"{root}/Data Quality")
    slot = run.json()["Timeslots"]["Charge start time slot 1"]
    assert sub.by_topic()[f"{root}/Timeslots/Charge start time slot 1"].text == slot


@pytest.mark.servers
@pytest.mark.parametrize("credentials", [("inverter", "wrong"), ("", "")], ids=["wrong", "none"])
def test_password_broker_refuses_exit_3_with_other_outputs_delivered(
    mosquitto_auth, tmp_path, credentials
):
    user, password = credentials
    with simulator(seed=406) as sim:
        run = run_read(
            sim,
            tmp_path,
            mosquitto_auth,
            "getTimeslots",
            MQTT_USERNAME=user,
            MQTT_PASSWORD=password,
        )
    assert run.code == 3
    assert "Timeslots" in run.json()  # stdout JSON still delivered
    assert "not authorised" in run.stderr
    assert f"MQTT broker 127.0.0.1:{mosquitto_auth.port}" in run.stderr
    assert mosquitto_auth.password not in run.stderr


@pytest.mark.servers
def test_broker_down_fails_fast_then_next_run_delivers(mosquitto_stoppable, tmp_path):
    broker = mosquitto_stoppable
    broker.stop()
    with simulator(seed=407) as sim:
        started = time.monotonic()
        run = run_read(sim, tmp_path, broker, "getTimeslots")
        elapsed = time.monotonic() - started
        assert run.code == 3
        assert "Timeslots" in run.json()
        assert f"mqtt output failed: MQTT broker 127.0.0.1:{broker.port}: cannot connect" in (
            run.stderr
        )
        assert elapsed < 10
        broker.start()
        assert run_read(sim, tmp_path, broker, "getTimeslots").code == 0
        root = f"GivEnergy/{sim.truth()['plant']['inverter_serial']}"
    assert broker.retained(f"{root}/status")[f"{root}/status"].text == "online"


@pytest.mark.servers
def test_rerun_same_topics_and_offline_between(mosquitto_stoppable, tmp_path):
    broker = mosquitto_stoppable  # its own broker: the default root, whatever is retained
    with simulator(seed=408) as sim:
        serial = sim.truth()["plant"]["inverter_serial"]
        root = f"GivEnergy/{serial}"
        assert run_read(sim, tmp_path, broker).code == 0
        first = broker.retained("#")
        # the inverter could not be read: the app marks it offline, serial remembered
        env_settings = Settings(
            invertor_ip="127.0.0.1",
            invertor_port=sim.port,
            state_location=str(tmp_path),
            mqtt_output=True,
            mqtt_address=broker.host,
            mqtt_port=broker.port,
        )
        assert publish_offline(env_settings) is True
        assert broker.retained(f"{root}/status")[f"{root}/status"].text == "offline"
        sim.advance(3600)
        assert run_read(sim, tmp_path, broker).code == 0
        second = broker.retained("#")
    assert set(first) == set(second)
    assert len([t for t in first if t.startswith("homeassistant/")]) > 100
    for topic, message in first.items():
        if topic.startswith("homeassistant/"):
            assert second[topic].payload == message.payload, topic
    assert second[f"{root}/status"].text == "online"
    assert first[f"{root}/Power/PV Power"].text != second[f"{root}/Power/PV Power"].text


@pytest.mark.servers
def test_publish_offline_needs_a_known_topic(mosquitto_anon, tmp_path, forget):
    unknown = settings(mqtt_port=mosquitto_anon.port, state_location=str(tmp_path))
    assert publish_offline(unknown) is False
    root = unique_root()
    forget(mosquitto_anon, f"{root}/#")
    assert publish_offline(settings(mqtt_port=mosquitto_anon.port, mqtt_topic=root)) is True
    assert mosquitto_anon.retained(f"{root}/#") == {
        f"{root}/status": MqttMessage(f"{root}/status", b"offline", 1, True)
    }


def test_publish_offline_broker_down(tmp_path, free_port):
    down = settings(mqtt_port=free_port, mqtt_topic="givtcp-test/down")
    with pytest.raises(OutputError, match=f"127.0.0.1:{free_port}: cannot connect"):
        publish_offline(down)


_CRASH = """
import os, sys
from givtcp.config import Settings
from outputs.mqtt import Connection, Message
settings = Settings(mqtt_address="127.0.0.1", mqtt_port=int(sys.argv[1]))
status = sys.argv[2]
with Connection(settings, "givtcp-crash-test", status) as connection:
    connection.publish([Message(status, "online", True)])
    os._exit(9)  # killed mid-run: no DISCONNECT
"""


@pytest.mark.servers
def test_last_will_marks_offline_when_a_run_dies(mosquitto_anon, forget):
    status = f"{unique_root()}/status"
    forget(mosquitto_anon, status)
    with mosquitto_anon.collect(status) as sub:
        crash = subprocess.run(
            [sys.executable, "-c", _CRASH, str(mosquitto_anon.port), status],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert crash.returncode == 9, crash.stderr
        sub.wait_for(topic=status, count=2)
    assert [(m.text, m.retain) for m in sub.snapshot()] == [("online", True), ("offline", True)]
    assert mosquitto_anon.retained(status)[status].text == "offline"


# --------------------------------------------------------------------------- bounded waits


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mqtt_output, "CONNECT_TIMEOUT", 0.5)
    monkeypatch.setattr(mqtt_output, "PUBLISH_TIMEOUT", 0.5)


@pytest.fixture
def mute_broker() -> Iterator[tuple[int, Callable[[], None]]]:
    """A TCP listener speaking no MQTT until told to answer CONNECT (and then never PUBACK)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    connack = threading.Event()

    def serve() -> None:
        with server.accept()[0] as conn:
            conn.recv(65536)  # CONNECT
            if connack.wait(5):
                conn.sendall(b"\x20\x02\x00\x00")  # CONNACK accepted
            while conn.recv(65536):  # swallow PUBLISHes
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], connack.set
    server.close()


def test_no_connack_is_an_error_not_a_hang(short_timeouts, mute_broker):
    port, _ = mute_broker
    started = time.monotonic()
    with pytest.raises(OutputError, match=f"127.0.0.1:{port}: no CONNACK"):
        create(settings(mqtt_port=port)).publish(PUB)
    assert time.monotonic() - started < 3


def test_unacknowledged_publishes_are_an_error(short_timeouts, mute_broker):
    port, answer = mute_broker
    answer()
    with pytest.raises(OutputError, match=r"\d+ of \d+ messages not acknowledged"):
        create(settings(mqtt_port=port)).publish(PUB)


# --------------------------------------------------------------------------- TLS


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificate(cwd: Path, name: str, ca: str | None, ip: str | None = None) -> None:
    """An EC key and certificate: self-signed when ``ca`` is None, else signed by ``ca``."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    subject = ["-subj", f"/CN={name}", "-keyout", f"{name}.key"]
    if ca is None:
        _openssl("req", "-x509", *key, *subject, "-out", f"{name}.crt", "-days", "2", cwd=cwd)
        return
    _openssl("req", *key, *subject, "-out", f"{name}.csr", cwd=cwd)
    (cwd / f"{name}.ext").write_text(f"subjectAltName=IP:{ip}\n" if ip else "")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
        cwd=cwd,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """mosquitto with a TLS listener, a TLS listener requiring client certificates and a plain
    one to read back what arrived; certificates from a test CA (plus an unrelated CA)."""
    if not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto not installed: run scripts/install-test-servers.sh")
    work = tmp_path_factory.mktemp("mqtt-tls")
    _certificate(work, "ca", None)
    _certificate(work, "other-ca", None)
    _certificate(work, "server", "ca", ip="127.0.0.1")
    _certificate(work, "client", "ca")
    tls, mutual, plain = find_free_port(), find_free_port(), find_free_port()
    tls_files = [
        f"cafile {work}/ca.crt",
        f"certfile {work}/server.crt",
        f"keyfile {work}/server.key",
    ]
    lines = ["user root"] if os.geteuid() == 0 else []
    lines += ["persistence false", "log_dest stderr", "allow_anonymous true"]
    lines += [f"listener {tls} 127.0.0.1", *tls_files]
    lines += [f"listener {mutual} 127.0.0.1", *tls_files, "require_certificate true"]
    lines += [f"listener {plain} 127.0.0.1"]
    (work / "tls.conf").write_text("\n".join(lines) + "\n")
    daemon = Daemon(
        "mosquitto (TLS)",
        ["/usr/sbin/mosquitto", "-c", str(work / "tls.conf")],
        work / "tls.log",
        lambda: all(_listening(p) for p in (tls, mutual, plain)),
    )
    daemon.start()
    yield {
        "dir": work,
        "tls": tls,
        "mutual": mutual,
        "plain": MqttBroker("127.0.0.1", plain, None, None, work, daemon),
    }
    daemon.stop()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _tls_settings(broker: dict[str, Any], port: str, **files: str) -> Settings:
    paths = {name: str(broker["dir"] / file) for name, file in files.items()}
    return settings(mqtt_port=broker[port], mqtt_tls=True, mqtt_topic=unique_root(), **paths)


@pytest.mark.servers
def test_tls_with_the_ca_file_delivers(tls_broker):
    tls = _tls_settings(tls_broker, "tls", mqtt_ca_file="ca.crt")
    create(tls).publish(PUB)
    held = tls_broker["plain"].retained(f"{tls.mqtt_topic}/#")
    assert held[f"{tls.mqtt_topic}/Power/PV Power"].text == "1234"


@pytest.mark.servers
def test_tls_refuses_a_broker_the_ca_did_not_sign(tls_broker):
    tls = _tls_settings(tls_broker, "tls", mqtt_ca_file="other-ca.crt")
    with pytest.raises(OutputError, match=r"(?i)certificate verify failed"):
        create(tls).publish(PUB)


@pytest.mark.servers
def test_tls_client_certificate(tls_broker):
    mutual = _tls_settings(
        tls_broker,
        "mutual",
        mqtt_ca_file="ca.crt",
        mqtt_cert_file="client.crt",
        mqtt_key_file="client.key",
    )
    create(mutual).publish(PUB)
    assert f"{mutual.mqtt_topic}/status" in tls_broker["plain"].retained(f"{mutual.mqtt_topic}/#")
    without = _tls_settings(tls_broker, "mutual", mqtt_ca_file="ca.crt")
    with pytest.raises(OutputError, match=f"MQTT broker 127.0.0.1:{tls_broker['mutual']}"):
        create(without).publish(PUB)


# --------------------------------------------------------------------------- Home Assistant


def _ours(registry: list[dict[str, Any]], serial: str) -> list[dict[str, Any]]:
    return [e for e in registry if (e.get("unique_id") or "").startswith(f"givtcp_{serial}_")]


def _devices(ha: Any, serial: str, batteries: list[str]) -> dict[tuple[str, ...], dict[str, Any]]:
    """HA's devices carrying our serials, by their identifiers (a duplicate would collide)."""
    found: dict[tuple[str, ...], dict[str, Any]] = {}
    for device in ha.device_registry():
        identifiers = tuple(identifier[1] for identifier in device["identifiers"])
        if set(identifiers) & {serial, *batteries}:
            assert identifiers not in found, f"two devices for {identifiers}"
            found[identifiers] = device
    return found


@pytest.mark.homeassistant
def test_home_assistant_discovers_entities_and_devices_once(home_assistant, tmp_path):
    ha, broker = home_assistant, home_assistant.mqtt
    with simulator(seed=409) as sim:
        serial = sim.truth()["plant"]["inverter_serial"]
        batteries = sim.truth()["plant"]["battery_serials"]
        run = run_read(sim, tmp_path, broker)
        assert run.code == 0, run.stderr
        out = run.json()
        s = serial.lower()
        expected = len(flatten(out, "root"))

        def state_is(value: Any) -> Callable[[dict[str, Any]], bool]:
            return lambda state: state["state"] == str(value)

        pv = ha.wait_for_entity(
            f"sensor.givtcp_{s}_pv_power", until=state_is(out["Power"]["PV Power"])
        )
        deadline = time.monotonic() + 30
        while len(_ours(ha.entity_registry(), s)) < expected and time.monotonic() < deadline:
            time.sleep(0.3)
        entities = _ours(ha.entity_registry(), s)
        assert len(entities) == expected

        assert pv["attributes"]["device_class"] == "power"
        assert pv["attributes"]["state_class"] == "measurement"
        assert pv["attributes"]["unit_of_measurement"] == "W"
        total = ha.get_state(f"sensor.givtcp_{s}_pv_energy_total_kwh")["attributes"]
        assert (total["device_class"], total["state_class"]) == ("energy", "total_increasing")
        assert total["unit_of_measurement"] == "kWh"
        load = ha.get_state(f"sensor.givtcp_{s}_load_energy_total_kwh")["attributes"]
        # A difference of counters can dip: no state class, so HA does not offer it as an
        # energy-dashboard source (README "Data quality").
        assert "state_class" not in load
        assert load["unit_of_measurement"] == "kWh"
        soc = ha.get_state(f"sensor.givtcp_{s}_soc")
        assert soc["state"] == str(out["Power"]["SOC"])
        assert (soc["attributes"]["device_class"], soc["attributes"]["unit_of_measurement"]) == (
            "battery",
            "%",
        )
        temperature = ha.get_state(f"sensor.givtcp_{s}_invertor_temperature")["attributes"]
        assert (temperature["device_class"], temperature["state_class"]) == (
            "temperature",
            "measurement",
        )
        mode = ha.get_state(f"sensor.givtcp_{s}_mode")
        assert mode["state"] == str(out["Control"]["Mode"])
        assert "state_class" not in mode["attributes"]
        slot = ha.get_state(f"sensor.givtcp_{s}_charge_start_time_slot_1")
        assert slot["state"] == out["Timeslots"]["Charge start time slot 1"]
        enabled = ha.get_state(f"binary_sensor.givtcp_{s}_charge_target_enabled")
        assert enabled["state"] == ("on" if out["Control"]["Charge Target Enabled"] else "off")
        for battery in batteries:
            battery_soc = ha.get_state(f"sensor.givtcp_{battery.lower()}_battery_soc")
            assert battery_soc["state"] == str(out["Battery Details"][battery]["Battery SOC"])

        devices = _devices(ha, serial, batteries)
        assert set(devices) == {(serial,), *((b,) for b in batteries)}
        inverter = devices[(serial,)]
        assert inverter["manufacturer"] == "GivEnergy"
        assert inverter["model"] == "Hybrid Gen1"
        assert inverter["sw_version"] == out["Invertor Details"]["Firmware Version"]
        for battery in batteries:
            assert devices[(battery,)]["via_device_id"] == inverter["id"]
        by_device = {e["entity_id"]: e["device_id"] for e in entities}
        assert by_device[f"sensor.givtcp_{s}_pv_power"] == inverter["id"]
        assert (
            by_device[f"sensor.givtcp_{batteries[0].lower()}_battery_soc"]
            == (devices[(batteries[0],)]["id"])
        )

        # a second run: new values on the same entities, nothing added
        sim.advance(3600)
        run = run_read(sim, tmp_path, broker)
        assert run.code == 0, run.stderr
        ha.wait_for_entity(
            f"sensor.givtcp_{s}_pv_power", until=state_is(run.json()["Power"]["PV Power"])
        )
        time.sleep(1.0)  # let any late discovery work finish before counting
        again = _ours(ha.entity_registry(), s)
        assert sorted(e["entity_id"] for e in again) == sorted(e["entity_id"] for e in entities)
        again_devices = _devices(ha, serial, batteries)
        assert {k: d["id"] for k, d in again_devices.items()} == {
            k: d["id"] for k, d in devices.items()
        }

        # the inverter could not be read: its entities become unavailable
        assert publish_offline(
            Settings(
                invertor_ip="127.0.0.1",
                invertor_port=sim.port,
                state_location=str(tmp_path),
                mqtt_output=True,
                mqtt_address=broker.host,
                mqtt_port=broker.port,
            )
        )
        ha.wait_for_entity(f"sensor.givtcp_{s}_pv_power", until=state_is("unavailable"))


@pytest.mark.servers
def test_unreadable_inverter_exits_1_and_marks_it_offline(mosquitto_stoppable, tmp_path):
    broker = mosquitto_stoppable
    with simulator(seed=409) as sim:
        root = f"GivEnergy/{sim.truth()['plant']['inverter_serial']}"
        assert run_read(sim, tmp_path, broker).code == 0
        assert broker.retained(f"{root}/status")[f"{root}/status"].text == "online"
        sim.faults.silent = True
        run = run_read(sim, tmp_path, broker)
    assert run.code == 1
    assert run.stdout == ""
    assert broker.retained(f"{root}/status")[f"{root}/status"].text == "offline"
