"""A garbled inverter serial that still fails its pattern after the re-reads is never
published, nor used as the MQTT root, client id or state key: the remembered serial stands in,
or it is left out and said so."""

from __future__ import annotations

import datetime as dt
import json

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)
GARBLED = "5G0"  # the simulator's garbled serial is "S\x00#2?5G0\xff1"


def ascii_serial(regs: dict[int, int]) -> str:
    return b"".join(regs[r].to_bytes(2, "big") for r in range(13, 18)).decode()


def mqtt_env(broker) -> dict[str, str]:
    return {
        "MQTT_OUTPUT": "true",
        "MQTT_ADDRESS": broker.host,
        "MQTT_PORT": str(broker.port),
        "NUM_BATTERIES": "1",
    }


def test_a_garbled_serial_is_replaced_by_the_remembered_one(mosquitto_anon, tmp_path):
    with Simulator(SimulatorConfig(seed=31, speed=0.0, start_time=NOON, batteries=1)) as sim:
        serial = ascii_serial(sim.truth()["holding"])
        env = sim_env(sim.port, tmp_path, NUM_BATTERIES="1")
        assert run_script("read.py", "runAll", env=env).code == 0  # remembers the serial
        sim.faults.garbled_serial_rate = 1.0
        with mosquitto_anon.collect("GivEnergy/#") as sub:
            run = run_script("read.py", "runAll", env={**env, **mqtt_env(mosquitto_anon)})
            assert run.code == 0, run.stderr
            sub.wait_for(topic=f"GivEnergy/{serial}/Data Quality", timeout=10)
            topics = set(sub.by_topic())
    try:
        out = run.json()
        assert out["Invertor Details"]["Invertor Serial Number"] == serial
        assert "after 3 reads" in out["Data Quality"]["held"]["serial_number"]
        assert f"GivEnergy/{serial}/Power/PV Power" in topics
        assert not [t for t in topics if GARBLED in t], topics
        (state,) = tmp_path.glob("last-good-*.json")
        assert [k for k in json.loads(state.read_text()) if k.startswith("inverter:")] == [
            f"inverter:{serial}"
        ]
    finally:
        mosquitto_anon.clear_retained(f"GivEnergy/{serial}/#")


def test_with_none_remembered_the_serial_is_left_out_and_mqtt_says_why(mosquitto_anon, tmp_path):
    with Simulator(SimulatorConfig(seed=32, speed=0.0, start_time=NOON, batteries=1)) as sim:
        sim.faults.garbled_serial_rate = 1.0
        env = sim_env(sim.port, tmp_path, **mqtt_env(mosquitto_anon))
        with mosquitto_anon.collect("GivEnergy/#") as sub:
            run = run_script("read.py", "runAll", env=env)
            topics = set(sub.by_topic())
    assert run.code == 3, run.stderr  # the JSON is out; MQTT could not name its topics
    out = run.json()
    assert "Invertor Serial Number" not in out["Invertor Details"]
    why = out["Data Quality"]["rejected"]["Invertor Details/Invertor Serial Number"]
    assert "after 3 reads" in why and "left out" in why
    assert "serial could not be read" in run.stderr
    assert not [t for t in topics if GARBLED in t or "None" in t], topics
    (state,) = tmp_path.glob("last-good-*.json")
    assert not [k for k in json.loads(state.read_text()) if k.startswith("inverter:")]
