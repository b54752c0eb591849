"""The client transport against the project's simulator over real TCP on 127.0.0.1.

For every fault the simulator can inject, the client must return the true values (checked
against the simulator's ground truth) or raise a clear error: never a wrong value, never hang.
"""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from givenergy_modbus_codec.errors import (
    InverterRefused,
    InverterTimeout,
    LockTimeout,
    RequestTooLarge,
    TransportError,
)
from givenergy_modbus_codec.frames import Function, ReadRequest
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givenergy_modbus_codec.simulator.server import describe
from givenergy_modbus_codec.transport import DongleClient, TransportConfig

START = dt.datetime(2026, 6, 21, 12, 0, 0)


@pytest.fixture
def sim():
    simulator = Simulator(SimulatorConfig(seed=7, speed=0.0, start_time=START))
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


def config(sim: Simulator, tmp_path: Path, **overrides) -> TransportConfig:
    settings = {
        "host": "127.0.0.1",
        "port": sim.port,
        "request_timeout": 1.0,
        "retries": 2,
        "retry_backoff": 0.05,
        "min_spacing": 0.0,
        "lock_path": tmp_path / "dongle.lock",
    }
    settings.update(overrides)
    return TransportConfig(**settings)


def assert_true_values(sim: Simulator, page, bank: str = "holding") -> None:
    truth = sim.truth()[bank]
    assert page.values == tuple(truth[page.base + i] for i in range(page.count))


def test_reads_match_ground_truth_on_one_connection(sim, tmp_path):
    with DongleClient(config(sim, tmp_path)) as dongle:
        hr0 = dongle.read_holding(0)
        hr60 = dongle.read_holding(60)
        ir0 = dongle.read_input(0)
        battery = dongle.read(0x32, Function.READ_INPUT, 60)
    assert_true_values(sim, hr0)
    assert_true_values(sim, hr60)
    assert_true_values(sim, ir0, "input")
    assert battery.values == tuple(sim.truth()["batteries"][0x32][60 + i] for i in range(60))
    assert dongle.stats.connections == 1
    assert dongle.stats.requests == 4
    holding = sim.truth()["holding"]
    serial = b"".join(holding[r].to_bytes(2, "big") for r in range(13, 18)).decode()
    assert hr0.inverter_serial == serial


def test_request_over_60_registers_is_refused_before_sending(sim, tmp_path):
    with DongleClient(config(sim, tmp_path)) as dongle, pytest.raises(RequestTooLarge):
        dongle.read_holding(0, 61)
    assert sim.requests == []


def test_unimplemented_bank_is_an_error_not_data(sim, tmp_path):
    with DongleClient(config(sim, tmp_path)) as dongle, pytest.raises(InverterRefused):
        dongle.read_input(236)


def test_absent_battery_times_out_quickly(sim, tmp_path):
    with DongleClient(config(sim, tmp_path)) as dongle:
        started = time.monotonic()
        with pytest.raises(InverterTimeout):
            dongle.read(0x37, Function.READ_INPUT, 60, timeout=0.3, retries=0)
        assert time.monotonic() - started < 1.0


def test_silent_dongle_fails_in_bounded_time_with_clear_message(sim, tmp_path):
    sim.faults.silent = True
    started = time.monotonic()
    with DongleClient(config(sim, tmp_path)) as dongle, pytest.raises(InverterTimeout) as info:
        dongle.read_holding(0)
    assert time.monotonic() - started < 5.0
    assert "did not answer HR(0,60)" in str(info.value)


def test_nothing_listening_fails_fast(tmp_path):
    closed = TransportConfig("127.0.0.1", port=1, lock_path=tmp_path / "l", connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(TransportError, match="cannot connect"):
        DongleClient(closed).__enter__()
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize(
    "fault",
    [
        {"latency": 0.2, "jitter": 0.1},
        {"chunk_size": 7, "chunk_delay": 0.001},
        {"garbage_bytes": 23},
        {"phantom_rate": 1.0},
        {"null_frame_rate": 1.0},
        {"lan_broadcast_rate": 1.0},
        {"crc_error_rate": 0.5},
        {"close_after_frames": 2},
        {"close_after_frames": 2, "close_mid_frame": True},
    ],
    ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()),
)
def test_faults_give_true_values_or_a_clear_error(sim, tmp_path, fault):
    sim.faults.update(fault)
    got = []
    with DongleClient(config(sim, tmp_path, retries=4)) as dongle:
        for base in (0, 60, 0, 60, 0, 60):
            try:
                got.append(dongle.read_holding(base))
            except InverterTimeout:
                continue
    assert got, "every read failed"
    for page in got:
        assert_true_values(sim, page)


def test_reconnects_after_the_dongle_drops_the_connection(sim, tmp_path):
    sim.faults.close_after_frames = 1
    with DongleClient(config(sim, tmp_path)) as dongle:
        pages = [dongle.read_holding(0), dongle.read_holding(60), dongle.read_input(0)]
    assert dongle.stats.connections >= 2
    assert_true_values(sim, pages[0])
    assert_true_values(sim, pages[2], "input")


def test_heartbeat_mid_read_is_answered(sim, tmp_path):
    sim.faults.latency = 0.4
    timer = threading.Timer(0.1, sim.send_heartbeat_now)
    with DongleClient(config(sim, tmp_path)) as dongle:
        timer.start()
        page = dongle.read_holding(0)
        timer.join()
    assert_true_values(sim, page)
    assert dongle.stats.heartbeats_answered == 1


def test_write_is_echoed_and_read_back(sim, tmp_path):
    before = sim.truth()["holding"][96]
    with DongleClient(config(sim, tmp_path)) as dongle:
        outcome = dongle.write(96, 1 - before)
    assert outcome.ok
    assert outcome.echoed == outcome.readback == 1 - before
    assert sim.truth()["holding"][96] == 1 - before


@pytest.mark.parametrize("clients", [2, 10])
def test_many_clients_polling_at_once_each_get_their_own_answers(sim, tmp_path, clients):
    """Each client is a separate app (own lock file): the dongle fans every response out to
    all of them, so each must pick its own answer from the others' traffic."""
    errors: list[BaseException] = []
    pages: list = []

    def poll(index: int) -> None:
        cfg = config(sim, tmp_path, lock_path=tmp_path / f"client{index}.lock", retries=3)
        try:
            with DongleClient(cfg) as dongle:
                for base in (0, 60):
                    pages.append(dongle.read_holding(base))
                pages.append(dongle.read_input(0))
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(pages) == 3 * clients
    for page in pages:
        bank = "holding" if page.function == Function.READ_HOLDING else "input"
        assert_true_values(sim, page, bank)


def test_cross_process_lock_makes_clients_take_turns(sim, tmp_path):
    lock = tmp_path / "shared.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            f"f = open({str(lock)!r}, 'w'); fcntl.flock(f, fcntl.LOCK_EX)\n"
            "print('locked', flush=True); time.sleep(1.5)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockTimeout, match="held the dongle lock"):
            DongleClient(config(sim, tmp_path, lock_path=lock, lock_timeout=0.3)).__enter__()
        started = time.monotonic()
        with DongleClient(config(sim, tmp_path, lock_path=lock, lock_timeout=5)) as dongle:
            waited = time.monotonic() - started
            assert_true_values(sim, dongle.read_holding(0))
        assert waited > 0.5
    finally:
        holder.wait(5)


def test_min_spacing_is_kept_between_requests(sim, tmp_path):
    with DongleClient(config(sim, tmp_path, min_spacing=0.2)) as dongle:
        for _ in range(3):
            dongle.read_holding(0)
    times = [entry.time for entry in sim.requests]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 0.18 for gap in gaps), gaps


def test_a_request_sent_ahead_is_answered_once_without_sending_it_again(sim, tmp_path):
    sim.faults.latency = 0.3
    with DongleClient(config(sim, tmp_path)) as dongle:
        dongle.send_ahead(ReadRequest(0x11, Function.READ_HOLDING, 0, 60))
        time.sleep(0.2)  # the caller's own work, overlapping the dongle's latency
        started = time.monotonic()
        page = dongle.read_holding(0)
        waited = time.monotonic() - started
    assert_true_values(sim, page)
    assert [describe(entry.frame) for entry in sim.requests] == ["HR(0,60)@0x11"]
    assert dongle.stats.requests == 1
    assert waited < 0.25, "the wait should have started when the request was sent"


def test_a_different_request_first_means_the_one_sent_ahead_is_sent_again(sim, tmp_path):
    with DongleClient(config(sim, tmp_path)) as dongle:
        dongle.send_ahead(ReadRequest(0x11, Function.READ_HOLDING, 0, 60))
        ir0 = dongle.read_input(0)
        hr0 = dongle.read_holding(0)
    assert_true_values(sim, ir0, "input")
    assert_true_values(sim, hr0)
    assert [describe(entry.frame) for entry in sim.requests] == [
        "HR(0,60)@0x11",
        "IR(0,60)@0x11",
        "HR(0,60)@0x11",
    ]


def test_a_request_sent_ahead_and_lost_is_retried(sim, tmp_path):
    """The answer to the request sent ahead never comes: the normal retry sends it again."""
    sim.faults.silent = True
    with DongleClient(config(sim, tmp_path, request_timeout=0.3)) as dongle:
        dongle.send_ahead(ReadRequest(0x11, Function.READ_HOLDING, 0, 60))
        threading.Timer(0.2, lambda: setattr(sim.faults, "silent", False)).start()
        page = dongle.read_holding(0)
    assert_true_values(sim, page)
    assert dongle.stats.retries >= 1
    assert len(sim.requests) == 1 + dongle.stats.retries
