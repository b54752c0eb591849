"""The command line and the HTTP control endpoint, as a newcomer would use them."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from givenergy_modbus_codec.frames import Function, ReadRequest
from givenergy_modbus_codec.simulator import Faults

from .wire import RawClient

ROOT = Path(__file__).resolve().parents[2]
HR0 = ReadRequest(0x11, Function.READ_HOLDING, 0, 60)


def run_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "givenergy_modbus_codec.simulator", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def http(port: int, path: str, body: dict | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def test_help_explains_every_option():
    result = subprocess.run(
        [sys.executable, "-m", "givenergy_modbus_codec.simulator", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    options = ["--host", "--port", "--control-port", "--model", "--batteries", "--seed",
               "--speed", "--start-time", "--heartbeat", "--strict", "--verbose",
               "--replay", "--replay-step"]  # fmt: skip
    options += [f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(Faults)]
    missing = [o for o in options if o not in result.stdout]
    assert missing == []
    for model in ("hybrid", "ac", "gen2"):
        assert f"{model}:" in result.stdout


def test_port_0_prints_the_port_serves_and_stops_on_sigterm():
    proc = run_cli("--port", "0", "--control-port", "0", "--speed", "0", "--seed", "3",
                   "--start-time", "2024-06-21T23:59:00", "-v")  # fmt: skip
    try:
        first = proc.stdout.readline().split()
        assert first[:2] == ["listening", "127.0.0.1"]
        port = int(first[2])
        control = proc.stdout.readline().split()
        assert control[:2] == ["control", "127.0.0.1"]
        control_port = int(control[2])

        client = RawClient(port)
        page, _ = client.ask(HR0)
        truth = http(control_port, "/truth")
        assert list(page.values) == [truth["holding"][str(a)] for a in range(60)]
        assert truth["time"] == "2024-06-21T23:59:00"

        assert http(control_port, "/clock/advance", {"seconds": 120}) == {
            "time": "2024-06-22T00:01:00"
        }
        faults = http(control_port, "/faults", {"latency": 0.2})
        assert faults["latency"] == 0.2
        started = time.monotonic()
        client.ask(HR0)
        assert time.monotonic() - started >= 0.2
        log = http(control_port, "/requests?since=1")
        assert [entry["request"] for entry in log] == ["HR(0,60)@0x11"]
        assert log[0]["outcome"] == "answered"
        assert http(control_port, "/heartbeat", {}) == {"sent": True}
        assert [f.kind for f in client.frames(1.0, until=lambda f: f.kind == "heartbeat")] == [
            "heartbeat"
        ]
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0
    request_lines = [line for line in stderr.splitlines() if "HR(0,60)@0x11 -> answered" in line]
    assert len(request_lines) == 2


def test_busy_port_is_a_clear_error():
    first = run_cli("--port", "0")
    try:
        port = first.stdout.readline().split()[2]
        second = subprocess.run(
            [sys.executable, "-m", "givenergy_modbus_codec.simulator", "--port", port],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=10)
    assert first.returncode == 0


def test_control_endpoint_rejects_bad_requests(make_sim):
    sim = make_sim(control_port=0)
    for path, body, status in [
        ("/nowhere", None, 404),
        ("/truth", {}, 405),
        ("/faults", {"no_such_fault": 1}, 400),
        ("/clock/advance", {"seconds": -5}, 400),
    ]:
        with pytest.raises(urllib.error.HTTPError) as info:
            http(sim.control_port, path, body)
        assert info.value.code == status
        assert "error" in json.load(info.value)
