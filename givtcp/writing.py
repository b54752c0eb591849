"""Writing controls: validate and plan, write what differs, read every register back."""

from __future__ import annotations

from typing import Any, NamedTuple

from givenergy_modbus_codec import reader
from givenergy_modbus_codec.errors import InverterRefused, InverterTimeout
from givenergy_modbus_codec.model import decode_inverter
from givenergy_modbus_codec.transport import DongleClient

from .config import Settings


class WriteReport(NamedTuple):
    """What write.py prints: per register the value asked, the echo and the read-back."""

    function: str
    rows: list[dict[str, Any]]
    timed_action: dict[str, Any] | None = None  # a timed action restored or still running

    @property
    def ok(self) -> bool:
        return all(row.get("ok") for row in self.rows)

    def as_dict(self) -> dict[str, Any]:
        if self.ok:
            result = f"{self.function}: success"
        else:
            failed = next(row for row in self.rows if not row.get("ok"))
            result = f"{self.function}: HR{failed['register']} did not read back as asked"
        body = {"result": result, "writes": self.rows}
        if self.timed_action is not None:
            body["timed_action"] = self.timed_action
        return body


class TimedActionReport(NamedTuple):
    """What a timed action answers (timed_actions.run): when it ends, what is restored."""

    answer: dict[str, Any]

    @property
    def ok(self) -> bool:
        restored = self.answer.get("restored", {}).get("writes", [])
        return bool(self.answer["ok"]) and all(row["ok"] for row in restored)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.answer.items() if k != "ok"}


def _timed_session(dongle: DongleClient, holding: dict[int, int], settings: Settings) -> Any:
    """Restore a timed action that has ended (cheap check first: most runs have none)."""
    import os

    from . import timed_actions

    if not os.path.exists(timed_actions.state_path(settings)):
        return None
    return timed_actions.on_session(dongle, holding, settings)


def plan_control(function: str, payload: Any, context: Any = None) -> list[Any]:
    """Validate and plan without touching the inverter (ValidationError -> exit 2)."""
    from givenergy_modbus_codec.commands import CONTROL_FUNCTIONS, ContextMissing, plan_writes

    from . import timed_actions

    if function in timed_actions.FUNCTIONS:
        timed_actions.validate(function, payload)
        return []  # planned from the inverter's registers and clock
    spec = CONTROL_FUNCTIONS.get(function)
    if spec is not None and spec.needs_context and context is None:
        try:  # the payload is still checked here, before any I/O
            return plan_writes(function, payload, context)
        except ContextMissing:
            return []  # planned once the model and battery size are read from the inverter
    return plan_writes(function, payload, context)


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
    back as asked stops the sequence; the rest are reported as not sent.
    """
    from givenergy_modbus_codec.commands import plan_writes

    from . import timed_actions

    if function in timed_actions.FUNCTIONS:
        return TimedActionReport(timed_actions.run(function, payload, settings))
    with DongleClient(settings.transport_config()) as dongle:
        snapshot = reader.read_banks(dongle, (reader.HR_0, reader.HR_60))
        if not snapshot.holding:
            raise InverterTimeout("could not read the holding registers before writing")
        timed = _timed_session(dongle, snapshot.holding, settings)
        inverter = decode_inverter(snapshot.holding, {})
        writes = plan_writes(function, payload, inverter.control_context())
        read_written_banks(dongle, snapshot, writes)
        rows: list[dict[str, Any]] = []
        stopped = False
        for write in writes:
            row: dict[str, Any] = {"register": write.register, "name": write.name}
            row["value"] = write.value
            if stopped:
                rows.append({**row, "sent": False, "ok": False})
                continue
            current = snapshot.holding.get(write.register)
            if current == write.value:
                rows.append(
                    {**row, "echo": None, "readback": current, "unchanged": True, "ok": True}
                )
                continue
            try:
                outcome = dongle.write(write.register, write.value)
            except InverterRefused as exc:
                rows.append({**row, "error": str(exc), "ok": False})
                stopped = True
                continue
            snapshot.holding[write.register] = outcome.readback
            rows.append(
                {**row, "echo": outcome.echoed, "readback": outcome.readback, "ok": outcome.ok}
            )
            stopped = not outcome.ok
    return WriteReport(function, rows, timed)
