"""Checks that need history: counters against the last good run, holds, the state file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from givtcp import quality
from givtcp.quality import (
    Challenger,
    History,
    StateFile,
    agree,
    challenge,
    check_counters,
    hold,
    remember,
)

HOUR = 3600.0


def history(values: dict, seen_at: float = 0.0, clock: str = "2026-06-21T12:00:00") -> History:
    return History(dict(values), dict.fromkeys(values, seen_at), clock)


def test_counter_kinds_come_from_the_register_table():
    assert quality.COUNTERS["e_pv_total"] == ("total", False)
    assert quality.COUNTERS["e_grid_in_day"] == ("day", True)
    assert quality.COUNTERS["e_battery_discharge_total_gen1"] == ("total", True)
    assert "p_pv1" not in quality.COUNTERS


def test_totals_may_grow_within_what_the_equipment_delivers():
    past = history({"e_pv_total": 1000.0, "e_grid_in_total": 500.0})
    ok = check_counters(
        {"e_pv_total": 1001.5, "e_grid_in_total": 520.0}, past, HOUR, "2026-06-21T12:00:00", 5000
    )
    assert ok == {}


def test_total_jump_beyond_possible_power_is_rejected():
    past = history({"e_pv_total": 1000.0})
    rejected = check_counters({"e_pv_total": 3200.0}, past, 60.0, "2026-06-21T12:00:00", 5000)
    assert "jumped 2200.0 kWh" in rejected["e_pv_total"]


def test_total_that_falls_is_rejected():
    past = history({"e_grid_out_total": 1954.0})
    rejected = check_counters({"e_grid_out_total": 1900.0}, past, 60.0, "2026-06-21T12:00:00", 5000)
    assert "cannot fall" in rejected["e_grid_out_total"]


def test_sixteen_bit_total_may_wrap():
    past = history({"e_battery_discharge_total_gen1": 6553.0})
    assert (
        check_counters(
            {"e_battery_discharge_total_gen1": 0.2}, past, 600.0, "2026-06-21T12:10:00", 5000
        )
        == {}
    )


def test_daily_counter_resets_only_when_the_date_changes():
    past = history({"e_pv1_day": 12.3}, clock="2026-06-21T23:59:50")
    same_day = check_counters({"e_pv1_day": 0.0}, past, 60.0, "2026-06-21T12:00:00", 5000)
    assert "before midnight" in same_day["e_pv1_day"]
    next_day = check_counters({"e_pv1_day": 0.0}, past, 60.0, "2026-06-22T00:00:30", 5000)
    assert next_day == {}


def test_counters_without_history_are_not_judged_here():
    assert check_counters({"e_pv_total": 5.0}, History(), 0.0, None, None) == {}


def test_hold_puts_back_fresh_last_good_values_only():
    past = History({"p_pv1": 400, "battery_percent": 80}, {"p_pv1": 100.0, "battery_percent": 0.0})
    values: dict = {}
    invalid = {"p_pv1": "raw 65535", "battery_percent": "raw 255"}
    held = hold(values, invalid, past, now=200.0, hold_seconds=150)
    assert values == {"p_pv1": 400}
    assert set(held) == {"p_pv1"}
    assert "100 s ago" in held["p_pv1"]
    assert hold({}, invalid, past, now=200.0, hold_seconds=0) == {}


def test_remember_keeps_good_values_not_held_ones():
    updated = remember(
        History(), {"p_pv1": 400, "p_pv2": 10}, {"p_pv2": "held"}, 50.0, "2026-06-21T12:00:00"
    )
    assert updated.values == {"p_pv1": 400}
    assert updated.seen_at == {"p_pv1": 50.0}
    assert updated.inverter_time == "2026-06-21T12:00:00"


def test_agree_rejects_counters_that_differ_between_reads():
    assert agree({"e_pv_total": 100.0}, {"e_pv_total": 100.1}) == {}
    disputed = agree({"e_pv_total": 100.0, "p_pv1": 5}, {"e_pv_total": 2300.0, "p_pv1": 9})
    assert set(disputed) == {"e_pv_total"}


def test_state_file_round_trip(tmp_path):
    state = StateFile(tmp_path / "last-good.json")
    with state.locked() as histories:
        histories["inverter:SA1"] = history({"e_pv_total": 1.5}, 10.0)
    with state.locked() as histories:
        assert histories["inverter:SA1"].values == {"e_pv_total": 1.5}
        assert histories["inverter:SA1"].seen_at == {"e_pv_total": 10.0}


def test_state_file_survives_concurrent_writers(tmp_path):
    """Two processes updating the same state file at once: no lost update, never corrupt."""
    path = tmp_path / "last-good.json"
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from givtcp.quality import StateFile, History\n"
        "state = StateFile(Path(sys.argv[1]))\n"
        "for i in range(50):\n"
        "    with state.locked() as h:\n"
        "        n = h.get('counter', History()).values.get('n', 0)\n"
        "        h['counter'] = History({'n': n + 1}, {'n': 0.0})\n"
    )
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=root) for _ in range(2)]
    assert [p.wait(60) for p in procs] == [0, 0]
    assert json.loads(path.read_text())["counter"]["values"]["n"] == 100


def test_elapsed_time_follows_the_inverter_clock_within_an_hour_of_the_host():
    past = history({"e_grid_in_total": 500.0}, seen_at=1000.0, clock="2026-06-21T12:00:00")
    # the host saw 1 s pass, the inverter 20 min (e.g. a suspended host): 5 kWh is possible
    later = check_counters({"e_grid_in_total": 505.0}, past, 1001.0, "2026-06-21T12:20:00", 5000)
    assert later == {}
    # a wrong inverter clock a day ahead cannot excuse a 2200 kWh jump
    wrong = check_counters({"e_grid_in_total": 2700.0}, past, 1001.0, "2026-06-22T12:00:00", 5000)
    assert "jumped 2200.0 kWh" in wrong["e_grid_in_total"]


MINUTE = 60.0


def test_agreeing_rejected_readings_over_enough_runs_and_time_replace_the_last_good():
    """A last good total of 9000 kWh that the counter keeps disagreeing with (it reads ~1000)."""
    past = history({"e_pv_total": 9000.0})
    for run, minute in enumerate((0, 20, 40)):
        accepted, challengers = challenge(
            {"e_pv_total": 1000.0 + run / 10}, past, minute * MINUTE, 5000
        )
        assert accepted == {}
        assert challengers["e_pv_total"] == Challenger(
            1000.0 + run / 10, 0.0, minute * MINUTE, run + 1
        )
        past.challengers = challengers
    accepted, challengers = challenge({"e_pv_total": 1000.9}, past, 60 * MINUTE, 5000)
    assert challengers == {}
    assert "re-baselined: 4 reads over 60 min" in accepted["e_pv_total"]
    assert "9000.0" in accepted["e_pv_total"]


def test_many_quick_reads_are_not_enough_to_re_baseline():
    past = history({"e_pv_total": 9000.0})
    for minute in range(0, 60, 5):
        accepted, past.challengers = challenge({"e_pv_total": 1000.0}, past, minute * MINUTE, 5000)
        assert accepted == {}
    assert past.challengers["e_pv_total"].reads == 12


def test_rejected_readings_that_disagree_with_each_other_start_again():
    past = history({"e_pv_total": 9000.0})
    past.challengers = {"e_pv_total": Challenger(1000.0, 0.0, 10 * MINUTE, 2)}
    # 3200 kWh in 10 minutes is as impossible against the challenger as against the last good
    accepted, challengers = challenge({"e_pv_total": 3200.0}, past, 20 * MINUTE, 5000)
    assert accepted == {}
    assert challengers["e_pv_total"] == Challenger(3200.0, 20 * MINUTE, 20 * MINUTE, 1)
    # and a total that falls below its challenger does too
    accepted, challengers = challenge({"e_pv_total": 990.0}, past, 20 * MINUTE, 5000)
    assert challengers["e_pv_total"].reads == 1


def test_remember_keeps_challengers_until_their_counter_is_accepted():
    past = history({"e_pv_total": 9000.0, "e_grid_in_total": 50.0})
    past.challengers = {
        "e_pv_total": Challenger(1000.0, 0.0, 60.0, 2),
        "e_grid_in_total": Challenger(20.0, 0.0, 60.0, 1),
    }
    new = {"e_pv_total": Challenger(1000.1, 0.0, 120.0, 3)}
    updated = remember(past, {"e_grid_in_total": 50.1}, {}, 120.0, None, new)
    assert updated.challengers == new  # e_grid_in_total was accepted: its challenger goes
    assert updated.values["e_pv_total"] == 9000.0
    # a counter not read this run (a missing bank) keeps its challenger
    assert remember(past, {}, {}, 120.0, None).challengers == past.challengers


def test_challengers_survive_the_state_file(tmp_path):
    state = StateFile(tmp_path / "last-good.json")
    with state.locked() as histories:
        histories["inverter:SA1"] = History(
            {"e_pv_total": 9000.0},
            {"e_pv_total": 1.0},
            None,
            {"e_pv_total": Challenger(1.5, 2, 3, 2)},
        )
    with state.locked() as histories:
        assert histories["inverter:SA1"].challengers == {"e_pv_total": Challenger(1.5, 2.0, 3.0, 2)}
