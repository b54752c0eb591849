"""timed_actions.plan: which slot, what is written and saved (pure; registers.md §4, §5.1)."""

from __future__ import annotations

import datetime as dt

import pytest

from givenergy_modbus_codec.errors import ValidationError
from givenergy_modbus_codec.model import Capabilities
from givtcp import timed_actions

GEN1 = Capabilities("Gen1 hybrid")
GEN2 = Capabilities("Gen2 hybrid", charge_slot_2=False)
GEN3 = Capabilities("Gen3 hybrid", 10, 10, slot_targets=True)
AC = Capabilities("AC", ac_bank=True)
LATE = dt.datetime(2026, 3, 1, 23, 50, 41)


def holding(**slots: tuple[int, int]) -> dict[int, int]:
    regs = dict.fromkeys(range(0, 360), 0)
    where = {"c1": (94, 95), "c2": (31, 32), "c3": (246, 247), "d1": (56, 57), "d2": (44, 45)}
    for key, (start, end) in slots.items():
        regs[where[key][0]], regs[where[key][1]] = start, end
    regs.update({116: 100, 20: 0, 96: 1, 110: 4, 27: 1, 59: 0})
    return regs


def pairs(action: timed_actions.Action) -> list[tuple[int, int]]:
    return [(w.register, w.value) for w in action.writes]


def test_force_charge_across_midnight_uses_the_free_slot_2():
    regs = holding(c1=(30, 430))
    action = timed_actions.plan("forceCharge", {"minutes": 30}, regs, LATE, GEN1)
    assert action.slot == "charge slot 2"
    assert action.ends == dt.datetime(2026, 3, 2, 0, 20)
    assert pairs(action) == [(116, 100), (20, 1), (31, 2350), (32, 20), (96, 1)]
    assert action.saved == {116: 100, 20: 0, 31: 0, 32: 0, 96: 1}
    assert action.notes == []


def test_gen2_has_no_usable_charge_slot_2_so_slot_1_is_saved_and_said():
    regs = holding(c1=(30, 430))
    action = timed_actions.plan(
        "forceCharge", {"minutes": 60, "chargeToPercent": 80}, regs, LATE, GEN2
    )
    assert action.slot == "charge slot 1"
    assert action.saved[94] == 30 and action.saved[95] == 430
    assert "00:30-04:30" in action.notes[0]


def test_extended_layout_takes_the_first_free_slot_and_its_own_target():
    regs = holding(c1=(30, 430), c2=(100, 200))
    action = timed_actions.plan(
        "forceCharge", {"minutes": 10, "chargeToPercent": 70}, regs, LATE, GEN3
    )
    assert action.slot == "charge slot 3"
    assert (248, 70) in pairs(action)  # slot 3's target: HR239 + 3 x 3
    assert (246, 2350) in pairs(action) and (247, 0) in pairs(action)


def test_force_export_writes_timed_export_and_the_floor():
    regs = holding(d1=(1600, 1900))
    action = timed_actions.plan(
        "forceExport", {"minutes": 45, "dischargeToPercent": 20}, regs, LATE, GEN1
    )
    assert action.slot == "discharge slot 2"
    assert pairs(action) == [(110, 20), (44, 2350), (45, 35), (27, 0), (59, 1)]


def test_pause_needs_the_ac_bank():
    with pytest.raises(ValidationError, match="not available on Gen1 hybrid"):
        timed_actions.plan("tempPauseCharge", {"minutes": 5}, holding(), LATE, GEN1)
    action = timed_actions.plan("tempPauseDischarge", {"minutes": 5}, holding(), LATE, AC)
    assert pairs(action) == [(319, 2350), (320, 2355), (318, 2)]


@pytest.mark.parametrize("minutes", [0, 1440, -5, "x", True, 2.5, "٣"])
def test_minutes_are_checked(minutes):
    with pytest.raises(ValidationError) as error:
        timed_actions.validate("forceCharge", {"minutes": minutes})
    assert error.value.field == "minutes"
