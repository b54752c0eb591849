"""Timed actions the inverter ends by itself: force charge/export, temporary pauses.

Why this shape: GivTCP v3 undoes its timed controls from a job queued inside the process, so a
crash leaves the battery force-charging. Here each action is a slot (charge, discharge or pause
slot) that starts now and ends at the action's end by the inverter's own clock, so the inverter
stops on time whatever happens to GivTCP. What the action changes is saved in the state folder
before the first write; the next write.py / read.py run after the end (or cancelTimedAction, or
a new timed action) writes it back, reads it back and reports it. A register someone changed
since the action wrote it is left alone and reported so.

A slot is a daily window: if nothing runs GivTCP after the end, the slot would fire again at
the same time the next day; the README says so.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from givenergy_modbus_codec import reader
from givenergy_modbus_codec.commands import (
    PERCENT_ALLOWED,
    ControlFunction,
    PayloadKey,
    RegisterWrite,
    check_allowlisted,
)
from givenergy_modbus_codec.errors import (
    CodecError,
    InverterTimeout,
    ValidationError,
)
from givenergy_modbus_codec.model import Capabilities, decode_inverter
from givenergy_modbus_codec.registers import Bank, by_name
from givenergy_modbus_codec.transport import DongleClient

from .config import Settings
from .writing import send_writes

log = logging.getLogger(__name__)

STATE_NAME = "timed-action"
MAX_MINUTES = 1439  # a slot is a daily window: it must end before it would start again
MINUTES_ALLOWED = f"whole number of minutes 1..{MAX_MINUTES}"
_MINUTES = PayloadKey("minutes", True, MINUTES_ALLOWED)

FUNCTIONS: Mapping[str, ControlFunction] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            ControlFunction(
                "forceCharge",
                "Charge from the grid now for M minutes (to chargeToPercent, else 100 %) in a "
                "free charge slot that ends by the inverter's clock; restored afterwards.",
                (_MINUTES, PayloadKey("chargeToPercent", False, PERCENT_ALLOWED)),
                MappingProxyType({"minutes": 30, "chargeToPercent": 90}),
                needs_context=True,
            ),
            ControlFunction(
                "forceExport",
                "Export at full power now for M minutes (down to dischargeToPercent, else the "
                "4 % floor) in a free discharge slot, Timed Export mode; restored afterwards.",
                (_MINUTES, PayloadKey("dischargeToPercent", False, PERCENT_ALLOWED)),
                MappingProxyType({"minutes": 30, "dischargeToPercent": 20}),
                needs_context=True,
            ),
            ControlFunction(
                "tempPauseCharge",
                "Pause battery charging for M minutes with the pause slot (HR318-320, AC and "
                "All-in-One only); restored afterwards.",
                (_MINUTES,),
                MappingProxyType({"minutes": 30}),
                needs_context=True,
            ),
            ControlFunction(
                "tempPauseDischarge",
                "Pause battery discharging for M minutes with the pause slot (AC and "
                "All-in-One only); restored afterwards.",
                (_MINUTES,),
                MappingProxyType({"minutes": 30}),
                needs_context=True,
            ),
            ControlFunction(
                "cancelTimedAction",
                "End the timed action in progress now and restore what it changed.",
                needs_context=True,
            ),
        )
    }
)


@dataclass
class Action:
    """A planned timed action: its writes and what they overwrite."""

    function: str
    started: dt.datetime
    ends: dt.datetime
    slot: str
    writes: list[RegisterWrite]
    saved: dict[int, int]  # register -> raw value before the action
    notes: list[str] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "started": self.started.isoformat(),
            "ends": self.ends.isoformat(),
            "slot": self.slot,
            "saved": {str(a): v for a, v in self.saved.items()},
            "written": {str(w.register): w.value for w in self.writes},
            "names": {str(w.register): w.name for w in self.writes},
            "notes": self.notes,
        }


# -- validation and planning (pure) --------------------------------------------------------------


def _whole(key: str, value: Any, low: int, high: int, allowed: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(f"{key} must be a whole number, got {value!r}", key, allowed)
    text = str(value).strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 5):
        raise ValidationError(f"{key} must be a whole number, got {value!r}", key, allowed)
    number = int(text)
    if not low <= number <= high:
        raise ValidationError(f"{key} = {number} is outside {low}..{high}", key, allowed)
    return number


def validate(function: str, payload: Any) -> dict[str, int]:
    """The payload's values, or ValidationError; nothing is sent before this passes."""
    spec = FUNCTIONS[function]
    payload = {} if payload is None else payload
    if not isinstance(payload, Mapping):
        raise ValidationError(f"{function}: the payload must be a JSON object", "payload", "object")
    known = {k.name for k in spec.keys}
    for key in payload:
        if key not in known:
            raise ValidationError(
                f"{function}: unknown key {key!r}", str(key), ", ".join(sorted(known)) or "no keys"
            )
    values: dict[str, int] = {}
    for key in spec.keys:
        if key.name not in payload:
            if key.required:
                raise ValidationError(f"{function}: {key.name} is required", key.name, key.allowed)
            continue
        low, high = (1, MAX_MINUTES) if key.name == "minutes" else (4, 100)
        values[key.name] = _whole(key.name, payload[key.name], low, high, key.allowed)
    return values


def _hhmm(when: dt.datetime) -> int:
    return when.hour * 100 + when.minute


def _reg(name: str) -> int:
    return by_name(Bank.HOLDING, name).addresses[0]


def _free(holding: Mapping[int, int], kind: str, slot: int) -> bool:
    start, end = _reg(f"{kind}_slot_{slot}_start"), _reg(f"{kind}_slot_{slot}_end")
    return holding.get(start, 0) == 0 and holding.get(end, 0) == 0


def _slot_text(holding: Mapping[int, int], kind: str, slot: int) -> str:
    start = holding[_reg(f"{kind}_slot_{slot}_start")]
    end = holding[_reg(f"{kind}_slot_{slot}_end")]
    return f"{start // 100:02d}:{start % 100:02d}-{end // 100:02d}:{end % 100:02d}"


def _pick_slot(holding: Mapping[int, int], kind: str, caps: Capabilities) -> tuple[int, list[str]]:
    """A free slot where there is one; else slot 1, saved and restored (said in the notes)."""
    count = caps.charge_slots if kind == "charge" else caps.discharge_slots
    usable = [
        k
        for k in range(1, count + 1)
        if not (kind == "charge" and k == 2 and not caps.charge_slot_2)
    ]
    for k in usable:
        if _free(holding, kind, k):
            return k, []
    return 1, [
        f"{kind} slot 1 held your schedule {_slot_text(holding, kind, 1)}: it is used for this "
        "action and put back when it ends (no free slot on this model)"
    ]


def _named(pairs: list[tuple[str, Any]]) -> list[RegisterWrite]:
    writes = []
    for name, value in pairs:
        register = by_name(Bank.HOLDING, name)
        for address, raw in sorted(register.encode(value).items()):
            writes.append(RegisterWrite(address, raw, name))
    return writes


def check_available(function: str, caps: Capabilities) -> None:
    """The temporary pauses need the pause slot: without it the inverter could not end them."""
    if function in ("tempPauseCharge", "tempPauseDischarge") and not caps.ac_bank:
        raise ValidationError(
            f"{function} is not available on {caps.model} (no pause slot, so the inverter "
            "could not end the pause by itself; use pauseBatteryCharge / "
            "pauseBatteryDischarge and resume yourself)",
            "function",
            "AC and All-in-One only",
        )


def plan(
    function: str,
    values: Mapping[str, int],
    holding: Mapping[int, int],
    now: dt.datetime,
    caps: Capabilities,
) -> Action:
    """The writes of a timed action starting at ``now`` (inverter clock) and what they save."""
    now = now.replace(second=0, microsecond=0)
    ends = now + dt.timedelta(minutes=values["minutes"])
    start, end = dt.time(now.hour, now.minute), dt.time(ends.hour, ends.minute)
    notes: list[str] = []
    if function == "forceCharge":
        slot, notes = _pick_slot(holding, "charge", caps)
        target = values.get("chargeToPercent", 100)
        target_name = f"charge_target_soc_{slot}" if caps.slot_targets else "charge_target_soc"
        pairs = [
            (target_name, target),
            ("enable_charge_target", True),
            (f"charge_slot_{slot}_start", start),
            (f"charge_slot_{slot}_end", end),
            ("enable_charge", True),
        ]
        where = f"charge slot {slot}"
    elif function == "forceExport":
        slot, notes = _pick_slot(holding, "discharge", caps)
        floor = values.get("dischargeToPercent", 4)
        pairs = [("battery_soc_reserve", floor)]
        if caps.slot_targets:
            pairs.append((f"discharge_target_soc_{slot}", floor))
        pairs += [
            (f"discharge_slot_{slot}_start", start),
            (f"discharge_slot_{slot}_end", end),
            ("battery_power_mode", 0),
            ("enable_discharge", True),
        ]
        where = f"discharge slot {slot}"
    else:
        check_available(function, caps)
        mode = 1 if function == "tempPauseCharge" else 2
        if holding.get(_reg("battery_pause_mode"), 0):
            notes.append("the battery pause mode was in use: it is put back when this ends")
        pairs = [
            ("battery_pause_slot_start", start),
            ("battery_pause_slot_end", end),
            ("battery_pause_mode", mode),
        ]
        where = "battery pause slot"
    writes = _named(pairs)
    check_allowlisted(writes)
    saved = {w.register: holding[w.register] for w in writes}
    return Action(function, now, ends, where, writes, saved, notes)


# -- the state file ------------------------------------------------------------------------------


def state_path(settings: Settings) -> str:
    return settings.state_file(STATE_NAME)


def load(settings: Settings) -> dict[str, Any] | None:
    try:
        with open(state_path(settings), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("timed action state unreadable (%s): nothing is restored", exc)
        return None


def _save(settings: Settings, state: dict[str, Any]) -> None:
    """Written atomically and flushed: it must survive GivTCP dying right after."""
    path = state_path(settings)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _forget(settings: Settings) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(state_path(settings))


def will_restore(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    names = state.get("names", {})
    return [
        {"register": int(a), "name": names.get(a, ""), "value": v}
        for a, v in state["saved"].items()
    ]


def describe(state: Mapping[str, Any]) -> dict[str, Any]:
    """What runAll's Control group shows while an action is in progress."""
    return {
        "function": state["function"],
        "slot": state["slot"],
        "started": state["started"],
        "ends": state["ends"],
        "will_restore": will_restore(state),
    }


# -- I/O -----------------------------------------------------------------------------------------


def restore(
    dongle: DongleClient, holding: dict[int, int], settings: Settings, state: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Put back what the action saved, register by register, and read each back.

    A register that no longer holds what the action wrote was changed by someone else since:
    it is left alone and reported. The state is forgotten once everything is back.
    """
    names = state.get("names", {})
    written = state["written"]
    pending: list[RegisterWrite] = []
    rows: list[dict[str, Any]] = []
    for key, value in state["saved"].items():
        register = int(key)
        current = holding.get(register)
        if current != written.get(key) and current != value:
            rows.append(
                {
                    "register": register,
                    "name": names.get(key, ""),
                    "value": value,
                    "readback": current,
                    "left_alone": "changed since the timed action wrote it",
                    "ok": True,
                }
            )
            continue
        pending.append(RegisterWrite(register, value, names.get(key, "")))
    rows += send_writes(dongle, "restore timed action", pending, holding, settings)
    if all(row["ok"] for row in rows):
        _forget(settings)
    return rows


def _inverter_time(holding: Mapping[int, int]) -> dt.datetime | None:
    try:
        return by_name(Bank.HOLDING, "system_time").decode(holding)
    except CodecError:  # an impossible date: not known to have ended yet
        return None


def _model_holding(dongle: DongleClient, holding: dict[int, int], saved: Mapping[str, Any]) -> None:
    """Read the banks above HR119 that the saved registers live in."""
    bases = sorted({int(a) - int(a) % 60 for a in saved} - {0, 60})
    for base in bases:
        bank = reader.Bank(reader.HR_0.device, reader.HR_0.function, base)
        holding.update(reader.read_banks(dongle, (bank,)).holding)


def on_session(
    dongle: DongleClient, holding: dict[int, int], settings: Settings
) -> dict[str, Any] | None:
    """At the start of a read or write run: restore an ended action, else describe it.

    Returns None without a saved action; {"in_progress": ...} while it runs; {"restored": ...}
    with the per-register rows once it has ended.
    """
    state = load(settings)
    if state is None:
        return None
    now = _inverter_time(holding)
    ends = dt.datetime.fromisoformat(state["ends"])
    if now is None or now < ends:
        return {"in_progress": describe(state)}
    _model_holding(dongle, holding, state["saved"])
    rows = restore(dongle, holding, settings, state)
    return {"restored": {"function": state["function"], "ended": state["ends"], "writes": rows}}


def run(function: str, payload: Any, settings: Settings) -> dict[str, Any]:
    """Carry out a timed action (or cancel one): the JSON answer of write.py / REST."""
    values = validate(function, payload)
    with DongleClient(settings.transport_config()) as dongle:
        snapshot = reader.read_banks(dongle, (reader.HR_0, reader.HR_60))
        if not snapshot.holding:
            raise InverterTimeout("could not read the holding registers before writing")
        holding = snapshot.holding
        inverter = decode_inverter(holding, {})
        caps = inverter.capabilities()
        check_available(function, caps)  # refused before anything is written or restored
        now = inverter.system_time
        previous = load(settings)
        answer: dict[str, Any] = {}
        if function != "cancelTimedAction":
            if now is None:
                raise ValidationError(
                    f"{function}: the inverter clock does not read as a date and time, so the "
                    "end cannot be set by it: run syncDateTime first",
                    "function",
                    "an inverter with a valid clock",
                )
            for base in ([240] if caps.charge_slots > 2 else []) + ([300] if caps.ac_bank else []):
                bank = reader.Bank(reader.HR_0.device, reader.HR_0.function, base)
                holding.update(reader.read_banks(dongle, (bank,)).holding)
        if previous is not None:
            _model_holding(dongle, holding, previous["saved"])
            answer["restored"] = {
                "function": previous["function"],
                "writes": restore(dongle, holding, settings, previous),
            }
            if load(settings) is not None:
                answer["result"] = f"{function}: the previous timed action could not be restored"
                answer["ok"] = False
                return answer
        if function == "cancelTimedAction":
            answer["result"] = (
                "cancelTimedAction: success"
                if previous is not None
                else "cancelTimedAction: no timed action in progress"
            )
            answer["ok"] = True
            return answer
        assert now is not None
        action = plan(function, values, holding, now, caps)
        _save(settings, action.state())  # before the first write
        rows = send_writes(dongle, function, action.writes, holding, settings)
    ok = all(row["ok"] for row in rows)
    state = action.state()
    answer.update(
        {
            "result": f"{function}: success" if ok else f"{function}: a write did not read back",
            "ok": ok,
            "slot": action.slot,
            "ends": action.ends.isoformat(),
            "ends_by": "the inverter's own clock: it stops at the slot end without GivTCP",
            "will_restore": will_restore(state),
            "notes": action.notes,
            "writes": rows,
        }
    )
    return answer
