"""The pymodbus adapter: PDUs <-> frames.py frames, DecodePDU dispatch, the framer's shape
matching, real captures through the framer, and pymodbus' own client against a fake dongle."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsRequest
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    WriteSingleRegisterRequest,
)

from givenergy_modbus_codec.errors import CodecError, RequestTooLarge
from givenergy_modbus_codec.frames import (
    BadFrame,
    ErrorResponse,
    Frame,
    Heartbeat,
    ReadRequest,
    ReadResponse,
    WriteRequest,
    WriteResponse,
    decode_frame,
)
from givenergy_modbus_codec.pymodbus_adapter import (
    GivEnergyDecodePDU,
    GivEnergyErrorResponse,
    GivEnergyFramer,
    GivEnergyHeartbeat,
    GivEnergyPDU,
    GivEnergyReadHoldingRequest,
    GivEnergyReadHoldingResponse,
    GivEnergyReadInputRequest,
    GivEnergyReadInputResponse,
    GivEnergyReadMeterRequest,
    GivEnergyReadMeterResponse,
    GivEnergyTcpClient,
    GivEnergyWriteRequest,
    GivEnergyWriteResponse,
)
from givenergy_modbus_codec.stream import StreamDecoder
from tests.codec.test_frames import (
    E1,
    E3,
    E6,
    E7,
    E8,
    E9,
    E10,
    heartbeats,
    lan_broadcasts,
    null_frames,
    requests,
    responses,
)
from tests.conftest import capture_params, load_vectors

CLIENT, SERVER = False, True
READ_REQUESTS = {0x03: GivEnergyReadHoldingRequest, 0x04: GivEnergyReadInputRequest}
SERIALS = {"inverter_serial": "SA2114G047", "adapter_serial": "WF2125G316"}


def client_framer() -> GivEnergyFramer:
    return GivEnergyFramer(GivEnergyDecodePDU(is_server=CLIENT))


# ---------------------------------------------------------------------------------------------
# PDUs and dispatch


@given(requests)
def test_requests_round_trip_through_the_server_decoder(frame: Frame) -> None:
    pdu = GivEnergyDecodePDU(SERVER).decode(frame.encode())
    assert isinstance(pdu, GivEnergyPDU)
    assert pdu.to_frame() == frame
    assert pdu.encode() == frame.encode()
    assert pdu.function_code == frame.function
    assert (pdu.dev_id, pdu.address) == (
        frame.device,
        frame.base if isinstance(frame, ReadRequest) else frame.register,
    )
    assert not pdu.isError()


@given(responses)
def test_responses_round_trip_through_the_client_decoder(frame: Frame) -> None:
    pdu = GivEnergyDecodePDU(CLIENT).decode(frame.encode())
    assert isinstance(pdu, GivEnergyPDU)
    assert pdu.to_frame() == frame
    assert pdu.isError() == isinstance(frame, ErrorResponse)
    if isinstance(frame, ReadResponse):
        assert (pdu.registers, pdu.count) == (list(frame.values), frame.count)


@given(heartbeats, st.booleans())
def test_heartbeats_decode_on_both_sides(frame: Heartbeat, is_server: bool) -> None:
    pdu = GivEnergyDecodePDU(is_server).decode(frame.encode())
    assert isinstance(pdu, GivEnergyHeartbeat)
    assert pdu.to_frame() == frame
    assert pdu.reply().to_frame() == frame.reply()


@given(st.one_of(null_frames, lan_broadcasts), st.booleans())
def test_frames_that_carry_nothing_give_no_pdu(frame: Frame, is_server: bool) -> None:
    assert GivEnergyDecodePDU(is_server).decode(frame.encode()) is None


@given(requests)
def test_a_client_ignores_requests(frame: Frame) -> None:
    assert GivEnergyDecodePDU(CLIENT).decode(frame.encode()) is None


@given(responses)
def test_a_server_ignores_responses(frame: Frame) -> None:
    assert GivEnergyDecodePDU(SERVER).decode(frame.encode()) is None


@given(st.binary(max_size=300), st.booleans())
def test_decoding_garbage_never_raises(data: bytes, is_server: bool) -> None:
    pdu = GivEnergyDecodePDU(is_server).decode(b"\x59\x59\x00\x01" + data)
    assert pdu is None or isinstance(pdu, GivEnergyPDU)


def test_pdu_classes_are_registered_with_their_own_decoder() -> None:
    table = GivEnergyDecodePDU.pdu_table
    assert table == {
        0x03: (GivEnergyReadHoldingRequest, GivEnergyReadHoldingResponse),
        0x04: (GivEnergyReadInputRequest, GivEnergyReadInputResponse),
        0x16: (GivEnergyReadMeterRequest, GivEnergyReadMeterResponse),
        0x06: (GivEnergyWriteRequest, GivEnergyWriteResponse),
        0x01: (GivEnergyHeartbeat, GivEnergyHeartbeat),
    }
    assert all(issubclass(c, ModbusPDU) for pair in table.values() for c in pair)
    # pymodbus' own table is untouched.
    assert DecodePDU.pdu_table[0x03][0] is ReadHoldingRegistersRequest
    assert not any(issubclass(c, GivEnergyPDU) for p in DecodePDU.pdu_table.values() for c in p)
    assert GivEnergyDecodePDU(CLIENT).list_function_codes() == [0x03, 0x04, 0x16, 0x06, 0x01]


def test_pdu_decode_refuses_a_frame_of_another_kind() -> None:
    with pytest.raises(ValueError):
        GivEnergyReadInputResponse().decode(bytes.fromhex(E3))  # a holding-register page
    with pytest.raises(CodecError):
        GivEnergyWriteResponse.from_frame(decode_frame(bytes.fromhex(E3)))


def test_error_response_is_a_pymodbus_exception_response() -> None:
    pdu = GivEnergyDecodePDU(CLIENT).decode(bytes.fromhex(E6))
    assert isinstance(pdu, GivEnergyErrorResponse)
    assert isinstance(pdu, ExceptionResponse)
    assert pdu.isError()
    assert (pdu.function_code, pdu.exception_code) == (0x83, 0)  # no exception code on the wire
    assert (pdu.dev_id, pdu.address, pdu.count) == (0x11, 1100, 60)
    assert pdu.inverter_serial == "CH2414G000"
    assert pdu.encode().hex() == E6


def test_pdus_built_by_hand_encode_the_protocol_examples() -> None:
    assert GivEnergyWriteRequest(96, 1).encode().hex() == E7
    assert GivEnergyHeartbeat("WF2125G316").encode().hex() == E1
    page = decode_frame(bytes.fromhex(E3))
    assert isinstance(page, ReadResponse)
    built = GivEnergyReadHoldingResponse(list(page.values), 0, 0x11, **SERIALS)
    assert built.encode().hex() == E3
    assert GivEnergyWriteResponse(96, 1, 0x11, **SERIALS).to_frame() == WriteResponse(
        0x11, "SA2114G047", 96, 1, "WF2125G316"
    )


def test_legacy_crc_request_keeps_its_crc_form() -> None:
    pdu = GivEnergyDecodePDU(SERVER).decode(bytes.fromhex(E8))
    assert isinstance(pdu, GivEnergyReadInputRequest)
    assert pdu.crc_form == "legacy"
    assert pdu.encode().hex() == E8[:-4] + "75cb"  # what the codec sends


# ---------------------------------------------------------------------------------------------
# Framer


@pytest.mark.parametrize(
    ("request_pdu", "expected"),
    [
        (GivEnergyWriteRequest(96, 1), E7),
        (WriteSingleRegisterRequest(address=96, registers=[1], dev_id=0x11), E7),
        (ReadInputRegistersRequest(address=0, count=6, dev_id=0x32), E8[:-4] + "75cb"),
        (
            ReadHoldingRegistersRequest(address=0, count=60, dev_id=0x11),
            "59590001001c010241423132333447353637000000000000000811030000003c474b",
        ),
        (
            GivEnergyReadMeterRequest(60, 60, dev_id=0x01),
            "59590001001c01024142313233344735363700000000000000080116003c003c8814",
        ),
        (GivEnergyHeartbeat("WF2125G316"), E1),
    ],
)
def test_build_frame(request_pdu: ModbusPDU, expected: str) -> None:
    assert client_framer().buildFrame(request_pdu).hex() == expected


def test_build_frame_refuses_before_encoding() -> None:
    framer = client_framer()
    with pytest.raises(RequestTooLarge):
        framer.buildFrame(ReadInputRegistersRequest(address=0, count=120, dev_id=0x11))
    with pytest.raises(CodecError, match="ReadCoilsRequest"):
        framer.buildFrame(ReadCoilsRequest(address=0, count=1, dev_id=0x11))


def test_client_framer_returns_only_the_answer_to_its_request() -> None:
    framer = client_framer()
    request = GivEnergyReadInputRequest(0, 60)
    framer.buildFrame(request)
    answer = ReadResponse(0x11, 4, "SA2114G047", 0, tuple(range(60)), "WF2125G316")
    noise = [
        bytes.fromhex(E1),  # heartbeat
        bytes.fromhex(E3),  # another client's HR page (fan-out)
        bytes.fromhex(E10),  # null frame
        bytes.fromhex(E9),  # LAN broadcast
        b"\x00garbage",
        ReadResponse(0x32, 4, "SA2114G047", 0, tuple(range(60)), "WF2125G316").encode(),
    ]
    for chunk in noise:
        assert framer.handleFrame(chunk, 0x11, 7) == (len(chunk), None)
    data = answer.encode()
    assert framer.handleFrame(data[:100], 0x11, 7) == (100, None)
    used, pdu = framer.handleFrame(data[100:], 0x11, 7)
    assert used == len(data) - 100
    assert isinstance(pdu, GivEnergyReadInputResponse)
    assert pdu.to_frame() == answer
    assert (pdu.transaction_id, pdu.dev_id) == (7, 0x11)
    # The request is answered: a fan-out copy of the same page is now unsolicited.
    assert framer.handleFrame(data, 0x11, 7) == (len(data), None)


def test_client_framer_returns_error_answers_and_keeps_later_frames() -> None:
    framer = client_framer()
    framer.buildFrame(GivEnergyReadHoldingRequest(1100, 60))
    used, pdu = framer.handleFrame(bytes.fromhex(E6 + E1), 0x11, 3)
    assert used == len(bytes.fromhex(E6 + E1))
    assert isinstance(pdu, GivEnergyErrorResponse)
    assert pdu.transaction_id == 3
    framer.buildFrame(GivEnergyWriteRequest(96, 1))
    echo = WriteResponse(0x11, "SA2114G047", 96, 1, "WF2125G316")
    used, pdu = framer.handleFrame(echo.encode(), 0x11, 4)
    assert isinstance(pdu, GivEnergyWriteResponse)
    assert pdu.value == 1


def test_server_framer_returns_requests_and_heartbeats() -> None:
    framer = GivEnergyFramer(GivEnergyDecodePDU(is_server=SERVER))
    data = bytes.fromhex(E7 + E3 + E1 + E8)
    pdus = [framer.handleFrame(data, 0, 0)[1]]
    pdus += [framer.handleFrame(b"", 0, 0)[1] for _ in range(3)]
    assert [type(p) for p in pdus] == [
        GivEnergyWriteRequest,
        GivEnergyHeartbeat,
        GivEnergyReadInputRequest,
        type(None),
    ]


# ---------------------------------------------------------------------------------------------
# Real captures through the framer


@pytest.mark.parametrize("path", capture_params(), ids=lambda p: p.name)
def test_capture_responses_through_the_client_framer(path: Path) -> None:
    """Each recorded response, announced by the request it answers, comes out as a PDU with the
    recorded values; bad frames come out as nothing."""
    framer = client_framer()
    delivered = 0
    for vector in load_vectors(str(Path("captures") / path.name))["vectors"]:
        if vector["direction"] != "to_client":
            continue
        frame = decode_frame(bytes.fromhex(vector["hex"]))
        if isinstance(frame, ReadResponse | ErrorResponse):
            request = READ_REQUESTS[frame.function](frame.base, frame.count or 60, frame.device)
            framer.buildFrame(request)
        _, pdu = framer.handleFrame(bytes.fromhex(vector["hex"]), 0, 1)
        if vector["wire"].get("crc_ok_unified") is False or isinstance(frame, Heartbeat):
            assert pdu is None
            continue
        assert isinstance(pdu, GivEnergyPDU)
        assert pdu.to_frame() == frame
        decoded = vector["decoded"]
        assert (pdu.dev_id, pdu.address) == (decoded["device_address"], decoded["base_register"])
        if not pdu.isError():
            assert pdu.registers == decoded["register_values"]
        delivered += 1
    assert delivered > 0


@pytest.mark.parametrize("path", capture_params(), ids=lambda p: p.name)
def test_capture_requests_through_the_server_framer(path: Path) -> None:
    framer = GivEnergyFramer(GivEnergyDecodePDU(is_server=SERVER))
    for vector in load_vectors(str(Path("captures") / path.name))["vectors"]:
        if vector["direction"] != "to_server":
            continue
        _, pdu = framer.handleFrame(bytes.fromhex(vector["hex"]), 0, 0)
        assert isinstance(pdu, GivEnergyPDU)
        assert pdu.to_frame() == decode_frame(bytes.fromhex(vector["hex"]))


# ---------------------------------------------------------------------------------------------
# pymodbus' own client against a fake dongle on 127.0.0.1


def _answer(request: Frame) -> Frame:
    inverter, adapter = "SA2114G047", "WF2125G316"
    if isinstance(request, WriteRequest):
        return WriteResponse(request.device, inverter, request.register, request.value, adapter)
    assert isinstance(request, ReadRequest)
    if request.base == 1100:
        return ErrorResponse(request.device, request.function, inverter, 1100, 60, adapter)
    values = tuple(request.base + i for i in range(request.count))
    return ReadResponse(request.device, request.function, inverter, request.base, values, adapter)


def _fake_dongle(listener: socket.socket) -> None:
    """Answers each request after a heartbeat, another client's page and a null frame, with the
    answer split across two sends, as a real dongle's stream can be."""
    conn, _ = listener.accept()
    decoder = StreamDecoder()
    noise = bytes.fromhex(E1 + E3 + E10)
    with conn:
        while data := conn.recv(4096):
            for frame in decoder.feed(data):
                if isinstance(frame, BadFrame | Heartbeat):
                    continue
                answer = _answer(frame).encode()
                conn.sendall(noise + answer[:30])
                conn.sendall(answer[30:])


@contextlib.contextmanager
def fake_dongle() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=_fake_dongle, args=(listener,), daemon=True)
        thread.start()
        yield listener.getsockname()[1]
        thread.join(timeout=5)
        assert not thread.is_alive()


def test_pymodbus_client_reads_and_writes_through_the_adapter() -> None:
    with fake_dongle() as port, GivEnergyTcpClient("127.0.0.1", port=port, timeout=2) as client:
        page = client.read_input_registers(0, count=60, device_id=0x11)
        assert isinstance(page, GivEnergyReadInputResponse)
        assert page.registers == list(range(60))
        assert (page.inverter_serial, page.adapter_serial) == ("SA2114G047", "WF2125G316")

        holding = client.read_holding_registers(60, count=60, device_id=0x11)
        assert isinstance(holding, GivEnergyReadHoldingResponse)
        assert holding.registers == list(range(60, 120))

        battery = client.execute(False, GivEnergyReadInputRequest(60, 60, dev_id=0x32))
        assert (battery.dev_id, battery.registers[0]) == (0x32, 60)

        refused = client.read_holding_registers(1100, count=60, device_id=0x11)
        assert refused.isError()

        written = client.write_register(96, 1, device_id=0x11)
        assert isinstance(written, GivEnergyWriteResponse)
        assert (written.address, written.value) == (96, 1)

        with pytest.raises(RequestTooLarge):
            client.read_input_registers(0, count=61, device_id=0x11)
