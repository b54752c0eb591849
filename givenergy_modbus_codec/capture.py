"""Record a dongle's traffic for a bug report: ``python3 -m givenergy_modbus_codec capture``.

The dongle copies every answer to every connected client, so a second client sees every
frame the inverter sends while read.py (or the vendor cloud) polls it. ``record`` connects
as that second client, answers the dongle's heartbeats (as every client must, or the dongle
drops it) and writes each frame as one ``givenergy-capture/1`` line (see ``capturelog``),
serials redacted, so the file replays with ``python3 -m givenergy_modbus_codec.simulator
--replay FILE``. Other clients' requests are not copied by the dongle, so they are not in
the file: only what the dongle sent (``rx``) and this recorder's heartbeat replies (``tx``).
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import time
from pathlib import Path
from typing import NamedTuple, TextIO

from .capturelog import TO_CLIENT, TO_SERVER, CapturedFrame, format_line, header_line, redact
from .frames import HEADER_SIZE, MARKER, Heartbeat, ReadResponse, declared_size, decode_frame

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
_POLL = 0.5  # seconds between checks of the deadline while the link is quiet


class CaptureSummary(NamedTuple):
    """What one recording holds."""

    frames: int
    answers: int  # register answers among them
    seconds: float
    interrupted: bool  # stopped by Ctrl-C
    closed_by_dongle: bool


def split_frames(buffer: bytearray) -> list[bytes]:
    """Take every whole frame off the front of ``buffer`` (bytes before a marker, and impossible
    headers, are dropped); a partial frame stays in ``buffer`` for the next read."""
    frames = []
    while True:
        start = buffer.find(MARKER)
        if start < 0:
            del buffer[: max(0, len(buffer) - (len(MARKER) - 1))]
            return frames
        del buffer[:start]
        if len(buffer) < HEADER_SIZE:
            return frames
        size = declared_size(bytes(buffer[:HEADER_SIZE]), lenient_requests=True)
        if size is None:
            del buffer[:1]
            continue
        if len(buffer) < size:
            return frames
        frames.append(bytes(buffer[:size]))
        del buffer[:size]


def record(sock: socket.socket, out: TextIO, seconds: float) -> CaptureSummary:
    """Record what the dongle on ``sock`` sends into ``out`` for ``seconds`` (Ctrl-C stops
    early). Every line is flushed as it is written, so an interrupted recording keeps what
    it saw."""
    out.write(header_line("serials redacted") + "\n")
    out.flush()
    started = time.monotonic()
    deadline = started + seconds
    frames = answers = 0
    interrupted = closed = False
    buffer = bytearray()

    def write(direction: str, data: bytes) -> None:
        nonlocal frames
        line = format_line(CapturedFrame(dt.datetime.now().astimezone(), direction, redact(data)))
        out.write(line + "\n")
        out.flush()
        frames += 1

    try:
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(min(remaining, _POLL))
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            if not data:
                closed = True
                break
            buffer += data
            for raw in split_frames(buffer):
                write(TO_CLIENT, raw)
                frame = decode_frame(raw, lenient_requests=True)
                if isinstance(frame, ReadResponse):
                    answers += 1
                elif isinstance(frame, Heartbeat):
                    reply = frame.reply().encode()
                    sock.sendall(reply)
                    write(TO_SERVER, reply)
    except KeyboardInterrupt:
        interrupted = True
    return CaptureSummary(frames, answers, time.monotonic() - started, interrupted, closed)


def record_to_file(host: str, port: int, path: Path, seconds: float) -> CaptureSummary:
    """Connect to the dongle at host:port (OSError if it cannot be reached), then ``record``
    into a new file at ``path`` (replaced if it exists)."""
    with (
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as sock,
        path.open("w", encoding="utf-8") as out,
    ):
        log.info("recording %s:%d for %g s into %s", host, port, seconds, path)
        return record(sock, out, seconds)
