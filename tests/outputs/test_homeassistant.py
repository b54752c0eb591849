"""Home Assistant REST states output against a real Home Assistant 2024.3.3 on loopback."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givtcp import report
from givtcp.config import Settings
from outputs import OutputError, Publication
from outputs.homeassistant import create
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)
INVERTER_GROUPS = (
    "Power",
    "Power/Flows",
    "Energy/Today",
    "Energy/Total",
    "Invertor Details",
    "Control",
    "Timeslots",
)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(SimulatorConfig(seed=21, speed=0.0, start_time=NOON, batteries=2))
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


def ha_env(sim: Simulator, state: Path, url: str, token: str) -> dict[str, str]:
    return sim_env(sim.port, state, HA_OUTPUT="true", HA_URL=url, HA_TOKEN=token, NUM_BATTERIES="2")


def expected_states(out: dict[str, Any]) -> dict[str, tuple[str, str, str, str | None]]:
    """entity id -> (state, group, key, battery serial) for every value of a run's JSON."""

    def ident(key: str, value: Any, battery: str | None) -> str:
        domain = "binary_sensor" if isinstance(value, bool) else "sensor"
        name = key.lower().replace(" ", "_").replace("-", "_")
        return f"{domain}.givtcp_{name}" + (f"_{battery.lower()}" if battery else "")

    def text(value: Any) -> str:
        return ("on" if value else "off") if isinstance(value, bool) else str(value)

    states = {
        ident(key, value, None): (text(value), group, key, None)
        for group in INVERTER_GROUPS
        for key, value in out[group].items()
    }
    for battery, values in out["Battery Details"].items():
        for key, value in values.items():
            states[ident(key, value, battery)] = (text(value), "Battery Details", key, battery)
    count = sum(len(out[g]) for g in INVERTER_GROUPS)
    assert len(states) == count + sum(len(v) for v in out["Battery Details"].values())
    return states


def check_attributes(entity_id: str, attributes: dict[str, Any], group: str, key: str,
                     battery: str | None) -> None:  # fmt: skip
    assert attributes["friendly_name"] == f"GivTCP {key}" + (f" {battery}" if battery else "")
    classes = {k: v for k, v in attributes.items() if k != "friendly_name"}
    if group in ("Energy/Today", "Energy/Total") or key.endswith("Energy Total kWh"):
        assert classes["unit_of_measurement"] == "kWh", entity_id
        assert classes["device_class"] == "energy", entity_id  # v1.0 said "power"
        # raw counters total_increasing; computed ones (they can dip) have no state class
        assert classes.get("state_class") in (None, "total_increasing"), entity_id
    elif group in ("Power", "Power/Flows") and key != "SOC":
        assert classes == {
            "unit_of_measurement": "W",
            "device_class": "power",
            "state_class": "measurement",
        }, entity_id
    elif "SOC" in key and group != "Control":
        assert classes == {
            "unit_of_measurement": "%",
            "device_class": "battery",
            "state_class": "measurement",
        }, entity_id
    elif key.endswith("Temperature"):
        assert classes == {
            "unit_of_measurement": "°C",
            "device_class": "temperature",
            "state_class": "measurement",
        }, entity_id
    elif key.endswith("Voltage") or key == "Battery Cells Voltage Sum":
        assert classes == {
            "unit_of_measurement": "V",
            "device_class": "voltage",
            "state_class": "measurement",
        }, entity_id
    elif group in ("Timeslots", "Invertor Details") or key.endswith(("State", "Mode", "Number")):
        assert classes == {}, entity_id  # text: no unit, no classes


@pytest.mark.homeassistant
def test_run_all_creates_every_state_then_updates_them(home_assistant, sim, tmp_path):
    ha = home_assistant
    # Which entities this run will post: from a JSON-only run; start from none of them.
    plain = run_script("read.py", "runAll", env=sim_env(sim.port, tmp_path, NUM_BATTERIES="2"))
    assert plain.code == 0, plain.stderr
    for entity_id in expected_states(plain.json()):
        assert ha.api("DELETE", f"/api/states/{entity_id}").status_code in (200, 404)

    env = ha_env(sim, tmp_path, ha.url, ha.token)
    first = run_script("read.py", "runAll", "-v", env=env)
    assert first.code == 0, first.stderr
    assert ha.token not in first.stderr
    expected = expected_states(first.json())
    assert f"Home Assistant: {len(expected)} states created, 0 updated" in first.stderr
    for entity_id, (state, group, key, battery) in expected.items():
        got = ha.get_state(entity_id)
        assert got is not None, entity_id
        assert got["state"] == state, entity_id
        check_attributes(entity_id, got["attributes"], group, key, battery)

    out = first.json()
    battery = next(iter(out["Battery Details"])).lower()
    assert ha.get_state("sensor.givtcp_pv_energy_total_kwh")["attributes"] == {
        "friendly_name": "GivTCP PV Energy Total kWh",
        "unit_of_measurement": "kWh",
        "device_class": "energy",
        "state_class": "total_increasing",
    }
    # computed from several counters, it can dip: no state class (not an energy-dashboard source)
    assert "state_class" not in ha.get_state("sensor.givtcp_load_energy_today_kwh")["attributes"]
    assert ha.get_state("sensor.givtcp_pv_power")["state"] == str(out["Power"]["PV Power"])
    assert ha.get_state("binary_sensor.givtcp_charge_target_enabled")["state"] in ("on", "off")
    assert ha.get_state(f"sensor.givtcp_battery_cells_1_4_temperature_{battery}") is not None
    assert ha.get_state("sensor.givtcp_target_soc")["attributes"]["unit_of_measurement"] == "%"
    assert "Data Quality" not in out  # nothing rejected, so nothing hidden from HA here

    before = {s["entity_id"] for s in ha.states()}
    sim.advance(300)
    second = run_script("read.py", "runAll", "-v", env=env)
    assert second.code == 0, second.stderr
    assert f"Home Assistant: 0 states created, {len(expected)} updated" in second.stderr
    assert {s["entity_id"] for s in ha.states()} == before
    again = expected_states(second.json())
    assert set(again) == set(expected)
    assert again != expected  # the plant moved on
    for entity_id, (state, *_rest) in again.items():
        assert ha.get_state(entity_id)["state"] == state, entity_id


@pytest.mark.homeassistant
def test_wrong_token_fails_with_a_clear_message(home_assistant, sim, tmp_path):
    run = run_script("read.py", "runAll", env=ha_env(sim, tmp_path, home_assistant.url, "nope"))
    assert run.code == 3
    assert "Home Assistant output failed: HA_TOKEN is wrong" in run.stderr
    assert "refused the token (HTTP 401)" in run.stderr
    assert "Traceback" not in run.stderr
    assert "Power" in run.json()  # the JSON output still delivered


def test_home_assistant_down_fails_naming_ha_url(sim, tmp_path, free_port):
    url = f"http://127.0.0.1:{free_port}"
    run = run_script("read.py", "runAll", env=ha_env(sim, tmp_path, url, "some-token"))
    assert run.code == 3
    assert f"cannot reach Home Assistant at HA_URL {url}: Connection refused" in run.stderr
    assert "some-token" not in run.stderr
    assert "Power" in run.json()


@pytest.mark.homeassistant
def test_refused_values_do_not_stop_the_others(home_assistant):
    """Text and boolean values, Data Quality never published, one id HA refuses (HTTP 400)."""
    tag = uuid.uuid4().hex[:8]
    power, slot, flag = f"Test {tag} Power", f"Test {tag} Slot", f"Test {tag} Enabled"
    publication = Publication(
        serial="SA0000T001",
        groups={
            "Power": {power: 1234, "---": 5},
            "Timeslots": {slot: "0030"},
            "Control": {flag: True},
            "Data Quality": {"rejected": {f"Power/Test {tag} Load": "65535 W"}},
        },
        meta={("Power", power): report.Entry("Power", power, (), str, "W", "power", "measurement")},
    )
    sink = create(Settings(ha_url=home_assistant.url + "/", ha_token=home_assistant.token))
    with pytest.raises(
        OutputError, match=r"refused 1 of 4 states, e\.g\. sensor\.givtcp_: HTTP 400"
    ):
        sink.publish(publication)
    posted = home_assistant.get_state(f"sensor.givtcp_test_{tag}_power")
    assert posted["state"] == "1234"
    assert posted["attributes"] == {
        "friendly_name": f"GivTCP {power}",
        "unit_of_measurement": "W",
        "device_class": "power",
        "state_class": "measurement",
    }
    assert home_assistant.get_state(f"sensor.givtcp_test_{tag}_slot")["state"] == "0030"
    assert home_assistant.get_state(f"binary_sensor.givtcp_test_{tag}_enabled")["state"] == "on"
    assert {s["entity_id"] for s in home_assistant.states() if tag in s["entity_id"]} == {
        f"sensor.givtcp_test_{tag}_power",
        f"sensor.givtcp_test_{tag}_slot",
        f"binary_sensor.givtcp_test_{tag}_enabled",
    }


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        (Settings(ha_url="homeassistant.local:8123", ha_token="t"), "HA_URL must be"),
        (Settings(ha_url="http://127.0.0.1:8123", ha_token=""), "HA_TOKEN is empty"),
    ],
)
def test_bad_settings_are_refused_before_any_request(settings, words):
    with pytest.raises(OutputError, match=words):
        create(settings)
