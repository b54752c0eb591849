"""Faults must cost little (issue 10): a garbled answer is asked again at once, and a failure
says whether it was plain silence (the device is absent) or a transport fault (it may be there).

Real TCP to the project's simulator on 127.0.0.1; the timeouts are long on purpose, so waiting
for one instead of re-asking shows up as seconds.
"""

from __future__ import annotations

import time

import pytest

from givenergy_modbus_codec.errors import AnswerLost, InverterTimeout
from givenergy_modbus_codec.frames import Function
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givenergy_modbus_codec.transport import DongleClient
from tests.codec.test_transport import START, assert_true_values, config

LATENCY = 0.1
TIMEOUT = 2.0  # the default request timeout


@pytest.fixture
def sim():
    simulator = Simulator(SimulatorConfig(seed=7, speed=0.0, start_time=START, batteries=1))
    simulator.start(host="127.0.0.1", port=0)
    simulator.faults.latency = LATENCY
    yield simulator
    simulator.stop()


def test_bad_crc_answers_are_asked_again_at_once(sim, tmp_path):
    sim.faults.crc_error_rate = 0.5
    cfg = config(sim, tmp_path, request_timeout=TIMEOUT, retries=6, retry_backoff=0.5)
    with DongleClient(cfg) as dongle:
        for _ in range(6):
            started = time.monotonic()
            page = dongle.read_holding(0)
            assert time.monotonic() - started < TIMEOUT / 2  # no timeout waited out
            assert_true_values(sim, page)
    hit = [r for r in sim.requests if "crc" in r.faults]
    assert hit, "seed 7 gives some CRC errors at 50 %"
    assert dongle.stats.retries == len(hit)


def test_answers_that_stay_garbled_fail_fast_as_answer_lost(sim, tmp_path):
    """One retry allowed: a garbled answer may be asked again twice more on top of it, each
    costing one latency, so four answers at 0.1 s instead of two 2 s timeouts."""
    sim.faults.crc_error_rate = 1.0
    cfg = config(sim, tmp_path, request_timeout=TIMEOUT, retries=1, retry_backoff=0.5)
    started = time.monotonic()
    with DongleClient(cfg) as dongle, pytest.raises(AnswerLost) as info:
        dongle.read_holding(0)
    assert time.monotonic() - started < 1.0
    assert len(sim.requests) == 4
    assert "garbled" in str(info.value)


def test_no_retries_means_one_request_even_when_garbled(sim, tmp_path):
    """Writes are sent with no retries: a garbled echo must not send the write again."""
    sim.faults.crc_error_rate = 1.0
    cfg = config(sim, tmp_path, request_timeout=TIMEOUT, retries=0)
    with DongleClient(cfg) as dongle, pytest.raises(AnswerLost):
        dongle.read_holding(0)
    assert len(sim.requests) == 1


def test_plain_silence_is_a_timeout_not_answer_lost(sim, tmp_path):
    cfg = config(sim, tmp_path, request_timeout=0.3, retries=2)
    with DongleClient(cfg) as dongle, pytest.raises(InverterTimeout) as info:
        dongle.read(0x37, Function.READ_INPUT, 60)  # no battery at 0x37: no reply at all
    assert not isinstance(info.value, AnswerLost)


def test_without_retry_on_silence_an_absent_device_costs_one_timeout(sim, tmp_path):
    cfg = config(sim, tmp_path, request_timeout=TIMEOUT, retries=2, retry_backoff=0.5)
    with DongleClient(cfg) as dongle:
        started = time.monotonic()
        with pytest.raises(InverterTimeout) as info:
            dongle.read(0x33, Function.READ_INPUT, 60, timeout=0.3, retries=2, retry_silence=False)
        assert time.monotonic() - started < 0.6
    assert not isinstance(info.value, AnswerLost)
    assert len(sim.requests) == 1


@pytest.mark.parametrize(
    ("fault", "requests"),
    [
        ({"crc_error_rate": 1.0}, 1 + 2 + 2 * 2),  # retries plus twice as many re-asks
        ({"close_after_frames": 1, "close_mid_frame": True}, 1 + 2),
    ],
    ids=["crc", "close_mid_frame"],
)
def test_a_faulty_answer_is_retried_even_without_retry_on_silence(sim, tmp_path, fault, requests):
    sim.faults.update(fault)
    cfg = config(sim, tmp_path, request_timeout=0.5, retries=2, retry_backoff=0.05)
    with DongleClient(cfg) as dongle, pytest.raises(AnswerLost):
        dongle.read(0x32, Function.READ_INPUT, 60, timeout=0.5, retries=2, retry_silence=False)
    assert len(sim.requests) == requests  # the battery is there, its answers broke


def test_an_answer_cut_mid_frame_is_asked_again_on_a_new_connection(sim, tmp_path):
    sim.faults.update({"close_after_frames": 2, "close_mid_frame": True})  # 2nd frame cut
    cfg = config(sim, tmp_path, request_timeout=TIMEOUT, retries=2, retry_backoff=0.05)
    with DongleClient(cfg) as dongle:
        assert_true_values(sim, dongle.read_holding(0))
        started = time.monotonic()
        page = dongle.read(0x32, Function.READ_INPUT, 60, timeout=0.5, retry_silence=False)
        assert time.monotonic() - started < 0.5 + 2 * LATENCY + 0.3
    assert page.values == tuple(sim.truth()["batteries"][0x32][60 + i] for i in range(60))
    assert dongle.stats.connections == 2
