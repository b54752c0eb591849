"""`capture`: recording a dongle for a bug report, the capture-log format and redaction.

The round trip records the project's simulator on 127.0.0.1 while read.py runs, replays the
file, and checks read.py reads the same values from the replay, with serials redacted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from givenergy_modbus_codec.capture import split_frames
from givenergy_modbus_codec.capturelog import (
    TO_CLIENT,
    TO_SERVER,
    CapturedFrame,
    CaptureFileError,
    format_line,
    parse_log,
    redact,
)
from givenergy_modbus_codec.frames import (
    BadFrame,
    Function,
    Heartbeat,
    LanBroadcast,
    ReadRequest,
    ReadResponse,
    decode_frame,
)
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.conftest import PROJECT_ROOT
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)


def words(text: str) -> tuple[int, ...]:
    """Register values holding ``text`` two characters each, high byte first."""
    raw = text.encode()
    return tuple(int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2))


def test_redact_zeroes_every_serial_and_keeps_the_crc_valid():
    values = (8193, 3, *words("BG2132G988SA1234G567"), 449, 0, 8, 9)
    frame = ReadResponse(0x11, Function.READ_HOLDING, "SA1234G567", 6, values, "WF2125G417")
    redacted = decode_frame(redact(frame.encode()))
    assert isinstance(redacted, ReadResponse)  # CRC checked by the decoder
    assert redacted.adapter_serial == "WF2125G000"
    assert redacted.inverter_serial == "SA1234G000"
    assert redacted.values == (8193, 3, *words("BG2132G000SA1234G000"), 449, 0, 8, 9)


def test_redact_covers_ems_serials_lan_broadcasts_and_bad_frames():
    ems = ReadResponse(
        0x11, Function.READ_HOLDING, "EMS2522123", 13, words("EMS2522123"), "FO2522G456"
    )
    out = decode_frame(redact(ems.encode()))
    assert isinstance(out, ReadResponse) and out.inverter_serial == "EMS2522000"
    assert out.values == words("EMS2522000")
    lan = redact(LanBroadcast("192.168.1.50,255.255.255.0,192.168.1.1", "WO2231G789").encode())
    decoded = decode_frame(lan)
    assert isinstance(decoded, LanBroadcast)
    assert decoded.text == "000.000.0.00,000.000.000.0,000.000.0.0"
    assert decoded.adapter_serial == "WO2231G000"
    broken = bytearray(ems.encode())
    broken[-1] ^= 0xFF
    still_bad = decode_frame(redact(bytes(broken)))
    assert isinstance(still_bad, BadFrame)  # a CRC that was wrong is not made right
    assert b"EMS2522123" not in redact(bytes(broken))


def test_capture_log_lines_round_trip_and_bad_lines_are_named():
    when = dt.datetime(2026, 6, 5, 11, 9, 54, 267655, tzinfo=dt.UTC)
    request = ReadRequest(0x11, Function.READ_HOLDING, 0, 60).encode()
    beat = Heartbeat("WF2125G000").encode()
    frames = [CapturedFrame(when, TO_SERVER, request), CapturedFrame(None, TO_CLIENT, beat)]
    text = "# givenergy-capture/1\n\n" + "\n".join(format_line(f) for f in frames)
    assert text.splitlines()[2] == f"2026-06-05T11:09:54.267655+00:00 tx {request.hex()}"
    assert parse_log(text) == frames
    assert parse_log(f"1780657794.5 to_client {beat.hex()}\n{beat.hex()}") == [
        CapturedFrame(dt.datetime.fromtimestamp(1780657794.5, dt.UTC), TO_CLIENT, beat),
        CapturedFrame(None, None, beat),
    ]
    with pytest.raises(CaptureFileError, match=r"plant\.log line 3: not hex"):
        parse_log(f"{beat.hex()}\n# note\nrx 59zz", "plant.log")
    with pytest.raises(CaptureFileError, match="line 1: not a timestamp"):
        parse_log(f"yesterday rx {beat.hex()}")


def test_split_frames_keeps_partial_frames_and_drops_garbage():
    one = Heartbeat("WF2125G000").encode()
    two = ReadRequest(0x11, Function.READ_INPUT, 0, 60).encode()
    buffer = bytearray(b"\x00\x13garbage" + one + two[:10])
    assert split_frames(buffer) == [one]
    assert bytes(buffer) == two[:10]
    buffer += two[10:]
    assert split_frames(buffer) == [two]
    assert buffer == b""


def run_capture(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "givenergy_modbus_codec", "capture", *args],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GIVTCP_SETTINGS": str(PROJECT_ROOT / "settings_template.py")},
    )


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_capture_then_replay_gives_read_py_the_same_values(tmp_path):
    plant = Simulator(SimulatorConfig(seed=5, speed=0.0, start_time=NOON, heartbeat=0.5))
    plant.start(host="127.0.0.1", port=0)
    log = tmp_path / "plant.log"
    try:
        recorder = run_capture("--out", str(log), "--seconds", "60", "--host", "127.0.0.1",
                               "--port", str(plant.port))  # fmt: skip
        wait_for(lambda: plant.connections == 1)
        env = sim_env(plant.port, tmp_path / "direct", NUM_BATTERIES="1")
        direct = run_script("read.py", "runAll", env=env)
        assert direct.code == 0, direct.stderr
        time.sleep(1.0)  # the last answers and a heartbeat reach the recorder
        recorder.send_signal(signal.SIGINT)  # Ctrl-C: stops early, keeps what it saw
        _, stderr = recorder.communicate(timeout=10)
        assert recorder.returncode == 0, stderr
        assert "interrupted" in stderr and "Traceback" not in stderr
        truth = plant.truth()["plant"]
    finally:
        plant.stop()

    text = log.read_text()
    assert text.startswith("# givenergy-capture/1")
    assert " tx " in text  # the recorder's heartbeat replies
    serials = [truth["dongle_serial"], truth["inverter_serial"], *truth["battery_serials"]]
    redacted = {s: s[:-3] + "000" for s in serials}
    for serial in serials:
        assert serial.encode().hex() not in text
    assert redacted[truth["inverter_serial"]].encode().hex() in text

    with Simulator(SimulatorConfig(replay=log, speed=0.0, heartbeat=0.0)) as replay:
        env = sim_env(replay.port, tmp_path / "replayed", NUM_BATTERIES="1")
        replayed = run_script("read.py", "runAll", env=env)
    assert replayed.code == 0, replayed.stderr
    expected = direct.stdout
    for serial, hidden in redacted.items():
        expected = expected.replace(serial, hidden)
    assert replayed.json() == json.loads(expected)
    assert replayed.json()["Invertor Details"]["Invertor Serial Number"].endswith("000")


def test_capture_as_a_proxy_records_the_requests_too(tmp_path):
    plant = Simulator(SimulatorConfig(seed=6, speed=0.0, start_time=NOON, batteries=2))
    plant.start(host="127.0.0.1", port=0)
    log = tmp_path / "proxied.log"
    try:
        recorder = run_capture("--out", str(log), "--seconds", "60", "--host", "127.0.0.1",
                               "--port", str(plant.port), "--listen", "0")  # fmt: skip
        assert recorder.stdout is not None
        word, host, port = recorder.stdout.readline().split()
        assert (word, host) == ("listening", "127.0.0.1")
        wait_for(lambda: plant.connections == 1)
        proxied = run_script("read.py", "runAll", env=sim_env(int(port), tmp_path / "p"))
        assert proxied.code == 0, proxied.stderr
        recorder.send_signal(signal.SIGINT)
        _, stderr = recorder.communicate(timeout=10)
        assert recorder.returncode == 0, stderr
        truth = plant.truth()
    finally:
        plant.stop()
    assert len(proxied.json()["Battery Details"]) == 2
    sent = [
        decode_frame(bytes.fromhex(line.split()[2]))
        for line in log.read_text().splitlines()[1:]
        if line.split()[1] == "tx"
    ]
    reads = {(f.device, f.function, f.base) for f in sent if isinstance(f, ReadRequest)}
    assert {(0x11, Function.READ_HOLDING, 0), (0x11, Function.READ_INPUT, 0)} <= reads
    # probes: the two batteries and the first empty address after them (batteries are contiguous)
    assert {(0x32 + k, Function.READ_INPUT, 60) for k in range(3)} <= reads
    with Simulator(SimulatorConfig(replay=log, speed=0.0, heartbeat=0.0)) as replay:
        replayed = run_script("read.py", "runAll", env=sim_env(replay.port, tmp_path / "r"))
    assert replayed.code == 0, replayed.stderr
    expected = proxied.stdout
    plant_serials = truth["plant"]
    for serial in [plant_serials["inverter_serial"], *plant_serials["battery_serials"]]:
        expected = expected.replace(serial, serial[:-3] + "000")
    assert replayed.json() == json.loads(expected)


def test_capture_ends_by_itself_after_seconds(tmp_path):
    with Simulator(SimulatorConfig(seed=1, speed=0.0, start_time=NOON, heartbeat=0.2)) as sim:
        started = time.monotonic()
        recorder = run_capture("--out", str(tmp_path / "c.log"), "--seconds", "1",
                               "--host", "127.0.0.1", "--port", str(sim.port))  # fmt: skip
        _, stderr = recorder.communicate(timeout=20)
        assert time.monotonic() - started < 10
    assert recorder.returncode == 0, stderr
    assert stderr.startswith("done:")
    lines = (tmp_path / "c.log").read_text().splitlines()[1:]
    assert lines and all(line.split()[1] in ("rx", "tx") for line in lines)


def test_capture_usage_and_unreachable_dongle(tmp_path):
    with Simulator(SimulatorConfig(seed=1, speed=0.0)) as sim:
        port = sim.port
    out = str(tmp_path / "c.log")
    for args, code, message in (
        (["--out", out, "--host", "127.0.0.1", "--port", str(port)], 1, "cannot record"),
        (["--out", out, "--seconds", "0", "--host", "127.0.0.1"], 2, "seconds must be"),
        (["--out", out], 2, "no inverter address"),
        (["--seconds", "5"], 2, "--out"),
    ):
        recorder = run_capture(*args)
        _, stderr = recorder.communicate(timeout=30)
        assert recorder.returncode == code, stderr
        assert message in stderr and "Traceback" not in stderr
