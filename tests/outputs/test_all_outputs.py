"""Issue 4's "done": one read.py runAll with every output on delivers every value to all four
real destinations (stdout JSON, mosquitto, VictoriaMetrics, Home Assistant) at once."""

from __future__ import annotations

import pytest

from tests.outputs import simulator
from tests.outputs.test_homeassistant import expected_states
from tests.outputs.test_influx import by_name, expected_series
from tests.outputs.test_mqtt import as_json_value, flatten, unique_root
from tests.scripts import run_script, sim_env


@pytest.mark.homeassistant
def test_run_all_with_every_output_on(mosquitto_anon, victoria_metrics, home_assistant, tmp_path):
    root = unique_root()
    with simulator(seed=777) as sim:
        env = sim_env(
            sim.port,
            tmp_path,
            NUM_BATTERIES=str(len(sim.truth()["batteries"])),
            MQTT_OUTPUT="true",
            MQTT_ADDRESS=mosquitto_anon.host,
            MQTT_PORT=str(mosquitto_anon.port),
            MQTT_TOPIC=root,
            HA_DISCOVERY="false",
            INFLUX_OUTPUT="true",
            INFLUX_URL=victoria_metrics.url,
            INFLUX_TOKEN="any",  # VictoriaMetrics ignores it; INFLUX_OUTPUT requires one
            HA_OUTPUT="true",
            HA_URL=home_assistant.url,
            HA_TOKEN=home_assistant.token,
        )
        with mosquitto_anon.collect(f"{root}/#") as sub:
            run = run_script("read.py", "runAll", env=env)
            assert run.code == 0, run.stderr
            out = run.json()
            want_topics = flatten(out, root)
            sub.wait_for(topic=f"{root}/Data Quality", timeout=10)
            got = sub.by_topic()
    try:
        for topic, value in want_topics.items():
            assert as_json_value(got[topic], value) == value, topic

        series = expected_series(out)
        serial = out["Invertor Details"]["Invertor Serial Number"]
        exported = by_name(
            victoria_metrics.export(f'{{serial="{serial}"}}', until=lambda s: len(s) >= len(series))
        )
        for name, value in series.items():
            assert exported[name]["values"][-1] == value, name

        for entity_id, (state, *_rest) in expected_states(out).items():
            assert home_assistant.get_state(entity_id)["state"] == state, entity_id
    finally:
        mosquitto_anon.clear_retained(f"{root}/#")
