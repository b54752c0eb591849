"""GivTCP control functions as pure planners: payload in, ordered register writes out.

No I/O here: ``write.py`` and ``REST.py`` validate and plan with ``plan_writes`` and only then
talk to the inverter, so a bad payload never reaches the dongle. Behaviour follows GivTCP v1.0
(registers.md §11) without its bugs (§12): discharge slots never touch the charge target (HR116),
percentages are range-checked instead of clamped, invalid modes raise a ValidationError.
Every planned write passes a second gate, ``registers.WRITE_ALLOWLIST``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import CodecError, ValidationError
from .model import Capabilities, InverterContext  # defined there: reading never imports this
from .registers import WRITE_ALLOWLIST, Bank, by_name, is_writable


@dataclass(frozen=True)
class RegisterWrite:
    """One function-06 write of a raw value to a holding register."""

    register: int
    value: int
    name: str


@dataclass(frozen=True)
class PayloadKey:
    """One key of a control payload, as shown in --help and in validation errors."""

    name: str
    required: bool
    allowed: str


@dataclass(frozen=True)
class ControlFunction:
    """A control function's public description (the planner itself is private)."""

    name: str
    description: str
    keys: tuple[PayloadKey, ...] = ()
    example: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False)
    ignored_keys: frozenset[str] = frozenset()  # accepted for compatibility, then dropped
    needs_context: bool = False

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys if k.required)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys if not k.required)


PERCENT_ALLOWED = "whole number 4..100 (%)"
HHMM_ALLOWED = 'time HHMM: "0130", "130", 130 or "01:30"; hour 0-23, minute 0-59'
MODE_ALLOWED = (
    "1 (eco), 2 (storage 16:00-07:00), 3 (storage, keep slots), 4 (export), or by name: "
    '"Eco", "Eco (Paused)", "Timed Demand", "Timed Export"'
)
DATETIME_ALLOWED = '"dd/mm/yyyy hh:mm:ss" or "yyyy-mm-dd hh:mm:ss", year 2000-2099'
WATTS_ALLOWED = "whole number of watts, 0..battery max power"

_Payload = dict[str, Any]
_Planner = Callable[[_Payload, InverterContext | None], list[RegisterWrite]]


# -- payload parsing ------------------------------------------------------------------------

# ASCII digits only ([0-9], not \d: int() would read "٥٠" as 50); bounded, so a huge digit
# string is refused here instead of reaching int().
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,12}")
_HHMM_DIGITS = re.compile(r"[0-9]{3,4}")
_HH_COLON_MM = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_SHOWN_CHARS = 40  # of a bad value quoted in an error: a huge payload is never echoed back


def shown(value: Any) -> str:
    """``repr(value)`` for an error message, cut short: errors never echo a huge payload."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**_SHOWN_CHARS:
        return f"a {len(str(abs(value)))}-digit number"
    text = repr(value) if not isinstance(value, list | dict) else type(value).__name__
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}... ({len(text)} chars)"


def _whole_number(key: str, value: Any, allowed: str) -> int:
    """An int from an int, an integral float or a decimal string; bools are not numbers."""
    if isinstance(value, bool):
        raise ValidationError(f"{key} must be a number, not a boolean", key, allowed)
    if isinstance(value, int):  # JSON gives at most 4300 digits; range checks follow
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    raise ValidationError(f"{key} must be a whole number, got {shown(value)}", key, allowed)


def _in_range(key: str, value: Any, low: int, high: int, allowed: str) -> int:
    number = _whole_number(key, value, allowed)
    if not low <= number <= high:
        raise ValidationError(f"{key} = {shown(number)} is outside {low}..{high}", key, allowed)
    return number


def _percent(key: str, value: Any) -> int:
    return _in_range(key, value, 4, 100, PERCENT_ALLOWED)


def _hhmm(key: str, value: Any) -> dt.time:
    """A time of day from GivTCP's "HHMM" strings (or an int / "HH:MM")."""
    if isinstance(value, bool):
        raise ValidationError(f"{key} must be a time, not a boolean", key, HHMM_ALLOWED)
    if isinstance(value, int):
        hour, minute = divmod(value, 100)
    elif isinstance(value, str) and _HHMM_DIGITS.fullmatch(value.strip()):
        hour, minute = divmod(int(value.strip()), 100)
    elif isinstance(value, str) and (match := _HH_COLON_MM.fullmatch(value.strip())):
        hour, minute = int(match[1]), int(match[2])
    else:
        raise ValidationError(f"{key} must be a time HHMM, got {shown(value)}", key, HHMM_ALLOWED)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValidationError(f"{key} = {shown(value)} is not a time of day", key, HHMM_ALLOWED)
    return dt.time(hour, minute)


def _date_time(key: str, value: Any) -> dt.datetime:
    if isinstance(value, str) and value.isascii():  # strptime would take "٢٠٢٣" as 2023
        for fmt in ("%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
            try:
                parsed = dt.datetime.strptime(value.strip(), fmt)
            except ValueError:
                continue
            if 2000 <= parsed.year <= 2099:
                return parsed
    raise ValidationError(
        f"{key} must be a date and time, got {shown(value)}", key, DATETIME_ALLOWED
    )


class ContextNeeded(CodecError):
    """The payload checked out, but planning needs what only the inverter can tell."""


def _check_context(function: str, context: InverterContext | None) -> InverterContext:
    """Rate functions scale watts by the battery: refuse to guess when it is unknown."""
    if context is None:
        raise ContextNeeded(
            f"{function} needs an InverterContext (battery capacity and max power): "
            "read the inverter's holding registers first"
        )
    if not context.battery_capacity_wh > 0 or not context.battery_max_power_w > 0:
        raise CodecError(f"{function}: battery capacity or max power unknown ({context})")
    return context


# -- planners -------------------------------------------------------------------------------


def _write(name: str, value: Any) -> list[RegisterWrite]:
    """Writes for a physical value, encoded by the register table (so units cannot drift)."""
    register = by_name(Bank.HOLDING, name)
    return [RegisterWrite(a, raw, name) for a, raw in sorted(register.encode(value).items())]


def _constant(*writes: tuple[str, Any]) -> _Planner:
    def plan(_payload: _Payload, _context: InverterContext | None) -> list[RegisterWrite]:
        return [w for name, value in writes for w in _write(name, value)]

    return plan


def _set_charge_target(payload: _Payload, _context: InverterContext | None) -> list[RegisterWrite]:
    return _write("charge_target_soc", _percent("chargeToPercent", payload["chargeToPercent"]))


def _set_battery_reserve(
    payload: _Payload, _context: InverterContext | None
) -> list[RegisterWrite]:
    # v1.0 sent dischargeToPercent, GivTCP v3 and Predbat send reservePercent: one of the two.
    given = [key for key in ("dischargeToPercent", "reservePercent") if key in payload]
    if len(given) != 1:
        why = "is required" if not given else "and reservePercent cannot both be given"
        raise ValidationError(
            f"setBatteryReserve: dischargeToPercent (or reservePercent) {why}",
            "dischargeToPercent",
            PERCENT_ALLOWED,
        )
    percent = _percent(given[0], payload[given[0]])
    return _write("battery_discharge_min_power_reserve", percent)


def _charge_slot(slot: int) -> _Planner:
    def plan(payload: _Payload, _context: InverterContext | None) -> list[RegisterWrite]:
        start, finish = (
            _slot_time("start", payload["start"]),
            _slot_time("finish", payload["finish"]),
        )
        writes = []
        if "chargeToPercent" in payload:
            # The target only caps charging while HR20 is set, so enable it with the target.
            writes += _write(
                "charge_target_soc", _percent("chargeToPercent", payload["chargeToPercent"])
            )
            writes += _write("enable_charge_target", True)
        writes += _write(f"charge_slot_{slot}_start", start)
        writes += _write(f"charge_slot_{slot}_end", finish)
        writes += _write("enable_charge", True)
        return writes

    return plan


def _discharge_slot(slot: int) -> _Planner:
    def plan(payload: _Payload, _context: InverterContext | None) -> list[RegisterWrite]:
        start, finish = (
            _slot_time("start", payload["start"]),
            _slot_time("finish", payload["finish"]),
        )
        writes = _write(f"discharge_slot_{slot}_start", start)
        writes += _write(f"discharge_slot_{slot}_end", finish)
        if "dischargeToPercent" in payload:  # v1.0 also wrote it to HR116: bug 7, not copied
            percent = _percent("dischargeToPercent", payload["dischargeToPercent"])
            writes += _write("battery_discharge_min_power_reserve", percent)
        return writes

    return plan


_MODES: Mapping[int, tuple[tuple[str, Any], ...]] = {
    1: (("battery_soc_reserve", 4), ("enable_discharge", False), ("battery_power_mode", 1)),
    2: (
        ("battery_soc_reserve", 100),
        ("enable_discharge", True),
        ("battery_power_mode", 1),
        ("discharge_slot_1_start", dt.time(16, 0)),
        ("discharge_slot_1_end", dt.time(7, 0)),
    ),
    3: (("battery_soc_reserve", 100), ("enable_discharge", True), ("battery_power_mode", 1)),
    4: (("battery_soc_reserve", 4), ("enable_discharge", True), ("battery_power_mode", 0)),
}


def _set_battery_mode(payload: _Payload, _context: InverterContext | None) -> list[RegisterWrite]:
    if isinstance(payload["mode"], str) and payload["mode"] in MODE_NAMES:
        return [w for name, value in MODE_NAMES[payload["mode"]] for w in _write(name, value)]
    mode = _in_range("mode", payload["mode"], 1, 4, MODE_ALLOWED)
    return [w for name, value in _MODES[mode] for w in _write(name, value)]


def _rate(function: str, key: str, register: str) -> _Planner:
    """GivTCP's watts -> HR111/112: min(round(W / (battery_Wh / 2) * 50), 50), half rounds up."""

    def plan(payload: _Payload, context: InverterContext | None) -> list[RegisterWrite]:
        watts = _whole_number(key, payload[key], WATTS_ALLOWED)
        if watts < 0:  # checked before the context, so before anything is read
            raise ValidationError(f"{key} = {shown(watts)} is below 0", key, WATTS_ALLOWED)
        ctx = _check_context(function, context)
        allowed = f"whole number of watts, 0..{ctx.battery_max_power_w}"
        watts = _in_range(key, watts, 0, ctx.battery_max_power_w, allowed)
        limit = math.floor(watts / (ctx.battery_capacity_wh / 2) * 50 + 0.5)
        return _write(register, min(limit, 50))

    return plan


def _set_date_time(payload: _Payload, _context: InverterContext | None) -> list[RegisterWrite]:
    return _write("system_time", _date_time("dateTime", payload["dateTime"]))


# -- issue 12: v3 / Predbat controls ---------------------------------------------------------

STATE_ALLOWED = '"enable" or "disable" (no payload: enable)'
SLOT_TIME_ALLOWED = 'time "HHMM", "HH:MM" or "HH:MM:SS" (seconds 00); hour 0-23, minute 0-59'
PAUSE_STATES = {"Disabled": 0, "PauseCharge": 1, "PauseDischarge": 2, "PauseBoth": 3}
PAUSE_ALLOWED = ", ".join(f'"{name}"' for name in PAUSE_STATES)
# GivTCP v3's mode names (what Predbat writes and reads back): registers.md §9.
MODE_NAMES: Mapping[str, tuple[tuple[str, Any], ...]] = MappingProxyType(
    {
        "Eco": (("battery_soc_reserve", 4), ("enable_discharge", False), ("battery_power_mode", 1)),
        "Eco (Paused)": (
            ("battery_soc_reserve", 100),
            ("enable_discharge", False),
            ("battery_power_mode", 1),
        ),
        "Timed Demand": (
            ("battery_soc_reserve", 4),
            ("enable_discharge", True),
            ("battery_power_mode", 1),
        ),
        "Timed Export": (
            ("battery_soc_reserve", 4),
            ("enable_discharge", True),
            ("battery_power_mode", 0),
        ),
    }
)
MAX_SLOTS = 10
_STATE_KEY = PayloadKey("state", False, STATE_ALLOWED)
_SECONDS = re.compile(r"(\d{1,2}:\d{2}):(\d{2})")


def _slot_time(key: str, value: Any) -> dt.time:
    """A slot time as ``_hhmm`` takes it, or "HH:MM:SS" as Predbat's selects show it."""
    if isinstance(value, str) and (match := _SECONDS.fullmatch(value.strip())):
        if match[2] != "00":
            raise ValidationError(
                f"{key} = {value!r}: inverter slots have whole minutes", key, SLOT_TIME_ALLOWED
            )
        value = match[1]
    try:
        return _hhmm(key, value)
    except ValidationError as exc:
        raise ValidationError(str(exc), key, SLOT_TIME_ALLOWED) from None


def _state(payload: _Payload) -> bool:
    value = payload.get("state", "enable")
    if isinstance(value, str) and value.strip().lower() in ("enable", "disable"):
        return value.strip().lower() == "enable"
    raise ValidationError(f"state must be enable or disable, got {value!r}", "state", STATE_ALLOWED)


def _switch(register: str) -> _Planner:
    def plan(payload: _Payload, _context: InverterContext | None) -> list[RegisterWrite]:
        return _write(register, _state(payload))

    return plan


def _capabilities(function: str, context: InverterContext | None) -> Capabilities:
    """The model's controls; ContextNeeded until HR0-59 has been read (dry run)."""
    if context is None or context.capabilities is None:
        raise ContextNeeded(f"{function} depends on the inverter model: read HR0-59 first")
    return context.capabilities


def _not_available(function: str, caps: Capabilities, why: str) -> ValidationError:
    return ValidationError(f"{function} is not available on {caps.model} ({why})", "function", why)


def _slot_count(function: str, kind: str, slot: int, context: InverterContext | None) -> None:
    """Refuse slots the model lacks (2-slot layout: 1 and 2 need no model read)."""
    if slot <= 2:
        return
    caps = _capabilities(function, context)
    count = caps.charge_slots if kind == "charge" else caps.discharge_slots
    if slot > count:
        raise _not_available(function, caps, f"it has {count} {kind} slots")


def _extended_charge_slot(slot: int) -> _Planner:
    function = f"setChargeSlot{slot}"

    def plan(payload: _Payload, context: InverterContext | None) -> list[RegisterWrite]:
        start, finish = (
            _slot_time("start", payload["start"]),
            _slot_time("finish", payload["finish"]),
        )
        target = None
        if "chargeToPercent" in payload:
            target = _percent("chargeToPercent", payload["chargeToPercent"])
        _slot_count(function, "charge", slot, context)
        writes = []
        if target is not None:  # per-slot target, capped only while HR20 is set
            writes += _write(f"charge_target_soc_{slot}", target)
            writes += _write("enable_charge_target", True)
        writes += _write(f"charge_slot_{slot}_start", start)
        writes += _write(f"charge_slot_{slot}_end", finish)
        writes += _write("enable_charge", True)
        return writes

    return plan


def _extended_discharge_slot(slot: int) -> _Planner:
    function = f"setDischargeSlot{slot}"

    def plan(payload: _Payload, context: InverterContext | None) -> list[RegisterWrite]:
        start, finish = (
            _slot_time("start", payload["start"]),
            _slot_time("finish", payload["finish"]),
        )
        target = None
        if "dischargeToPercent" in payload:
            target = _percent("dischargeToPercent", payload["dischargeToPercent"])
        _slot_count(function, "discharge", slot, context)
        writes = _write(f"discharge_slot_{slot}_start", start)
        writes += _write(f"discharge_slot_{slot}_end", finish)
        if target is not None:
            writes += _write(f"discharge_target_soc_{slot}", target)
        return writes

    return plan


def _clear_slot(kind: str, slot: int) -> _Planner:
    function = f"clear{kind.title()}Slot{slot}"

    def plan(_payload: _Payload, context: InverterContext | None) -> list[RegisterWrite]:
        _slot_count(function, kind, slot, context)
        return _write(f"{kind}_slot_{slot}_start", dt.time(0, 0)) + _write(
            f"{kind}_slot_{slot}_end", dt.time(0, 0)
        )

    return plan


def _set_discharge_target(
    payload: _Payload, context: InverterContext | None
) -> list[RegisterWrite]:
    percent = _percent("dischargeToPercent", payload["dischargeToPercent"])
    slot = _in_range("slot", payload.get("slot", 1), 1, MAX_SLOTS, f"slot 1..{MAX_SLOTS}")
    caps = _capabilities("setDischargeTarget", context)
    if not caps.slot_targets:
        raise _not_available("setDischargeTarget", caps, "no per-slot discharge targets")
    if slot > caps.discharge_slots:
        raise _not_available("setDischargeTarget", caps, f"it has {caps.discharge_slots} slots")
    return _write(f"discharge_target_soc_{slot}", percent)


def _needs_ac_bank(function: str, context: InverterContext | None) -> None:
    caps = _capabilities(function, context)
    if not caps.ac_bank:
        raise _not_available(function, caps, "no HR300-359 bank: AC and All-in-One only")


def _set_pause_mode(payload: _Payload, context: InverterContext | None) -> list[RegisterWrite]:
    state = payload["state"]
    if not isinstance(state, str) or state not in PAUSE_STATES:
        raise ValidationError(
            f"state must be one of {PAUSE_ALLOWED}, got {state!r}", "state", PAUSE_ALLOWED
        )
    _needs_ac_bank("setBatteryPauseMode", context)
    return _write("battery_pause_mode", PAUSE_STATES[state])


def _set_pause_slot(payload: _Payload, context: InverterContext | None) -> list[RegisterWrite]:
    start, finish = _slot_time("start", payload["start"]), _slot_time("finish", payload["finish"])
    _needs_ac_bank("setPauseSlot", context)
    return _write("battery_pause_slot_start", start) + _write("battery_pause_slot_end", finish)


def _set_export_limit(payload: _Payload, context: InverterContext | None) -> list[RegisterWrite]:
    watts = _in_range("watts", payload["watts"], 0, 60000, "whole number of watts 0..60000")
    caps = _capabilities("setExportLimit", context)
    if not caps.export_limit:
        raise _not_available("setExportLimit", caps, "no export limit register")
    return _write("grid_port_max_power_output", watts)


def _eps(on: bool) -> _Planner:
    def plan(_payload: _Payload, context: InverterContext | None) -> list[RegisterWrite]:
        _needs_ac_bank("enableEPS" if on else "disableEPS", context)
        return _write("enable_eps", on)

    return plan


def _set_active_power_rate(
    payload: _Payload, _context: InverterContext | None
) -> list[RegisterWrite]:
    return _write(
        "active_power_rate", _in_range("percent", payload["percent"], 0, 100, "0..100 (%)")
    )


def _reboot(payload: _Payload, _context: InverterContext | None) -> list[RegisterWrite]:
    if payload.get("confirm") is not True:
        raise ValidationError(
            'rebootInverter restarts the inverter: send {"confirm": true}', "confirm", "true"
        )
    return _write("inverter_reboot", 100)


def _sync_date_time(payload: _Payload, _context: InverterContext | None) -> list[RegisterWrite]:
    """The host clock in the inverter's timezone (the host's own zone unless one is named)."""
    zone_name = payload.get("timezone")
    if zone_name is None:
        now = dt.datetime.now()
    else:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            zone = ZoneInfo(zone_name) if isinstance(zone_name, str) else None
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is None:
            raise ValidationError(
                f"timezone {zone_name!r} is not a known IANA zone", "timezone", "e.g. Europe/London"
            )
        now = dt.datetime.now(zone).replace(tzinfo=None)
    return _write("system_time", now.replace(microsecond=0))


def _slot_functions() -> list[tuple[ControlFunction, _Planner]]:
    rows: list[tuple[ControlFunction, _Planner]] = []
    for k in range(3, MAX_SLOTS + 1):
        rows.append(
            (
                ControlFunction(
                    f"setChargeSlot{k}",
                    f"Set charge slot {k} (HR{237 + 3 * k}/{238 + 3 * k}, extended layout) and "
                    f"enable timed charging; chargeToPercent sets its target (HR{239 + 3 * k}) "
                    "and enables the charge target (HR20 = 1).",
                    (*_SLOT_TIME_KEYS, PayloadKey("chargeToPercent", False, PERCENT_ALLOWED)),
                    MappingProxyType({"start": "01:00", "finish": "04:00"}),
                    _ENABLE,
                    needs_context=True,
                ),
                _extended_charge_slot(k),
            )
        )
    for k in range(3, MAX_SLOTS + 1):
        rows.append(
            (
                ControlFunction(
                    f"setDischargeSlot{k}",
                    f"Set discharge slot {k} (HR{267 + 3 * k}/{268 + 3 * k}, extended layout); "
                    f"dischargeToPercent sets its target (HR{269 + 3 * k}).",
                    (*_SLOT_TIME_KEYS, PayloadKey("dischargeToPercent", False, PERCENT_ALLOWED)),
                    MappingProxyType({"start": "16:00", "finish": "19:00"}),
                    _ENABLE,
                    needs_context=True,
                ),
                _extended_discharge_slot(k),
            )
        )
    for kind in ("charge", "discharge"):
        for k in range(1, MAX_SLOTS + 1):
            rows.append(
                (
                    ControlFunction(
                        f"clear{kind.title()}Slot{k}",
                        f"Unset {kind} slot {k} (start and end 00:00).",
                        needs_context=k > 2,
                    ),
                    _clear_slot(kind, k),
                )
            )
    return rows


_SLOT_TIME_KEYS = (
    PayloadKey("start", True, SLOT_TIME_ALLOWED),
    PayloadKey("finish", True, SLOT_TIME_ALLOWED),
)

# -- the public table -------------------------------------------------------------------------

_SLOT_KEYS = _SLOT_TIME_KEYS  # slots 1 and 2 take the same time forms as slots 3-10
_ENABLE = frozenset({"enable"})  # sent by GivTCP's seed payloads; the slot is always enabled

_FUNCTIONS: tuple[tuple[ControlFunction, _Planner], ...] = (
    (
        ControlFunction(
            "enableChargeTarget",
            "Stop timed/AC charging at the charge target SOC (HR20 = 1); "
            '{"state":"disable"} ignores it again (HR20 = 0).',
            (_STATE_KEY,),
            MappingProxyType({"state": "enable"}),
        ),
        _switch("enable_charge_target"),
    ),
    (
        ControlFunction(
            "disableChargeTarget",
            "Ignore the charge target: timed charging goes to 100 % (HR20 = 0).",
        ),
        _constant(("enable_charge_target", False)),
    ),
    (
        ControlFunction(
            "pauseChargeSchedule", "Disable timed charging; slots are kept (HR96 = 0)."
        ),
        _constant(("enable_charge", False)),
    ),
    (
        ControlFunction("resumeChargeSchedule", "Enable timed charging (HR96 = 1)."),
        _constant(("enable_charge", True)),
    ),
    (
        ControlFunction(
            "pauseDischargeSchedule", "Disable timed discharge; slots are kept (HR59 = 0)."
        ),
        _constant(("enable_discharge", False)),
    ),
    (
        ControlFunction("resumeDischargeSchedule", "Enable timed discharge (HR59 = 1)."),
        _constant(("enable_discharge", True)),
    ),
    (
        ControlFunction(
            "setChargeTarget",
            "Set the SOC at which timed/AC charging stops (HR116); needs the charge target "
            "enabled (enableChargeTarget) to take effect.",
            (PayloadKey("chargeToPercent", True, PERCENT_ALLOWED),),
            MappingProxyType({"chargeToPercent": "80"}),
        ),
        _set_charge_target,
    ),
    (
        ControlFunction(
            "setBatteryReserve",
            "Set the discharge floor kept in the battery (HR114, v1.0's 'Battery Power "
            "Reserve'); values below 4 are rejected, not clamped. GivTCP v3 / Predbat's "
            "reservePercent is accepted instead of dischargeToPercent.",
            (
                PayloadKey("dischargeToPercent", False, PERCENT_ALLOWED),
                PayloadKey("reservePercent", False, PERCENT_ALLOWED),
            ),
            MappingProxyType({"dischargeToPercent": "10"}),
        ),
        _set_battery_reserve,
    ),
    (
        ControlFunction(
            "setChargeSlot1",
            "Set charge slot 1 (HR94/95) and enable timed charging (HR96 = 1); with "
            "chargeToPercent also set the charge target (HR116) and enable it (HR20 = 1).",
            (*_SLOT_KEYS, PayloadKey("chargeToPercent", False, PERCENT_ALLOWED)),
            MappingProxyType({"start": "0100", "finish": "0400", "chargeToPercent": "55"}),
            _ENABLE,
        ),
        _charge_slot(1),
    ),
    (
        ControlFunction(
            "setChargeSlot2",
            "As setChargeSlot1 for slot 2 (HR31/32; ignored by Gen2 firmware).",
            (*_SLOT_KEYS, PayloadKey("chargeToPercent", False, PERCENT_ALLOWED)),
            MappingProxyType({"start": "0100", "finish": "0400"}),
            _ENABLE,
        ),
        _charge_slot(2),
    ),
    (
        ControlFunction(
            "setDischargeSlot1",
            "Set discharge slot 1 (HR56/57); with dischargeToPercent also the discharge "
            "floor (HR114). Never touches the charge target.",
            (*_SLOT_KEYS, PayloadKey("dischargeToPercent", False, PERCENT_ALLOWED)),
            MappingProxyType({"start": "1600", "finish": "1900", "dischargeToPercent": "20"}),
            _ENABLE,
        ),
        _discharge_slot(1),
    ),
    (
        ControlFunction(
            "setDischargeSlot2",
            "As setDischargeSlot1 for slot 2 (HR44/45).",
            (*_SLOT_KEYS, PayloadKey("dischargeToPercent", False, PERCENT_ALLOWED)),
            MappingProxyType({"start": "1900", "finish": "2200"}),
            _ENABLE,
        ),
        _discharge_slot(2),
    ),
    (
        ControlFunction(
            "setBatteryMode",
            "1 eco (HR110 = 4, HR59 = 0, HR27 = 1); 2 storage with discharge 16:00-07:00; "
            "3 storage keeping the slots (HR110 = 100, HR59 = 1, HR27 = 1); 4 export at max "
            "power (HR110 = 4, HR59 = 1, HR27 = 0).",
            (PayloadKey("mode", True, MODE_ALLOWED),),
            MappingProxyType({"mode": "1"}),
        ),
        _set_battery_mode,
    ),
    (
        ControlFunction(
            "setChargeRate",
            "Limit the battery charge power (HR111, 50 = full rate).",
            (PayloadKey("chargeRate", True, WATTS_ALLOWED),),
            MappingProxyType({"chargeRate": "1500"}),
            needs_context=True,
        ),
        _rate("setChargeRate", "chargeRate", "battery_charge_limit"),
    ),
    (
        ControlFunction(
            "setDischargeRate",
            "Limit the battery discharge power (HR112, 50 = full rate).",
            (PayloadKey("dischargeRate", True, WATTS_ALLOWED),),
            MappingProxyType({"dischargeRate": "1500"}),
            needs_context=True,
        ),
        _rate("setDischargeRate", "dischargeRate", "battery_discharge_limit"),
    ),
    (
        ControlFunction("pauseBatteryCharge", "Stop battery charging (HR111 = 0)."),
        _constant(("battery_charge_limit", 0)),
    ),
    (
        ControlFunction("resumeBatteryCharge", "Charge at full rate again (HR111 = 50)."),
        _constant(("battery_charge_limit", 50)),
    ),
    (
        ControlFunction("pauseBatteryDischarge", "Stop battery discharging (HR112 = 0)."),
        _constant(("battery_discharge_limit", 0)),
    ),
    (
        ControlFunction("resumeBatteryDischarge", "Discharge at full rate again (HR112 = 50)."),
        _constant(("battery_discharge_limit", 50)),
    ),
    (
        ControlFunction(
            "setDateTime",
            "Set the inverter clock (HR35-40).",
            (PayloadKey("dateTime", True, DATETIME_ALLOWED),),
            MappingProxyType({"dateTime": "28/04/2023 12:15:36"}),
        ),
        _set_date_time,
    ),
)

_MORE_FUNCTIONS: tuple[tuple[ControlFunction, _Planner], ...] = (
    (
        ControlFunction(
            "enableChargeSchedule",
            'Timed charging on (HR96 = 1); {"state":"disable"} turns it off, keeping the slots.',
            (_STATE_KEY,),
            MappingProxyType({"state": "enable"}),
        ),
        _switch("enable_charge"),
    ),
    (
        ControlFunction(
            "enableDischargeSchedule",
            'Timed discharge on (HR59 = 1); {"state":"disable"} turns it off, keeping the slots.',
            (_STATE_KEY,),
            MappingProxyType({"state": "disable"}),
        ),
        _switch("enable_discharge"),
    ),
    (
        ControlFunction(
            "setDischargeTarget",
            "Set the SOC a discharge slot stops at (HR272 + 3 x (slot - 1)); extended "
            "layout only (Gen3 ARM > 302, AIO, HV Gen3).",
            (
                PayloadKey("dischargeToPercent", True, PERCENT_ALLOWED),
                PayloadKey("slot", False, f"slot 1..{MAX_SLOTS} (default 1)"),
            ),
            MappingProxyType({"dischargeToPercent": 20, "slot": 1}),
            needs_context=True,
        ),
        _set_discharge_target,
    ),
    *_slot_functions(),
    (
        ControlFunction(
            "setBatteryPauseMode",
            "Pause battery charge and/or discharge within the pause slot (HR318); AC and "
            "All-in-One only (elsewhere use pauseBatteryCharge / pauseBatteryDischarge).",
            (PayloadKey("state", True, PAUSE_ALLOWED),),
            MappingProxyType({"state": "PauseCharge"}),
            needs_context=True,
        ),
        _set_pause_mode,
    ),
    (
        ControlFunction(
            "setPauseSlot",
            "Set the window the pause mode applies in (HR319/320); AC and All-in-One only.",
            _SLOT_TIME_KEYS,
            MappingProxyType({"start": "00:00", "finish": "23:59"}),
            needs_context=True,
        ),
        _set_pause_slot,
    ),
    (
        ControlFunction(
            "setExportLimit",
            "Limit the power exported to the grid (HR26, W).",
            (PayloadKey("watts", True, "whole number of watts 0..60000"),),
            MappingProxyType({"watts": 3600}),
            needs_context=True,
        ),
        _set_export_limit,
    ),
    (
        ControlFunction(
            "enableEPS",
            "Backup (EPS) output on (HR317 = 1); AC and All-in-One only.",
            needs_context=True,
        ),
        _eps(True),
    ),
    (
        ControlFunction(
            "disableEPS",
            "Backup (EPS) output off (HR317 = 0); AC and All-in-One only.",
            needs_context=True,
        ),
        _eps(False),
    ),
    (
        ControlFunction(
            "setActivePowerRate",
            "Limit the inverter's AC output to a share of its rating (HR50, %).",
            (PayloadKey("percent", True, "0..100 (%)"),),
            MappingProxyType({"percent": 100}),
        ),
        _set_active_power_rate,
    ),
    (
        ControlFunction(
            "rebootInverter",
            'Restart the inverter (HR163 = 100); needs {"confirm": true}.',
            (PayloadKey("confirm", True, "true"),),
            MappingProxyType({"confirm": True}),
        ),
        _reboot,
    ),
    (
        ControlFunction(
            "startBatteryCalibration",
            "Start a full battery calibration: discharge, then charge (HR29 = 1).",
        ),
        _constant(("battery_calibration_stage", 1)),
    ),
    (
        ControlFunction("stopBatteryCalibration", "Stop a battery calibration (HR29 = 0)."),
        _constant(("battery_calibration_stage", 0)),
    ),
    (
        ControlFunction(
            "syncDateTime",
            "Set the inverter clock (HR35-40) to the host's clock in the host's timezone, or "
            "in the IANA timezone given.",
            (PayloadKey("timezone", False, "IANA zone name, e.g. Europe/London"),),
            MappingProxyType({"timezone": "Europe/London"}),
        ),
        _sync_date_time,
    ),
)

CONTROL_FUNCTIONS: Mapping[str, ControlFunction] = MappingProxyType(
    {spec.name: spec for spec, _ in (*_FUNCTIONS, *_MORE_FUNCTIONS)}
)
_PLANNERS: dict[str, _Planner] = {spec.name: plan for spec, plan in (*_FUNCTIONS, *_MORE_FUNCTIONS)}


def check_allowlisted(writes: Iterable[RegisterWrite]) -> None:
    """Refuse any write that is not on the allow-list: a second gate behind the planners."""
    for write in writes:
        if not is_writable(write.register, write.value):
            known = WRITE_ALLOWLIST.get(write.register)
            why = "not on the write allow-list" if known is None else "value not allowed"
            raise CodecError(f"refusing to write HR{write.register} = {write.value}: {why}")


def _validated_payload(spec: ControlFunction, payload: Any) -> _Payload:
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise ValidationError(
            f"{spec.name}: the payload must be a JSON object, got {type(payload).__name__}",
            "payload",
            "object",
        )
    known = {k.name for k in spec.keys}
    accepted = ", ".join(sorted(known)) or "no keys"
    for key in payload:
        if key not in known and key not in spec.ignored_keys:
            raise ValidationError(
                f"{spec.name}: unknown key {shown(key)}", str(key)[:_SHOWN_CHARS], accepted
            )
    for key in spec.keys:
        if key.required and key.name not in payload:
            raise ValidationError(f"{spec.name}: {key.name} is required", key.name, key.allowed)
    return {k: v for k, v in payload.items() if k in known}


def plan_writes(
    function: str,
    payload: Mapping[str, Any] | None = None,
    context: InverterContext | None = None,
) -> list[RegisterWrite]:
    """The ordered register writes that perform ``function``; nothing is sent from here.

    Raises ValidationError (field, allowed) for a bad function name or payload, CodecError when
    a rate function has no usable ``context`` (ContextNeeded when it is None: the payload was
    checked first, so a caller can validate before reading the inverter).
    """
    spec = CONTROL_FUNCTIONS.get(function)
    if spec is None:
        raise ValidationError(
            f"unknown control function {shown(function)}",
            "function",
            ", ".join(CONTROL_FUNCTIONS),
        )
    writes = _PLANNERS[function](_validated_payload(spec, payload), context)
    check_allowlisted(writes)
    return writes
