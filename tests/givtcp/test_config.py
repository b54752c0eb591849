"""Settings: settings.py values, ENV overrides, parsing and clear errors."""

from __future__ import annotations

import os
import re
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
    env["MQTT_ADDRESS"] = "127.0.0.1"
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


# --------------------------------------------------------------------------- outputs (item 17)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"MQTT_OUTPUT": "1"}, re.escape("MQTT_ADDRESS (settings.py MQTT_Address) is empty")),
        ({"MQTT_OUTPUT": "1", "MQTT_ADDRESS": "tcp://10.0.0.2"}, "MQTT_ADDRESS"),
        ({"MQTT_OUTPUT": "1", "MQTT_ADDRESS": "my broker"}, "MQTT_ADDRESS"),
        (
            {"MQTT_OUTPUT": "1", "MQTT_ADDRESS": "b", "MQTT_TLS": "1", "MQTT_CERT_FILE": __file__},
            "MQTT_KEY_FILE",
        ),
        (
            {"MQTT_OUTPUT": "1", "MQTT_ADDRESS": "b", "MQTT_TLS": "1", "MQTT_CA_FILE": "/no/ca"},
            re.escape("MQTT_CA_FILE (settings.py MQTT_CA_File) /no/ca is not a file"),
        ),
        ({"HA_OUTPUT": "1", "HA_TOKEN": "t"}, re.escape("HA_URL (settings.py HA_url) is empty")),
        ({"HA_OUTPUT": "1", "HA_TOKEN": "t", "HA_URL": "http://"}, "HA_URL .* has no host"),
        ({"HA_OUTPUT": "1", "HA_TOKEN": "t", "HA_URL": "http://h:8123/?x=1"}, "HA_URL .*query"),
        ({"HA_OUTPUT": "1", "HA_URL": "https://h:8123"}, "HA_TOKEN"),
        ({"INFLUX_OUTPUT": "1", "INFLUX_TOKEN": "t", "INFLUX_URL": "localhost:8086"}, "http://"),
        ({"INFLUX_OUTPUT": "1", "INFLUX_TOKEN": "t", "INFLUX_URL": "http://h:port"}, "port"),
        ({"INFLUX_OUTPUT": "1"}, "INFLUX_TOKEN"),
        ({"INFLUX_OUTPUT": "1", "INFLUX_TOKEN": "t", "INFLUX_ORG": " "}, "INFLUX_ORG"),
        ({"INVERTOR_IP": "http://192.168.1.50"}, "INVERTOR_IP .* without a scheme"),
        ({"INVERTOR_IP": "x" * 254}, "INVERTOR_IP .* 254 characters"),
    ],
)
def test_incomplete_or_malformed_output_settings_name_the_setting(env, fragment):
    with pytest.raises(SettingsError, match=fragment):
        load_settings(env=env, settings_file=TEMPLATE)


def test_complete_output_settings_load():
    env = {
        "MQTT_OUTPUT": "1",
        "MQTT_ADDRESS": "fe80::1",
        "INFLUX_OUTPUT": "1",
        "INFLUX_URL": "https://influx.example:8086/base",
        "INFLUX_TOKEN": "t",
        "HA_OUTPUT": "1",
        "HA_URL": "http://homeassistant.local:8123",
        "HA_TOKEN": "t",
    }
    settings = load_settings(env=env, settings_file=TEMPLATE)
    assert (settings.mqtt_output, settings.influx_output, settings.ha_output) == (True,) * 3


def test_switched_off_outputs_are_not_checked():
    settings = load_settings(env={"HA_URL": "nonsense", "INFLUX_URL": ""}, settings_file=TEMPLATE)
    assert settings.ha_url == "nonsense"


# --------------------------------------------------------------------------- state (16, 19)


def test_state_defaults_beside_the_settings_file(tmp_path):
    path = write_settings(tmp_path, '    invertorIP = "10.0.0.9"\n')
    settings = load_settings(env={}, settings_file=path)
    assert settings.state_folder == str(tmp_path / ".state")
    assert settings.debug_file_location == str(tmp_path / ".state")


def test_without_a_settings_file_state_goes_to_the_per_user_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the project's own settings.py, if any, must not be found
    monkeypatch.setattr("givtcp.config.PROJECT_ROOT", str(tmp_path))
    env = {"HOME": str(tmp_path / "home")}
    settings = load_settings(env=env)
    assert settings.state_folder == str(tmp_path / "home" / ".local" / "state" / "givtcp")
    xdg = load_settings(env={**env, "XDG_STATE_HOME": str(tmp_path / "xdg")})
    assert xdg.state_folder == str(tmp_path / "xdg" / "givtcp")
    assert xdg.debug_file_location == xdg.state_folder


def test_explicit_state_and_debug_folders_win(tmp_path):
    env = {"STATE_LOCATION": str(tmp_path / "s"), "DEBUG_FILE_LOCATION": str(tmp_path / "d")}
    settings = load_settings(env=env, settings_file=TEMPLATE)
    assert settings.state_folder == str(tmp_path / "s")
    assert settings.debug_file_location == str(tmp_path / "d")


def test_state_file_names_are_safe_and_bounded(tmp_path):
    short = Settings(invertor_ip="192.168.1.50", invertor_port=8899, state_location=str(tmp_path))
    assert short.state_file("last-good") == str(tmp_path / "last-good-192_168_1_50-8899.json")
    hosts = ["a" * 253, "a" * 252 + "b", "dongle.local/../../etc", "dongle-é"]
    names = [
        os.path.basename(Settings(invertor_ip=h, state_location=str(tmp_path)).state_file("x"))
        for h in hosts
    ]
    assert len(set(names)) == len(names)  # one file per inverter, however long its name
    for name in names:
        assert len(name.encode()) <= 100 and name.isascii() and "/" not in name
        (tmp_path / name).write_text("{}")  # the file system takes it
    lock = Settings(invertor_ip="a" * 253).transport_config().default_lock_path()
    bounded = Settings(invertor_ip="a" * 253).transport_config().lock_path
    assert len(os.path.basename(lock)) > 255 and len(os.path.basename(bounded)) <= 120


def test_unusable_state_folders_are_setting_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for folder in (blocker, blocker / "below"):
        with pytest.raises(SettingsError, match=r"STATE_LOCATION .*State_Location"):
            Settings(state_location=str(folder)).check_state_folder()
    fresh = tmp_path / "new" / "state"
    Settings(state_location=str(fresh)).check_state_folder()
    assert fresh.is_dir() and list(fresh.iterdir()) == []  # created, and the probe removed


def test_missing_temporary_folder_moves_the_dongle_lock(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "missing"))
    config = Settings(invertor_ip="127.0.0.1").transport_config()
    assert os.path.dirname(config.lock_path) in ("/tmp", "/var/tmp")
    assert "TMPDIR" in caplog.text


# --------------------------------------------------------------------------- secrets (item 18)


def test_an_unquoted_secret_is_never_in_the_error(tmp_path):
    path = write_settings(tmp_path, '    invertorIP = "1.2.3.4"\n    influxToken = abc123SECRET\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(env={}, settings_file=path)
    message = str(caught.value)
    assert "abc123SECRET" not in message
    assert "line 3" in message and "influxToken" in message and "quotes" in message
    assert caught.value.__cause__ is None  # nor in a chained traceback


def test_a_syntax_error_never_quotes_the_line(tmp_path):
    path = write_settings(tmp_path, '    MQTT_Password = "s3cr3t-pw\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(env={}, settings_file=path)
    assert "s3cr3t-pw" not in str(caught.value)
    assert "line 2" in str(caught.value) and "SyntaxError" in str(caught.value)
