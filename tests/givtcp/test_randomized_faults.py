"""The promise of issue 6: over many runs with every fault mode mixed, not one wrong value is
published. Each published value is compared with the same value computed from the
simulator's true registers (its clock is frozen, so the truth does not move between runs)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from givenergy_modbus_codec.errors import TransportError
from givenergy_modbus_codec.model import decode_battery, decode_inverter
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givtcp import reading, report
from givtcp.config import Settings

NOON = dt.datetime(2026, 6, 21, 12, 30, 0)
RUNS = 60

FAULT_MENU: list[dict[str, Any]] = [
    {"crc_error_rate": 0.3},
    {"garbage_values_rate": 0.3},
    {"garbage_values_rate": 1.0},
    {"zero_battery_page_rate": 0.5},
    {"phantom_rate": 0.5},
    {"null_frame_rate": 0.5, "lan_broadcast_rate": 0.5},
    {"garbage_bytes": 17},
    {"chunk_size": 9, "chunk_delay": 0.0},
    {"close_after_frames": 3},
    {"close_after_frames": 4, "close_mid_frame": True},
    {"latency": 0.05, "jitter": 0.05},
]


def expected_groups(sim: Simulator) -> dict[str, Any]:
    truth = sim.truth()
    inverter = decode_inverter(truth["holding"], truth["input"])
    batteries = [decode_battery(page) for page in truth["batteries"].values()]
    entries = (
        report.stats_entries(report.battery_energy_registers(inverter), inverter.family == "AC")
        + report.timeslot_entries(inverter.capabilities())
        + report.control_entries()
        + report.model_control_entries(inverter.capabilities())
    )
    groups, rejected = report.build_groups(entries, inverter.values, inverter.invalid)
    assert rejected == {}, "the simulator's true registers should all be plausible"
    groups.setdefault(report.GROUP_DETAILS, {}).update(report.inverter_details(inverter, True))
    groups[report.GROUP_BATTERIES] = report.battery_details(batteries)[0]
    return groups


def wrong_values(published: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    wrong = []
    for group, values in published.items():
        if group == report.GROUP_QUALITY:
            continue
        if group == report.GROUP_BATTERIES:
            for serial, battery in values.items():
                for key, value in battery.items():
                    want = expected[group].get(serial, {}).get(key)
                    if value != want:
                        wrong.append(f"{group}/{serial}/{key}: {value!r} != {want!r}")
            continue
        for key, value in values.items():
            if value != expected[group].get(key):
                wrong.append(f"{group}/{key}: {value!r} != {expected[group].get(key)!r}")
    return wrong


@pytest.mark.slow
def test_no_wrong_value_published_over_randomized_fault_runs(tmp_path):
    rng = random.Random(20261124)
    config = SimulatorConfig(seed=42, speed=0.0, start_time=NOON, batteries=2)
    settings = Settings(
        invertor_ip="127.0.0.1",
        num_batteries=2,
        state_location=str(tmp_path),
        request_spacing=0.0,
        hold_seconds=3600,
    )
    with Simulator(config) as sim:
        settings = settings._replace(invertor_port=sim.port)
        expected = expected_groups(sim)
        # A cron job's steady state: the first run finds a clean link and records history.
        first = reading.read_inverter("runAll", settings)
        assert wrong_values(first.groups, expected) == []
        published = failed = held = rejected = 0
        for _ in range(RUNS):
            sim.faults.update({name: type(value)() for name, value in sim.faults.as_dict().items()})
            for fault in rng.sample(FAULT_MENU, rng.randint(1, 3)):
                sim.faults.update(fault)
            try:
                result = reading.read_inverter("runAll", settings)
            except TransportError:
                failed += 1
                continue
            assert wrong_values(result.groups, expected) == []
            quality_notes = result.groups.get(report.GROUP_QUALITY, {})
            held += len(quality_notes.get("held", {}))
            rejected += len(quality_notes.get("rejected", {}))
            published += 1
    # The run must have exercised the checks, and still delivered most of the time.
    assert published >= RUNS * 2 // 3, (published, failed)
    assert held > 0 and rejected > 0
