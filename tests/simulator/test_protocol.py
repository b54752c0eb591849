"""The simulator on the wire: reads, errors, silence, quirks, fan-out, heartbeats, writes."""

from __future__ import annotations

import time

import pytest

from givenergy_modbus_codec.frames import (
    ErrorResponse,
    Function,
    Heartbeat,
    ReadRequest,
    ReadResponse,
    WriteRequest,
    WriteResponse,
)

from .wire import NOON, raw_request

HR, IR = Function.READ_HOLDING, Function.READ_INPUT


def truth_block(sim, function, base, count, device=0x11):
    truth = sim.truth()
    if function == IR and 60 <= base < 120:
        regs = truth["batteries"][device]
    else:
        regs = truth["holding" if function == HR else "input"]
    return tuple(regs[base + i] for i in range(count))


@pytest.mark.parametrize(
    ("function", "base", "count"),
    [(HR, 0, 60), (HR, 60, 60), (HR, 120, 60), (HR, 180, 60), (IR, 0, 60), (IR, 120, 60),
     (IR, 180, 60), (HR, 94, 3), (IR, 59, 1)],
)  # fmt: skip
def test_inverter_reads_return_the_true_registers(sim, client, function, base, count):
    answer, before = client.ask(ReadRequest(0x11, function, base, count))
    assert before == []
    assert isinstance(answer, ReadResponse)
    assert answer.values == truth_block(sim, function, base, count)
    assert answer.inverter_serial == sim.truth()["plant"]["inverter_serial"]
    assert answer.adapter_serial == sim.truth()["plant"]["dongle_serial"]
    assert [r.outcome for r in sim.requests] == ["answered"]


def test_gen1_answers_the_same_register_file_at_0x31_and_0x32(sim, client):
    pages = [client.ask(ReadRequest(d, HR, 0, 60))[0] for d in (0x11, 0x31, 0x32)]
    assert [p.device for p in pages] == [0x11, 0x31, 0x32]
    assert pages[0].values == pages[1].values == pages[2].values


def test_batteries_answer_their_page_at_0x32_onwards(make_sim, connect):
    sim = make_sim(batteries=3)
    client = connect(sim)
    serials = set()
    for device in (0x32, 0x33, 0x34):
        page, _ = client.ask(ReadRequest(device, IR, 60, 60))
        assert page.values == truth_block(sim, IR, 60, 60, device)
        serials.add(page.values[50:55])
    assert len(serials) == 3
    client.send(ReadRequest(0x35, IR, 60, 60))
    assert client.frames() == []
    error, _ = client.ask(ReadRequest(0x33, IR, 0, 60))
    assert isinstance(error, ErrorResponse)


def test_gen2_answers_only_at_0x11_and_its_batteries(make_sim, connect):
    sim = make_sim(model="gen2")
    client = connect(sim)
    client.ask(ReadRequest(0x11, HR, 0, 60))
    client.send(ReadRequest(0x31, HR, 0, 60))
    assert client.frames() == []
    assert isinstance(client.ask(ReadRequest(0x32, HR, 0, 60))[0], ErrorResponse)
    assert isinstance(client.ask(ReadRequest(0x32, IR, 60, 60))[0], ReadResponse)


@pytest.mark.parametrize(
    ("device", "function", "base", "count"),
    [
        (0x11, HR, 0, 120),  # more than 60 registers
        (0x11, IR, 236, 60),  # Gen1 IR(236,60) (protocol.md §7)
        (0x11, IR, 60, 60),  # battery pages are not at the inverter address
        (0x11, HR, 240, 60),  # no extended slot bank on Gen1
    ],
)
def test_error_frames_echo_base_and_count(client, device, function, base, count):
    request = ReadRequest(device, function, base, min(count, 60))
    client.send(raw_request(request, count=count))
    frames = client.frames(until=lambda f: isinstance(f, ErrorResponse))
    assert frames == [ErrorResponse(device, function, frames[0].inverter_serial, base, count,
                                    frames[0].adapter_serial)]  # fmt: skip


def test_battery_page_without_a_battery_is_an_error(make_sim, connect):
    client = connect(make_sim(batteries=0))
    assert isinstance(client.ask(ReadRequest(0x32, IR, 60, 60))[0], ErrorResponse)


@pytest.mark.parametrize(
    "request_",
    [
        ReadRequest(0x11, HR, 300, 60),  # DC hybrids time out on the AC bank
        ReadRequest(0x11, HR, 540, 60),
        ReadRequest(0x01, IR, 60, 60),  # no meter
        ReadRequest(0x01, Function.READ_METER, 60, 60),
        ReadRequest(0x37, IR, 60, 60),  # no sixth battery
        WriteRequest(0x11, 318, 1),  # HR318 does not exist on a DC hybrid
    ],
)
def test_silence_for_absent_devices_and_silent_banks(sim, client, request_):
    client.send(request_)
    assert client.frames() == []
    assert [r.outcome for r in sim.requests] == ["silence"]


def test_ac_model_answers_the_ac_bank_and_has_no_pv(make_sim, connect):
    sim = make_sim(model="ac")
    client = connect(sim)
    page, _ = client.ask(ReadRequest(0x11, HR, 300, 60))
    assert page.values[18] == 0  # HR318 pause mode off
    assert page.values[13] == 100  # HR313 AC charge power
    assert page.values == truth_block(sim, HR, 300, 60)
    ir, _ = client.ask(ReadRequest(0x11, IR, 0, 60))
    assert ir.values[18] == ir.values[20] == 0
    assert sim.truth()["plant"]["pv_power_w"] > 0  # the separate PV inverter still generates


def test_both_request_crc_forms_are_answered_by_the_lenient_profile(sim, client):
    request = ReadRequest(0x11, HR, 0, 60)
    client.send(raw_request(request, legacy_crc=True))
    assert client.frames(until=lambda f: isinstance(f, ReadResponse))[-1].base == 0
    client.ask(request)
    assert [r.frame.crc_form.value for r in sim.requests] == ["legacy", "standard"]


def test_a_request_with_neither_crc_is_dropped(sim, client):
    client.send(raw_request(ReadRequest(0x11, HR, 0, 60), bad_crc=True))
    assert client.frames() == []
    assert [r.outcome for r in sim.requests] == ["dropped"]


def test_header_length_quirk_and_unit_id_0_are_accepted(sim, client):
    client.send(raw_request(ReadRequest(0x11, IR, 0, 60), header_length=0x1B))
    assert isinstance(client.frames(until=lambda f: isinstance(f, ReadResponse))[-1], ReadResponse)
    client.ask(ReadRequest(0x11, HR, 0, 60, unit_id=0))
    assert [r.outcome for r in sim.requests] == ["answered", "answered"]
    assert sim.requests[0].frame.header_length_ok is False


def test_strict_profile_drops_malformed_requests_silently(make_sim, connect):
    sim = make_sim(strict=True)
    client = connect(sim)
    request = ReadRequest(0x11, HR, 0, 60)
    client.send(raw_request(request, legacy_crc=True))
    client.send(raw_request(request, header_length=0x1B))
    assert not any(isinstance(f, ReadResponse) for f in client.frames())
    outcomes = {r.outcome for r in sim.requests}
    assert outcomes == {"dropped"}
    client.ask(ReadRequest(0x11, HR, 0, 60, unit_id=0))  # well-formed requests still work


def test_every_answer_goes_to_every_client(sim, connect):
    first, second = connect(sim), connect(sim)
    deadline = time.monotonic() + 2
    while sim.connections < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.connections == 2
    answer, _ = first.ask(ReadRequest(0x11, IR, 0, 60))
    copies = second.frames()
    assert copies == [answer]
    assert [r.client for r in sim.requests] == [1]


def test_heartbeats_are_sent_every_n_seconds_and_replies_tolerated(make_sim, connect):
    sim = make_sim(heartbeat=0.1)
    client = connect(sim)
    frames = client.frames(0.5)
    beats = [f for f in frames if isinstance(f, Heartbeat)]
    assert len(beats) >= 2
    assert beats[0].adapter_serial == sim.truth()["plant"]["dongle_serial"]
    client.send(beats[0].reply())
    client.ask(ReadRequest(0x11, HR, 0, 60))  # still serving after the reply
    assert "heartbeat_reply" in [r.outcome for r in sim.requests]


def test_send_heartbeat_now_reaches_every_client(sim, connect):
    clients = [connect(sim) for _ in range(2)]
    deadline = time.monotonic() + 2
    while sim.connections < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    sim.send_heartbeat_now()
    for client in clients:
        assert [f.kind for f in client.frames()] == ["heartbeat"]


def test_write_stores_and_echoes_the_value(sim, client):
    answer, _ = client.ask(WriteRequest(0x11, 116, 80))
    assert answer == WriteResponse(0x11, answer.inverter_serial, 116, 80, answer.adapter_serial)
    assert sim.truth()["holding"][116] == 80
    page, _ = client.ask(ReadRequest(0x11, HR, 116, 1))
    assert page.values == (80,)


@pytest.mark.parametrize(
    ("register", "value"),
    [(116, 2), (96, 2), (94, 1260), (0, 0x3001), (13, 0x4141), (36, 13), (37, 31)],
)  # target < 4, bool 2, minute 60, DTC, serial, month 13, 31 June
def test_refused_writes_get_an_error_frame_and_change_nothing(sim, client, register, value):
    before = sim.truth()["holding"]
    answer, _ = client.ask(WriteRequest(0x11, register, value))
    assert isinstance(answer, ErrorResponse)
    assert (answer.function, answer.base, answer.count) == (Function.WRITE_SINGLE, register, value)
    assert sim.truth()["holding"] == before


def test_write_at_a_battery_only_address_is_refused(make_sim, connect):
    client = connect(make_sim(batteries=2))
    assert isinstance(client.ask(WriteRequest(0x33, 96, 1))[0], ErrorResponse)


def test_writing_the_clock_registers_sets_the_plant_clock(sim, client):
    client.ask(WriteRequest(0x11, 38, 23))  # hour
    client.ask(WriteRequest(0x11, 35, 25))  # year 2025
    assert sim.now().replace(microsecond=0) == NOON.replace(year=2025, hour=23)
    page, _ = client.ask(ReadRequest(0x11, HR, 35, 6))
    assert page.values == (25, 6, 21, 23, 0, 0)


def test_stop_closes_client_connections_in_bounded_time(make_sim, connect):
    sim = make_sim()
    client = connect(sim)
    client.ask(ReadRequest(0x11, HR, 0, 60))
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 3
    client.frames(1.0)
    assert client.closed_by_peer
