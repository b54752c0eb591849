"""A dongle that stops answering mid-read (issue 10, item 10): once a required bank has
failed, read.py stops (no more banks, no battery pages, no re-reads) and exits 1 within 10 s,
well inside the 30 s other processes wait for the dongle lock. The default transport settings
are used (2 s timeout, two retries), as a user's cron job has them."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from givenergy_modbus_codec.frames import ReadRequest
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)
TARGET_SECONDS = 10.0


@pytest.fixture
def sim():
    simulator = Simulator(SimulatorConfig(seed=3, speed=0.0, start_time=NOON, batteries=6))
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


def asked(sim: Simulator) -> list[str]:
    out = []
    for r in sim.requests:
        if isinstance(r.frame, ReadRequest):
            bank = "HR" if r.frame.function == 3 else "IR"
            out.append(f"{bank}{r.frame.base}@{r.frame.device:#04x}")
    return out


def test_silent_after_the_first_bank_exits_1_fast_without_asking_more(sim, tmp_path):
    sim.faults.update({"silent_after_answers": 1})
    started = time.monotonic()
    run = run_script("read.py", "runAll", env=sim_env(sim.port, tmp_path, NUM_BATTERIES="6"))
    elapsed = time.monotonic() - started
    assert run.code == 1, run.stderr
    assert run.stdout == ""
    assert "did not answer" in run.error()["error"]
    requests = asked(sim)
    assert requests == ["HR0@0x11"] + ["HR60@0x11"] * 3  # its three attempts, nothing else
    assert elapsed < TARGET_SECONDS


def test_silent_during_a_plausibility_re_read_stops_there(sim, tmp_path):
    """Garbage in IR(0,60) makes GivTCP read it again; the dongle is silent by then."""
    sim.faults.update({"garbage_values_rate": 1.0, "silent_after_answers": 4 + 1})
    started = time.monotonic()
    run = run_script("read.py", "runAll", env=sim_env(sim.port, tmp_path, NUM_BATTERIES="1"))
    elapsed = time.monotonic() - started
    assert run.code == 1, run.stderr
    requests = asked(sim)
    assert requests[5:] == ["IR0@0x11"] * 3
    assert elapsed < TARGET_SECONDS
