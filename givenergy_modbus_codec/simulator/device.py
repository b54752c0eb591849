"""What the inverter answers: addressing, banks, errors and silence, writes (protocol.md §6-§7).

``Device`` owns the plant, its clock and one lock, so the asyncio server thread and test
threads (``Simulator.truth()``, ``advance()``) see consistent snapshots.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from ..frames import (
    MAX_REGISTERS,
    ErrorResponse,
    Frame,
    Function,
    ReadRequest,
    ReadResponse,
    Request,
    WriteResponse,
)
from .models import BATTERY_PAGE, FIRST_BATTERY, ModelSpec, write_allowed
from .plant import Plant, SimClock

_CLOCK_REGISTERS = range(35, 41)


@dataclass(frozen=True)
class Reply:
    """The device's reaction to one request: ``frame`` is None for silence."""

    outcome: str  # "answered" | "error" | "silence"
    frame: Frame | None
    detail: str


class DongleDevice(Protocol):
    """What the dongle server needs from what sits behind the dongle: the simulated plant
    (``Device``) or a replayed capture (``replay.ReplayDevice``)."""

    @property
    def dongle_serial(self) -> str: ...

    @property
    def inverter_serial(self) -> str: ...

    def now(self) -> dt.datetime: ...

    def advance(self, seconds: float) -> dt.datetime: ...

    def handle(self, request: Request) -> Reply: ...

    def battery_index(self, device: int) -> int | None: ...

    def registers(self, device: int, function: int, base: int, count: int) -> tuple[int, ...]: ...

    def truth(self) -> dict[str, Any]: ...


class Device:
    """The inverter and its batteries as seen through the dongle."""

    def __init__(
        self, model: ModelSpec, batteries: int, seed: int, start: dt.datetime, speed: float
    ) -> None:
        self.model = model
        self.clock = SimClock(start, speed)
        self.plant = Plant(model, batteries, seed, start)
        self.lock = threading.RLock()

    @property
    def dongle_serial(self) -> str:
        return self.plant.dongle_serial

    @property
    def inverter_serial(self) -> str:
        return self.plant.inverter_serial

    def now(self) -> dt.datetime:
        """The plant clock."""
        return self.clock.now()

    def advance(self, seconds: float) -> dt.datetime:
        """Move the clock forward and integrate the plant up to the new time."""
        if seconds < 0:
            raise ValueError("the plant clock only moves forward; write HR35-40 to set it back")
        with self.lock:
            self.clock.advance(seconds)
            self.plant.sync(self.clock.now())
            return self.plant.time

    def handle(self, request: Request) -> Reply:
        """Answer one request as the inverter would."""
        with self.lock:
            self.plant.sync(self.clock.now())
            if isinstance(request, ReadRequest):
                return self._read(request)
            return self._write(request.device, request.register, request.value)

    # -- reads ---------------------------------------------------------------------------

    def battery_index(self, device: int) -> int | None:
        """0-based battery behind a device address, if one is fitted."""
        index = device - FIRST_BATTERY
        return index if 0 <= index < len(self.plant.packs) else None

    def _read(self, req: ReadRequest) -> Reply:
        view = req.device in self.model.inverter_views
        battery = self.battery_index(req.device)
        if req.function == Function.READ_METER:
            return Reply("silence", None, "no energy meter fitted")
        if not view and battery is None:
            return Reply("silence", None, f"no device at {req.device:#04x}")
        if not 1 <= req.count <= MAX_REGISTERS:
            return self._error(req.device, req.function, req.base, req.count, "count over 60")
        wanted = range(req.base, req.base + req.count)
        if req.function == Function.READ_INPUT and set(wanted) <= set(BATTERY_PAGE):
            if battery is not None:
                return self._answer(req, self.plant.battery_registers(battery))
            return self._error(req.device, req.function, req.base, req.count, "no battery page")
        if not view:
            return self._error(
                req.device, req.function, req.base, req.count, "battery-only address"
            )
        if not self.model.implemented(req.function, wanted):
            return self._refuse(req.device, req.function, req.base, req.count, wanted)
        if self.model.facade_only_at(req.device, req.function, wanted):
            return Reply("silence", None, "served only at 0x31 on this plant")
        if req.function == Function.READ_HOLDING:
            return self._answer(req, self.plant.holding_registers())
        return self._answer(req, self.plant.input_registers())

    def _answer(self, req: ReadRequest, regs: dict[int, int]) -> Reply:
        values = tuple(regs[req.base + i] for i in range(req.count))
        frame = ReadResponse(
            req.device,
            req.function,
            self.plant.inverter_serial,
            req.base,
            values,
            self.dongle_serial,
        )
        return Reply("answered", frame, "")

    def _error(self, device: int, function: int, base: int, count: int, why: str) -> Reply:
        frame = ErrorResponse(
            device, function, self.plant.inverter_serial, base, count, self.dongle_serial
        )
        return Reply("error", frame, why)

    def _refuse(self, device: int, function: int, base: int, count: int, wanted: range) -> Reply:
        bank_function = Function.READ_HOLDING if function == Function.WRITE_SINGLE else function
        if self.model.refusal(bank_function, wanted) == "silence":
            return Reply("silence", None, f"bank not implemented by the {self.model.name} model")
        return self._error(device, function, base, count, "bank not implemented")

    # -- writes --------------------------------------------------------------------------

    def _write(self, device: int, register: int, value: int) -> Reply:
        if device not in self.model.inverter_views:
            if self.battery_index(device) is None:
                return Reply("silence", None, f"no device at {device:#04x}")
            return self._error(device, Function.WRITE_SINGLE, register, value, "battery address")
        target = range(register, register + 1)
        if not self.model.implemented(Function.READ_HOLDING, target):
            return self._refuse(device, Function.WRITE_SINGLE, register, value, target)
        if not write_allowed(self.model, register, value):
            return self._error(device, Function.WRITE_SINGLE, register, value, "value refused")
        if register in _CLOCK_REGISTERS:
            if not self._set_clock_field(register, value):
                return self._error(device, Function.WRITE_SINGLE, register, value, "no such date")
        else:
            self.plant.write(register, value)
        stored = self.plant.holding_registers()[register]
        frame = WriteResponse(
            device, self.plant.inverter_serial, register, stored, self.dongle_serial
        )
        return Reply("answered", frame, "")

    def _set_clock_field(self, register: int, value: int) -> bool:
        """Change one field of the inverter clock (HR35 year-2000 .. HR40 second)."""
        now = self.plant.time
        field = ("year", "month", "day", "hour", "minute", "second")[register - 35]
        try:
            when = now.replace(**{field: value + 2000 if field == "year" else value})
        except ValueError:
            return False
        self.clock.set(when)
        self.plant.jump(when)
        return True

    # -- ground truth --------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """True registers and plant state, synchronised to the clock (never fault-injected)."""
        with self.lock:
            self.plant.sync(self.clock.now())
            plant = self.plant
            holding = plant.holding_registers()
            return {
                "time": plant.time,
                "model": self.model.name,
                "holding": {
                    a: v
                    for a, v in holding.items()
                    if self.model.implemented(Function.READ_HOLDING, range(a, a + 1))
                },
                "input": plant.input_registers(),
                "batteries": {
                    FIRST_BATTERY + i: plant.battery_registers(i) for i in range(len(plant.packs))
                },
                "plant": plant.summary(),
            }

    def registers(self, device: int, function: int, base: int, count: int) -> tuple[int, ...]:
        """True values of a block the device implements (for fault frames); KeyError if not."""
        with self.lock:
            self.plant.sync(self.clock.now())
            battery = self.battery_index(device)
            if function == Function.READ_HOLDING:
                regs = self.plant.holding_registers()
            elif battery is not None and base in BATTERY_PAGE:
                regs = self.plant.battery_registers(battery)
            else:
                regs = self.plant.input_registers()
            return tuple(regs[base + i] for i in range(count))
