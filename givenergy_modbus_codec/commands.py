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
from .model import InverterContext  # defined there, so reading never imports this module
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
MODE_ALLOWED = "1 (eco), 2 (storage 16:00-07:00), 3 (storage, keep slots), 4 (export)"
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
    percent = _percent("dischargeToPercent", payload["dischargeToPercent"])
    return _write("battery_discharge_min_power_reserve", percent)


def _charge_slot(slot: int) -> _Planner:
    def plan(payload: _Payload, _context: InverterContext | None) -> list[RegisterWrite]:
        start, finish = _hhmm("start", payload["start"]), _hhmm("finish", payload["finish"])
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
        start, finish = _hhmm("start", payload["start"]), _hhmm("finish", payload["finish"])
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


# -- the public table -------------------------------------------------------------------------

_SLOT_KEYS = (PayloadKey("start", True, HHMM_ALLOWED), PayloadKey("finish", True, HHMM_ALLOWED))
_ENABLE = frozenset({"enable"})  # sent by GivTCP's seed payloads; the slot is always enabled

_FUNCTIONS: tuple[tuple[ControlFunction, _Planner], ...] = (
    (
        ControlFunction(
            "enableChargeTarget",
            "Stop timed/AC charging at the charge target SOC (HR20 = 1).",
        ),
        _constant(("enable_charge_target", True)),
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
            "Reserve'); values below 4 are rejected, not clamped.",
            (PayloadKey("dischargeToPercent", True, PERCENT_ALLOWED),),
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

CONTROL_FUNCTIONS: Mapping[str, ControlFunction] = MappingProxyType(
    {spec.name: spec for spec, _ in _FUNCTIONS}
)
_PLANNERS: dict[str, _Planner] = {spec.name: plan for spec, plan in _FUNCTIONS}


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
