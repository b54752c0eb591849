"""Settings: settings.py (GivTCP v1.0 names) overridden by the Docker ENV names.

One table (``SETTINGS``) maps each setting to its settings.py attribute, its environment
variable and its type; loading, validation, error messages and the README list derive from it.
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

import errno
import importlib.util
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from givenergy_modbus_codec.errors import SettingsError
from givenergy_modbus_codec.transport import TransportConfig

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)

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
        """Where state files go: STATE_LOCATION (load_settings fills in the default, see
        default_state_folder), else the per-user folder."""
        return self.state_location or default_state_folder(None)

    def inverter_tag(self) -> str:
        """``<host>-<port>`` as a safe, bounded file-name part (a long host name is cut and
        completed by a hash, so every inverter keeps its own files)."""
        safe = "".join(c if c.isascii() and c.isalnum() else "_" for c in self.invertor_ip)
        if len(safe) > _MAX_HOST_IN_NAME:
            import hashlib  # only for host names longer than an IP address

            digest = hashlib.sha256(self.invertor_ip.encode()).hexdigest()[:16]
            safe = f"{safe[: _MAX_HOST_IN_NAME - 17]}-{digest}"
        return f"{safe}-{self.invertor_port}"

    def state_file(self, what: str, suffix: str = ".json") -> str:
        """A per-inverter file in the state folder: ``<what>-<host>-<port><suffix>``."""
        return os.path.join(self.state_folder, f"{what}-{self.inverter_tag()}{suffix}")

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

    def check_state_folder(self) -> None:
        """Make sure the state folder exists and takes new files, before any dongle I/O.

        A folder that cannot be used (a file in its place, read-only, no permission) is a bad
        setting: SettingsError naming STATE_LOCATION. A full disk is not: the read goes on
        with one warning, and the state is saved again once there is room.
        """
        folder = self.state_folder
        if os.path.lexists(folder) and not os.path.isdir(folder):
            raise SettingsError(
                f"{_names('state_location')} {folder} is a file, not a folder: "
                "point it at a folder GivTCP may write to"
            )
        probe = os.path.join(folder, f".givtcp-probe-{os.getpid()}")
        try:
            os.makedirs(folder, exist_ok=True)
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            os.unlink(probe)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if exc.errno in _DISK_FULL:
                return  # saving the state will say so, once (quality.StateFile)
            raise SettingsError(
                f"{_names('state_location')} {folder} cannot be used: {reason}; "
                "point it at a folder GivTCP may write to"
            ) from None

    def check(self) -> None:
        """Settings that are each well formed but unusable, or together incomplete: an output
        switched on without its address, a URL that is no URL. SettingsError names the
        setting; nothing has been sent yet."""
        problems = _host_problems(self)
        problems += _output_problems(self)
        if problems:
            raise SettingsError("; ".join(problems))

    def transport_config(self) -> TransportConfig:
        """How to reach the dongle (SettingsError without an inverter address)."""
        self.require_inverter()
        config = TransportConfig(
            host=self.invertor_ip, port=self.invertor_port, min_spacing=self.request_spacing
        )
        default = config.default_lock_path()
        folder = os.path.dirname(default)
        if len(os.path.basename(default)) <= _MAX_HOST_IN_NAME + 32 and _usable_dir(folder):
            return config
        return config._replace(
            lock_path=os.path.join(
                _lock_folder(folder), f"givtcp-dongle-{self.inverter_tag()}.lock"
            )
        )


assert set(Settings._fields) == {s.attr for s in SPECS}
_SECRETS = frozenset(s.attr for s in SPECS if s.secret)
_BY_ATTR = {s.attr: s for s in SPECS}
_MAX_HOST_IN_NAME = 64  # characters of the host kept in a file name (NAME_MAX is 255 bytes)
_MAX_HOST = 253  # the longest DNS name
_DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
_NOT_IN_A_HOST = frozenset("/\\?#@\"'<>")


def _names(attr: str) -> str:
    """How the user may have spelled a setting: ``MQTT_ADDRESS (settings.py MQTT_Address)``."""
    spec = _BY_ATTR[attr]
    return f"{spec.env} (settings.py {spec.file_name})"


def default_state_folder(settings_path: str | None, env: Mapping[str, str] | None = None) -> str:
    """The state folder when STATE_LOCATION is empty: ``.state`` beside the settings file in
    use, else ``$XDG_STATE_HOME/givtcp`` (``~/.local/state/givtcp``)."""
    if settings_path:
        return os.path.join(os.path.dirname(os.path.abspath(settings_path)), ".state")
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):
        home = env.get("HOME") or os.path.expanduser("~")
        if not os.path.isabs(home):
            raise SettingsError(
                f"no home folder to keep the state in: set {_names('state_location')}"
            )
        base = os.path.join(home, ".local", "state")
    return os.path.join(base, "givtcp")


def _usable_dir(folder: str) -> bool:
    return os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)


def _lock_folder(wanted: str) -> str:
    """Where the dongle lock goes: the temporary folder (TMPDIR), else, when that is no
    writable folder, the first usable of /tmp and /var/tmp (as Python's tempfile chooses)."""
    if _usable_dir(wanted):
        return wanted
    for folder in ("/tmp", "/var/tmp"):
        if _usable_dir(folder):
            log.warning(
                "the temporary folder %s (TMPDIR) is not a writable folder: "
                "the dongle lock goes to %s",
                wanted,
                folder,
            )
            return folder
    raise SettingsError(
        f"no writable temporary folder for the dongle lock ({wanted}): set TMPDIR to one"
    )


def _host_problem(host: str) -> str | None:
    """Why ``host`` cannot be a host name or IP address (None when it can)."""
    if "://" in host:
        return "must be a host name or IP address, without a scheme such as http:// or mqtt://"
    if len(host) > _MAX_HOST:
        return f"is {len(host)} characters long; a host name has at most {_MAX_HOST}"
    if any(c.isspace() or not c.isprintable() or c in _NOT_IN_A_HOST for c in host):
        return "must be a host name or IP address (no spaces, slashes or quotes)"
    return None


def _host_problems(settings: "Settings") -> list[str]:
    problems = []
    hosts = [("invertor_ip", settings.invertor_ip)]
    if settings.mqtt_output:
        hosts.append(("mqtt_address", settings.mqtt_address))
    for attr, host in hosts:
        why = _host_problem(host) if host else None
        if why:
            problems.append(f"{_names(attr)} {why}")
    return problems


def _url_problem(url: str) -> str | None:
    """Why ``url`` is not an http(s) server address (None when it is). Never echoes a URL
    that carries a password."""
    from urllib.parse import urlsplit  # only with an HTTP output on (their libraries use it)

    if any(c.isspace() for c in url):
        return f"must not contain spaces, got {url!r}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"must start with http:// or https://, got {url!r}"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password (the token has its own setting)"
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is no port
    except ValueError:
        return f"has a port that is not a number from 1 to 65535, got {url!r}"
    if not parts.hostname:
        return f"has no host name, got {url!r}"
    if parts.query or parts.fragment:
        return f"must be the server's address without ?query or #fragment, got {url!r}"
    return None


def _output_problems(settings: "Settings") -> list[str]:
    problems = []
    if settings.mqtt_output and not settings.mqtt_address:
        problems.append(
            f"MQTT_OUTPUT is on but {_names('mqtt_address')} is empty: "
            "set it to the broker's host name or IP address"
        )
    if settings.mqtt_output and settings.mqtt_tls:
        for attr in ("mqtt_ca_file", "mqtt_cert_file", "mqtt_key_file"):
            path = getattr(settings, attr)
            if path and not os.path.isfile(path):
                problems.append(f"{_names(attr)} {path} is not a file")
        if bool(settings.mqtt_cert_file) != bool(settings.mqtt_key_file):
            problems.append(
                f"{_names('mqtt_cert_file')} and {_names('mqtt_key_file')} go together: "
                "set both for a client certificate, or neither"
            )
    required = [
        ("influx_output", "INFLUX_OUTPUT", "influx_url", "e.g. http://localhost:8086"),
        ("ha_output", "HA_OUTPUT", "ha_url", "e.g. http://homeassistant.local:8123"),
    ]
    for switch, switch_name, attr, example in required:
        if not getattr(settings, switch):
            continue
        url = getattr(settings, attr)
        why = _url_problem(url) if url else f"is empty: set it to the server's address, {example}"
        if why:
            problems.append(f"{switch_name} is on but {_names(attr)} {why}")
    if settings.influx_output:
        for attr in ("influx_token", "influx_org", "influx_bucket"):
            if not getattr(settings, attr):
                problems.append(f"INFLUX_OUTPUT is on but {_names(attr)} is empty")
    if settings.ha_output and not settings.ha_token:
        problems.append(
            f"HA_OUTPUT is on but {_names('ha_token')} is empty: create a long-lived access "
            "token in your Home Assistant profile"
        )
    return problems


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


def _settings_module_values(
    path: str | os.PathLike[str] | None,
) -> tuple[dict[str, Any], str | None]:
    """Attributes of GiV_Settings in settings.py (empty if there is no such file), and the
    path of the file read (None without one)."""
    if path is None:
        explicit = os.environ.get(SETTINGS_FILE_ENV)
        path = explicit or os.path.join(PROJECT_ROOT, "settings.py")
        if not os.path.exists(path):
            if explicit:
                raise SettingsError(f"{SETTINGS_FILE_ENV} points to {path}, which does not exist")
            return {}, None
    spec = importlib.util.spec_from_file_location("givtcp_user_settings", path)
    if spec is None or spec.loader is None:
        raise SettingsError(f"cannot load settings from {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: report any error in it plainly
        raise SettingsError(
            f"{path} has an error: {_file_error(exc, os.fspath(path))}. "
            "Compare it with settings_template.py"
        ) from None
    holder = getattr(module, "GiV_Settings", None)
    if holder is None:
        raise SettingsError(f"{path} has no 'class GiV_Settings:'; copy settings_template.py")
    values = {name: getattr(holder, name) for name in dir(holder) if not name.startswith("_")}
    return values, os.fspath(path)


def _file_error(exc: Exception, path: str) -> str:
    """What is wrong in the user's settings file, never quoting its text: the line may hold a
    password (an unquoted one is a NameError whose message is the password itself)."""
    line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    if line is None:
        frames = [f for f in _traceback_frames(exc) if f[0] == os.path.abspath(path)]
        line = frames[-1][1] if frames else None
    where = f"line {line}" if line else "somewhere"
    setting = _assigned_name(path, line) if line else None
    if isinstance(exc, NameError):
        name = f"{setting} = " if setting else ""
        return (
            f"{where}: a value is not in quotes (NameError); write text values in quotes, "
            f'e.g. {name}"..."'
        )
    if isinstance(exc, SyntaxError):
        return f"{where}{f' ({setting})' if setting else ''}: {exc.msg} (SyntaxError)"
    return f"{where}{f' ({setting})' if setting else ''}: {type(exc).__name__}"


def _traceback_frames(exc: BaseException) -> list[tuple[str, int]]:
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append((os.path.abspath(tb.tb_frame.f_code.co_filename), tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _assigned_name(path: str, line: int) -> str | None:
    """The setting assigned on ``line`` of ``path`` (``MQTT_Password`` of
    ``MQTT_Password = hunter2``), if that line is a plain assignment."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read().splitlines()[line - 1]
    except (OSError, IndexError):
        return None
    name, equals, _ = text.partition("=")
    name = name.strip()
    return name if equals and name.isidentifier() else None


def load_settings(
    env: Mapping[str, str] | None = None, settings_file: str | os.PathLike[str] | None = None
) -> Settings:
    """settings.py values, each overridden by its environment variable when that is set.

    Empty State_Location and Debug_File_Location are filled in with their defaults (see
    default_state_folder; the debug log goes beside the state), and the settings are
    checked together (Settings.check): SettingsError names what is wrong.
    """
    env = os.environ if env is None else env
    file_values, used_file = _settings_module_values(settings_file)
    values: dict[str, Any] = {}
    for spec in SPECS:
        if spec.env in env:
            values[spec.attr] = _parse(spec, env[spec.env], f"environment variable {spec.env}")
        else:
            values[spec.attr] = _parse(
                spec, file_values.get(spec.file_name), f"settings.py {spec.file_name}"
            )
    state = values["state_location"]
    state = os.path.abspath(state) if state else default_state_folder(used_file, env)
    values["state_location"] = state
    values["debug_file_location"] = values["debug_file_location"] or state
    settings = Settings(**values)
    settings.check()
    return settings
