"""A raw-socket client and request builders for simulator tests.

The client deliberately uses only sockets and the codec's StreamDecoder (not the project's
transport), so these tests check the simulator's wire behaviour directly.
"""

from __future__ import annotations

import datetime as dt
import socket
import struct
import time
from collections.abc import Callable

from givenergy_modbus_codec.crc import crc16_modbus
from givenergy_modbus_codec.frames import Frame, Heartbeat, Request, answers
from givenergy_modbus_codec.stream import StreamDecoder

# A summer weekday noon: PV is generating, the battery is in eco mode.
NOON = dt.datetime(2024, 6, 21, 12, 0, 0)
QUIET = 0.3  # seconds of silence that count as "no answer" on loopback


class RawClient:
    """A TCP client that records every frame and every TCP read it receives."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.decoder = StreamDecoder()
        self.reads: list[bytes] = []
        self.closed_by_peer = False

    def send(self, data: bytes | Request | Heartbeat) -> None:
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def frames(
        self, duration: float = QUIET, until: Callable[[Frame], bool] | None = None
    ) -> list[Frame]:
        """Every frame received within ``duration`` seconds (or up to one matching ``until``)."""
        got: list[Frame] = []
        deadline = time.monotonic() + duration
        while (remaining := deadline - time.monotonic()) > 0 and not self.closed_by_peer:
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                break
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed_by_peer = True
                break
            self.reads.append(data)
            for frame in self.decoder.feed(data):
                got.append(frame)
                if until is not None and until(frame):
                    return got
        return got

    def ask(self, request: Request, timeout: float = 2.0) -> tuple[Frame, list[Frame]]:
        """Send ``request``; return its answer and the frames that came before it."""
        self.send(request)
        got = self.frames(timeout, until=lambda f: answers(request, f))
        assert got and answers(request, got[-1]), f"no answer to {request}; got {got}"
        return got[-1], got[:-1]

    def close(self) -> None:
        self.sock.close()


def raw_request(
    request: Request,
    *,
    count: int | None = None,
    legacy_crc: bool = False,
    header_length: int | None = None,
    bad_crc: bool = False,
) -> bytes:
    """A request's bytes with the wire quirks clients really send (or refused values)."""
    data = bytearray(request.encode())
    if count is not None:
        data[30:32] = struct.pack(">H", count)
        data[32:34] = struct.pack("<H", crc16_modbus(bytes(data[26:32])))
    if legacy_crc:
        data[32:34] = struct.pack(">H", crc16_modbus(bytes(data[27:32])))
    if header_length is not None:
        data[5] = header_length
    if bad_crc:
        data[32] ^= 0xFF
    return bytes(data)
