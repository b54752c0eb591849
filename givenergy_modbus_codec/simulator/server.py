"""The dongle's TCP side: connections, fan-out, heartbeats and fault injection on the wire.

Like the real dongle, every answer goes to every connected client (protocol.md §9), one
request is served at a time (the inverter sits behind one RS485 bus), and each client gets a
heartbeat request every ``heartbeat`` seconds. Frames are built and parsed only with the
project codec (``frames``, ``stream``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass

from ..frames import (
    BadFrame,
    CrcForm,
    Frame,
    Function,
    Heartbeat,
    ReadRequest,
    ReadResponse,
    Request,
    WriteRequest,
    WriteResponse,
)
from ..stream import StreamDecoder
from .device import DongleDevice, Reply
from .faults import PHANTOM_SHAPES, FaultPlan, Faults
from .models import FIRST_BATTERY

log = logging.getLogger(__name__)

MAX_RECORDS = 10_000
_CLOSE_TIMEOUT = 1.0


@dataclass(frozen=True)
class RequestRecord:
    """One frame received from a client and what the simulator did with it.

    ``outcome``: "answered", "error" (error frame sent), "silence" (nothing sent: absent
    device, missing bank, or the ``silent`` fault), "dropped" (malformed, bad CRC, or refused
    by the strict profile), "heartbeat_reply", or "ignored" (a frame that is not a request).
    ``faults`` names the faults applied to the answer, e.g. ("phantom", "crc").
    """

    seq: int
    time: float  # time.monotonic() when the frame arrived (wall clock, for spacing checks)
    plant_time: dt.datetime  # the plant clock when it was handled
    client: int
    frame: Frame
    outcome: str
    detail: str = ""
    faults: tuple[str, ...] = ()


def describe(frame: Frame) -> str:
    """Short human form of a frame for logs: ``IR(0,60)@0x11``, ``write HR96=1@0x11``."""
    if isinstance(frame, ReadRequest | ReadResponse):
        bank = {Function.READ_HOLDING: "HR", Function.READ_INPUT: "IR"}.get(frame.function)
        text = (
            f"{bank or f'fc{frame.function:02x}'}({frame.base},{frame.count})@{frame.device:#04x}"
        )
    elif isinstance(frame, WriteRequest):
        text = f"write HR{frame.register}={frame.value}@{frame.device:#04x}"
    elif isinstance(frame, BadFrame):
        return f"bad frame ({frame.reason})"
    else:
        return frame.kind.replace("_", " ")
    if isinstance(frame, ReadRequest | WriteRequest):
        quirks = [
            "legacy CRC" if frame.crc_form is CrcForm.LEGACY else "",
            "" if frame.header_length_ok else "header length 0x1b",
            f"unit id {frame.unit_id}" if frame.unit_id != 1 else "",
        ]
        text += "".join(f" [{q}]" for q in quirks if q)
    return text


class _Connection:
    def __init__(
        self, cid: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lenient: bool
    ) -> None:
        self.id = cid
        self.reader = reader
        self.writer = writer
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.decoder = StreamDecoder(lenient_requests=lenient)
        self.sent = 0
        self.closed = False
        self.tasks: list[asyncio.Task[None]] = []


class DongleServer:
    """Serves one device (a simulated plant or a replayed capture) to any number of TCP clients."""

    def __init__(
        self, device: DongleDevice, faults: Faults, *, heartbeat: float, strict: bool, seed: int
    ) -> None:
        self.device = device
        self.faults = faults
        self.heartbeat = heartbeat
        self.strict = strict
        self.plan = FaultPlan(faults, seed)
        self._conns: dict[int, _Connection] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._records: deque[RequestRecord] = deque(maxlen=MAX_RECORDS)
        self._records_lock = threading.Lock()
        self._bus = asyncio.Lock()
        self._answered = 0  # requests answered (data or error frame), for silent_after_answers
        self._server: asyncio.Server | None = None
        self._silence_next_write = False  # the silent_after_writes fault has run down

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        log.info("dongle simulator listening on %s:%d", host, bound)
        return bound

    async def close(self) -> None:
        """Stop listening and close every client connection, in bounded time."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns.values()):
            await self._drop(conn)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), _CLOSE_TIMEOUT)

    @property
    def connections(self) -> int:
        return len(self._conns)

    def records(self) -> list[RequestRecord]:
        with self._records_lock:
            return list(self._records)

    async def heartbeat_all(self) -> None:
        """Queue a heartbeat request to every client now."""
        for conn in list(self._conns.values()):
            self._queue_heartbeat(conn)

    # -- per connection ------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """asyncio's connection callback. It must not end cancelled: Python 3.11's stream
        protocol calls ``task.exception()`` on it, which raises for a cancelled task."""
        try:
            await self._session(reader, writer)
        except asyncio.CancelledError:
            log.debug("session cancelled at shutdown")

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(next(self._ids), reader, writer, lenient=not self.strict)
        self._conns[conn.id] = conn
        log.info("client %d connected from %s", conn.id, writer.get_extra_info("peername"))
        current = asyncio.current_task()
        assert current is not None
        conn.tasks.append(current)
        conn.tasks.append(asyncio.create_task(self._write_loop(conn)))
        if self.heartbeat > 0:
            conn.tasks.append(asyncio.create_task(self._heartbeat_loop(conn)))
        try:
            while not conn.closed:
                data = await reader.read(4096)
                if not data:
                    break
                received = time.monotonic()
                for frame in conn.decoder.feed(data):
                    await self._on_frame(conn, received, frame)
        except (ConnectionError, OSError) as exc:
            log.debug("client %d: %s", conn.id, exc)
        finally:
            await self._drop(conn)

    async def _drop(self, conn: _Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._conns.pop(conn.id, None)
        current = asyncio.current_task()
        for task in conn.tasks:
            if task is not current:
                task.cancel()
        conn.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.writer.wait_closed(), _CLOSE_TIMEOUT)
        log.info("client %d disconnected after %d frames sent", conn.id, conn.sent)

    async def _heartbeat_loop(self, conn: _Connection) -> None:
        while not conn.closed:
            await asyncio.sleep(self.heartbeat)
            self._queue_heartbeat(conn)

    def _queue_heartbeat(self, conn: _Connection) -> None:
        if not conn.closed:
            conn.queue.put_nowait(Heartbeat(self.device.dongle_serial).encode())

    async def _write_loop(self, conn: _Connection) -> None:
        """Send queued frames with the wire faults: garbage, chunking, closing after N."""
        f = self.faults
        try:
            while not conn.closed:
                data = await conn.queue.get()
                last = f.close_after_frames > 0 and conn.sent + 1 >= f.close_after_frames
                if last and f.close_mid_frame:
                    data = data[: len(data) // 2]
                await self._send(conn, self.plan.garbage() + data)
                conn.sent += 1
                if last:
                    log.info("closing client %d after %d frames (fault)", conn.id, conn.sent)
                    break
        except (ConnectionError, OSError) as exc:
            log.debug("client %d: %s", conn.id, exc)
        await self._drop(conn)

    async def _send(self, conn: _Connection, data: bytes) -> None:
        size = self.faults.chunk_size
        if size <= 0:
            conn.writer.write(data)
            await conn.writer.drain()
            return
        for start in range(0, len(data), size):
            if start:
                await asyncio.sleep(self.faults.chunk_delay)
            conn.writer.write(data[start : start + size])
            await conn.writer.drain()

    # -- requests ------------------------------------------------------------------------

    def _record(
        self,
        conn: _Connection,
        received: float,
        frame: Frame,
        outcome: str,
        detail: str = "",
        faults: tuple[str, ...] = (),
    ) -> None:
        record = RequestRecord(
            next(self._seq), received, self.device.now(), conn.id, frame, outcome, detail, faults
        )
        with self._records_lock:
            self._records.append(record)
        if isinstance(frame, ReadRequest | WriteRequest) or outcome == "dropped":
            extra = f" ({detail})" if detail else ""
            applied = f" [faults: {', '.join(faults)}]" if faults else ""
            log.info("client %d %s -> %s%s%s", conn.id, describe(frame), outcome, extra, applied)

    async def _on_frame(self, conn: _Connection, received: float, frame: Frame) -> None:
        if isinstance(frame, Heartbeat):
            self._record(conn, received, frame, "heartbeat_reply")
        elif isinstance(frame, BadFrame):
            self._record(conn, received, frame, "dropped", frame.reason)
        elif isinstance(frame, ReadRequest | WriteRequest):
            if self.strict and frame.crc_form is not CrcForm.STANDARD:
                self._record(conn, received, frame, "dropped", "strict profile: legacy request CRC")
            else:
                await self._answer(conn, received, frame)
        else:
            self._record(conn, received, frame, "ignored", "not a request")

    async def _answer(self, conn: _Connection, received: float, request: Request) -> None:
        if self._silence_next_write and isinstance(request, WriteRequest):
            self._silence_next_write = False
            self.faults.silent = True  # silent_after_writes: this write finds the dongle gone
        if self.faults.silent:
            self._record(conn, received, request, "silence", "silent fault")
            return
        if 0 < self.faults.silent_after_answers <= self._answered:
            self._record(conn, received, request, "silence", "silent_after_answers fault")
            return
        if self.faults.drop_writes and isinstance(request, WriteRequest):
            self._record(conn, received, request, "silence", "drop_writes fault")
            return
        async with self._bus:
            # The answer leaves ``delay`` after the dongle took the request up, the simulator's
            # own work included: the latency a client sees is the configured one, on any CPU.
            started = time.monotonic()
            delay = self.plan.delay()
            reply = self._unapplied_write(request) or self.device.handle(request)
            faulty = None if reply.frame is None else self._with_faults(request, reply.frame)
            await asyncio.sleep(max(0.0, started + delay - time.monotonic()))
            if faulty is None:
                self._record(conn, received, request, "silence", reply.detail)
                return
            frames, applied = faulty
            self._answered += 1
            self._record(conn, received, request, reply.outcome, reply.detail, tuple(applied))
            self._fan_out(frames)
            if isinstance(request, WriteRequest) and self.faults.silent_after_writes > 0:
                self.faults.silent_after_writes -= 1
                self._silence_next_write = self.faults.silent_after_writes == 0

    def _with_faults(self, request: Request, answer: Frame) -> tuple[list[bytes], list[str]]:
        """The encoded frames to send for ``answer`` after the value and framing faults, and
        the names of the faults applied."""
        applied: list[str] = []
        before: list[Frame] = []
        if self.plan.hit(self.faults.phantom_rate):
            phantom = self._phantom(request)
            if phantom is not None:
                before.append(phantom)
                applied.append("phantom")
        extras = self.plan.extras(self.device.dongle_serial)
        before += extras
        applied += [frame.kind for frame in extras]
        answer, mangled = self.plan.mangle(request, answer)
        if mangled:
            applied.append(mangled)
        answer, mangled = self.plan.mangle_write(answer)
        if mangled:
            applied.append(mangled)
        data, corrupted = self.plan.corrupt(answer.encode())
        if corrupted:
            applied.append("crc")
        return [*(frame.encode() for frame in before), data], applied

    def _unapplied_write(self, request: Request) -> Reply | None:
        """readback_mismatch: echo the asked value but store nothing, so the read-back differs."""
        if not (self.faults.readback_mismatch and isinstance(request, WriteRequest)):
            return None
        echo = WriteResponse(
            request.device,
            self.device.inverter_serial,
            request.register,
            request.value,
            self.device.dongle_serial,
        )
        return Reply("answered", echo, "readback_mismatch fault: not applied")

    def _phantom(self, request: Request) -> ReadResponse | None:
        shapes = [
            s
            for s in PHANTOM_SHAPES
            if s[0] != FIRST_BATTERY or self.device.battery_index(FIRST_BATTERY) is not None
        ]
        shape = self.plan.phantom_shape(request, shapes)
        if shape is None:
            return None
        device, function, base, count = shape
        try:
            registers = self.device.registers(device, function, base, count)
        except KeyError:  # a replayed capture without that block
            return None
        values = self.plan.phantom_values(function, base, registers)
        return ReadResponse(
            device, function, self.device.inverter_serial, base, values, self.device.dongle_serial
        )

    def _fan_out(self, frames: list[bytes]) -> None:
        for conn in list(self._conns.values()):
            if not conn.closed:
                for data in frames:
                    conn.queue.put_nowait(data)
