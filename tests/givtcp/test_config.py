"""Settings: settings.py values, ENV overrides, parsing and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from givenergy_modbus_codec.errors import SettingsError
from givtcp.config import SPECS, Settings, load_settings

TEMPLATE = Path(__file__).resolve().parents[2] / "settings_template.py"


def write_settings(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "settings.py"
    path.write_text("class GiV_Settings:\n" + body)
    return path


def test_template_loads_with_documented_defaults():
    settings = load_settings(env={}, settings_file=TEMPLATE)
    assert settings.invertor_ip == ""
    assert settings.invertor_port == 8899
    assert settings.json_output is True
    assert settings.mqtt_output is False
    assert settings.num_batteries is None
    assert settings.mqtt_retain is True


def test_template_names_every_setting_and_its_env_variable():
    text = TEMPLATE.read_text()
    for spec in SPECS:
        assert f"    {spec.file_name} = " in text, spec.file_name
        assert f"[{spec.env}]" in text, spec.env


def test_environment_overrides_settings_file(tmp_path):
    path = write_settings(tmp_path, '    invertorIP = "10.0.0.9"\n    MQTT_Output = "False"\n')
    env = {"INVERTOR_IP": "127.0.0.1", "MQTT_OUTPUT": "yes", "MQTT_PORT": "18830"}
    settings = load_settings(env=env, settings_file=path)
    assert settings.invertor_ip == "127.0.0.1"
    assert settings.mqtt_output is True
    assert settings.mqtt_port == 18830


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("True", True),
        ("true", True),
        ("1", True),
        ("yes", True),
        ("False", False),
        ("0", False),
        ("no", False),
        ("", False),
    ],
)
def test_booleans_accept_common_spellings(raw, expected):
    assert load_settings(env={"PRINT_RAW": raw}, settings_file=TEMPLATE).print_raw is expected


def test_python_booleans_in_settings_file(tmp_path):
    path = write_settings(tmp_path, "    Print_Raw_Registers = True\n")
    assert load_settings(env={}, settings_file=path).print_raw is True


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"MQTT_PORT": "abc"}, "MQTT_PORT must be a whole number"),
        ({"INVERTOR_PORT": "70000"}, "INVERTOR_PORT must be between 1 and 65535"),
        ({"NUM_BATTERIES": "9"}, "NUM_BATTERIES must be between 0 and 6"),
        ({"DEBUG": "maybe"}, "DEBUG must be True or False"),
    ],
)
def test_malformed_values_name_the_setting(env, fragment):
    with pytest.raises(SettingsError, match=fragment):
        load_settings(env=env, settings_file=TEMPLATE)


def test_missing_inverter_address_says_how_to_fix():
    settings = load_settings(env={}, settings_file=TEMPLATE)
    with pytest.raises(SettingsError, match="INVERTOR_IP"):
        settings.require_inverter()


def test_broken_settings_file_is_reported(tmp_path):
    path = tmp_path / "settings.py"
    path.write_text("class GiV_Settings:\n    invertorIP = \n")
    with pytest.raises(SettingsError, match="has an error"):
        load_settings(env={}, settings_file=path)
    path.write_text("invertorIP = '1.2.3.4'\n")
    with pytest.raises(SettingsError, match="class GiV_Settings"):
        load_settings(env={}, settings_file=path)


def test_secrets_never_in_repr():
    settings = Settings(
        mqtt_password="pw-123", influx_token="tok-456", ha_token="ha-789", rest_token="rest-000"
    )
    text = repr(settings)
    for secret in ("pw-123", "tok-456", "ha-789", "rest-000"):
        assert secret not in text
    assert sorted(settings.secrets()) == sorted(["pw-123", "tok-456", "ha-789", "rest-000"])
