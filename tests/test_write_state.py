"""givtcp/write_state.py: the write stamp and the plan of a write in progress, on disk."""

from __future__ import annotations

import json
import logging

import pytest

from givtcp import write_state
from givtcp.config import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(invertor_ip="127.0.0.1", invertor_port=8899, state_location=str(tmp_path))


def rows(*statuses: str) -> list[dict]:
    return [
        {"register": 94 + i, "name": f"r{i}", "value": i, "status": s, "ok": s == "confirmed"}
        for i, s in enumerate(statuses)
    ]


def test_every_bump_changes_the_stamp(settings):
    seen = {write_state.current_stamp(settings)}
    for _ in range(3):
        write_state.bump_stamp(settings)
        seen.add(write_state.current_stamp(settings))
    assert len(seen) == 4 and "" in seen


def test_a_finished_write_leaves_nothing(settings, tmp_path):
    journal = write_state.WriteJournal(settings)
    plan = rows("confirmed", "not sent")
    journal.begin("setChargeSlot1", plan)
    assert write_state.interrupted_notes(settings)  # a plan on disk while it runs
    journal.finish([94, 95])
    assert write_state.interrupted_notes(settings) == {}
    assert not list(tmp_path.glob("write-plan-*"))


def test_a_dead_plan_is_reported_then_settled_by_a_later_write(settings, caplog):
    write_state.WriteJournal(settings).begin(
        "setChargeSlot1", rows("confirmed", "unknown", "not sent")
    )
    # the process died here: no finish()
    [(key, text)] = write_state.interrupted_notes(settings).items()
    assert key.startswith("setChargeSlot1 at ")
    assert text == "not confirmed: HR95 r1 = 1 (unknown), HR96 r2 = 2 (not sent)"
    later = write_state.WriteJournal(settings)
    with caplog.at_level(logging.WARNING):
        later.begin("setChargeTarget", rows("confirmed"))
    assert "earlier write was interrupted" in caplog.text
    later.finish([95])  # settles HR95 only
    [text] = write_state.interrupted_notes(settings).values()
    assert text == "not confirmed: HR96 r2 = 2 (not sent)"
    again = write_state.WriteJournal(settings)
    again.begin("setChargeSlot1", rows("confirmed"))
    again.finish([96])
    assert write_state.interrupted_notes(settings) == {}


@pytest.mark.parametrize(
    "text", ["[1, 2]", '{"rows": "x"}', "{not json", '{"rows": [1, "a", null]}', "null"]
)
def test_a_broken_record_is_dropped_with_a_warning(settings, tmp_path, caplog, text):
    (tmp_path / "write-plan-127_0_0_1-8899.json").write_text(text)
    (tmp_path / "write-interrupted-127_0_0_1-8899.json").write_text(text)
    with caplog.at_level(logging.WARNING):
        assert write_state.interrupted_notes(settings) == {}
        journal = write_state.WriteJournal(settings)
        journal.begin("setChargeTarget", rows("confirmed"))
        journal.finish([94])
    assert write_state.interrupted_notes(settings) == {}


def test_note_goes_into_the_quality_group(settings):
    write_state.WriteJournal(settings).begin("setBatteryMode", rows("unknown"))
    groups: dict = {"Power": {}}
    write_state.note_interrupted(groups, settings, "Data Quality")
    notes = groups["Data Quality"][write_state.INTERRUPTED_NOTE]
    assert list(notes.values()) == ["not confirmed: HR94 r0 = 0 (unknown)"]
    json.dumps(groups)
