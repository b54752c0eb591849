"""The codec against real dongle traffic in ../shared/vectors (skipped when that folder is absent).

Every recorded frame goes through the stream decoder, whole and in random-size pieces; CRC-valid
frames must decode to the reference decode (dewet22/givenergy-modbus 2.13.0) and CRC-invalid ones
must be flagged, never passed on as data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from givenergy_modbus_codec.frames import (
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
    decode_frame,
)
from givenergy_modbus_codec.stream import StreamDecoder
from tests.codec.test_stream import feed_in_pieces, piece_sizes
from tests.conftest import VECTORS_DIR, VECTORS_MISSING, capture_files, load_vectors

# dewet22 class name -> our frame kind (read responses with error=True are error responses).
KINDS = {
    "ReadHoldingRegistersRequest": "read_request",
    "ReadInputRegistersRequest": "read_request",
    "ReadMeterProductRegistersRequest": "read_request",
    "WriteHoldingRegisterRequest": "write_request",
    "ReadHoldingRegistersResponse": "read_response",
    "ReadInputRegistersResponse": "read_response",
    "WriteHoldingRegisterResponse": "write_response",
    "HeartbeatRequest": "heartbeat",
    "HeartbeatResponse": "heartbeat",
    "NullResponse": "null",
}


READ_FUNCTIONS = {
    "ReadHoldingRegistersRequest": Function.READ_HOLDING,
    "ReadInputRegistersRequest": Function.READ_INPUT,
    "ReadMeterProductRegistersRequest": Function.READ_METER,
}


def reference_fields(ref: dict[str, Any]) -> dict[str, Any]:
    """A reference decode (a vector's ``decoded`` or ``expect.fields``) in our field names."""

    def pick(*names: str) -> Any:
        return next((ref[n] for n in names if n in ref), None)

    kind = KINDS[ref["library_class"]]
    if ref.get("error"):
        kind = "error_response"
    fields = {
        "kind": kind,
        "adapter_serial": pick("data_adapter_serial", "data_adapter_serial_number"),
        "device": pick("device_address"),
        "function": pick("function"),
        "error": pick("error"),
        "inverter_serial": pick("inverter_serial", "inverter_serial_number"),
        "base": pick("base_register", "register"),
        "count": pick("register_count"),
        "values": pick("register_values"),
        "value": pick("value"),
        "adapter_type": pick("heartbeat_adapter_type", "data_adapter_type"),
    }
    if kind == "error_response":
        fields["values"] = None  # an error frame carries none; dewet22 reports []
    if kind == "null":
        fields["inverter_serial"] = fields["error"] = None  # all zeros on the wire
    return {k: v for k, v in fields.items() if v is not None}


def frame_fields(frame: Frame) -> dict[str, Any]:
    """Our decode in the same shape as ``reference_fields``."""
    fields: dict[str, Any] = {"kind": frame.kind}
    if isinstance(frame, Heartbeat):
        fields |= {"adapter_serial": frame.adapter_serial, "adapter_type": frame.adapter_type}
    if isinstance(frame, NullFrame):
        fields |= {"adapter_serial": frame.adapter_serial, "device": frame.device}
    if isinstance(frame, ReadRequest | WriteRequest | ReadResponse | WriteResponse | ErrorResponse):
        fields |= {
            "adapter_serial": frame.adapter_serial,
            "device": frame.device,
            "function": frame.function,
            "error": isinstance(frame, ErrorResponse),
        }
    if isinstance(frame, ReadRequest | ErrorResponse):
        fields |= {"base": frame.base, "count": frame.count}
    if isinstance(frame, ReadResponse):
        fields |= {"base": frame.base, "count": frame.count, "values": list(frame.values)}
    if isinstance(frame, WriteRequest | WriteResponse):
        fields |= {"base": frame.register, "value": frame.value}
    if isinstance(frame, ReadResponse | WriteResponse | ErrorResponse):
        fields["inverter_serial"] = frame.inverter_serial
    return fields


def assert_matches(frame: Frame, ref: dict[str, Any]) -> None:
    expected = reference_fields(ref)
    actual = frame_fields(frame)
    assert {k: actual.get(k) for k in expected} == expected


# ---------------------------------------------------------------------------------------------
# dewet22 test-suite cases


def _pdu_cases() -> list[dict[str, Any]]:
    return load_vectors("dewet22_conftest_pdu_cases.json")["vectors"]


def test_pdu_cases_decode_to_the_asserted_fields() -> None:
    for vector in _pdu_cases():
        frame = decode_frame(bytes.fromhex(vector["hex"]))
        ref = {"library_class": vector["expect"]["library_class"], **vector["expect"]["fields"]}
        assert_matches(frame, ref)


def test_pdu_case_requests_built_by_the_codec_equal_the_recorded_bytes() -> None:
    built = 0
    for vector in _pdu_cases():
        if vector["direction"] != "to_server":
            continue
        f = vector["expect"]["fields"]
        serial = f["data_adapter_serial_number"]
        if "register_count" in f:
            function = READ_FUNCTIONS[vector["expect"]["library_class"]]
            frame: Frame = ReadRequest(
                f["device_address"], function, f["base_register"], f["register_count"], serial
            )
        elif "register" in f:
            frame = WriteRequest(f["device_address"], f["register"], f["value"], serial)
        else:
            frame = Heartbeat(serial, f["data_adapter_type"])
        assert frame.encode().hex() == vector["hex"], vector["id"]
        built += 1
    assert built == 8


def test_pdu_case_responses_reencode_exactly() -> None:
    """Two hand-made exceptions: dewet22's write response stamps inner length 0x8a (protocol
    §2.3), where the codec writes the rule's 0x12; its null response had its CRC recomputed by
    the capture redactor (#158), where real null frames end 00 00 (protocol §8.2)."""
    for vector in _pdu_cases():
        if vector["direction"] != "to_client":
            continue
        frame = decode_frame(bytes.fromhex(vector["hex"]))
        expected = vector["hex"]
        if isinstance(frame, WriteResponse):
            assert expected[50:52] == "8a"
            expected = expected[:50] + "12" + expected[52:]
        if isinstance(frame, NullFrame):
            expected = expected[:-4] + "0000"
        assert frame.encode().hex() == expected, vector["id"]


def _framer_vector(name: str) -> dict[str, Any]:
    vectors = load_vectors("dewet22_test_framer.json")["vectors"]
    return next(v for v in vectors if v["id"] == name)


def test_valid_request_frame_has_the_legacy_crc() -> None:
    """dewet22 calls it VALID_REQUEST_FRAME; its CRC is the pre-2.x legacy form (E8)."""
    vector = _framer_vector("VALID_REQUEST_FRAME")
    frame = decode_frame(bytes.fromhex(vector["hex"]))
    assert isinstance(frame, ReadRequest)
    assert frame.crc_form is CrcForm.LEGACY
    e = vector["expect"]
    assert (frame.device, frame.function, frame.base, frame.count) == (
        e["device_address"],
        e["function"],
        e["base_register"],
        e["register_count"],
    )
    assert vector["wire"]["crc_ok_legacy_noaddr_be"]


@pytest.mark.parametrize("name", ["VALID_RESPONSE_FRAME", "EXCEPTION_RESPONSE_FRAME"])
def test_edited_responses_with_stale_crcs_are_flagged(name: str) -> None:
    """Serials were edited after capture, so the CRC is stale: bad frames, but the suspect still
    shows what they would have said."""
    vector = _framer_vector(name)
    frame = decode_frame(bytes.fromhex(vector["hex"]))
    assert isinstance(frame, BadFrame)
    assert "CRC" in frame.reason
    e = vector["expect"]
    suspect = frame.suspect
    assert isinstance(suspect, ReadResponse | ErrorResponse)
    assert isinstance(suspect, ErrorResponse) == e["error"]
    assert (suspect.device, suspect.function, suspect.base, suspect.count) == (
        e["device_address"],
        e["function"],
        e["base_register"],
        e["register_count"],
    )
    if isinstance(suspect, ReadResponse):
        assert list(suspect.values) == e["register_values"]


def test_heartbeat_request_of_adapter_type_2() -> None:
    vector = _framer_vector("test_process_heartbeat_request")
    frame = decode_frame(bytes.fromhex(vector["hex"]))
    assert frame == Heartbeat(vector["expect"]["data_adapter_serial"], 2)


def test_null_response_is_recognised() -> None:
    vector = _framer_vector("test_process_null_response")
    frame = decode_frame(bytes.fromhex(vector["hex"]))
    assert frame == NullFrame(vector["expect"]["device_address"], "WF1234G567")


def test_split_buffer_case() -> None:
    """A 145-byte cut of a response, then the same bytes again: dewet22's framer glues them
    into one 164-byte "response"; its CRC fails and the second copy starts inside it, so it is a
    truncated frame, and the second copy waits for its own end."""
    vector = _framer_vector("test_process_short_buffer")
    first, second = (bytes.fromhex(h) for h in vector["chunks_hex"])
    decoder = StreamDecoder()
    assert decoder.feed(first) == []
    frames = decoder.feed(second)
    assert len(frames) == vector["expect"]["frames_after_chunk_2"] == 1
    (bad,) = frames
    assert isinstance(bad, BadFrame)
    assert bad.reason == "truncated frame"
    assert bad.raw == first
    completed = bytes.fromhex(vector["expect"]["completed_frame_hex"])
    assert decode_frame(completed).suspect == bad.suspect  # what dewet22 decoded, CRC aside
    assert_matches(bad.suspect, vector["decoded"])
    assert decoder.pending == len(second)


def test_inverter_start_up_exchange() -> None:
    """11 real frames in 8 reads, both directions, heartbeats interleaved with requests."""
    vector = _framer_vector("test_inverter_boot")
    decoder = StreamDecoder()
    frames = [
        f for chunk in vector["chunks"] for f in decoder.feed(bytes.fromhex(chunk["chunk_hex"]))
    ]
    assert len(frames) == len(vector["frames"]) == 11
    for frame, recorded in zip(frames, vector["frames"], strict=True):
        assert frame == decode_frame(bytes.fromhex(recorded["hex"]))
        assert_matches(frame, recorded["decoded"])
    assert decoder.pending == 0


# ---------------------------------------------------------------------------------------------
# Whole captures


def _capture_ids() -> list[str]:
    return [p.name for p in capture_files()] or ["no-captures"]


def _capture(name: str) -> list[dict[str, Any]]:
    return load_vectors(str(Path("captures") / name))["vectors"]


def _by_direction(vectors: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    split: dict[str, list[dict[str, Any]]] = {}
    for vector in vectors:
        split.setdefault(vector["direction"], []).append(vector)
    return split


def _check_frame(frame: Frame, vector: dict[str, Any]) -> None:
    crc_ok = vector["wire"].get("crc_ok_unified")
    if crc_ok is False:
        assert isinstance(frame, BadFrame | NullFrame | LanBroadcast), vector["hex"]
        if isinstance(frame, BadFrame):
            assert frame.raw == bytes.fromhex(vector["hex"])
    else:
        assert_matches(frame, vector["decoded"])


@pytest.mark.parametrize("name", _capture_ids())
def test_capture_through_the_stream_decoder(name: str) -> None:
    vectors = _capture(name)
    checked = 0
    for direction in _by_direction(vectors).values():
        stream = b"".join(bytes.fromhex(v["hex"]) for v in direction)
        frames = StreamDecoder().feed(stream)
        assert len(frames) == len(direction)
        for frame, vector in zip(frames, direction, strict=True):
            _check_frame(frame, vector)
            checked += 1
    assert checked == len(vectors) > 0


@pytest.mark.parametrize("name", _capture_ids())
@settings(max_examples=15, deadline=None)
@given(sizes=piece_sizes)
def test_capture_in_random_pieces(name: str, sizes: list[int]) -> None:
    for direction in _by_direction(_capture(name)).values():
        stream = b"".join(bytes.fromhex(v["hex"]) for v in direction)
        decoder = StreamDecoder()
        assert feed_in_pieces(decoder, stream, sizes) == StreamDecoder().feed(stream)
        assert decoder.pending == 0


# Per capture: its frame total (as shared/vectors/README.md gives it) and the mix of kinds our
# decoder finds (LAN-config broadcasts, 10, are also named there).
CAPTURE_MIX: dict[str, dict[str, int]] = {
    "aio_a__aio_arm612_5min.log.json": {
        "read_response": 46,
        "heartbeat": 4,
        "error_response": 1,
        "bad": 1,
    },
    "ems_2_inv_3_bat_a__ac_arm282_1x_givbat512gen3_30min.log.json": {
        "read_response": 366,
        "heartbeat": 20,
        "lan_broadcast": 10,
    },
    "ems_2_inv_3_bat_a__ems_arm1036_60s.log.json": {"read_response": 25, "heartbeat": 2},
    "gateway_2aio_a__gateway_gaaa0014_10min_night.log.json": {
        "read_response": 309,
        "heartbeat": 6,
    },
    "hybrid_2_bat_a__hybrid_gen1_arm449_0x11_poll_10min.log.json": {
        "read_request": 241,
        "read_response": 478,
        "heartbeat": 8,
    },
    "hybrid_gen2_1_bat_a__hybrid_gen2_arm920_60s.log.json": {"read_response": 14},
    "three_phase_hv_a__giv3hy11_da011_10min.log.json": {"read_response": 115, "heartbeat": 6},
}
CAPTURE_TOTALS = {
    "aio_a__aio_arm612_5min.log.json": 52,
    "ems_2_inv_3_bat_a__ac_arm282_1x_givbat512gen3_30min.log.json": 396,
    "ems_2_inv_3_bat_a__ems_arm1036_60s.log.json": 27,
    "gateway_2aio_a__gateway_gaaa0014_10min_night.log.json": 315,
    "hybrid_2_bat_a__hybrid_gen1_arm449_0x11_poll_10min.log.json": 727,
    "hybrid_gen2_1_bat_a__hybrid_gen2_arm920_60s.log.json": 14,
    "three_phase_hv_a__giv3hy11_da011_10min.log.json": 121,
}


@pytest.mark.parametrize("name", sorted(CAPTURE_MIX))
def test_each_capture_holds_its_expected_mix(name: str) -> None:
    """Guards the tests above against silently checking nothing, one capture at a time."""
    if not (VECTORS_DIR / "captures" / name).exists():
        pytest.skip(f"capture {name} not found: {VECTORS_MISSING}")
    kinds: dict[str, int] = {}
    for vector in _capture(name):
        frame = decode_frame(bytes.fromhex(vector["hex"]))
        kinds[frame.kind] = kinds.get(frame.kind, 0) + 1
    assert kinds == CAPTURE_MIX[name]
    assert sum(kinds.values()) == CAPTURE_TOTALS[name]


def test_no_capture_goes_unchecked() -> None:
    """A capture added to shared/vectors must be given its expected mix above."""
    names = {p.name for p in capture_files()}
    if not names:
        pytest.skip(f"no captures: {VECTORS_MISSING}")
    assert names <= set(CAPTURE_MIX)
