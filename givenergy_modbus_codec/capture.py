"""Record a dongle's traffic for a bug report: ``python3 -m givenergy_modbus_codec capture``.

The dongle copies every answer to every connected client, so a second client sees every
frame the inverter sends while read.py (or the vendor cloud) polls it. ``record`` connects
as that second client, answers the dongle's heartbeats (as every client must, or the dongle
drops it) and writes each frame as one ``givenergy-capture/1`` line (see ``capturelog``),
serials redacted, so the file replays with ``python3 -m givenergy_modbus_codec.simulator
--replay FILE``. The dongle does not copy other clients' requests; to record those too,
``listener`` makes the recorder a pass-through proxy: clients connected to it have their
frames recorded (``tx``) and sent on over the recorder's own dongle connection, and get
every frame the dongle sends back except its heartbeats, which the recorder answers itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import selectors
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


class _Recorder:
    """One recording: the dongle connection, optional proxy clients, the output file."""

    def __init__(self, dongle: socket.socket, out: TextIO, listener: socket.socket | None):
        self.dongle = dongle
        self.out = out
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.buffers: dict[socket.socket, bytearray] = {dongle: bytearray()}
        self.frames = self.answers = 0
        self.closed = False
        self.selector.register(dongle, selectors.EVENT_READ)
        if listener is not None:
            self.selector.register(listener, selectors.EVENT_READ)

    @property
    def clients(self) -> list[socket.socket]:
        return [s for s in self.buffers if s is not self.dongle]

    def write(self, direction: str, data: bytes) -> None:
        line = format_line(CapturedFrame(dt.datetime.now().astimezone(), direction, redact(data)))
        self.out.write(line + "\n")
        self.out.flush()
        self.frames += 1

    def run_until(self, deadline: float) -> None:
        while not self.closed and (remaining := deadline - time.monotonic()) > 0:
            for key, _ in self.selector.select(min(remaining, _POLL)):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.listener:
                    self._accept()
                elif sock is self.dongle:
                    self._from_dongle()
                else:
                    self._from_client(sock)

    def _accept(self) -> None:
        assert self.listener is not None
        client, peer = self.listener.accept()
        log.info("proxy client connected from %s", peer)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffers[client] = bytearray()
        self.selector.register(client, selectors.EVENT_READ)

    def _from_dongle(self) -> None:
        data = self.dongle.recv(4096)
        if not data:
            self.closed = True
            return
        buffer = self.buffers[self.dongle]
        buffer += data
        for raw in split_frames(buffer):
            self.write(TO_CLIENT, raw)
            frame = decode_frame(raw, lenient_requests=True)
            if isinstance(frame, Heartbeat):
                reply = frame.reply().encode()
                self.dongle.sendall(reply)
                self.write(TO_SERVER, reply)
                continue
            if isinstance(frame, ReadResponse):
                self.answers += 1
            for client in self.clients:
                try:
                    client.sendall(raw)
                except OSError:
                    self._drop(client)

    def _from_client(self, client: socket.socket) -> None:
        try:
            data = client.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._drop(client)
            return
        buffer = self.buffers[client]
        buffer += data
        for raw in split_frames(buffer):
            self.write(TO_SERVER, raw)
            self.dongle.sendall(raw)

    def _drop(self, client: socket.socket) -> None:
        if self.buffers.pop(client, None) is not None:
            self.selector.unregister(client)
            client.close()
            log.info("proxy client disconnected")

    def close(self) -> None:
        for client in self.clients:
            self._drop(client)
        self.selector.close()


def record(
    sock: socket.socket, out: TextIO, seconds: float, listener: socket.socket | None = None
) -> CaptureSummary:
    """Record what the dongle on ``sock`` sends (and, with a ``listener``, what the clients
    connecting to it send) into ``out`` for ``seconds``; Ctrl-C stops early. Every line is
    flushed as it is written, so an interrupted recording keeps what it saw."""
    out.write(header_line("serials redacted") + "\n")
    out.flush()
    started = time.monotonic()
    recorder = _Recorder(sock, out, listener)
    interrupted = False
    try:
        recorder.run_until(started + seconds)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        recorder.close()
    return CaptureSummary(
        recorder.frames,
        recorder.answers,
        time.monotonic() - started,
        interrupted,
        recorder.closed,
    )


def record_to_file(
    host: str,
    port: int,
    path: Path,
    seconds: float,
    listener: socket.socket | None = None,
) -> CaptureSummary:
    """Connect to the dongle at host:port (OSError if it cannot be reached), then ``record``
    into a new file at ``path`` (replaced if it exists)."""
    with (
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as sock,
        path.open("w", encoding="utf-8") as out,
    ):
        sock.settimeout(None)  # the selector decides when to read
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log.info("recording %s:%d for %g s into %s", host, port, seconds, path)
        return record(sock, out, seconds, listener)


def proxy_listener(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: any free port) for the proxy mode."""
    return socket.create_server(("127.0.0.1", port))
