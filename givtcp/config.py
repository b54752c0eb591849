"""Settings: settings.py (GivTCP v1.0 names) overridden by the Docker ENV names.

One table (``SETTINGS``) maps each setting to its settings.py attribute, its environment
variable and its type; loading, validation, error messages and the README list derive from it.
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

import importlib.util
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from givenergy_modbus_codec.errors import SettingsError
from givenergy_modbus_codec.transport import TransportConfig

if TYPE_CHECKING:
    from pathlib import Path

# Paths on the read path are strings (os.path): pathlib and what it imports cost a
# cron-started read.py ~4 ms. Functions taking a path accept a str or a Path.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
SETTINGS_FILE_ENV = (
    "GIVTCP_SETTINGS"  # path of an alternative settings.py (tests, several inverters)
)

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class Spec(NamedTuple):
    """One setting: where it comes from and how to parse it."""

    attr: str  # attribute of Settings
    file_name: str  # attribute of GiV_Settings in settings.py
    env: str  # environment variable
    kind: type  # str, int, bool, float
    default: Any
    secret: bool = False
    bounds: tuple[float, float] | None = None  # inclusive range for numeric settings


SPECS: tuple[Spec, ...] = (
    Spec("invertor_ip", "invertorIP", "INVERTOR_IP", str, ""),
    Spec("invertor_port", "invertorPort", "INVERTOR_PORT", int, 8899, bounds=(1, 65535)),
    Spec("num_batteries", "numBatteries", "NUM_BATTERIES", int, None, bounds=(0, 6)),
    Spec("request_spacing", "Request_Spacing", "REQUEST_SPACING", float, 0.25, bounds=(0, 5)),
    Spec("json_output", "JSON_Output", "JSON_OUTPUT", bool, True),
    Spec("print_raw", "Print_Raw_Registers", "PRINT_RAW", bool, False),
    Spec("mqtt_output", "MQTT_Output", "MQTT_OUTPUT", bool, False),
    Spec("mqtt_address", "MQTT_Address", "MQTT_ADDRESS", str, ""),
    Spec("mqtt_port", "MQTT_Port", "MQTT_PORT", int, 1883, bounds=(1, 65535)),
    Spec("mqtt_username", "MQTT_Username", "MQTT_USERNAME", str, ""),
    Spec("mqtt_password", "MQTT_Password", "MQTT_PASSWORD", str, "", secret=True),
    Spec("mqtt_topic", "MQTT_Topic", "MQTT_TOPIC", str, ""),
    Spec("mqtt_retain", "MQTT_Retain", "MQTT_RETAIN", bool, True),
    Spec("mqtt_tls", "MQTT_TLS", "MQTT_TLS", bool, False),
    Spec("mqtt_ca_file", "MQTT_CA_File", "MQTT_CA_FILE", str, ""),
    Spec("mqtt_cert_file", "MQTT_Cert_File", "MQTT_CERT_FILE", str, ""),
    Spec("mqtt_key_file", "MQTT_Key_File", "MQTT_KEY_FILE", str, ""),
    Spec("ha_discovery", "HA_Discovery", "HA_DISCOVERY", bool, True),
    Spec("influx_output", "Influx_Output", "INFLUX_OUTPUT", bool, False),
    Spec("influx_url", "influxURL", "INFLUX_URL", str, "http://localhost:8086"),
    Spec("influx_token", "influxToken", "INFLUX_TOKEN", str, "", secret=True),
    Spec("influx_bucket", "influxBucket", "INFLUX_BUCKET", str, "GivEnergy"),
    Spec("influx_org", "influxOrg", "INFLUX_ORG", str, "GivTCP"),
    Spec("ha_output", "HA_Output", "HA_OUTPUT", bool, False),
    Spec("ha_url", "HA_url", "HA_URL", str, ""),
    Spec("ha_token", "HA_token", "HA_TOKEN", str, "", secret=True),
    Spec("debug", "debug", "DEBUG", bool, False),
    Spec("debug_file_location", "Debug_File_Location", "DEBUG_FILE_LOCATION", str, ""),
    Spec("state_location", "State_Location", "STATE_LOCATION", str, ""),
    Spec("hold_seconds", "Data_Hold_Seconds", "DATA_HOLD_SECONDS", int, 300, bounds=(0, 86400)),
    Spec("rest_token", "REST_Token", "REST_TOKEN", str, "", secret=True),
)


class Settings(NamedTuple):
    """Parsed settings; secrets are kept out of repr() so they never reach a log.

    Immutable: ``settings._replace(name=value)`` makes a changed copy.
    """

    invertor_ip: str = ""
    invertor_port: int = 8899
    num_batteries: int | None = None
    request_spacing: float = 0.25
    json_output: bool = True
    print_raw: bool = False
    mqtt_output: bool = False
    mqtt_address: str = ""
    mqtt_port: int = 1883
    mqtt_username: str = ""
    mqtt_password: str = ""  # secret
    mqtt_topic: str = ""
    mqtt_retain: bool = True
    mqtt_tls: bool = False
    mqtt_ca_file: str = ""
    mqtt_cert_file: str = ""
    mqtt_key_file: str = ""
    ha_discovery: bool = True
    influx_output: bool = False
    influx_url: str = "http://localhost:8086"
    influx_token: str = ""  # secret
    influx_bucket: str = "GivEnergy"
    influx_org: str = "GivTCP"
    ha_output: bool = False
    ha_url: str = ""
    ha_token: str = ""  # secret
    debug: bool = False
    debug_file_location: str = ""
    state_location: str = ""
    hold_seconds: int = 300
    rest_token: str = ""  # secret

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={value!r}"
            for name, value in zip(self._fields, self, strict=True)
            if name not in _SECRETS
        )
        return f"Settings({shown})"

    def secrets(self) -> list[str]:
        """Secret values currently set, for log redaction."""
        return [getattr(self, s.attr) for s in SPECS if s.secret and getattr(self, s.attr)]

    @property
    def state_folder(self) -> str:
        """Where state files go: STATE_LOCATION, else .state in the project folder."""
        return self.state_location or os.path.join(PROJECT_ROOT, ".state")

    def state_file(self, what: str) -> str:
        """A per-inverter file in the state folder: ``<what>-<ip>-<port>.json``."""
        safe = "".join(c if c.isalnum() else "_" for c in self.invertor_ip)
        return os.path.join(self.state_folder, f"{what}-{safe}-{self.invertor_port}.json")

    @property
    def state_dir(self) -> "Path":
        """``state_folder`` as a Path (for the outputs; the read path uses the string)."""
        from pathlib import Path

        return Path(self.state_folder)

    def require_inverter(self) -> None:
        """Fail early, before any connection, when the inverter address is missing."""
        if not self.invertor_ip:
            raise SettingsError(
                "no inverter address: set invertorIP in settings.py "
                "(cp settings_template.py settings.py) or the INVERTOR_IP environment variable"
            )

    def transport_config(self) -> TransportConfig:
        """How to reach the dongle (SettingsError without an inverter address)."""
        self.require_inverter()
        return TransportConfig(
            host=self.invertor_ip, port=self.invertor_port, min_spacing=self.request_spacing
        )


assert set(Settings._fields) == {s.attr for s in SPECS}
_SECRETS = frozenset(s.attr for s in SPECS if s.secret)


def _parse(spec: Spec, raw: Any, source: str) -> Any:
    if raw is None:
        return spec.default
    if spec.kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise SettingsError(
            f"{source} must be True or False (true/1/yes or false/0/no), got {raw!r}"
        )
    if spec.kind in (int, float):
        text = str(raw).strip()
        if text == "":
            return spec.default
        try:
            number = spec.kind(text)
        except ValueError:
            kind = "a whole number" if spec.kind is int else "a number"
            raise SettingsError(f"{source} must be {kind}, got {raw!r}") from None
        if spec.bounds and not spec.bounds[0] <= number <= spec.bounds[1]:
            low, high = spec.bounds
            raise SettingsError(f"{source} must be between {low} and {high}, got {number}")
        return number
    return str(raw).strip()


def _settings_module_values(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Attributes of GiV_Settings in settings.py (empty if there is no such file)."""
    if path is None:
        explicit = os.environ.get(SETTINGS_FILE_ENV)
        path = explicit or os.path.join(PROJECT_ROOT, "settings.py")
        if not os.path.exists(path):
            if explicit:
                raise SettingsError(f"{SETTINGS_FILE_ENV} points to {path}, which does not exist")
            return {}
    spec = importlib.util.spec_from_file_location("givtcp_user_settings", path)
    if spec is None or spec.loader is None:
        raise SettingsError(f"cannot load settings from {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: report any error in it plainly
        raise SettingsError(
            f"{path} has an error: {exc}. Compare it with settings_template.py"
        ) from exc
    holder = getattr(module, "GiV_Settings", None)
    if holder is None:
        raise SettingsError(f"{path} has no 'class GiV_Settings:'; copy settings_template.py")
    return {name: getattr(holder, name) for name in dir(holder) if not name.startswith("_")}


def load_settings(
    env: Mapping[str, str] | None = None, settings_file: str | os.PathLike[str] | None = None
) -> Settings:
    """settings.py values, each overridden by its environment variable when that is set."""
    env = os.environ if env is None else env
    file_values = _settings_module_values(settings_file)
    values: dict[str, Any] = {}
    for spec in SPECS:
        if spec.env in env:
            values[spec.attr] = _parse(spec, env[spec.env], f"environment variable {spec.env}")
        else:
            values[spec.attr] = _parse(
                spec, file_values.get(spec.file_name), f"settings.py {spec.file_name}"
            )
    return Settings(**values)
