"""The ``silent_after_answers`` fault: a dongle that answers N requests, then dies mid-read."""

from __future__ import annotations

import pytest

from givenergy_modbus_codec.frames import Function, Heartbeat, ReadRequest, answers
from givenergy_modbus_codec.simulator import Faults

from .test_cli import http, run_cli

HR0 = ReadRequest(0x11, Function.READ_HOLDING, 0, 60)
HR60 = ReadRequest(0x11, Function.READ_HOLDING, 60, 60)
ABSENT = ReadRequest(0x37, Function.READ_INPUT, 60, 60)  # no battery there: silence, not counted


def test_answers_n_requests_across_clients_then_nothing(make_sim, connect):
    sim = make_sim(heartbeat=0.2)
    sim.faults.update({"silent_after_answers": 2})
    first, second = connect(sim), connect(sim)
    first.ask(HR0)
    first.send(ABSENT)
    assert not [f for f in first.frames(0.3) if answers(ABSENT, f)]
    second.ask(HR60)  # the second answer, on another connection
    second.send(HR0)
    frames = second.frames(0.6)
    assert not [f for f in frames if answers(HR0, f)]
    assert any(isinstance(f, Heartbeat) for f in frames)  # the connection stays up
    outcomes = [(r.outcome, r.detail) for r in sim.requests if not isinstance(r.frame, Heartbeat)]
    assert [o for o, _ in outcomes] == ["answered", "silence", "answered", "silence"]
    assert outcomes[-1][1] == "silent_after_answers fault"


def test_is_validated_like_the_other_faults():
    faults = Faults()
    faults.update({"silent_after_answers": 3})
    assert faults.silent_after_answers == 3
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError):
            faults.update({"silent_after_answers": bad})


def test_on_the_command_line_and_the_control_endpoint():
    proc = run_cli("--port", "0", "--control-port", "0", "--speed", "0",
                   "--silent-after-answers", "1")  # fmt: skip
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # listening HOST PORT
        control_port = int(proc.stdout.readline().split()[2])
        assert http(control_port, "/faults")["silent_after_answers"] == 1
        assert (
            http(control_port, "/faults", {"silent_after_answers": 5})["silent_after_answers"] == 5
        )
    finally:
        proc.terminate()
        proc.wait(10)
