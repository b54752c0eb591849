"""Incremental framer: feed it bytes as they arrive, get whole frames back.

pymodbus' FramerBase.handleFrame() assumes a transaction id or a fixed RTU size to find frame
ends and raises on undecodable data; the dongle stream needs resynchronisation on the
``59 59 00 01`` marker, tolerance of interleaved heartbeats/null frames and never raising, so
the stream logic lives here (givenergy_modbus_codec.pymodbus_adapter wraps it for pymodbus).
"""

from __future__ import annotations

from .frames import HEADER_SIZE, MARKER, BadFrame, Frame, declared_size, decode_frame


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
            start = self._buffer.find(MARKER)
            if start < 0:
                # Keep a tail that could be the start of a marker split across reads.
                keep = next((n for n in (3, 2, 1) if self._buffer.endswith(MARKER[:n])), 0)
                self._drop_garbage(len(self._buffer) - keep, frames)
                break
            if start:
                self._drop_garbage(start, frames)
                continue
            if len(self._buffer) < HEADER_SIZE:
                break
            size = declared_size(bytes(self._buffer[:HEADER_SIZE]), self._lenient)
            if size is None:
                frames.append(BadFrame(bytes(self._buffer[:HEADER_SIZE]), "impossible header"))
                self._resync_after(1)
                continue
            if len(self._buffer) < size:
                break
            frame = decode_frame(bytes(self._buffer[:size]), self._lenient)
            inner_marker = self._buffer.find(MARKER, 1, size)
            if isinstance(frame, BadFrame) and inner_marker > 0:
                # A truncated frame spliced onto the next one: resync at the inner marker.
                frames.append(
                    BadFrame(bytes(self._buffer[:inner_marker]), "truncated frame", frame.suspect)
                )
                del self._buffer[:inner_marker]
                continue
            frames.append(frame)
            del self._buffer[:size]
        return frames

    def resync(self) -> BadFrame | None:
        """Give up on a partial frame (e.g. after a timeout) and skip to the next marker."""
        if not self._buffer:
            return None
        nxt = self._buffer.find(MARKER, 1)
        cut = nxt if nxt > 0 else len(self._buffer)
        dropped = BadFrame(bytes(self._buffer[:cut]), "incomplete frame abandoned")
        del self._buffer[:cut]
        return dropped

    def _drop_garbage(self, n: int, frames: list[Frame]) -> None:
        if n > 0:
            frames.append(BadFrame(bytes(self._buffer[:n]), f"{n} bytes of garbage skipped"))
            del self._buffer[:n]

    def _resync_after(self, offset: int) -> None:
        nxt = self._buffer.find(MARKER, offset)
        del self._buffer[: nxt if nxt > 0 else len(self._buffer)]
