"""Every control function, run through write.py with its documented example, against the
simulator: exit 0, every register read back as asked, and the simulator holds the values."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from givenergy_modbus_codec.commands import CONTROL_FUNCTIONS
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)


# The seed's functions run on a Gen1; the All-in-One has every control (10 slots with
# targets, the AC bank), so each function is also run there.
SEED_FUNCTIONS = list(CONTROL_FUNCTIONS)[:20]
CASES = [("hybrid", f) for f in SEED_FUNCTIONS] + [("aio", f) for f in CONTROL_FUNCTIONS]


@pytest.fixture(scope="module")
def sims():
    started: dict[str, Simulator] = {}
    for model in ("hybrid", "aio"):
        simulator = Simulator(SimulatorConfig(seed=13, model=model, speed=0.0, start_time=NOON))
        simulator.start(host="127.0.0.1", port=0)
        started[model] = simulator
    yield started
    for simulator in started.values():
        simulator.stop()


@pytest.mark.parametrize(("model", "function"), CASES)
def test_every_control_function_writes_and_reads_back(sims, tmp_path, model, function):
    sim = sims[model]
    spec = CONTROL_FUNCTIONS[function]
    args = [function, json.dumps(dict(spec.example))] if spec.example else [function]
    run = run_script("write.py", *args, env=sim_env(sim.port, tmp_path, REQUEST_SPACING="0"))
    assert run.code == 0, run.stderr
    out = run.json()
    assert out["result"] == f"{function}: success"
    assert out["writes"], "every control function writes something"
    holding = sim.truth()["holding"]
    for row in out["writes"]:
        assert row["ok"] is True, row
        assert row["readback"] == row["value"] == holding[row["register"]], row
