"""Output sink tests: shared helpers to read a real publication from the simulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givtcp import publishing, reading
from givtcp.config import Settings
from outputs import Publication

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)


@contextmanager
def simulator(seed: int, batteries: int = 2) -> Iterator[Simulator]:
    """A frozen-clock simulator; each seed gives its own inverter and battery serials, so tests
    sharing a broker never see each other's discovery topics."""
    sim = Simulator(SimulatorConfig(seed=seed, speed=0.0, start_time=NOON, batteries=batteries))
    sim.start(host="127.0.0.1", port=0)
    try:
        yield sim
    finally:
        sim.stop()


def sim_settings(sim: Simulator, state: Path, **overrides: Any) -> Settings:
    """Settings for this simulator; NUM_BATTERIES is fixed, since probing absent battery
    addresses waits for their timeouts."""
    base: dict[str, Any] = {"num_batteries": len(sim.truth()["batteries"])}
    return Settings(
        invertor_ip="127.0.0.1",
        invertor_port=sim.port,
        state_location=str(state),
        **(base | overrides),
    )


def read_publication(sim: Simulator, state: Path, **overrides: Any) -> Publication:
    """What read.py runAll hands to the sinks, read in-process from the simulator.

    Without the pause between requests that real dongles need (the simulator does not), which
    would make each read take seconds.
    """
    settings = sim_settings(sim, state, **({"request_spacing": 0.0} | overrides))
    return publishing.publication(reading.read_inverter("runAll", settings))
