"""StreamDecoder: split, concatenated, spliced and garbled streams (protocol.md §9).

The properties feed byte streams in random-size pieces and check that nothing raises, that the
decoder always returns (a loop guard turns a hang into a failure), that its buffer stays bounded,
and that every intact frame is still recovered whatever garbage surrounds it.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from givenergy_modbus_codec.frames import (
    HEADER_SIZE,
    MARKER,
    BadFrame,
    Frame,
    Heartbeat,
    LanBroadcast,
    NullFrame,
    ReadRequest,
    ReadResponse,
    declared_size,
    decode_frame,
)
from givenergy_modbus_codec.stream import StreamDecoder
from tests.codec.test_frames import E1, E2, E3, E6, E7, E10, any_frame

MAX_FRAME = 306  # header length field <= 300, plus the 6 bytes before it


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail instead of hanging if the decoder ever loops forever."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"the stream decoder did not return within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def feed_in_pieces(decoder: StreamDecoder, data: bytes, sizes: list[int]) -> list[Frame]:
    """Feed ``data`` in pieces of the given sizes (cycled), as TCP reads would deliver it."""
    frames: list[Frame] = []
    pos, i = 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)] if sizes else len(data)
        frames += decoder.feed(data[pos : pos + size])
        assert decoder.pending < MAX_FRAME + len(MARKER)
        pos += size
        i += 1
    return frames


def drain(decoder: StreamDecoder) -> list[Frame]:
    """What a reader does on a timeout: abandon the partial frame and decode what follows."""
    frames: list[Frame] = []
    while decoder.pending:
        dropped = decoder.resync()
        assert isinstance(dropped, BadFrame)
        frames += [dropped, *decoder.feed(b"")]
    return frames


def good(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if not isinstance(f, BadFrame)]


HEARTBEAT = decode_frame(bytes.fromhex(E1))
HR_PAGE = decode_frame(bytes.fromhex(E3))

# ---------------------------------------------------------------------------------------------
# Examples


def test_frame_split_at_every_offset() -> None:
    data = bytes.fromhex(E3)
    for cut in range(len(data) + 1):
        decoder = StreamDecoder()
        assert decoder.feed(data[:cut]) == ([HR_PAGE] if cut == len(data) else [])
        assert decoder.feed(data[cut:]) == ([] if cut == len(data) else [HR_PAGE])
        assert decoder.pending == 0


def test_several_frames_in_one_read() -> None:
    data = bytes.fromhex(E1 + E3 + E6 + E1)
    frames = StreamDecoder().feed(data)
    assert frames == [HEARTBEAT, HR_PAGE, decode_frame(bytes.fromhex(E6)), HEARTBEAT]


def test_leading_garbage_is_reported_and_skipped() -> None:
    frames = StreamDecoder().feed(b"\x00\xffhello" + bytes.fromhex(E1))
    assert isinstance(frames[0], BadFrame)
    assert frames[0].raw == b"\x00\xffhello"
    assert frames[1:] == [HEARTBEAT]


@pytest.mark.parametrize("held", [1, 2, 3])
def test_marker_split_after_garbage(held: int) -> None:
    decoder = StreamDecoder()
    data = bytes.fromhex(E1)
    assert [f.raw for f in decoder.feed(b"junk" + data[:held])] == [b"junk"]
    assert decoder.pending == held
    assert decoder.feed(data[held:]) == [HEARTBEAT]


def test_impossible_header_then_a_split_marker() -> None:
    """Skipping an impossible header must keep a marker prefix that may begin the next frame."""
    decoder = StreamDecoder()
    impossible = bytes.fromhex("59590001001c0709")  # unit id 7, frame type 9
    frames = decoder.feed(impossible + bytes.fromhex(E1)[:2])
    assert [f.reason for f in frames] == ["impossible header"]
    assert frames[0].raw == impossible
    assert decoder.feed(bytes.fromhex(E1)[2:]) == [HEARTBEAT]


def test_impossible_header_skips_to_the_next_marker() -> None:
    frames = StreamDecoder().feed(bytes.fromhex("5959000103e80102") + b"xx" + bytes.fromhex(E7))
    assert isinstance(frames[0], BadFrame)
    assert frames[0].raw == bytes.fromhex("5959000103e80102") + b"xx"
    assert frames[1:] == [decode_frame(bytes.fromhex(E7))]


@pytest.mark.parametrize("kept", [8, 60, 145, 161, 162, 163])
def test_truncated_response_spliced_onto_the_next_frame(kept: int) -> None:
    """A cut-short frame followed by the next frame inside its declared length (protocol.md §9),
    including a next frame whose marker straddles the end of the declared length."""
    data = bytes.fromhex(E3)[:kept] + bytes.fromhex(E1 + E3)
    frames = StreamDecoder().feed(data)
    assert isinstance(frames[0], BadFrame)
    assert frames[0].raw == bytes.fromhex(E3)[:kept]
    assert frames[1:] == [HEARTBEAT, HR_PAGE]


def test_truncated_frame_whose_successor_marker_is_still_arriving() -> None:
    decoder = StreamDecoder()
    frames = decoder.feed(bytes.fromhex(E3)[:161] + bytes.fromhex(E1)[:3])
    assert len(frames) == 1
    assert frames[0].reason == "truncated frame"
    assert frames[0].suspect is not None  # it was a read response with a CRC that failed
    assert decoder.feed(bytes.fromhex(E1)[3:]) == [HEARTBEAT]


@pytest.mark.parametrize("unchecked", [E1, E10])
def test_truncated_frame_without_a_crc_does_not_swallow_the_next(unchecked: str) -> None:
    """Heartbeats and null frames carry no CRC, so only the inner marker betrays a splice."""
    for kept in range(8, len(bytes.fromhex(unchecked))):
        data = bytes.fromhex(unchecked)[:kept] + bytes.fromhex(E3)
        frames = StreamDecoder().feed(data)
        assert good(frames) == [HR_PAGE], kept
        assert frames[0].reason == "truncated frame"


def test_marker_inside_register_values_is_not_a_splice() -> None:
    page = ReadResponse(0x11, 4, "SA0000G000", 0, (0x5959, 0x0001, 0x001C, 0x0102), "WF0000G000")
    assert StreamDecoder().feed(page.encode() + bytes.fromhex(E1)) == [page, HEARTBEAT]


def test_resync_abandons_a_partial_frame() -> None:
    decoder = StreamDecoder()
    assert decoder.resync() is None
    assert decoder.feed(bytes.fromhex(E3)[:100]) == []
    dropped = decoder.resync()
    assert isinstance(dropped, BadFrame)
    assert dropped.raw == bytes.fromhex(E3)[:100]
    assert decoder.pending == 0


def test_resync_keeps_what_follows_the_next_marker() -> None:
    decoder = StreamDecoder()
    assert decoder.feed(bytes.fromhex(E3)[:100] + bytes.fromhex(E1)) == []  # waits for 164 bytes
    dropped, *rest = drain(decoder)
    assert dropped.raw == bytes.fromhex(E3)[:100]
    assert rest == [HEARTBEAT]


def test_lenient_decoder_accepts_givtcp_v1_request_header() -> None:
    data = bytearray(bytes.fromhex(E2))
    data[5] = 0x1B
    frames = StreamDecoder(lenient_requests=True).feed(bytes(data) + bytes.fromhex(E1))
    assert isinstance(frames[0], ReadRequest)
    assert frames[1:] == [HEARTBEAT]


def test_null_frame_in_a_stream() -> None:
    frames = StreamDecoder().feed(bytes.fromhex(E10 + E1))
    assert frames == [NullFrame(0x33, "WF2125G000"), HEARTBEAT]


# ---------------------------------------------------------------------------------------------
# Properties

piece_sizes = st.lists(st.integers(1, 200), min_size=1, max_size=20)


# Garbage that looks like frames: random bytes, marker fragments, truncated frames.
garbage = st.one_of(
    st.binary(max_size=100),
    st.sampled_from([MARKER[:n] for n in range(1, 5)]),
    st.binary(max_size=30).map(lambda tail: MARKER + tail),
    st.builds(lambda f, n: f.encode()[: n % len(f.encode())], any_frame, st.integers(0, 400)),
)


@given(st.lists(any_frame, max_size=6), piece_sizes)
def test_valid_frames_survive_any_chunking(frames: list[Frame], sizes: list[int]) -> None:
    """Whatever the TCP pieces, every frame comes out once, in order, and nothing is left."""
    decoder = StreamDecoder()
    data = b"".join(f.encode() for f in frames) + HEARTBEAT.encode()
    with time_limit(5):
        assert feed_in_pieces(decoder, data, sizes) == [*frames, HEARTBEAT]
    assert decoder.pending == 0


@pytest.mark.parametrize("adapter_type", [0x59, 0x00])
def test_heartbeat_ending_in_a_marker_prefix_is_released_at_once(adapter_type: int) -> None:
    """Complete by its length field, so it is a frame now (issue 10, item 8); the bytes that
    follow still decode, whether the next frame comes whole or its marker in pieces."""
    ambiguous = Heartbeat("WF2125G3YY", adapter_type).encode()
    decoder = StreamDecoder()
    assert decoder.feed(ambiguous) == [decode_frame(ambiguous)]
    assert decoder.pending == 0
    assert decoder.feed(bytes.fromhex(E1)) == [HEARTBEAT]
    assert decoder.feed(ambiguous + bytes.fromhex(E1)[:2]) == [decode_frame(ambiguous)]
    assert decoder.feed(bytes.fromhex(E1)[2:]) == [HEARTBEAT]


def test_heartbeat_spliced_into_a_marker_prefix_is_still_cut_once_the_marker_shows() -> None:
    """A cut-short heartbeat whose declared length runs into the next frame's marker: cut as
    soon as the whole marker is in the buffer."""
    data = bytes.fromhex(E1)[:16] + bytes.fromhex(E3)
    frames = StreamDecoder().feed(data)
    assert [f.reason for f in frames if isinstance(f, BadFrame)] == ["truncated frame"]
    assert good(frames) == [HR_PAGE]


def _splices_into_an_unchecked_frame(junk: bytes) -> bool:
    """True if ``junk`` + the next frame's first bytes make a heartbeat, null or LAN frame."""
    start = junk.rfind(MARKER[:2])
    if start < 0 or len(junk) - start < HEADER_SIZE:
        return False
    size = declared_size(junk[start : start + HEADER_SIZE], False)
    missing = None if size is None else size - (len(junk) - start)
    if missing is None or not 0 < missing <= len(MARKER) - 1:
        return False
    spliced = decode_frame(junk[start:] + MARKER[:missing])
    return isinstance(spliced, Heartbeat | NullFrame | LanBroadcast)


@settings(deadline=None)
@given(st.lists(st.tuples(garbage, any_frame), min_size=1, max_size=6), garbage, piece_sizes)
def test_every_intact_frame_is_recovered_from_garbage(
    pairs: list[tuple[bytes, Frame]], tail: bytes, sizes: list[int]
) -> None:
    # One splice cannot be told from a real frame: a heartbeat, null or LAN frame (no CRC)
    # cut 1-3 bytes short and followed by the next frame's marker is complete by its length
    # and looks like one ending in a marker prefix, which is released at once (issue 10 item
    # 8); the next frame then is lost. Those inputs are left out.
    assume(not any(_splices_into_an_unchecked_frame(junk) for junk, _ in pairs))
    data = b"".join(junk + frame.encode() for junk, frame in pairs) + tail
    decoder = StreamDecoder()
    with time_limit(5):
        out = feed_in_pieces(decoder, data, sizes) + drain(decoder)
    expected = iter(good(out))
    # Each intact frame appears, in order (garbage may itself hold a frame, which is fine).
    assert all(any(f == frame for f in expected) for _, frame in pairs)


@given(st.binary(max_size=2000), piece_sizes, st.booleans())
def test_random_bytes_never_raise_or_hang(data: bytes, sizes: list[int], lenient: bool) -> None:
    decoder = StreamDecoder(lenient_requests=lenient)
    with time_limit(5):
        frames = feed_in_pieces(decoder, data, sizes) + drain(decoder)
    assert all(isinstance(f, Frame) for f in frames)
    assert decoder.pending == 0


@settings(deadline=None)
@given(st.lists(any_frame, min_size=1, max_size=6), st.data(), piece_sizes)
def test_mutated_streams_never_raise_or_hang(
    frames: list[Frame], data: st.DataObject, sizes: list[int]
) -> None:
    """Bit flips, cuts, duplicated spans and inserted bytes in a stream of valid frames."""
    stream = bytearray(b"".join(f.encode() for f in frames))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(stream)))
        action = data.draw(st.sampled_from(["flip", "cut", "splice", "insert"]))
        if action == "flip" and at < len(stream):
            stream[at] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "cut":
            del stream[at : at + data.draw(st.integers(1, 200))]
        elif action == "splice":
            start = data.draw(st.integers(0, len(stream)))
            stream[at:at] = stream[start : start + data.draw(st.integers(1, 200))]
        elif action == "insert":
            stream[at:at] = data.draw(st.binary(min_size=1, max_size=40))
    decoder = StreamDecoder()
    with time_limit(5):
        out = feed_in_pieces(decoder, bytes(stream), sizes) + drain(decoder)
    assert all(isinstance(f, Frame) for f in out)


@given(any_frame, st.integers(1, 8))
def test_repeated_frames_decode_identically(frame: Frame, copies: int) -> None:
    """Fan-out: the dongle copies every response to every client; duplicates are harmless."""
    assert StreamDecoder().feed(frame.encode() * copies) == [frame] * copies
