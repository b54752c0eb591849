"""Battery presence (givtcp/batteries.py with reader.read_banks' probing), issue 10 items 5, 11.

A first run (empty state folder, NUM_BATTERIES unset) probes 0x32 upwards and stops at the
first silent address; a probe broken by a transport fault is retried and never remembered as
"no battery". Real TCP to the simulator; what is present is the simulator's configuration.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from givenergy_modbus_codec import reader
from givenergy_modbus_codec.frames import Function, ReadRequest
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givenergy_modbus_codec.transport import DongleClient, TransportConfig
from givtcp.batteries import battery_plan, remember_batteries
from givtcp.config import Settings
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)
ALL_ADDRESSES = tuple(range(0x32, 0x38))  # protocol.md §6: LV battery k at 0x31 + k, k = 1..6


@pytest.fixture
def make_sim():
    started: list[Simulator] = []

    def make(batteries: int) -> Simulator:
        sim = Simulator(SimulatorConfig(seed=5, speed=0.0, start_time=NOON, batteries=batteries))
        sim.start(host="127.0.0.1", port=0)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def battery_requests(sim: Simulator, since: int = 0) -> list[int]:
    """Device addresses of the battery-page reads the simulator received, in order."""
    return [
        r.frame.device
        for r in sim.requests[since:]
        if isinstance(r.frame, ReadRequest) and r.frame.device >= 0x32
    ]


def remembered(state: Path) -> list[int]:
    (path,) = state.glob("batteries-*.json")
    return json.loads(path.read_text())["addresses"]


def settings_for(sim: Simulator, state: Path) -> Settings:
    return Settings(invertor_ip="127.0.0.1", invertor_port=sim.port, state_location=str(state))


def transport(sim: Simulator, state: Path) -> TransportConfig:
    return TransportConfig(
        "127.0.0.1", sim.port, request_timeout=0.5, retry_backoff=0.05, lock_path=state / "l"
    )


@pytest.mark.parametrize("present", [0, 1, 2])
def test_first_run_probes_up_to_the_first_silent_address(make_sim, tmp_path, present):
    sim = make_sim(present)
    run = run_script("read.py", "runAll", env=sim_env(sim.port, tmp_path))
    assert run.code == 0, run.stderr
    # Probed: every present battery, then the first empty address, once (the simulator, like
    # a real Gen1, answers 0x32 with an error frame when it has no battery; 0x33.. are silent).
    # The first run's confirming re-read asks the present ones again after that.
    probed = battery_requests(sim)
    assert probed[: present + 1] == list(ALL_ADDRESSES[: present + 1])
    assert probed[present + 1 :] == list(ALL_ADDRESSES[:present])
    empty = [r for r in sim.requests if r.frame.device == ALL_ADDRESSES[present]]
    assert [r.outcome for r in empty] == ["error" if present == 0 else "silence"]
    assert remembered(tmp_path) == list(ALL_ADDRESSES[:present])
    assert len(run.json().get("Battery Details", {})) == present
    before = len(sim.requests)
    steady = run_script("read.py", "runAll", env=sim_env(sim.port, tmp_path))
    assert steady.code == 0, steady.stderr
    assert battery_requests(sim, before) == list(ALL_ADDRESSES[:present])  # no probing


def test_battery_answer_cut_mid_frame_is_asked_again_and_remembered(make_sim, tmp_path):
    """Issue 10 item 5: the dongle cuts the first probe answer in half and drops the line
    (the fourth frame of the connection, after the three inverter banks). The probe reconnects
    and asks again; the battery is found and remembered, not cached as absent for a day."""
    sim = make_sim(1)
    sim.faults.update({"close_after_frames": 4, "close_mid_frame": True})
    run = run_script("read.py", "getCombinedStats", env=sim_env(sim.port, tmp_path))
    assert run.code == 0, run.stderr
    assert battery_requests(sim)[:2] == [0x32, 0x32]
    assert remembered(tmp_path) == [0x32]
    serial = b"".join(sim.truth()["batteries"][0x32][r].to_bytes(2, "big") for r in range(110, 115))
    assert serial.decode() in run.json()["Battery Details"]


@pytest.mark.parametrize(
    "fault",
    [{"crc_error_rate": 1.0}, {"close_after_frames": 1, "close_mid_frame": True}],
    ids=["crc", "close_mid_frame"],
)
def test_probe_broken_every_time_is_uncertain_and_not_remembered(make_sim, tmp_path, fault):
    sim = make_sim(1)
    settings = settings_for(sim, tmp_path)
    assert battery_plan(settings) == ((), ALL_ADDRESSES)  # nothing remembered yet: probe all
    sim.faults.update(fault)
    with DongleClient(transport(sim, tmp_path)) as dongle:
        snapshot = reader.read_banks(dongle, (), probes=ALL_ADDRESSES)
    assert list(snapshot.uncertain) == [0x32]
    assert snapshot.batteries == {}
    assert battery_requests(sim).count(0x32) > 1  # retried
    assert battery_requests(sim)[-1] == 0x33  # probing went on, and stopped at the silence
    remember_batteries(settings, [], snapshot.uncertain)
    assert list(tmp_path.glob("batteries-*.json")) == []  # "no battery" was not cached
    assert battery_plan(settings) == ((), ALL_ADDRESSES)  # so the next run probes again


def test_silent_known_battery_makes_the_rest_short_probes(make_sim, tmp_path):
    """NUM_BATTERIES=6 on a system with 2: the first absent one costs its full retries, the
    three after it one short timeout each."""
    sim = make_sim(2)
    with DongleClient(transport(sim, tmp_path)) as dongle:
        snapshot = reader.read_banks(dongle, (), batteries=ALL_ADDRESSES)
    assert sorted(snapshot.batteries) == [0x32, 0x33]
    assert battery_requests(sim) == [0x32, 0x33, 0x34, 0x34, 0x34, 0x35, 0x36, 0x37]
    assert snapshot.uncertain == {}


def test_cached_battery_list_is_used_until_it_expires(make_sim, tmp_path):
    sim = make_sim(1)
    settings = settings_for(sim, tmp_path)
    remember_batteries(settings, [0x32])
    assert battery_plan(settings) == ((0x32,), ())
    with DongleClient(transport(sim, tmp_path)) as dongle:
        dongle.read(0x32, Function.READ_INPUT, 60)  # the remembered battery is really there
