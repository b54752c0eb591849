"""Capture files: frames seen on a dongle link, as text lines or ``givenergy-vectors/1`` JSON.

Pure functions over text and bytes (no sockets): ``capture.py`` writes these files,
``simulator/replay.py`` serves them. The text form, ``givenergy-capture/1``, is one frame per
line::

    # givenergy-capture/1 ...                     comment lines start with '#'
    2026-06-05T11:09:54.540853+00:00 rx 5959...   [TIMESTAMP] [DIRECTION] HEX

TIMESTAMP is ISO 8601 (or Unix seconds) and DIRECTION ``rx`` (dongle -> client) or ``tx``
(client -> dongle; ``to_client`` / ``to_server`` as in the JSON are accepted too); both are
optional, so a bare list of hex frames is a capture too. Blank lines are skipped.

Serials are redacted as in the shared vectors: the last three characters of every serial
(``XXYYWWXnnn`` -> ``XXYYWWX000``, ``EMS2522nnn`` -> ``EMS2522000``) are zeroed wherever they
appear in a frame (adapter serial, inverter serial, serials inside register values), the
digits of a LAN-config broadcast's addresses become 0, and CRCs that were valid are
recomputed so the redacted file still replays.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import struct
from pathlib import Path
from typing import NamedTuple

from .crc import crc16_modbus
from .frames import ErrorResponse, LanBroadcast, ReadResponse, WriteResponse, decode_frame

LOG_FORMAT = "givenergy-capture/1"
VECTORS_FORMAT = "givenergy-vectors/1"
TO_CLIENT = "to_client"  # dongle -> client ("rx" for the capturing client)
TO_SERVER = "to_server"  # client -> dongle ("tx")
_DIRECTIONS = {"rx": TO_CLIENT, "tx": TO_SERVER, TO_CLIENT: TO_CLIENT, TO_SERVER: TO_SERVER}
_SHORT = {TO_CLIENT: "rx", TO_SERVER: "tx"}

# A serial's tail: year+week digits, a letter, then the unit number that is zeroed (the
# three characters after the match's first five); and the EMS form, three letters + 7 digits.
_SERIALS = (re.compile(rb"[0-9]{4}[A-Z][0-9A-Z]{3}"), re.compile(rb"[A-Z]{3}[0-9]{7}"))
_BODY = 26  # the CRC covers the bytes from the device address (offset 26) to the CRC


class CaptureFileError(ValueError):
    """A capture file that cannot be read; the message names the file and line."""


class CapturedFrame(NamedTuple):
    """One frame of a capture: when (None if not recorded), which way (None if unknown)."""

    time: dt.datetime | None
    direction: str | None  # TO_CLIENT, TO_SERVER or None
    data: bytes


def format_line(frame: CapturedFrame) -> str:
    """The ``givenergy-capture/1`` line of one frame."""
    parts = []
    if frame.time is not None:
        parts.append(frame.time.isoformat())
    if frame.direction is not None:
        parts.append(_SHORT[frame.direction])
    parts.append(frame.data.hex())
    return " ".join(parts)


def header_line(note: str = "") -> str:
    """The first line of a capture log: format name and what it is."""
    extra = f" {note}" if note else ""
    return f"# {LOG_FORMAT} one frame per line: [TIMESTAMP] [rx|tx] HEX{extra}"


def parse_log(text: str, source: str = "capture") -> list[CapturedFrame]:
    """Frames of a ``givenergy-capture/1`` text; CaptureFileError names a bad line."""
    frames = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        try:
            frames.append(_parse_words(words))
        except ValueError as exc:
            raise CaptureFileError(f"{source} line {number}: {exc}") from None
    return frames


def _parse_words(words: list[str]) -> CapturedFrame:
    *head, hex_text = words
    if len(head) > 2:
        raise ValueError("expected [TIMESTAMP] [rx|tx] HEX")
    when: dt.datetime | None = None
    direction: str | None = None
    for word in head:
        if word.lower() in _DIRECTIONS and direction is None:
            direction = _DIRECTIONS[word.lower()]
        elif when is None:
            when = _parse_time(word)
        else:
            raise ValueError(f"not a direction (rx or tx): {word!r}")
    try:
        data = bytes.fromhex(hex_text)
    except ValueError:
        raise ValueError(f"not hex bytes: {hex_text[:40]!r}") from None
    return CapturedFrame(when, direction, data)


def _parse_time(word: str) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(float(word), dt.UTC)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(word)
    except ValueError:
        raise ValueError(f"not a timestamp (ISO 8601 or Unix seconds): {word!r}") from None


def parse_vectors(document: object, source: str = "capture") -> list[CapturedFrame]:
    """Frames of a ``givenergy-vectors/1`` document (its ``vectors[]`` hex, ts, direction)."""
    if not isinstance(document, dict) or document.get("format") != VECTORS_FORMAT:
        raise CaptureFileError(f"{source}: not a {VECTORS_FORMAT} JSON document")
    frames = []
    for index, vector in enumerate(document.get("vectors", [])):
        try:
            when = vector.get("ts")
            direction = vector.get("direction")
            frames.append(
                CapturedFrame(
                    None if when is None else _parse_time(str(when)),
                    None if direction is None else _DIRECTIONS[direction],
                    bytes.fromhex(vector["hex"]),
                )
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CaptureFileError(f"{source}: vectors[{index}] unreadable ({exc})") from None
    return frames


def load_capture(path: str | Path) -> list[CapturedFrame]:
    """Frames of a capture file, either form (JSON when it starts with '{')."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaptureFileError(f"cannot read {path}: {exc}") from None
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CaptureFileError(f"{path}: not valid JSON ({exc})") from None
        return parse_vectors(document, str(path))
    return parse_log(text, str(path))


# --------------------------------------------------------------------------------------------
# Redaction


def _zero_serials(data: bytes) -> bytes:
    out = bytearray(data)
    for pattern in _SERIALS:
        for match in pattern.finditer(bytes(out)):
            out[match.end() - 3 : match.end()] = b"000"
    return bytes(out)


def redact(data: bytes) -> bytes:
    """``data`` (one frame) with its serials' unit digits zeroed and a valid CRC kept valid."""
    before = decode_frame(data, lenient_requests=True)
    out = bytearray(_zero_serials(data))
    if isinstance(before, LanBroadcast):  # its addresses are private too; the trailer stays
        out[_BODY:-2] = re.sub(rb"[0-9]", b"0", bytes(out[_BODY:-2]))
    # A request's CRC covers 6 bytes that hold no serial; a response's covers its serials.
    if isinstance(before, ReadResponse | WriteResponse | ErrorResponse):
        out[-2:] = struct.pack("<H", crc16_modbus(bytes(out[_BODY:-2])))
    return bytes(out)
