"""``decode`` on awkward input (issue 10): a frame ending in a marker prefix, bad stdin lines.

Run as the real command, as a user debugging a dongle would; expected frames come from the
protocol.md examples in tests/codec/test_frames.py, not from the decoder.
"""

from __future__ import annotations

import json

from tests.codec.test_cli import cli
from tests.codec.test_frames import E1, E3, E7

# A heartbeat whose adapter type byte is 0x59, the marker's first byte (protocol.md §8.1:
# header 59 59 00 01, length 000d, unit 0, type 01, serial "0000000000", adapter type).
HEARTBEAT_ENDING_59 = "59590001000d00013030303030303030303059"


def objects(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_complete_heartbeat_ending_in_0x59_is_one_heartbeat() -> None:
    proc = cli("decode", HEARTBEAT_ENDING_59)
    assert (proc.returncode, proc.stderr) == (0, "")
    (only,) = objects(proc.stdout)
    assert only["kind"] == "heartbeat"
    assert only["adapter_serial"] == "0000000000"
    assert only["adapter_type"] == 0x59


def test_heartbeat_ending_in_0x59_followed_by_more_frames() -> None:
    proc = cli("decode", HEARTBEAT_ENDING_59 + E1 + E3)
    assert proc.returncode == 0
    assert [o["kind"] for o in objects(proc.stdout)] == ["heartbeat", "heartbeat", "read_response"]


def test_one_bad_stdin_line_loses_no_good_frame() -> None:
    stdin = f"{E1}\nnot hex at all\n\n{E7}\n59 5\n{HEARTBEAT_ENDING_59}\n"
    proc = cli("decode", "-", stdin=stdin)
    assert proc.returncode == 2  # documented: some input was not hex
    got = objects(proc.stdout)
    assert [(o["input"], o["kind"]) for o in got] == [
        (0, "heartbeat"),
        (2, "write_request"),
        (4, "heartbeat"),
    ]
    assert got[1]["base"] == 96 and got[1]["values"] == [1]  # E7: write HR96 = 1
    problems = proc.stderr.splitlines()
    assert len(problems) == 2
    assert "stdin line 2" in problems[0] and "not hex" in problems[0]
    assert "stdin line 5" in problems[1] and "'59 5'" in problems[1]


def test_all_good_stdin_lines_exit_0() -> None:
    proc = cli("decode", "-", stdin=f"{E1}\n{E7}\n")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert [o["kind"] for o in objects(proc.stdout)] == ["heartbeat", "write_request"]


def test_a_very_long_bad_line_is_reported_shortened() -> None:
    proc = cli("decode", "-", stdin="zz" * 10_000 + "\n" + E1 + "\n")
    assert proc.returncode == 2
    assert [o["kind"] for o in objects(proc.stdout)] == ["heartbeat"]
    assert "stdin line 1" in proc.stderr
    assert len(proc.stderr) < 300
