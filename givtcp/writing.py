"""Writing controls: validate and plan, write what differs, read every register back."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, NamedTuple

from givenergy_modbus_codec import manifest, reader
from givenergy_modbus_codec.errors import (
    CodecError,
    InverterRefused,
    InverterTimeout,
    TransportError,
    ValidationError,
)
from givenergy_modbus_codec.model import decode_inverter
from givenergy_modbus_codec.registers import Bank, Encoding, by_name
from givenergy_modbus_codec.transport import DongleClient

from . import write_state
from .config import Settings
from .reading import timed_action_at_start

log = logging.getLogger(__name__)

# A clock read back up to this many seconds after the asked time is confirmed: the inverter's
# clock runs on while the six registers are written and read back (README "Controlling").
CLOCK_TOLERANCE_SECONDS = 10

PAYLOAD_LIMIT_BYTES = 16 * 1024  # a control payload is a few dozen bytes


class WriteReport(NamedTuple):
    """What write.py prints: per register the value asked, the echo and the read-back.

    Each row has a ``status``: "confirmed", "unchanged" (already as asked, not written),
    "not confirmed" (echo or read-back differ), "refused" (error frame), "unknown" (the
    inverter stopped answering while this register was being written) or "not sent".
    """

    function: str
    rows: list[dict[str, Any]]
    timed_action: dict[str, Any] | None = None  # a timed action restored or still running

    @property
    def ok(self) -> bool:
        return all(row.get("ok") for row in self.rows)

    def as_dict(self) -> dict[str, Any]:
        failed = next((row for row in self.rows if not row.get("ok")), None)
        if failed is None:
            result = f"{self.function}: success"
        elif failed["status"] == "unknown":
            later = sum(1 for row in self.rows if row["status"] == "not sent")
            result = (
                f"{self.function}: the inverter stopped answering while HR{failed['register']} "
                f"was being written (it may or may not have taken it); {later} later "
                "register(s) not sent"
            )
        elif failed["status"] == "refused":
            result = f"{self.function}: the inverter refused HR{failed['register']}"
        else:
            result = f"{self.function}: HR{failed['register']} did not read back as asked"
        body = {"result": result, "writes": [_ordered(row) for row in self.rows]}
        if self.timed_action is not None:
            body["timed_action"] = self.timed_action
        return body


_ROW_KEYS = ("register", "name", "value", "echo", "readback", "unchanged", "status", "ok")


def _ordered(row: dict[str, Any]) -> dict[str, Any]:
    """A row's keys in one order, whatever order they were filled in."""
    return {**{k: row[k] for k in _ROW_KEYS if k in row}, **row}


class TimedActionReport(NamedTuple):
    """What a timed action answers (timed_actions.run): when it ends, what is restored."""

    answer: dict[str, Any]

    @property
    def ok(self) -> bool:
        restored = self.answer.get("restored", {}).get("writes", [])
        return bool(self.answer["ok"]) and all(row["ok"] for row in restored)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.answer.items() if k != "ok"}


def parse_payload(text: str | bytes | None) -> Any:
    """The JSON payload of write.py / a REST POST; ValidationError (exit 2 / 400) if it is not.

    Python's json refuses integers of more than 4300 digits (ValueError) and nesting deeper
    than the interpreter's stack (RecursionError): both are bad payloads, not crashes.
    """
    if text is None or (isinstance(text, bytes | str) and not text.strip()):
        return None
    if len(text) > PAYLOAD_LIMIT_BYTES:
        raise ValidationError(
            f"the payload is {len(text)} bytes; at most {PAYLOAD_LIMIT_BYTES} are accepted",
            "payload",
            "a JSON object of the function's keys",
        )
    try:
        return json.loads(text)
    except RecursionError:
        why = "nested too deeply"
    except ValueError as exc:  # JSONDecodeError, too many digits, bytes that are not UTF-8
        why = str(exc)[:200]
    raise ValidationError(
        f"payload is not valid JSON: {why}", "payload", "a JSON object of the function's keys"
    )


def plan_control(function: str, payload: Any, context: Any = None) -> list[Any]:
    """Validate and plan without touching the inverter (ValidationError -> exit 2).

    Functions that need what only the inverter can tell (the battery size, the model's slots)
    have their payload checked here all the same, and [] returned (planned once the inverter
    has been read); timed actions are planned from the inverter's registers and clock.
    """
    from givenergy_modbus_codec.commands import ContextNeeded, plan_writes

    from . import timed_actions

    if function in timed_actions.FUNCTIONS:
        timed_actions.validate(function, payload)
        return []
    try:
        return plan_writes(function, payload, context)
    except ContextNeeded:
        return []


def _is_clock(name: str) -> bool:
    return by_name(Bank.HOLDING, name).encoding is Encoding.DATETIME


def _row(write: Any) -> dict[str, Any]:
    return {
        "register": write.register,
        "name": write.name,
        "value": write.value,
        "status": "not sent",
        "ok": False,
    }


def _check_family(function: str, inverter: Any) -> None:
    """The control registers are the single-phase ones: on any other family (three-phase keeps
    slots, targets and rates elsewhere) nothing is sent (exit 2)."""
    family = inverter.family_spec
    if family is None or family.controls != manifest.CONTROLS_SINGLE_PHASE:
        model = inverter.family or f"model {inverter.device_type_code or '?'}"
        raise ValidationError(f"{function} is not available on {model}")


def read_written_banks(dongle: DongleClient, snapshot: Any, writes: list[Any]) -> None:
    """Read the banks above HR119 that ``writes`` touch, so unchanged values are not sent
    again (the planners have already refused registers this model lacks)."""
    from givenergy_modbus_codec.registers import bank_base

    bases = sorted({bank_base(w.register) for w in writes} - {0, 60})
    banks = [reader.Bank(reader.HR_0.device, reader.HR_0.function, base) for base in bases]
    if banks:
        extra = reader.read_banks(dongle, tuple(banks))
        snapshot.holding.update(extra.holding)


def write_inverter(function: str, payload: Any, settings: Settings) -> Any:
    """Read the holding registers, write what differs, read every register back.

    Registers already at the asked value are not written again (writes wear the inverter's
    flash) but are still reported with their read-back. The first register that does not read
    back as asked, or that the inverter stops answering on, stops the sequence; the rest are
    reported as not sent. The plan is kept in the state folder while the writes go out
    (write_state), so a write killed part-way is reported by the next run.
    """
    from givenergy_modbus_codec.commands import plan_writes

    from . import timed_actions

    if function in timed_actions.FUNCTIONS:
        return TimedActionReport(timed_actions.run(function, payload, settings))
    with DongleClient(settings.transport_config()) as dongle:
        snapshot = reader.read_banks(dongle, (reader.HR_0, reader.HR_60))
        if not snapshot.holding:
            raise InverterTimeout("could not read the holding registers before writing")
        timed = timed_action_at_start(dongle, snapshot.holding, settings)
        inverter = decode_inverter(snapshot.holding, {})
        _check_family(function, inverter)
        writes = plan_writes(function, payload, inverter.control_context())
        read_written_banks(dongle, snapshot, writes)
        rows = send_writes(dongle, function, writes, snapshot.holding, settings)
    return WriteReport(function, rows, timed)


def send_writes(
    dongle: DongleClient,
    function: str,
    writes: list[Any],
    holding: dict[int, int],
    settings: Settings,
) -> list[dict[str, Any]]:
    """Send ``writes`` (skipping registers already as asked), read each back, stop at the
    first that does not take; one row per write. The plan is journalled in the state folder
    while they go out and shared REST reads are ended (write_state)."""
    rows = [_row(write) for write in writes]
    journal = write_state.WriteJournal(settings)
    journal.begin(function, rows)
    _send(dongle, writes, rows, holding, journal, settings)
    # Reported now, so no longer "interrupted" (a crash or Ctrl-C leaves the plan behind).
    journal.finish(row["register"] for row in rows if row["status"] in ("confirmed", "unchanged"))
    return rows


def _send(
    dongle: DongleClient,
    writes: list[Any],
    rows: list[dict[str, Any]],
    holding: dict[int, int],
    journal: write_state.WriteJournal,
    settings: Settings,
) -> None:
    """Send ``writes`` in order, filling in ``rows``; stops at the first that fails."""
    stamped = False
    for index, (write, row) in enumerate(zip(writes, rows, strict=True)):
        clock = _is_clock(write.name)
        current = holding.get(write.register)
        if current == write.value and not clock:  # a clock is always written whole
            row.update(echo=None, readback=current, unchanged=True, ok=True, status="unchanged")
            journal.update()
            continue
        if not stamped:  # shared REST reads from before this write are stale from now on
            write_state.bump_stamp(settings)
            stamped = True
        row["status"] = "unknown"  # until the inverter has answered
        journal.update()
        try:
            outcome = dongle.write(write.register, write.value)
        except InverterRefused as exc:
            row.update(error=str(exc), status="refused")
            journal.update()
            return
        except TransportError as exc:
            row["error"] = str(exc)
            journal.update()
            return
        holding[write.register] = outcome.readback
        row.update(echo=outcome.echoed, readback=outcome.readback, ok=outcome.ok)
        row["status"] = "confirmed" if outcome.ok else "not confirmed"
        if clock:
            last_of_clock = index + 1 == len(writes) or writes[index + 1].name != write.name
            if not last_of_clock:
                continue  # the clock is judged as a whole, once all six are written
            if not _confirm_clock(dongle, write.name, writes, rows):
                journal.update()
                return
        journal.update()
        if not row["ok"]:
            return


def _confirm_clock(
    dongle: DongleClient, name: str, writes: list[Any], rows: list[dict[str, Any]]
) -> bool:
    """Read the clock back whole and compare it as a clock: the asked time, or up to
    CLOCK_TOLERANCE_SECONDS later (it ticked meanwhile). Sets the clock rows' outcome."""
    register = by_name(Bank.HOLDING, name)
    mine = [(w, r) for w, r in zip(writes, rows, strict=True) if w.name == name]
    asked = register.decode({w.register: w.value for w, _ in mine})
    first = min(register.addresses)
    try:
        block = dongle.read_holding(first, len(register.addresses))
    except TransportError as exc:
        for _, row in mine:
            row.update(ok=False, status="unknown", error=f"clock not read back: {exc}")
        return False
    regs = {first + i: v for i, v in enumerate(block.values)}
    try:
        read_back: dt.datetime | None = register.decode(regs)
    except CodecError:
        read_back = None
    late = None if read_back is None else (read_back - asked).total_seconds()
    confirmed = late is not None and 0 <= late <= CLOCK_TOLERANCE_SECONDS
    if late is not None and not confirmed:
        log.warning("the clock reads back %s, %+.0f s from the asked %s", read_back, late, asked)
    for write, row in mine:
        echoed = row.get("echo") == write.value
        row.update(readback=regs[write.register], ok=confirmed and echoed)
        row["status"] = "confirmed" if row["ok"] else "not confirmed"
    return all(row["ok"] for _, row in mine)
