"""GivEnergy dongle frames: pure encode/decode functions over bytes (no sockets, no threads).

Wire layout (see ../shared/reference/protocol.md, "protocol.md" below):

    header   59 59 | 00 01 | length(2) | unit id | frame type      (length = bytes after it)
    type 1   heartbeat: adapter serial(10) | adapter type(1)       (19 bytes)
    type 2   adapter serial(10) | inner length(8) | device | function | ... | CRC(2, low byte first)

Requests are 34 bytes; read responses 44 + 2n; error and write responses 44. The CRC covers the
device address up to the CRC. ``decode_frame`` never raises on bad input: anything it cannot
accept comes back as a ``BadFrame`` saying why, so a reader can log it and carry on.
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

import enum
import struct
from typing import NamedTuple

from .crc import crc16_modbus
from .errors import CodecError, RequestTooLarge

MARKER = b"\x59\x59\x00\x01"
# Device addresses (protocol.md §6): the inverter, and LV battery k (1..6) at 0x31 + k.
INVERTER_ADDRESS = 0x11
BATTERY_ADDRESSES: tuple[int, ...] = tuple(range(0x32, 0x38))
HEADER_SIZE = 8
REQUEST_SIZE = 34
MAX_LENGTH_FIELD = 300  # sanity bound on the header length (a 60-register response has 158)
MAX_REGISTERS = 60
PLACEHOLDER_ADAPTER_SERIAL = "AB1234G567"  # the dongle does not check the serial clients send

TYPE_HEARTBEAT = 1
TYPE_TRANSPARENT = 2
HEARTBEAT_SIZE = 19

_SERIAL_SIZE = 10
_BODY_OFFSET = 26  # device address; CRC span starts here
_RESPONSE_FIXED = 44  # response size with no register values


class Function(enum.IntEnum):
    """Function codes seen on the GivEnergy wire."""

    NULL = 0x00
    READ_HOLDING = 0x03
    READ_INPUT = 0x04
    WRITE_SINGLE = 0x06
    READ_METER = 0x16


READ_FUNCTIONS = frozenset({Function.READ_HOLDING, Function.READ_INPUT, Function.READ_METER})
ERROR_BIT = 0x80


class CrcForm(enum.StrEnum):
    """Which CRC a frame carried."""

    STANDARD = "standard"  # CRC-16/MODBUS over device..values, low byte first
    LEGACY = "legacy"  # old clients: CRC over function, base, count only, high byte first
    NONE = "none"  # heartbeats, null frames and LAN broadcasts carry no CRC
    BAD = "bad"  # neither form matches


def _serial_bytes(serial: str) -> bytes:
    if not serial.isascii() or len(serial) != _SERIAL_SIZE:
        raise CodecError(f"serial numbers are 10 ASCII characters, got {serial!r}")
    return serial.encode("ascii")


def _serial_text(raw: bytes) -> str:
    return raw.decode("latin-1").replace("\x00", "")


def _header(length: int, unit_id: int, frame_type: int) -> bytes:
    _check_u8("unit id", unit_id)
    return MARKER + struct.pack(">HBB", length, unit_id, frame_type)


def _transparent(adapter_serial: str, body: bytes, unit_id: int = 1) -> bytes:
    """Wrap ``body`` (device address .. CRC) in a type-2 frame with its computed lengths."""
    inner = _serial_bytes(adapter_serial) + struct.pack(">Q", len(body)) + body
    return _header(len(inner) + 2, unit_id, TYPE_TRANSPARENT) + inner


def _with_crc(pdu: bytes) -> bytes:
    return pdu + struct.pack("<H", crc16_modbus(pdu))


# --------------------------------------------------------------------------------------------
# Frame objects: immutable NamedTuples (cheaper to define than dataclasses, which matters to a
# cron job's start-up). Build changed copies with ``frame._replace(...)``.


class ReadRequest(NamedTuple):
    """Client -> dongle: read ``count`` registers from ``base`` at ``device``."""

    device: int
    function: int
    base: int
    count: int
    adapter_serial: str = PLACEHOLDER_ADAPTER_SERIAL
    unit_id: int = 1
    crc_form: CrcForm = CrcForm.STANDARD
    header_length_ok: bool = True  # False for GivTCP v1.0's 0x1b length quirk
    kind = "read_request"

    def encode(self) -> bytes:
        """The 34-byte request; refuses what the dongle would reject."""
        if self.function not in READ_FUNCTIONS:
            raise CodecError(f"function {self.function:#04x} is not a read function")
        if not 1 <= self.count <= MAX_REGISTERS:
            raise RequestTooLarge(
                f"a read asks for 1..{MAX_REGISTERS} registers, not {self.count}: "
                "split it into 60-register banks"
            )
        _check_u8("device", self.device)
        _check_u16("base register", self.base)
        pdu = struct.pack(">BBHH", self.device, self.function, self.base, self.count)
        return _transparent(self.adapter_serial, _with_crc(pdu), self.unit_id)


class WriteRequest(NamedTuple):
    """Client -> dongle: write ``value`` into holding register ``register`` (function 06)."""

    device: int
    register: int
    value: int
    adapter_serial: str = PLACEHOLDER_ADAPTER_SERIAL
    unit_id: int = 1
    crc_form: CrcForm = CrcForm.STANDARD
    header_length_ok: bool = True
    kind = "write_request"
    function = Function.WRITE_SINGLE

    def encode(self) -> bytes:
        """The 34-byte write-single request."""
        _check_u8("device", self.device)
        _check_u16("register", self.register)
        _check_u16("value", self.value)
        pdu = struct.pack(">BBHH", self.device, Function.WRITE_SINGLE, self.register, self.value)
        return _transparent(self.adapter_serial, _with_crc(pdu), self.unit_id)


class ReadResponse(NamedTuple):
    """Dongle -> client: register values, with the inverter serial in the envelope."""

    device: int
    function: int
    inverter_serial: str
    base: int
    values: tuple[int, ...]
    adapter_serial: str
    kind = "read_response"

    @property
    def count(self) -> int:
        return len(self.values)

    def registers(self) -> dict[int, int]:
        """Values keyed by register address."""
        return {self.base + i: v for i, v in enumerate(self.values)}

    def encode(self) -> bytes:
        _check_u8("device", self.device)
        _check_u8("function", self.function)
        _check_u16("base register", self.base)
        for value in self.values:
            _check_u16("register value", value)
        pdu = (
            struct.pack(">BB", self.device, self.function)
            + _serial_bytes(self.inverter_serial)
            + struct.pack(f">HH{len(self.values)}H", self.base, len(self.values), *self.values)
        )
        return _transparent(self.adapter_serial, _with_crc(pdu))


class WriteResponse(NamedTuple):
    """Dongle -> client: the inverter's read-back of a register after a write."""

    device: int
    inverter_serial: str
    register: int
    value: int
    adapter_serial: str
    kind = "write_response"
    function = Function.WRITE_SINGLE

    def encode(self) -> bytes:
        _check_u8("device", self.device)
        _check_u16("register", self.register)
        _check_u16("value", self.value)
        pdu = (
            struct.pack(">BB", self.device, Function.WRITE_SINGLE)
            + _serial_bytes(self.inverter_serial)
            + struct.pack(">HH", self.register, self.value)
        )
        return _transparent(self.adapter_serial, _with_crc(pdu))


class ErrorResponse(NamedTuple):
    """Dongle -> client: the inverter refused a request (function | 0x80, no exception code)."""

    device: int
    function: int  # the request's function, without the 0x80 bit
    inverter_serial: str
    base: int
    count: int  # echoes the request, or 0 (both seen)
    adapter_serial: str
    kind = "error_response"

    def encode(self) -> bytes:
        _check_u8("device", self.device)
        _check_u8("function", self.function | ERROR_BIT)
        _check_u16("base register", self.base)
        _check_u16("register count", self.count)
        pdu = (
            struct.pack(">BB", self.device, self.function | ERROR_BIT)
            + _serial_bytes(self.inverter_serial)
            + struct.pack(">HH", self.base, self.count)
        )
        return _transparent(self.adapter_serial, _with_crc(pdu))


class Heartbeat(NamedTuple):
    """Type-1 frame, same 19-byte shape both ways: the dongle asks, the client echoes."""

    adapter_serial: str
    adapter_type: int = 1
    unit_id: int = 1
    kind = "heartbeat"

    def encode(self) -> bytes:
        _check_u8("adapter type", self.adapter_type)
        body = _serial_bytes(self.adapter_serial) + bytes([self.adapter_type])
        return _header(len(body) + 2, self.unit_id, TYPE_HEARTBEAT) + body

    def reply(self, adapter_serial: str = PLACEHOLDER_ADAPTER_SERIAL) -> "Heartbeat":
        """The client's answer: its own serial, the echoed adapter type."""
        return Heartbeat(adapter_serial, self.adapter_type)


class NullFrame(NamedTuple):
    """Unsolicited all-zero transparent frame (function 0, CRC 00 00): ignore it."""

    device: int
    adapter_serial: str
    kind = "null"

    def encode(self) -> bytes:
        _check_u8("device", self.device)
        return _transparent(self.adapter_serial, bytes([self.device]) + bytes(137))


class LanBroadcast(NamedTuple):
    """ASCII "<ip>,<mask>,<gateway>" announcement some dongles send: not a response."""

    text: str
    adapter_serial: str
    kind = "lan_broadcast"

    def encode(self, trailer: bytes = b"\xb4\xf2") -> bytes:
        if not self.text.isascii() or len(trailer) != 2:
            raise CodecError("a LAN broadcast is ASCII text and a 2-byte trailer")
        body = self.text.encode("ascii") + b"\r\n\r\n" + trailer
        return _transparent(self.adapter_serial, body)


# Every kind of frame but BadFrame.
GoodFrame = (
    ReadRequest
    | WriteRequest
    | ReadResponse
    | WriteResponse
    | ErrorResponse
    | Heartbeat
    | NullFrame
    | LanBroadcast
)


class BadFrame(NamedTuple):
    """Bytes that are not an acceptable frame; ``suspect`` is what they would have decoded to."""

    raw: bytes
    reason: str
    suspect: GoodFrame | None = None
    kind = "bad"


Frame = GoodFrame | BadFrame
Request = ReadRequest | WriteRequest


def _check_u8(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise CodecError(f"{name} must be 0..255, got {value}")


def _check_u16(name: str, value: int) -> None:
    if not 0 <= value <= 0xFFFF:
        raise CodecError(f"{name} must be 0..65535, got {value}")


# --------------------------------------------------------------------------------------------
# Decoding


def declared_size(header: bytes, lenient_requests: bool = False) -> int | None:
    """Total frame size promised by an 8-byte header, or None if the header is impossible.

    ``lenient_requests`` accepts GivTCP v1.0's request header, whose length (0x1b) counts one
    byte too few, as lenient dongles do.
    """
    if len(header) < HEADER_SIZE or header[:4] != MARKER:
        return None
    length, unit_id, frame_type = struct.unpack_from(">HBB", header, 4)
    if unit_id not in (0, 1) or frame_type not in (TYPE_HEARTBEAT, TYPE_TRANSPARENT):
        return None
    if not 2 <= length <= MAX_LENGTH_FIELD:
        return None
    if lenient_requests and frame_type == TYPE_TRANSPARENT and length == REQUEST_SIZE - 7:
        return REQUEST_SIZE
    return length + 6


def decode_frame(data: bytes, lenient_requests: bool = False) -> Frame:
    """Decode exactly one whole frame. Never raises: problems come back as ``BadFrame``."""
    data = bytes(data)
    size = declared_size(data[:HEADER_SIZE], lenient_requests)
    if size is None:
        return BadFrame(data, "not a GivEnergy frame header (59 59 00 01, unit 0/1, type 1/2)")
    if len(data) != size:
        return BadFrame(data, f"frame is {len(data)} bytes but its header declares {size}")
    if data[7] == TYPE_HEARTBEAT:
        if size != HEARTBEAT_SIZE:
            return BadFrame(data, f"heartbeat frames are 19 bytes, not {size}")
        return Heartbeat(_serial_text(data[8:18]), data[18], data[6])
    if size < _BODY_OFFSET + 2:
        return BadFrame(data, f"transparent frame too short ({size} bytes)")
    adapter_serial = _serial_text(data[8:18])
    body = data[_BODY_OFFSET:]
    if _is_lan_broadcast(body):
        text = body[:-2].decode("ascii").strip()
        return LanBroadcast(text, adapter_serial)
    if size == REQUEST_SIZE:
        return _decode_request(data, adapter_serial, header_length_ok=data[5] == 28)
    if body[1] == Function.NULL and not any(body[1:-2]):  # CRC seen as 00 00 and as valid
        return NullFrame(body[0], adapter_serial)
    if size >= _RESPONSE_FIXED:
        return _decode_response(data, adapter_serial)
    return BadFrame(data, f"no transparent frame kind is {size} bytes long")


def _is_lan_broadcast(body: bytes) -> bool:
    text = body[:-2]
    return (
        len(text) > 4
        and text.endswith(b"\r\n\r\n")
        and b"," in text
        and all(32 <= b < 127 or b in (10, 13) for b in text)
    )


def _request_crc_form(data: bytes) -> CrcForm:
    wire = data[32:34]
    if struct.unpack("<H", wire)[0] == crc16_modbus(data[26:32]):
        return CrcForm.STANDARD
    if struct.unpack(">H", wire)[0] == crc16_modbus(data[27:32]):
        return CrcForm.LEGACY
    return CrcForm.BAD


def _decode_request(data: bytes, adapter_serial: str, header_length_ok: bool) -> Frame:
    device, function, first, second = struct.unpack_from(">BBHH", data, _BODY_OFFSET)
    crc_form = _request_crc_form(data)
    common = {
        "device": device,
        "adapter_serial": adapter_serial,
        "unit_id": data[6],
        "crc_form": crc_form,
        "header_length_ok": header_length_ok,
    }
    suspect: Frame
    if function in READ_FUNCTIONS:
        suspect = ReadRequest(function=function, base=first, count=second, **common)
    elif function == Function.WRITE_SINGLE:
        suspect = WriteRequest(register=first, value=second, **common)
    else:
        return BadFrame(data, f"unknown request function {function:#04x}")
    if crc_form is CrcForm.BAD:
        return BadFrame(
            data, "request CRC matches neither the standard nor the legacy form", suspect
        )
    return suspect


def _decode_response(data: bytes, adapter_serial: str) -> Frame:
    device, function = data[_BODY_OFFSET], data[_BODY_OFFSET + 1]
    inverter_serial = _serial_text(data[28:38])
    first, second = struct.unpack_from(">HH", data, 38)
    n_values = (len(data) - _RESPONSE_FIXED) // 2
    suspect: Frame
    if function & ERROR_BIT:
        if len(data) != _RESPONSE_FIXED:
            return BadFrame(data, "error responses are 44 bytes")
        suspect = ErrorResponse(
            device, function & ~ERROR_BIT, inverter_serial, first, second, adapter_serial
        )
    elif function == Function.WRITE_SINGLE:
        if len(data) != _RESPONSE_FIXED:
            return BadFrame(data, "write responses are 44 bytes")
        suspect = WriteResponse(device, inverter_serial, first, second, adapter_serial)
    elif function in READ_FUNCTIONS:
        if (len(data) - _RESPONSE_FIXED) % 2 or second != n_values:
            return BadFrame(data, f"register count {second} does not fit a {len(data)}-byte frame")
        values = struct.unpack_from(f">{n_values}H", data, 42)
        suspect = ReadResponse(device, function, inverter_serial, first, values, adapter_serial)
    else:
        return BadFrame(data, f"unknown response function {function:#04x}")
    if struct.unpack("<H", data[-2:])[0] != crc16_modbus(data[_BODY_OFFSET:-2]):
        return BadFrame(data, "response CRC does not match", suspect)
    return suspect


# --------------------------------------------------------------------------------------------
# Matching: the dongle has no transaction ids, so a response is tied to a request by its shape.


def answers(request: Request, frame: Frame) -> bool:
    """True if ``frame`` is the dongle's answer (data or error) to ``request``."""
    if isinstance(frame, ErrorResponse):
        return (
            frame.device == request.device
            and frame.function == request.function
            and frame.base
            == (request.base if isinstance(request, ReadRequest) else request.register)
        )
    if isinstance(request, ReadRequest):
        return (
            isinstance(frame, ReadResponse)
            and frame.device == request.device
            and frame.function == request.function
            and frame.base == request.base
            and frame.count == request.count
        )
    return (
        isinstance(frame, WriteResponse)
        and frame.device == request.device
        and frame.register == request.register
    )
