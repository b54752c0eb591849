"""Fixtures for simulator tests: simulators with a frozen clock and raw-socket clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig

from .wire import NOON, RawClient


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Simulator]]:
    """Start simulators (frozen clock at NOON unless overridden); all stopped at teardown."""
    started: list[Simulator] = []

    def make(**overrides: object) -> Simulator:
        settings: dict[str, object] = {"seed": 1, "speed": 0.0, "start_time": NOON}
        settings.update(overrides)
        sim = Simulator(SimulatorConfig(**settings))  # type: ignore[arg-type]
        sim.start(host="127.0.0.1", port=0)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Callable[..., Simulator]) -> Simulator:
    return make_sim()


@pytest.fixture
def connect() -> Iterator[Callable[[Simulator], RawClient]]:
    """Open raw clients to a simulator; all closed at teardown."""
    clients: list[RawClient] = []

    def open_client(simulator: Simulator) -> RawClient:
        assert simulator.port is not None
        client = RawClient(simulator.port)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


@pytest.fixture
def client(sim: Simulator, connect: Callable[[Simulator], RawClient]) -> RawClient:
    return connect(sim)
