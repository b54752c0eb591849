"""Self-healing: a wrong last good value (garbage let through on a first run, or a counter
reset by a firmware update) must not block a counter forever, and garbled blocks must never
heal their way into the output. Runs go through the reader against the simulator; time
passing between cron runs is played by ageing the state file's timestamps."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from givenergy_modbus_codec.model import decode_inverter
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givtcp import quality, reading, report
from givtcp.config import Settings

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)
PV_TOTAL = "PV Energy Total kWh"


def settings_for(sim: Simulator, state: Path) -> Settings:
    return Settings(
        invertor_ip="127.0.0.1",
        invertor_port=sim.port,
        num_batteries=1,
        state_location=str(state),
        request_spacing=0.0,
        hold_seconds=0,
    )


def edit_state(state: Path, change) -> None:
    """Apply ``change(inverter_history_json)`` to the inverter's entry in the state file."""
    (path,) = state.glob("last-good-*.json")
    data = json.loads(path.read_text())
    (key,) = [k for k in data if k.startswith("inverter:")]
    change(data[key])
    path.write_text(json.dumps(data))


def age_state(state: Path, seconds: float) -> None:
    """As if ``seconds`` had passed since the last run."""

    def older(entry: dict) -> None:
        entry["seen_at"] = {k: v - seconds for k, v in entry["seen_at"].items()}
        entry["challengers"] = {
            k: [value, first - seconds, last - seconds, reads]
            for k, (value, first, last, reads) in entry.get("challengers", {}).items()
        }

    (path,) = state.glob("last-good-*.json")
    data = json.loads(path.read_text())
    for entry in data.values():
        older(entry)
    path.write_text(json.dumps(data))


def true_pv_total(sim: Simulator) -> float:
    return decode_inverter(sim.truth()["holding"], sim.truth()["input"]).values["e_pv_total"]


def test_a_wrong_last_good_total_heals_after_agreeing_reads_over_an_hour(tmp_path):
    with Simulator(SimulatorConfig(seed=5, speed=0.0, start_time=NOON, batteries=1)) as sim:
        settings = settings_for(sim, tmp_path)
        first = reading.read_inverter("runAll", settings)
        truth = true_pv_total(sim)
        assert first.groups[report.GROUP_TOTAL][PV_TOTAL] == truth
        edit_state(tmp_path, lambda entry: entry["values"].update(e_pv_total=truth + 5000))

        runs = []
        for _ in range(4):
            age_state(tmp_path, 20 * 60)
            runs.append(reading.read_inverter("runAll", settings).groups)
        after = reading.read_inverter("runAll", settings).groups

    for groups in runs[:3]:
        assert PV_TOTAL not in groups[report.GROUP_TOTAL]
        assert "cannot fall" in groups[report.GROUP_QUALITY]["rejected"]["Energy/Total/" + PV_TOTAL]
    healed = runs[3]
    assert healed[report.GROUP_TOTAL][PV_TOTAL] == truth
    assert (
        "re-baselined: 4 reads over 60 min"
        in healed[report.GROUP_QUALITY]["rebaselined"]["e_pv_total"]
    )
    assert after[report.GROUP_TOTAL][PV_TOTAL] == truth
    assert report.GROUP_QUALITY not in after, after.get(report.GROUP_QUALITY)


def test_totals_from_garbled_blocks_never_heal_into_the_output(tmp_path):
    """Pattern A (a substituted IR(0,60) block) on every answer for hours: its jumped totals
    agree with each other run after run, but the same block carries 65535 W and SOC 255, so
    they never count against the last good value.

    (A total garbled the same way for an hour in a block with nothing else wrong cannot be
    told from a counter that was reset; that one does heal, by design.)"""
    pattern_a_totals = ("e_pv_total", "e_grid_in_total", "e_inverter_out_total")
    with Simulator(SimulatorConfig(seed=5, speed=0.0, start_time=NOON, batteries=1)) as sim:
        settings = settings_for(sim, tmp_path)
        truth = decode_inverter(sim.truth()["holding"], sim.truth()["input"]).values
        reading.read_inverter("runAll", settings)
        sim.faults.garbage_values_rate = 1.0
        runs = []
        for _ in range(8):
            age_state(tmp_path, 20 * 60)
            runs.append(reading.read_inverter("runAll", settings))
        (path,) = tmp_path.glob("last-good-*.json")
        state = json.loads(path.read_text())

    for result in runs:
        for name in pattern_a_totals:
            assert name not in result.inverter.values, result.inverter.values[name]
        assert result.groups[report.GROUP_TOTAL].get(PV_TOTAL) is None
        rebaselined = result.groups.get(report.GROUP_QUALITY, {}).get("rebaselined", {})
        assert not set(pattern_a_totals) & set(rebaselined)
    (inverter,) = [
        quality.History.from_json(v) for k, v in state.items() if k.startswith("inverter:")
    ]
    for name in pattern_a_totals:
        assert inverter.values[name] == truth[name]
        assert name not in inverter.challengers
