"""Home Assistant discovery configs built from a real read of the simulator (no broker)."""

from __future__ import annotations

import json

import pytest

from outputs import Publication
from outputs.ha_discovery import DISCOVERY_PREFIX, discovery_messages, slug
from outputs.mqtt import payload, state_values
from tests.outputs import read_publication, simulator

ROOT = "test/root"


@pytest.fixture(scope="module")
def pub(tmp_path_factory: pytest.TempPathFactory) -> Publication:
    with simulator(seed=401) as sim:
        return read_publication(sim, tmp_path_factory.mktemp("state"), print_raw=True)


def configs(publication: Publication) -> dict[str, dict]:
    """config topic -> parsed config, failing on a topic built twice."""
    messages = discovery_messages(publication, state_values(publication, ROOT), ROOT)
    topics = [topic for topic, _ in messages]
    assert len(topics) == len(set(topics)), "a config topic is built twice"
    return {topic: json.loads(body) for topic, body in messages}


def by_state_topic(publication: Publication) -> dict[str, dict]:
    return {c["state_topic"]: c for c in configs(publication).values()}


def test_every_value_gets_one_config_with_unique_ids(pub):
    found = configs(pub)
    values = [
        v
        for v in state_values(pub, ROOT)
        if v.group not in ("raw/holding", "raw/input", "Data Quality")
    ]
    assert len(values) > 100  # inverter groups and two batteries' worth
    assert sorted(c["state_topic"] for c in found.values()) == sorted(v.topic for v in values)
    for field in ("unique_id", "object_id", "default_entity_id"):
        ids = [c[field] for c in found.values()]
        assert len(ids) == len(set(ids)), f"duplicate {field}"
    node = f"givtcp_{pub.serial.lower()}"
    for topic, config in found.items():
        prefix, component, node_id, object_id, last = topic.split("/")
        assert (prefix, node_id, last) == (DISCOVERY_PREFIX, node, "config")
        assert component in ("sensor", "binary_sensor")
        assert config["object_id"] == object_id
        assert config["default_entity_id"] == f"{component}.{object_id}"
        assert config["availability_topic"] == f"{ROOT}/status"
        assert (config["payload_available"], config["payload_not_available"]) == (
            "online",
            "offline",
        )
        assert config["name"] == config["state_topic"].rsplit("/", 1)[1]


def test_entity_ids_follow_the_serial_and_key(pub):
    found = by_state_topic(pub)
    serial = pub.serial.lower()
    pv = found[f"{ROOT}/Power/PV Power"]
    assert pv["default_entity_id"] == f"sensor.givtcp_{serial}_pv_power"
    assert pv["unique_id"] == f"givtcp_{serial}_pv_power"
    today = found[f"{ROOT}/Energy/Today/PV Energy Today kWh"]
    assert today["object_id"] == f"givtcp_{serial}_pv_energy_today_kwh"
    battery = next(iter(pub.groups["Battery Details"]))
    cells = found[f"{ROOT}/Battery Details/{battery}/Battery Cells 1-4 Temperature"]
    assert cells["object_id"] == f"givtcp_{battery.lower()}_battery_cells_1_4_temperature"
    assert cells["unique_id"] == f"givtcp_{serial}_{battery.lower()}_battery_cells_1_4_temperature"


# Differences of counters (registers.md §10.1: Load = formula with subtractions, Self
# Consumption = PV - Export, Import for Load = IR26 - IR35) can dip; sums of counters cannot.
# README "Data quality": values that can dip get no state class, so Home Assistant does not
# offer them as energy-dashboard sources.
DIPPING = {
    "Load Energy Today kWh",
    "Load Energy Total kWh",
    "Self Consumption Energy Today kWh",
    "Self Consumption Energy Total kWh",
    "Import for Load Energy Today kWh",
}
# HR114, HR110, HR116, HR50: settings in %
CONTROL_PERCENT = {
    "Battery Power Reserve",
    "Battery SOC Reserve",
    "Target SOC",
    "Active Power Rate",
}
CONTROL_WATTS = {"Export Limit"}  # HR26: a power, in W (registers.md)


def expected_fields(group: str, key: str) -> tuple[str | None, str | None, str | None]:
    """(unit_of_measurement, device_class, state_class) worked out from the key alone, with
    Home Assistant's sensor documentation: each device class with its unit (energy kWh, power
    W, battery %, temperature °C, voltage V, current A); energy sensors take state_class
    total_increasing; energy that may fall gets none; other numbers are measurements."""
    if group.startswith("Energy/") or key.endswith("Energy Total kWh"):
        return "kWh", "energy", None if key in DIPPING else "total_increasing"
    if key in CONTROL_PERCENT:
        return "%", None, "measurement"  # settings, not battery levels
    if key in CONTROL_WATTS:
        return "W", "power", "measurement"
    for suffix, unit, device_class in [
        ("SOC", "%", "battery"),
        ("Temperature", "°C", "temperature"),
        ("Voltage", "V", "voltage"),
        ("Voltage Sum", "V", "voltage"),
        ("Current", "A", "current"),
        (" Ah", "Ah", None),  # Home Assistant has no charge device class
    ]:
        if key.endswith(suffix):
            return unit, device_class, "measurement"
    if group.startswith("Power"):
        return "W", "power", "measurement"
    if key == "Battery Cycles":
        return None, None, "total_increasing"
    return None, None, None  # text, times, serials, settings


def test_units_and_classes_follow_home_assistants_sensor_docs(pub):
    checked = 0
    found = by_state_topic(pub)
    for value in state_values(pub, ROOT):
        config = found.get(value.topic)
        if config is None or isinstance(value.value, bool):
            continue
        unit, device_class, state_class = expected_fields(value.group, value.key)
        expected = {
            "unit_of_measurement": unit,
            "device_class": device_class,
            "state_class": state_class,
        }
        assert {k: config.get(k) for k in expected} == expected, value.topic
        checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("topic", "unit", "device_class", "state_class"),
    [
        ("Power/PV Power", "W", "power", "measurement"),
        ("Power/Grid Power", "W", "power", "measurement"),
        ("Power/SOC", "%", "battery", "measurement"),
        ("Invertor Details/Invertor Temperature", "°C", "temperature", "measurement"),
        ("Energy/Total/PV Energy Total kWh", "kWh", "energy", "total_increasing"),
        ("Energy/Today/Import Energy Today kWh", "kWh", "energy", "total_increasing"),
        # computed from several counters, so it can dip: no state class, so HA does not
        # offer it as an energy-dashboard source nor keep statistics of it
        ("Energy/Total/Load Energy Total kWh", "kWh", "energy", None),
        ("Energy/Today/Load Energy Today kWh", "kWh", "energy", None),
        ("Energy/Today/Import for Load Energy Today kWh", "kWh", "energy", None),
        ("Energy/Today/Self Consumption Energy Today kWh", "kWh", "energy", None),
        ("Energy/Total/Self Consumption Energy Total kWh", "kWh", "energy", None),
    ],
)
def test_power_soc_temperature_and_energy_classes(pub, topic, unit, device_class, state_class):
    config = by_state_topic(pub)[f"{ROOT}/{topic}"]
    assert config["unit_of_measurement"] == unit
    assert config["device_class"] == device_class
    assert config.get("state_class") == state_class


def test_battery_values_have_their_classes(pub):
    battery = next(iter(pub.groups["Battery Details"]))
    found = by_state_topic(pub)
    soc = found[f"{ROOT}/Battery Details/{battery}/Battery SOC"]
    assert (soc["device_class"], soc["state_class"], soc["unit_of_measurement"]) == (
        "battery",
        "measurement",
        "%",
    )
    cell = found[f"{ROOT}/Battery Details/{battery}/Battery Cell 7 Voltage"]
    assert (cell["device_class"], cell["unit_of_measurement"]) == ("voltage", "V")
    cycles = found[f"{ROOT}/Battery Details/{battery}/Battery Cycles"]
    assert cycles["state_class"] == "total_increasing"


@pytest.mark.parametrize(
    "topic",
    [
        "Control/Mode",
        "Control/Charge Schedule State",
        "Timeslots/Charge start time slot 1",
        "Invertor Details/Invertor Serial Number",
        "Invertor Details/Firmware Version",
    ],
)
def test_text_values_are_plain_sensors(pub, topic):
    config = by_state_topic(pub)[f"{ROOT}/{topic}"]
    assert config["default_entity_id"].startswith("sensor.")
    for field in ("unit_of_measurement", "device_class", "state_class"):
        assert field not in config, (topic, field)


def test_booleans_are_binary_sensors_with_the_published_payloads(pub):
    assert isinstance(pub.groups["Control"]["Charge Target Enabled"], bool)
    config = by_state_topic(pub)[f"{ROOT}/Control/Charge Target Enabled"]
    assert config["default_entity_id"] == (
        f"binary_sensor.givtcp_{pub.serial.lower()}_charge_target_enabled"
    )
    assert (config["payload_on"], config["payload_off"]) == (payload(True), payload(False))
    assert "state_class" not in config


def test_inverter_and_batteries_are_separate_devices(pub):
    found = by_state_topic(pub)
    inverter = found[f"{ROOT}/Power/PV Power"]["device"]
    assert inverter == {
        "identifiers": [pub.serial],
        "manufacturer": "GivEnergy",
        "model": pub.device["model"],
        "sw_version": pub.device["firmware"],
        "name": f"GivEnergy inverter {pub.serial}",
    }
    assert inverter["model"] and inverter["sw_version"]
    batteries = pub.groups["Battery Details"]
    assert len(batteries) == 2
    for serial, values in batteries.items():
        device = found[f"{ROOT}/Battery Details/{serial}/Battery SOC"]["device"]
        assert device == {
            "identifiers": [serial],
            "manufacturer": "GivEnergy",
            "model": "Battery",
            "name": f"GivEnergy battery {serial}",
            "sw_version": str(values["Battery Firmware Version"]),
            "via_device": pub.serial,
        }
    # every inverter value shares one device block, every battery value its battery's
    devices = {json.dumps(c["device"], sort_keys=True) for c in found.values()}
    assert len(devices) == 3


def test_configs_are_the_same_on_the_next_run(tmp_path):
    with simulator(seed=402) as sim:
        first = read_publication(sim, tmp_path)
        sim.advance(5 * 3600)  # evening: other powers, energies and SOC
        # a state of its own: against the first read's counters, 5 h of the simulator's
        # frozen clock would be 5 h of energy in no host time, rejected (and held)
        second = read_publication(sim, tmp_path / "later")
    assert first.groups["Power"] != second.groups["Power"]
    assert configs(first) == configs(second)


def test_raw_registers_and_data_quality_are_not_entities(tmp_path):
    with simulator(seed=403) as sim:
        sim.faults.garbage_values_rate = 1.0
        garbled = read_publication(sim, tmp_path, print_raw=True)
    assert garbled.groups["Data Quality"]["rejected"]
    assert "raw/holding" in garbled.groups
    groups = {c["state_topic"].split("/")[2] for c in configs(garbled).values()}
    assert groups
    assert not groups & {"raw", "Data Quality"}


def test_slug_matches_home_assistant_entity_ids():
    assert slug("PV Energy Today kWh") == "pv_energy_today_kwh"
    assert slug("Battery Cells 13-16 Temperature") == "battery_cells_13_16_temperature"
    assert slug("SA2218G842") == "sa2218g842"
    assert slug(" Solar to  House ") == "solar_to_house"
