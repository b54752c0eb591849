"""Crossing midnight: daily counters fall back to zero and that is accepted, not rejected as
a counter that went backwards; lifetime totals keep growing."""

from __future__ import annotations

import datetime as dt

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givtcp import reading
from givtcp.config import Settings

BEFORE_MIDNIGHT = dt.datetime(2026, 6, 21, 23, 50, 0)


def day_value(ir: dict[int, int], register: int) -> float:
    return round(ir[register] / 10, 1)


def test_daily_counters_reset_at_midnight_and_are_published(tmp_path):
    config = SimulatorConfig(seed=9, speed=0.0, start_time=BEFORE_MIDNIGHT, batteries=1)
    with Simulator(config) as sim:
        settings = Settings(
            invertor_ip="127.0.0.1",
            invertor_port=sim.port,
            num_batteries=1,
            state_location=str(tmp_path),
            request_spacing=0.0,
            hold_seconds=0,
        )
        evening = reading.read_inverter("getCombinedStats", settings).groups
        before = sim.truth()["input"]
        assert evening["Energy/Today"]["Import Energy Today kWh"] == day_value(before, 26)
        assert evening["Energy/Today"]["Import Energy Today kWh"] > 0

        sim.advance(20 * 60)  # 00:10 the next day
        after = sim.truth()["input"]
        assert after[26] < before[26], "the simulator resets its daily counters"
        morning = reading.read_inverter("getCombinedStats", settings).groups
    assert "Data Quality" not in morning, morning.get("Data Quality")
    assert morning["Energy/Today"]["Import Energy Today kWh"] == day_value(after, 26)
    assert morning["Energy/Today"]["PV Energy Today kWh"] == round((after[17] + after[19]) / 10, 1)
    import_total = "Import Energy Total kWh"
    assert morning["Energy/Total"][import_total] >= evening["Energy/Total"][import_total]
