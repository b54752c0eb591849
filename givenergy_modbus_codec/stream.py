"""Incremental framer: feed it bytes as they arrive, get whole frames back.

pymodbus' FramerBase.handleFrame() assumes a transaction id or a fixed RTU size to find frame
ends and raises on undecodable data; the dongle stream needs resynchronisation on the
``59 59 00 01`` marker, tolerance of interleaved heartbeats/null frames and never raising, so
the stream logic lives here (givenergy_modbus_codec.pymodbus_adapter wraps it for pymodbus).
"""

from __future__ import annotations

from .frames import (
    HEADER_SIZE,
    MARKER,
    BadFrame,
    Frame,
    Heartbeat,
    LanBroadcast,
    NullFrame,
    declared_size,
    decode_frame,
)


class StreamDecoder:
    """Reassembles frames from a byte stream; garbage and CRC failures become ``BadFrame``s."""

    def __init__(self, lenient_requests: bool = False) -> None:
        self._buffer = bytearray()
        self._lenient = lenient_requests

    @property
    def pending(self) -> int:
        """Bytes held back while waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return every frame now complete, in order."""
        self._buffer += data
        frames: list[Frame] = []
        while self._buffer:
            start = self._next_start(0)
            if start:
                self._drop(start, f"{start} bytes of garbage skipped", frames)
                continue
            if len(self._buffer) < HEADER_SIZE:
                break
            size = declared_size(bytes(self._buffer[:HEADER_SIZE]), self._lenient)
            if size is None:
                self._drop(self._next_start(1), "impossible header", frames)
                continue
            if len(self._buffer) < size:
                break
            frame = decode_frame(bytes(self._buffer[:size]), self._lenient)
            cut = self._splice_point(frame, size)
            if cut < size:
                # A truncated frame spliced onto the next one: resync where the next one starts.
                suspect = frame.suspect if isinstance(frame, BadFrame) else frame
                self._drop(cut, "truncated frame", frames, suspect)
                continue
            frames.append(frame)
            del self._buffer[:size]
        return frames

    def resync(self) -> BadFrame | None:
        """Give up on a partial frame (e.g. after a timeout) and skip to the next marker."""
        if not self._buffer:
            return None
        cut = self._next_start(1)
        dropped = BadFrame(bytes(self._buffer[:cut]), "incomplete frame abandoned")
        del self._buffer[:cut]
        return dropped

    def _next_start(self, offset: int) -> int:
        """Where the next frame may start: the next marker at or after ``offset``, else a marker
        prefix ending the buffer (the rest of it may be in the next read), else the end."""
        found = self._buffer.find(MARKER, offset)
        if found >= 0:
            return found
        tail = next((n for n in (3, 2, 1) if self._buffer.endswith(MARKER[:n])), 0)
        return max(offset, len(self._buffer) - tail)

    def _splice_point(self, frame: Frame, size: int) -> int:
        """Where, inside a complete ``size``-byte frame, a spliced-in next frame starts.

        A CRC-checked frame is trusted even if its values contain the marker. Anything else is
        cut at an inner marker. Heartbeats, null and LAN frames carry no CRC, so a truncated one
        followed by the next frame decodes "fine"; their real bytes never hold a whole marker
        (serials are ASCII, null frames zeros), so only a whole marker starting inside them
        betrays a splice. One that merely ends in a marker prefix (a heartbeat of adapter type
        0x59) is complete by its length field and released at once: waiting for the next bytes
        would hold back a frame the reader is waiting for. A bad frame is also cut at a marker
        prefix that ends the buffer (it is dropped anyway; the prefix may start the next frame).
        """
        if not isinstance(frame, BadFrame | Heartbeat | NullFrame | LanBroadcast):
            return size
        inner = self._buffer.find(MARKER, 1)
        if 0 < inner < size:
            return inner
        if isinstance(frame, BadFrame):
            return min(size, self._next_start(1))
        return size

    def _drop(self, n: int, reason: str, frames: list[Frame], suspect: Frame | None = None) -> None:
        frames.append(BadFrame(bytes(self._buffer[:n]), reason, suspect))
        del self._buffer[:n]
