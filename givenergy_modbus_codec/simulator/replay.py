"""A replayed plant: the register files a capture saw, served through the same dongle server.

``Replay`` is pure: it collects from a capture's dongle -> client frames, per device address
and function, the values each register had (first and last), the inverter serial each
address answered with, the dongle's serial, and the requests that were never answered.
``ReplayDevice`` answers requests from it with the interface of ``device.Device``, so
``server.DongleServer`` (fan-out, heartbeats, faults) serves a replay unchanged.

Answering rules, so a captured plant is reproduced faithfully:
- an address that never answered in the capture is silent;
- a read whose every register the capture saw at that address and function is answered with
  the captured values (by default the last value seen of each register);
- a read the capture asked and never got an answer to is silent; any other read at a known
  address gets an error frame (the capture's own error frames are refusals of this kind);
- a write to a holding register the capture saw at that address is applied to the in-memory
  registers and echoed (no range checks: the captured inverter's limits are not in the
  capture); a write elsewhere gets an error frame, at an unknown address silence.

With ``step=True`` the registers start at the first value seen of each register and the
capture's frames are applied in order as the replay clock passes their timestamps; after the
last frame the registers keep the last values (a write lasts until the capture next
reports that register).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..capturelog import TO_SERVER, CapturedFrame, CaptureFileError, load_capture
from ..frames import (
    BATTERY_ADDRESSES,
    INVERTER_ADDRESS,
    MAX_REGISTERS,
    ErrorResponse,
    Function,
    ReadRequest,
    ReadResponse,
    Request,
    WriteResponse,
    answers,
    decode_frame,
)
from .device import Reply
from .models import BATTERY_PAGE
from .plant import SimClock

FileKey = tuple[int, int]  # (device address, function)
Shape = tuple[int, int, int, int]  # (device, function, base, count) of a read request
_BANK_NAMES = {Function.READ_HOLDING: "holding", Function.READ_INPUT: "input"}


@dataclass(frozen=True)
class Step:
    """Register values one captured frame reported, ``offset`` seconds into the capture."""

    offset: float
    key: FileKey
    values: dict[int, int]


@dataclass
class Replay:
    """What a capture tells about the plant behind the dongle."""

    source: str
    adapter_serial: str
    serials: dict[int, str]  # device address -> inverter serial in its answers
    first: dict[FileKey, dict[int, int]]
    last: dict[FileKey, dict[int, int]]
    steps: list[Step]
    unanswered: frozenset[Shape]
    start: dt.datetime  # the capture's first timestamp (naive, the capture's own clock)
    frames: int = 0  # frames in the file
    ignored: dict[str, int] = field(default_factory=dict)  # kind -> frames not used

    @classmethod
    def from_file(cls, path: str | Path) -> Replay:
        """Read a capture file (CaptureFileError if unreadable or it holds no answers)."""
        return cls.from_frames(load_capture(path), str(path))

    @classmethod
    def from_frames(cls, captured: list[CapturedFrame], source: str = "capture") -> Replay:
        times = [_comparable(c.time) for c in captured if c.time is not None]
        start = min(times) if times else None
        first: dict[FileKey, dict[int, int]] = {}
        last: dict[FileKey, dict[int, int]] = {}
        steps: list[Step] = []
        serials: dict[int, str] = {}
        adapters: Counter[str] = Counter()
        requests: set[Shape] = set()
        answered: list[ReadResponse | ErrorResponse] = []
        ignored: Counter[str] = Counter()
        for item in captured:
            frame = decode_frame(item.data, lenient_requests=True)
            if isinstance(frame, ReadRequest):
                requests.add((frame.device, frame.function, frame.base, frame.count))
                continue
            if item.direction == TO_SERVER or not isinstance(
                frame, ReadResponse | WriteResponse | ErrorResponse
            ):
                ignored[frame.kind] += 1  # heartbeats, bad CRC, null, LAN broadcasts, writes
                continue
            adapters[frame.adapter_serial] += 1  # clients' frames carry their own serial
            serials[frame.device] = frame.inverter_serial
            if isinstance(frame, ErrorResponse):
                answered.append(frame)
                continue
            if isinstance(frame, ReadResponse):
                answered.append(frame)
                key, values = (frame.device, frame.function), frame.registers()
            else:
                key, values = (frame.device, Function.READ_HOLDING), {frame.register: frame.value}
            for register, value in values.items():
                first.setdefault(key, {}).setdefault(register, value)
            last.setdefault(key, {}).update(values)
            when = None if item.time is None else _comparable(item.time)
            offset = 0.0 if when is None or start is None else (when - start).total_seconds()
            steps.append(Step(offset, key, values))
        if not serials:
            raise CaptureFileError(f"{source}: no answer from an inverter or battery in it")
        unanswered = frozenset(
            shape
            for shape in requests
            if not any(answers(ReadRequest(*shape), frame) for frame in answered)
        )
        return cls(
            source=source,
            adapter_serial=adapters.most_common(1)[0][0],
            serials=serials,
            first=first,
            last=last,
            steps=sorted(steps, key=lambda s: s.offset),
            unanswered=unanswered,
            start=_clock_reading(captured) or dt.datetime.now().replace(microsecond=0),
            frames=len(captured),
            ignored=dict(ignored),
        )

    @property
    def duration(self) -> float:
        """Seconds from the first to the last register frame."""
        return self.steps[-1].offset if self.steps else 0.0


def _comparable(when: dt.datetime) -> dt.datetime:
    """Naive UTC for zoned timestamps, so every line of a file compares (naive ones as is)."""
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


def _clock_reading(captured: list[CapturedFrame]) -> dt.datetime | None:
    """The capture's own wall-clock reading at its first timestamp (the inverter clock has
    no zone)."""
    times = [c.time for c in captured if c.time is not None]
    if not times:
        return None
    return min(times, key=_comparable).replace(tzinfo=None)


class ReplayDevice:
    """Answers requests from a ``Replay`` with the interface ``server.DongleServer`` uses."""

    def __init__(self, replay: Replay, *, step: bool = False, speed: float = 1.0) -> None:
        self.replay = replay
        self.step = step
        start = replay.start if step else replay.start + dt.timedelta(seconds=replay.duration)
        self.clock = SimClock(start, speed)
        self._start = start
        source = replay.first if step else replay.last
        self.files: dict[FileKey, dict[int, int]] = {k: dict(v) for k, v in source.items()}
        self._applied = 0  # steps applied so far (step mode)
        self.lock = threading.RLock()

    @classmethod
    def from_file(cls, path: str | Path, *, step: bool = False, speed: float = 1.0) -> ReplayDevice:
        return cls(Replay.from_file(path), step=step, speed=speed)

    # -- the interface the server and runner use -----------------------------------------

    @property
    def dongle_serial(self) -> str:
        return self.replay.adapter_serial

    @property
    def inverter_serial(self) -> str:
        serials = self.replay.serials
        return serials.get(INVERTER_ADDRESS) or next(iter(serials.values()))

    def now(self) -> dt.datetime:
        return self.clock.now()

    def advance(self, seconds: float) -> dt.datetime:
        """Move the replay clock forward (in step mode, towards the capture's later frames)."""
        if seconds < 0:
            raise ValueError("the replay clock only moves forward")
        with self.lock:
            self.clock.advance(seconds)
            self._sync()
            return self.clock.now()

    def handle(self, request: Request) -> Reply:
        """Answer one request as the captured plant did."""
        with self.lock:
            self._sync()
            if request.device not in self.replay.serials:
                return Reply("silence", None, f"no device at {request.device:#04x} in the capture")
            if isinstance(request, ReadRequest):
                return self._read(request)
            return self._write(request.device, request.register, request.value)

    def battery_index(self, device: int) -> int | None:
        """0-based battery behind ``device`` if the capture holds its IR 60-119 page."""
        page = self.files.get((device, Function.READ_INPUT), {})
        if device in BATTERY_ADDRESSES and all(r in page for r in BATTERY_PAGE):
            return BATTERY_ADDRESSES.index(device)
        return None

    def registers(self, device: int, function: int, base: int, count: int) -> tuple[int, ...]:
        """Current values of a block the capture saw (for fault frames); KeyError if not."""
        with self.lock:
            file = self.files[(device, function)]
            return tuple(file[base + i] for i in range(count))

    def truth(self) -> dict[str, Any]:
        """The registers being served, per device address and bank."""
        with self.lock:
            self._sync()
            devices: dict[str, dict[str, Any]] = {}
            for device, serial in sorted(self.replay.serials.items()):
                entry: dict[str, Any] = {"inverter_serial": serial}
                for (address, function), file in sorted(self.files.items()):
                    if address == device:
                        name = _BANK_NAMES.get(function, f"function {function:#04x}")
                        entry[name] = dict(sorted(file.items()))
                devices[f"{device:#04x}"] = entry
            return {
                "time": self.clock.now(),
                "model": "replay",
                "replay": {
                    "file": self.replay.source,
                    "frames": self.replay.frames,
                    "step": self.step,
                    "steps_applied": self._applied if self.step else len(self.replay.steps),
                    "ignored": self.replay.ignored,
                },
                "dongle_serial": self.dongle_serial,
                "devices": devices,
            }

    # -- answers -------------------------------------------------------------------------

    def _sync(self) -> None:
        """In step mode, apply the captured frames the clock has passed."""
        if not self.step:
            return
        elapsed = (self.clock.now() - self._start).total_seconds()
        steps = self.replay.steps
        while self._applied < len(steps) and steps[self._applied].offset <= elapsed:
            item = steps[self._applied]
            self.files.setdefault(item.key, {}).update(item.values)
            self._applied += 1

    def _serial(self, device: int) -> str:
        return self.replay.serials[device]

    def _read(self, req: ReadRequest) -> Reply:
        if not 1 <= req.count <= MAX_REGISTERS:
            return self._error(req.device, req.function, req.base, req.count, "count over 60")
        file = self.files.get((req.device, req.function), {})
        wanted = range(req.base, req.base + req.count)
        if all(r in file for r in wanted):
            values = tuple(file[r] for r in wanted)
            frame = ReadResponse(
                req.device,
                req.function,
                self._serial(req.device),
                req.base,
                values,
                self.dongle_serial,
            )
            return Reply("answered", frame, "")
        if (req.device, req.function, req.base, req.count) in self.replay.unanswered:
            return Reply("silence", None, "the capture saw this request go unanswered")
        return self._error(req.device, req.function, req.base, req.count, "not in the capture")

    def _write(self, device: int, register: int, value: int) -> Reply:
        holding = self.files.get((device, Function.READ_HOLDING), {})
        if register not in holding:
            return self._error(
                device, Function.WRITE_SINGLE, register, value, "register not in the capture"
            )
        holding[register] = value
        frame = WriteResponse(device, self._serial(device), register, value, self.dongle_serial)
        return Reply("answered", frame, "")

    def _error(self, device: int, function: int, base: int, count: int, why: str) -> Reply:
        frame = ErrorResponse(
            device, function, self._serial(device), base, count, self.dongle_serial
        )
        return Reply("error", frame, why)
