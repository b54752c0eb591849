"""A first run (empty state folder) against a dongle that answers Pattern-A garbage on every
read: the garbage repeats, so a confirming read agrees with it. Counters from such a read are
never trusted; the baseline comes from the first clean read."""

from __future__ import annotations

import datetime as dt

from givenergy_modbus_codec.model import decode_inverter
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)
# Energy/Total keys and the registers they are read from (registers.md §6-7)
TOTALS = {
    "Export Energy Total kWh": ((21, 22),),
    "Battery Throughput Total kWh": ((6, 7),),
    "AC Charge Energy Total kWh": ((27, 28),),
    "Import Energy Total kWh": ((32, 33),),
    "Invertor Energy Total kWh": ((45, 46),),
    "PV Energy Total kWh": ((11, 12),),
    "Battery Discharge Energy Total kWh": ((180,),),
    "Battery Charge Energy Total kWh": ((181,),),
}


def kwh(ir: dict[int, int], addresses: tuple[int, ...]) -> float:
    raw = 0
    for address in addresses:
        raw = (raw << 16) | ir[address]
    return round(raw / 10, 1)


def test_a_first_run_under_repeated_garbage_publishes_no_counter_from_it(tmp_path):
    with Simulator(SimulatorConfig(seed=8, speed=0.0, start_time=NOON, batteries=1)) as sim:
        env = sim_env(sim.port, tmp_path, NUM_BATTERIES="1")
        sim.faults.garbage_values_rate = 1.0
        garbled = run_script("read.py", "runAll", env=env)
        sim.faults.garbage_values_rate = 0.0
        clean = run_script("read.py", "runAll", env=env)
        ir = sim.truth()["input"]
    assert garbled.code == 0, garbled.stderr
    out = garbled.json()
    # every IR(0,60) answer had 65535 W and SOC 255 in it: no energy counter from this run
    assert "Energy/Total" not in out
    assert "Energy/Today" not in out
    rejected = out["Data Quality"]["rejected"]
    for key in ("PV Energy Total kWh", "Import Energy Total kWh", "Load Energy Total kWh"):
        assert "trusted only from clean blocks" in rejected[f"Energy/Total/{key}"]
    # IR(180,60) came back with a jumped total and nothing else wrong: not trusted either
    assert (
        "trusted only from clean blocks"
        in rejected["Energy/Total/Battery Discharge Energy Total kWh"]
    )
    # nothing wrong became the baseline: the next, clean run publishes the true totals
    assert clean.code == 0, clean.stderr
    totals = clean.json()["Energy/Total"]
    for key, (addresses,) in TOTALS.items():
        assert totals[key] == kwh(ir, addresses), key
    assert "Data Quality" not in clean.json(), clean.json().get("Data Quality")


def test_a_first_run_from_clean_blocks_publishes_the_counters(tmp_path):
    with Simulator(SimulatorConfig(seed=8, speed=0.0, start_time=NOON, batteries=1)) as sim:
        run = run_script("read.py", "getCombinedStats", env=sim_env(sim.port, tmp_path))
        truth = decode_inverter(sim.truth()["holding"], sim.truth()["input"]).values
    assert run.code == 0, run.stderr
    assert run.json()["Energy/Total"]["PV Energy Total kWh"] == truth["e_pv_total"]
