"""The write-confirmation faults: an echo that matches with a read-back that does not, and the
reverse. Each is checked on the wire against the simulator's ground truth."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from givenergy_modbus_codec.frames import Function, ReadRequest, WriteRequest
from givenergy_modbus_codec.simulator.__main__ import build_parser, config_from_args

CHARGE_TARGET = 116  # HR116, charge target SOC % (registers.md)


def other_value(current: int) -> int:
    return 50 if current != 50 else 60


def read_back(client, register: int) -> int:
    answer, _ = client.ask(ReadRequest(0x11, Function.READ_HOLDING, register, 1))
    return answer.values[0]


def test_readback_mismatch_echoes_the_value_but_stores_nothing(sim, client):
    before = sim.truth()["holding"][CHARGE_TARGET]
    target = other_value(before)
    sim.faults.readback_mismatch = True
    echo, _ = client.ask(WriteRequest(0x11, CHARGE_TARGET, target))
    assert echo.value == target
    assert sim.truth()["holding"][CHARGE_TARGET] == before
    assert read_back(client, CHARGE_TARGET) == before
    record = [r for r in sim.requests if r.frame.kind == "write_request"][-1]
    assert "readback_mismatch" in record.detail


def test_echo_mismatch_stores_the_value_but_echoes_another(sim, client):
    before = sim.truth()["holding"][CHARGE_TARGET]
    target = other_value(before)
    sim.faults.echo_mismatch = True
    echo, _ = client.ask(WriteRequest(0x11, CHARGE_TARGET, target))
    assert echo.value != target
    assert sim.truth()["holding"][CHARGE_TARGET] == target
    assert read_back(client, CHARGE_TARGET) == target
    record = [r for r in sim.requests if r.frame.kind == "write_request"][-1]
    assert record.faults == ("echo_mismatch",)


def test_write_faults_leave_reads_alone(sim, client):
    sim.faults.update({"readback_mismatch": True, "echo_mismatch": True})
    truth = sim.truth()["holding"]
    answer, _ = client.ask(ReadRequest(0x11, Function.READ_HOLDING, 0, 60))
    assert answer.values == tuple(truth[a] for a in range(60))


def post_faults(port: int, body: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/faults", data=json.dumps(body).encode()
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def test_write_faults_are_switched_on_the_control_endpoint(make_sim):
    sim = make_sim(control_port=0)
    switches = post_faults(sim.control_port, {"readback_mismatch": True, "echo_mismatch": True})
    assert switches["readback_mismatch"] is True and switches["echo_mismatch"] is True
    assert sim.faults.readback_mismatch and sim.faults.echo_mismatch
    for bad in ({"readback_mismatch": 1}, {"echo_mismatch": "yes"}):
        with pytest.raises(urllib.error.HTTPError) as info:
            post_faults(sim.control_port, bad)
        assert info.value.code == 400
        assert "true or false" in json.load(info.value)["error"]


def test_write_faults_are_set_on_the_command_line():
    default = config_from_args(build_parser().parse_args([])).faults
    assert not default.readback_mismatch and not default.echo_mismatch
    args = build_parser().parse_args(["--readback-mismatch", "--echo-mismatch"])
    faults = config_from_args(args).faults
    assert faults.readback_mismatch and faults.echo_mismatch
