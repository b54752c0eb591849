"""Every fault switch is observable on the wire, and the ground truth stays true."""

from __future__ import annotations

import time

import pytest

from givenergy_modbus_codec.frames import (
    BadFrame,
    Function,
    Heartbeat,
    LanBroadcast,
    NullFrame,
    ReadRequest,
    ReadResponse,
    answers,
)
from givenergy_modbus_codec.simulator import Faults

HR, IR = Function.READ_HOLDING, Function.READ_INPUT
HR0 = ReadRequest(0x11, HR, 0, 60)
IR0 = ReadRequest(0x11, IR, 0, 60)
BATTERY = ReadRequest(0x32, IR, 60, 60)


def timed_answer(client, request, timeout=3.0):
    started = time.monotonic()
    answer, before = client.ask(request, timeout)
    return time.monotonic() - started, answer, before


def test_latency_jitter_and_stalls_delay_answers(sim, client):
    sim.faults.update({"latency": 0.3, "jitter": 0.1})
    elapsed, _, _ = timed_answer(client, HR0)
    assert 0.3 <= elapsed < 1.0
    sim.faults.update({"latency": 0.0, "jitter": 0.0, "stall_rate": 1.0, "stall_seconds": 0.5})
    elapsed, _, _ = timed_answer(client, HR0)
    assert 0.5 <= elapsed < 1.2


def test_close_after_n_frames(sim, connect):
    sim.faults.close_after_frames = 2
    client = connect(sim)
    client.ask(HR0)
    client.ask(IR0)
    client.send(HR0)
    assert client.frames(1.0) == []
    assert client.closed_by_peer
    again = connect(sim)  # a new connection gets its own N frames
    assert again.ask(HR0)[0].values == tuple(sim.truth()["holding"][a] for a in range(60))


def test_close_mid_frame_leaves_half_a_frame(sim, client):
    sim.faults.update({"close_after_frames": 1, "close_mid_frame": True})
    client.send(HR0)
    assert client.frames(1.0) == []
    assert client.closed_by_peer
    assert sum(len(r) for r in client.reads) == 164 // 2
    assert client.decoder.pending == 82


def test_small_tcp_pieces(sim, client):
    sim.faults.update({"chunk_size": 40, "chunk_delay": 0.05})
    answer, _ = client.ask(HR0)
    assert isinstance(answer, ReadResponse)
    assert [len(r) for r in client.reads] == [40, 40, 40, 40, 4]


def test_garbage_bytes_between_frames(sim, client):
    sim.faults.garbage_bytes = 17
    answer, before = client.ask(HR0)
    assert [f.reason for f in before if isinstance(f, BadFrame)] == ["17 bytes of garbage skipped"]
    assert client.reads[0][:17].find(b"\x59\x59") == -1
    assert answer.values == tuple(sim.truth()["holding"][a] for a in range(60))


def test_corrupted_crcs_at_a_rate(sim, client):
    sim.faults.crc_error_rate = 1.0
    client.send(HR0)
    frames = client.frames(until=lambda f: isinstance(f, BadFrame))
    assert frames[-1].reason == "response CRC does not match"
    assert answers(HR0, frames[-1].suspect)
    sim.faults.crc_error_rate = 0.5
    kinds = []
    for _ in range(20):
        client.send(HR0)
        kinds.append(client.frames(until=lambda f: f.kind in ("bad", "read_response"))[-1].kind)
    assert 3 <= kinds.count("bad") <= 17
    assert [r.faults for r in sim.requests[1:]].count(("crc",)) == kinds.count("bad")


def test_phantom_responses_come_first_and_answer_something_else(sim, client):
    sim.faults.phantom_rate = 1.0
    for request in (HR0, IR0, BATTERY):
        answer, before = client.ask(request)
        phantoms = [f for f in before if isinstance(f, ReadResponse)]
        assert len(phantoms) == 1 and not answers(request, phantoms[0])
        assert answer.values == tuple(
            sim.truth()["batteries"][0x32][60 + i] if request is BATTERY else
            sim.truth()["holding" if request is HR0 else "input"][i] for i in range(60)
        )  # fmt: skip
    assert {r.faults for r in sim.requests} == {("phantom",)}


def test_phantom_cloud_page_has_slightly_different_values(sim, client):
    sim.faults.phantom_rate = 1.0
    seen = []
    for _ in range(10):
        _, before = client.ask(HR0)
        seen += [
            f for f in before if isinstance(f, ReadResponse) and f.base == 0 and f.function == IR
        ]
    assert seen, "the IR(0,60) phantom never came up in 10 answers"
    true_page = tuple(sim.truth()["input"][a] for a in range(60))
    for phantom in seen:
        differing = [a for a in range(60) if phantom.values[a] != true_page[a]]
        assert differing and set(differing) <= {5, 18, 30, 42}


def test_null_frames_and_lan_broadcasts_before_answers(sim, client):
    sim.faults.update({"null_frame_rate": 1.0, "lan_broadcast_rate": 1.0})
    _, before = client.ask(HR0)
    assert [type(f) for f in before] == [NullFrame, LanBroadcast]
    assert before[1].text == "192.168.0.50,255.255.255.0,192.168.0.1"


def test_all_zero_battery_pages(sim, client):
    sim.faults.zero_battery_page_rate = 1.0
    page, _ = client.ask(BATTERY)
    assert page.values == (0,) * 60
    assert any(sim.truth()["batteries"][0x32].values())
    assert client.ask(HR0)[0].values == tuple(sim.truth()["holding"][a] for a in range(60))


def test_garbage_values_with_a_valid_crc(sim, client):
    sim.faults.garbage_values_rate = 1.0
    page, _ = client.ask(IR0)  # decoded as a ReadResponse: the CRC is valid
    truth = sim.truth()["input"]
    assert (page.values[18], page.values[59], page.values[56]) == (65535, 255, 2058)
    true_pv_total = (truth[11] << 16) | truth[12]
    assert (page.values[11] << 16) | page.values[12] == true_pv_total + 22000  # +2200 kWh
    assert truth[59] <= 100  # the ground truth is untouched
    battery, _ = client.ask(BATTERY)
    assert battery.values[100 - 60] == 255
    assert client.ask(HR0)[0].values == tuple(sim.truth()["holding"][a] for a in range(60))


def test_silent_dongle_keeps_connections_and_heartbeats(make_sim, connect):
    sim = make_sim(heartbeat=0.2)
    sim.faults.silent = True
    client = connect(sim)
    client.send(HR0)
    frames = client.frames(0.5)
    assert frames and all(isinstance(f, Heartbeat) for f in frames)
    assert [r.outcome for r in sim.requests] == ["silence"]
    sim.faults.silent = False
    client.ask(HR0)


def test_fault_choices_repeat_with_the_same_seed(make_sim, connect):
    def pattern(seed: int) -> list[tuple[str, ...]]:
        sim = make_sim(seed=seed)
        sim.faults.update({"crc_error_rate": 0.5, "phantom_rate": 0.3, "null_frame_rate": 0.3})
        client = connect(sim)
        for _ in range(12):
            client.send(IR0)
            client.frames(until=lambda f: isinstance(f, BadFrame) or answers(IR0, f))
        return [r.faults for r in sim.requests]

    assert pattern(4) == pattern(4)
    assert pattern(4) != pattern(5)


def test_faults_update_checks_names_and_types():
    faults = Faults()
    faults.update({"latency": 1, "silent": True, "chunk_size": 8})
    assert (faults.latency, faults.silent, faults.chunk_size) == (1.0, True, 8)
    faults.jitter = 1  # plain assignment of an int to a float field ...
    faults.update({"jitter": 0.25})  # ... does not change what update accepts
    assert faults.jitter == 0.25
    for bad in ({"latnecy": 1}, {"silent": 1}, {"latency": "1"}, {"chunk_size": 1.5},
                {"crc_error_rate": -0.1}, {"phantom_rate": 1.5}):  # fmt: skip
        with pytest.raises(ValueError):
            faults.update(bad)
