"""A battery page rejected as a whole (all zeros, garbled) after a good read is held like any
other value within Data_Hold_Seconds, instead of dropping that battery's details."""

from __future__ import annotations

import datetime as dt

import pytest

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)


def ascii_serial(page: dict[int, int]) -> str:
    return b"".join(page[r].to_bytes(2, "big") for r in range(110, 115)).decode()


@pytest.mark.parametrize("fault", ["zero_battery_page_rate", "garbage_values_rate"])
def test_a_rejected_battery_page_is_held_after_a_good_read(tmp_path, fault):
    with Simulator(SimulatorConfig(seed=12, speed=0.0, start_time=NOON, batteries=2)) as sim:
        env = sim_env(sim.port, tmp_path, NUM_BATTERIES="2")
        good = run_script("read.py", "runAll", env=env)
        setattr(sim.faults, fault, 1.0)
        held = run_script("read.py", "runAll", env=env)
        unheld = run_script("read.py", "runAll", env={**env, "DATA_HOLD_SECONDS": "0"})
        pages = sim.truth()["batteries"]
    assert good.code == held.code == unheld.code == 0, (held.stderr, unheld.stderr)
    serials = [ascii_serial(pages[address]) for address in sorted(pages)]
    before, out = good.json()["Battery Details"], held.json()
    assert list(out["Battery Details"]) == serials
    for serial in serials:
        assert out["Battery Details"][serial] == before[serial]  # the last good page, as it was
        note = out["Data Quality"]["held"][f"battery {serial}"]
        assert "rejected" in note and "s ago held" in note
    assert not any(k.startswith("Battery Details") for k in out["Data Quality"].get("rejected", {}))
    # with holding off, the rejected pages are left out and said so, as before
    off = unheld.json()
    assert "Battery Details" not in off
    assert {"Battery Details/0x32", "Battery Details/0x33"} <= set(off["Data Quality"]["rejected"])
