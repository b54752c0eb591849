"""Frame encode/decode: protocol.md §11 examples E1–E10, refusals, matching, round-trip properties.

The hypothesis strategies here (``any_frame`` and friends) are reused by test_stream.py and
test_pymodbus_adapter.py.
"""

from __future__ import annotations

import string
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from givenergy_modbus_codec.crc import crc16_modbus
from givenergy_modbus_codec.errors import CodecError, RequestTooLarge
from givenergy_modbus_codec.frames import (
    MARKER,
    MAX_REGISTERS,
    PLACEHOLDER_ADAPTER_SERIAL,
    READ_FUNCTIONS,
    BadFrame,
    CrcForm,
    ErrorResponse,
    Frame,
    Function,
    Heartbeat,
    LanBroadcast,
    NullFrame,
    ReadRequest,
    ReadResponse,
    WriteRequest,
    WriteResponse,
    answers,
    declared_size,
    decode_frame,
)

# ---------------------------------------------------------------------------------------------
# Strategies

serials = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=10, max_size=10)
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
unit_ids = st.sampled_from([0, 1])
read_functions = st.sampled_from(sorted(READ_FUNCTIONS))
# Frames are NamedTuples, for which st.builds draws every field, defaults included: requests
# are encoded with the standard CRC and header, so those fields are pinned.
standard_form = {"crc_form": st.just(CrcForm.STANDARD), "header_length_ok": st.just(True)}

read_requests = st.builds(
    ReadRequest,
    device=u8,
    function=read_functions,
    base=u16,
    count=st.integers(1, MAX_REGISTERS),
    adapter_serial=serials,
    unit_id=unit_ids,
    **standard_form,
)
write_requests = st.builds(
    WriteRequest,
    device=u8,
    register=u16,
    value=u16,
    adapter_serial=serials,
    unit_id=unit_ids,
    **standard_form,
)
read_responses = st.builds(
    ReadResponse,
    device=u8,
    function=read_functions,
    inverter_serial=serials,
    base=u16,
    values=st.lists(u16, max_size=MAX_REGISTERS).map(tuple),
    adapter_serial=serials,
)
write_responses = st.builds(
    WriteResponse,
    device=u8,
    inverter_serial=serials,
    register=u16,
    value=u16,
    adapter_serial=serials,
)
error_responses = st.builds(
    ErrorResponse,
    device=u8,
    function=st.sampled_from([*sorted(READ_FUNCTIONS), Function.WRITE_SINGLE]),
    inverter_serial=serials,
    base=u16,
    count=u16,
    adapter_serial=serials,
)
heartbeats = st.builds(Heartbeat, adapter_serial=serials, adapter_type=u8, unit_id=unit_ids)
null_frames = st.builds(NullFrame, device=u8, adapter_serial=serials)
_dotted_quads = st.tuples(u8, u8, u8, u8).map(lambda q: ".".join(map(str, q)))
lan_broadcasts = st.builds(
    LanBroadcast,
    text=st.tuples(_dotted_quads, _dotted_quads, _dotted_quads).map(",".join),
    adapter_serial=serials,
)

requests = st.one_of(read_requests, write_requests)
responses = st.one_of(read_responses, write_responses, error_responses)
any_frame: st.SearchStrategy[Frame] = st.one_of(
    requests, responses, heartbeats, null_frames, lan_broadcasts
)

# ---------------------------------------------------------------------------------------------
# protocol.md §11 examples

E1 = "59590001000d01015746323132354733313601"
E2 = "59590001001c000257463231323547333136000000000000000811030000003c474b"
E3 = (
    "59590001009e010257463231323547333136000000000000008a1103534132313134473034370000003c2001"
    "0003083202010000c3500e10000142473231333447303037534132313134473034370bbf01c1000101c10002"
    "00008000761b17700001000000000011000000040007008c00170004001c000c000f00240001000300000000"
    "000000650001000000000064000000000001000100a00000000000010000251c"
)
E4 = "59590001001c00025746323132354733313600000000000000080116003c003c8814"
E5 = (
    "59590001009e010257463231323547303030000000000000008a330453413231313447303030003c003c0cfa"
    "0cfa0cfc0cfc0cfc0cfc0cfd0cfd0cfc0cfd0cfd0cfd0d010cff0cff0d0200ed00ef00f000eacfcc01050000"
    "cf2d00003af0000048a800003a8e00000e100000000000000000032f00100bc100000063000048a800f000ed"
    "00000000000000000000445a30303030473030300008000000000000000060a3"
)
E6 = "5959000100260102574a32343134473030300000000000000012118343483234313447303030044c003c865d"
E7 = "59590001001c01024142313233344735363700000000000000081106006000014a84"
E8 = "59590001001c0102414231323334473536370000000000000008320400000006c255"
E9 = (
    "5959000100400102574f3030303047303030000000000000002c3030302e3030302e302e30302c3030302e"
    "3030302e3030302e302c3030302e3030302e302e300d0a0d0ab4f2"
)
E10 = "59590001009e010257463231323547303030000000000000008a33" + "00" * 137
# §2.3: a write response following the inner-length rule (synthesised, never observed).
WRITE_RESPONSE = (
    "5959000100260102574632313235473331360000000000000012110653413231313447303437006000016b87"
)


def _ascii(values: tuple[int, ...]) -> str:
    return b"".join(struct.pack(">H", v) for v in values).decode("ascii")


def test_e1_heartbeat() -> None:
    frame = Heartbeat("WF2125G316", adapter_type=1)
    assert frame.encode().hex() == E1
    assert decode_frame(bytes.fromhex(E1)) == frame
    assert frame.reply(frame.adapter_serial).encode().hex() == E1  # the recorded echo


def test_e2_app_style_read_request() -> None:
    frame = ReadRequest(0x11, Function.READ_HOLDING, 0, 60, "WF2125G316", unit_id=0)
    assert frame.encode().hex() == E2
    assert decode_frame(bytes.fromhex(E2)) == frame


def test_e3_holding_register_response() -> None:
    frame = decode_frame(bytes.fromhex(E3))
    assert isinstance(frame, ReadResponse)
    assert (frame.device, frame.function, frame.base, frame.count) == (0x11, 3, 0, 60)
    assert (frame.adapter_serial, frame.inverter_serial) == ("WF2125G316", "SA2114G047")
    hr = frame.registers()
    assert (hr[0], hr[2]) == (0x2001, 0x0832)
    assert _ascii(frame.values[8:13]) == "BG2134G007"
    assert _ascii(frame.values[13:18]) == "SA2114G047"
    assert (hr[19], hr[21]) == (449, 449)
    assert (hr[20], hr[27], hr[30], hr[34], hr[55]) == (1, 1, 17, 140, 160)
    assert frame.values[35:41] == (23, 4, 28, 12, 15, 36)  # 2023-04-28 12:15:36
    assert frame.encode().hex() == E3


def test_e4_meter_product_request() -> None:
    frame = ReadRequest(0x01, Function.READ_METER, 60, 60, "WF2125G316", unit_id=0)
    assert frame.encode().hex() == E4
    assert decode_frame(bytes.fromhex(E4)) == frame


def test_e5_battery_page() -> None:
    frame = decode_frame(bytes.fromhex(E5))
    assert isinstance(frame, ReadResponse)
    assert (frame.device, frame.function, frame.base, frame.count) == (0x33, 4, 60, 60)
    ir = frame.registers()
    cells = [ir[r] for r in range(60, 76)]
    assert (cells[0], min(cells), max(cells)) == (3322, 3322, 3330)
    assert [ir[r] for r in range(76, 80)] == [237, 239, 240, 234]
    assert (ir[80], ir[96], ir[97], ir[98], ir[100]) == (53196, 815, 16, 3009, 99)
    assert _ascii(tuple(ir[r] for r in range(110, 115))) == "DZ0000G000"
    assert frame.encode().hex() == E5


def test_e6_error_response() -> None:
    frame = ErrorResponse(0x11, 3, "CH2414G000", 1100, 60, "WJ2414G000")
    assert decode_frame(bytes.fromhex(E6)) == frame
    assert frame.encode().hex() == E6


def test_e7_write_request() -> None:
    frame = WriteRequest(0x11, 96, 1)
    assert frame.encode().hex() == E7
    assert decode_frame(bytes.fromhex(E7)) == frame


def test_e8_legacy_crc_request_is_recognised_and_never_sent() -> None:
    frame = decode_frame(bytes.fromhex(E8))
    assert frame == ReadRequest(0x32, 4, 0, 6, crc_form=CrcForm.LEGACY)
    # The codec always sends the current CRC (protocol.md: "would end 75 cb").
    assert ReadRequest(0x32, 4, 0, 6).encode().hex() == E8[:-4] + "75cb"


def test_e9_lan_broadcast() -> None:
    frame = decode_frame(bytes.fromhex(E9))
    assert frame == LanBroadcast("000.000.0.00,000.000.000.0,000.000.0.0", "WO0000G000")
    assert frame.encode(trailer=bytes.fromhex("b4f2")).hex() == E9


def test_e10_null_frame() -> None:
    frame = decode_frame(bytes.fromhex(E10))
    assert frame == NullFrame(0x33, "WF2125G000")
    assert frame.encode().hex() == E10


def test_write_response_following_the_length_rule() -> None:
    frame = WriteResponse(0x11, "SA2114G047", 96, 1, "WF2125G316")
    assert frame.encode().hex() == WRITE_RESPONSE
    assert decode_frame(bytes.fromhex(WRITE_RESPONSE)) == frame


def test_write_response_with_a_0x8a_inner_length_is_not_rejected() -> None:
    """dewet22's hand-made write response stamps 0x8a; the inner length must not be checked."""
    data = bytearray(bytes.fromhex(WRITE_RESPONSE))
    data[25] = 0x8A
    assert decode_frame(bytes(data)) == decode_frame(bytes.fromhex(WRITE_RESPONSE))


@pytest.mark.parametrize(
    ("frame", "inner_length"),
    [
        (ReadRequest(0x11, 4, 0, 60), 8),
        (WriteRequest(0x11, 96, 1), 8),
        (ReadResponse(0x11, 4, "SA0000G000", 0, (0,) * 5, "WF0000G000"), 0x1C),
        (ReadResponse(0x11, 4, "SA0000G000", 0, (0,) * 60, "WF0000G000"), 0x8A),
        (ErrorResponse(0x11, 4, "SA0000G000", 0, 120, "WF0000G000"), 0x12),
        (WriteResponse(0x11, "SA0000G000", 96, 1, "WF0000G000"), 0x12),
    ],
)
def test_inner_length_counts_the_bytes_that_follow(frame: Frame, inner_length: int) -> None:
    """protocol.md §3: never a hard-coded 'padding'; 0 stops the inverter answering."""
    data = frame.encode()
    assert struct.unpack_from(">Q", data, 18)[0] == inner_length == len(data) - 26
    assert struct.unpack_from(">H", data, 4)[0] == len(data) - 6


# ---------------------------------------------------------------------------------------------
# Refusals and bad input


@pytest.mark.parametrize("count", [0, 61, 120])
def test_read_outside_1_to_60_registers_is_refused(count: int) -> None:
    with pytest.raises(RequestTooLarge, match="60"):
        ReadRequest(0x11, 3, 0, count).encode()


@pytest.mark.parametrize(
    "frame",
    [
        ReadRequest(0x11, Function.WRITE_SINGLE, 0, 1),
        ReadRequest(0x100, 3, 0, 1),
        ReadRequest(0x11, 3, 0x10000, 1),
        ReadRequest(0x11, 3, 0, 1, adapter_serial="SHORT"),
        ReadRequest(0x11, 3, 0, 1, adapter_serial="ÄB1234G567"),
        ReadRequest(0x11, 3, 0, 1, unit_id=256),
        WriteRequest(0x11, 96, 0x10000),
        WriteRequest(0x11, -1, 0),
        ReadResponse(0x11, 3, "SA0000G000", 0, (0x10000,), "WF0000G000"),
        ReadResponse(0x11, 3, "SA0000G000", -1, (), "WF0000G000"),
        WriteResponse(0x11, "SA0000G000", 96, -1, "WF0000G000"),
        ErrorResponse(0x11, 3, "SA0000G000", 0, 0x10000, "WF0000G000"),
        Heartbeat("WF0000G000", adapter_type=256),
        NullFrame(0x100, "WF0000G000"),
        LanBroadcast("héllo,world", "WO0000G000"),
    ],
)
def test_encoding_an_impossible_field_raises_codec_error(frame: Frame) -> None:
    """Only the codec's own error type, with a message naming the problem."""
    with pytest.raises(CodecError):
        frame.encode()


def test_lan_broadcast_trailer_must_be_two_bytes() -> None:
    with pytest.raises(CodecError):
        LanBroadcast("1.2.3.4,255.0.0.0,1.2.3.1", "WO0000G000").encode(trailer=b"\x00")


def test_unknown_request_function_is_a_bad_frame() -> None:
    pdu = struct.pack(">BBHH", 0x11, 0x10, 0, 1)
    data = bytes.fromhex(E7[:52]) + pdu + struct.pack("<H", crc16_modbus(pdu))
    frame = decode_frame(data)
    assert isinstance(frame, BadFrame)
    assert "0x10" in frame.reason


def test_bad_request_crc_is_a_bad_frame_with_a_suspect() -> None:
    data = bytearray(bytes.fromhex(E7))
    data[-1] ^= 0xFF
    frame = decode_frame(bytes(data))
    assert isinstance(frame, BadFrame)
    assert frame.suspect == WriteRequest(0x11, 96, 1, crc_form=CrcForm.BAD)


@pytest.mark.parametrize("example", [E3, E5, E6, WRITE_RESPONSE])
def test_bad_response_crc_is_a_bad_frame_with_a_suspect(example: str) -> None:
    good = decode_frame(bytes.fromhex(example))
    data = bytearray(bytes.fromhex(example))
    data[-2] ^= 0x01
    frame = decode_frame(bytes(data))
    assert isinstance(frame, BadFrame)
    assert "CRC" in frame.reason
    assert frame.suspect == good


def test_response_whose_count_does_not_fit_its_length_is_bad() -> None:
    data = bytearray(bytes.fromhex(E3))
    data[41] = 59  # count field 59 in a 60-value frame
    frame = decode_frame(bytes(data))
    assert isinstance(frame, BadFrame)
    assert "count" in frame.reason


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("59590001001c0102", 34),
        ("59590001001c0002", 34),
        ("59590001000d0101", 19),
        ("59590001012c0102", 306),
        ("59590001012d0102", None),  # length 301 > 300
        ("5959000100010102", None),  # length 1: not even unit id and type
        ("59590001001c0202", None),  # unit id 2
        ("59590001001c0103", None),  # frame type 3
        ("59590002001c0102", None),  # protocol id 2
        ("59590001001c01", None),  # short
    ],
)
def test_declared_size_bounds(header: str, size: int | None) -> None:
    assert declared_size(bytes.fromhex(header)) == size


def test_givtcp_v1_short_length_header_only_in_lenient_mode() -> None:
    """GivTCP v1.0 sent length 0x1b for a 34-byte request; lenient dongles accept it."""
    data = bytearray(bytes.fromhex(E2))
    data[5] = 0x1B
    lenient = decode_frame(bytes(data), lenient_requests=True)
    assert isinstance(lenient, ReadRequest)
    assert not lenient.header_length_ok
    assert (lenient.device, lenient.base, lenient.count) == (0x11, 0, 60)
    assert isinstance(decode_frame(bytes(data)), BadFrame)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "header"),
        (bytes.fromhex(E1)[:-1], "declares 19"),
        (bytes.fromhex(E1) + b"\x00", "declares 19"),
        (bytes.fromhex("59590001000e010157463231323547333136010a"), "heartbeat"),
        (bytes.fromhex("5959000100140102") + bytes(18), "too short"),
        (bytes.fromhex("5959000100200102") + bytes(range(1, 31)), "no transparent frame kind"),
    ],
)
def test_malformed_frames_say_why(data: bytes, reason: str) -> None:
    frame = decode_frame(data)
    assert isinstance(frame, BadFrame)
    assert reason in frame.reason
    assert frame.raw == data


# ---------------------------------------------------------------------------------------------
# Shape matching


def test_answers_matches_by_shape() -> None:
    request = ReadRequest(0x11, 4, 0, 60)
    page = ReadResponse(0x11, 4, "SA0000G000", 0, (0,) * 60, "WF0000G000")
    assert answers(request, page)
    assert not answers(request, ReadResponse(0x11, 4, "SA0000G000", 60, (0,) * 60, "WF0000G000"))
    assert not answers(request, ReadResponse(0x11, 3, "SA0000G000", 0, (0,) * 60, "WF0000G000"))
    assert not answers(request, ReadResponse(0x32, 4, "SA0000G000", 0, (0,) * 60, "WF0000G000"))
    assert not answers(request, ReadResponse(0x11, 4, "SA0000G000", 0, (0,) * 30, "WF0000G000"))
    # Errors echo the base; the count field is the request's or 0 (both seen).
    assert answers(request, ErrorResponse(0x11, 4, "SA0000G000", 0, 0, "WF0000G000"))
    assert not answers(request, ErrorResponse(0x11, 3, "SA0000G000", 0, 60, "WF0000G000"))
    assert not answers(request, Heartbeat("WF0000G000"))
    assert not answers(request, NullFrame(0x11, "WF0000G000"))


def test_answers_matches_writes_by_device_and_register() -> None:
    request = WriteRequest(0x11, 96, 1)
    assert answers(request, WriteResponse(0x11, "SA0000G000", 96, 0, "WF0000G000"))
    assert not answers(request, WriteResponse(0x11, "SA0000G000", 97, 1, "WF0000G000"))
    assert not answers(request, WriteResponse(0x32, "SA0000G000", 96, 1, "WF0000G000"))
    assert answers(request, ErrorResponse(0x11, 6, "SA0000G000", 96, 1, "WF0000G000"))
    assert not answers(request, ReadResponse(0x11, 6, "SA0000G000", 96, (1,), "WF0000G000"))


def test_heartbeat_reply_uses_our_serial_and_echoes_the_type() -> None:
    reply = Heartbeat("WF2125G316", adapter_type=0x20).reply()
    assert reply == Heartbeat(PLACEHOLDER_ADAPTER_SERIAL, 0x20)


# ---------------------------------------------------------------------------------------------
# Properties


@given(any_frame)
def test_round_trip_every_frame_kind(frame: Frame) -> None:
    assert decode_frame(frame.encode()) == frame


@given(lan_broadcasts, st.binary(min_size=2, max_size=2))
def test_lan_broadcast_is_recognised_whatever_its_trailer(frame: LanBroadcast, trailer: bytes):
    assert decode_frame(frame.encode(trailer)) == frame


@given(st.one_of(read_requests, write_requests))
def test_legacy_crc_requests_decode_as_legacy(frame: ReadRequest | WriteRequest) -> None:
    data = bytearray(frame.encode())
    data[32:34] = struct.pack(">H", crc16_modbus(bytes(data[27:32])))
    decoded = decode_frame(bytes(data))
    assert not isinstance(decoded, BadFrame)
    # Both forms can coincide; the standard one wins then.
    assert decoded.crc_form in (CrcForm.LEGACY, CrcForm.STANDARD)
    assert decoded == frame._replace(crc_form=decoded.crc_form)


def _header(length: int, unit_id: int, frame_type: int) -> bytes:
    return MARKER + struct.pack(">HBB", length, unit_id, frame_type)


# Bytes behind a plausible header, with a length field that is right or anything.
headed_bytes = st.one_of(
    st.builds(
        lambda uid, ftype, body: _header(len(body) + 2, uid, ftype) + body,
        st.integers(0, 2),
        st.integers(0, 3),
        st.binary(max_size=310),
    ),
    st.builds(
        lambda length, uid, ftype, body: _header(length, uid, ftype) + body,
        u16,
        st.integers(0, 2),
        st.integers(0, 3),
        st.binary(max_size=310),
    ),
)


@given(st.one_of(st.binary(max_size=400), headed_bytes), st.booleans())
def test_decoding_arbitrary_bytes_never_raises(data: bytes, lenient: bool) -> None:
    assert isinstance(decode_frame(data, lenient_requests=lenient), Frame)


@given(any_frame, st.data())
def test_decoding_a_frame_with_a_random_tail_never_raises(frame: Frame, data: st.DataObject):
    raw = bytearray(frame.encode())
    cut = data.draw(st.integers(8, len(raw)))
    raw[cut:] = data.draw(st.binary(max_size=len(raw)))
    assert isinstance(decode_frame(bytes(raw)), Frame)


@given(responses, st.data())
def test_any_single_bit_error_in_a_response_is_caught(frame: Frame, data: st.DataObject):
    """CRC-16 catches every single-bit error in its span (device .. values)."""
    raw = bytearray(frame.encode())
    bit = data.draw(st.integers(26 * 8, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    assert isinstance(decode_frame(bytes(raw)), BadFrame)


@given(requests, st.data())
def test_any_single_bit_error_in_a_request_is_caught(frame: Frame, data: st.DataObject):
    raw = bytearray(frame.encode())
    bit = data.draw(st.integers(26 * 8, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    decoded = decode_frame(bytes(raw))
    # A flip can, once in 65536, happen to produce a valid legacy CRC; never a standard one.
    assert isinstance(decoded, BadFrame) or decoded.crc_form is CrcForm.LEGACY
