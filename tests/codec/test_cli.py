"""``python -m givenergy_modbus_codec``: decode, request and registers.

Most tests call ``main()`` in-process; the capture test runs the real command as a subprocess
over batches of frames and checks it against the recorded decode of every captured frame.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from givenergy_modbus_codec.__main__ import main
from tests.codec.test_frames import E1, E3, E6, E7, E8, E9, E10
from tests.codec.test_vectors import reference_fields
from tests.conftest import PROJECT_ROOT, capture_params, load_vectors

BATCH = 300  # frames per subprocess: well under the kernel's argument-size limits


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    """Run the CLI in-process: exit code, stdout lines, stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse exits on usage errors and --help
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def decode(capsys: pytest.CaptureFixture[str], *hexes: str) -> list[dict[str, Any]]:
    code, lines, err = run(capsys, "decode", *hexes)
    assert (code, err) == (0, "")
    return [json.loads(line) for line in lines]


def cli(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "givenergy_modbus_codec", *argv],
        cwd=PROJECT_ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# ---------------------------------------------------------------------------------------------
# decode


def test_decode_heartbeat(capsys: pytest.CaptureFixture[str]) -> None:
    (obj,) = decode(capsys, E1)
    assert obj["input"] == 0
    assert obj["kind"] == "heartbeat"
    assert obj["adapter_serial"] == "WF2125G316"
    assert obj["adapter_type"] == 1
    assert (obj["crc_ok"], obj["crc_form"]) == (None, "none")


def test_decode_read_response(capsys: pytest.CaptureFixture[str]) -> None:
    (obj,) = decode(capsys, E3)
    assert obj["kind"] == "read_response"
    assert (obj["device"], obj["function"], obj["error"]) == ("0x11", "0x03", False)
    assert (obj["adapter_serial"], obj["inverter_serial"]) == ("WF2125G316", "SA2114G047")
    assert (obj["base"], obj["count"], len(obj["values"])) == (0, 60, 60)
    assert obj["values"][:3] == [0x2001, 3, 0x0832]
    assert (obj["crc_ok"], obj["crc_form"]) == (True, "standard")


def test_decode_error_response(capsys: pytest.CaptureFixture[str]) -> None:
    (obj,) = decode(capsys, E6)
    assert obj["kind"] == "error_response"
    assert (obj["device"], obj["function"], obj["error"]) == ("0x11", "0x03", True)
    assert (obj["base"], obj["count"], obj["values"]) == (1100, 60, None)


def test_decode_requests_show_their_crc_form(capsys: pytest.CaptureFixture[str]) -> None:
    write, legacy = decode(capsys, E7, E8)
    assert write["kind"] == "write_request"
    assert (write["base"], write["count"], write["values"]) == (96, 1, [1])
    assert (write["crc_ok"], write["crc_form"]) == (True, "standard")
    assert legacy["kind"] == "read_request"
    assert (legacy["device"], legacy["function"], legacy["base"], legacy["count"]) == (
        "0x32",
        "0x04",
        0,
        6,
    )
    assert (legacy["crc_ok"], legacy["crc_form"], legacy["input"]) == (True, "legacy", 1)


def test_decode_frames_that_carry_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    lan, null = decode(capsys, E9, E10)
    assert lan["kind"] == "lan_broadcast"
    assert lan["text"] == "000.000.0.00,000.000.000.0,000.000.0.0"
    assert null["kind"] == "null"
    assert null["device"] == "0x33"
    assert (lan["crc_form"], null["crc_form"]) == ("none", "none")


def test_decode_bad_crc_shows_the_suspect(capsys: pytest.CaptureFixture[str]) -> None:
    (obj,) = decode(capsys, E3[:-4] + "0000")
    assert obj["kind"] == "bad"
    assert "CRC" in obj["reason"]
    assert obj["suspect_kind"] == "read_response"
    assert (obj["base"], obj["count"], obj["values"][0]) == (0, 60, 0x2001)
    assert (obj["crc_ok"], obj["crc_form"]) == (False, "bad")
    assert obj["raw"] == E3[:-4] + "0000"


def test_decode_several_frames_and_garbage_in_one_hex(capsys: pytest.CaptureFixture[str]):
    objs = decode(capsys, "ffff" + E1 + E7 + E3[:100])
    assert [o["kind"] for o in objs] == ["bad", "heartbeat", "write_request", "bad"]
    assert objs[0]["raw"] == "ffff"
    assert objs[3]["reason"] == "incomplete frame abandoned"
    assert objs[3]["raw"] == E3[:100]
    assert {o["input"] for o in objs} == {0}


def test_decode_tolerates_separators(capsys: pytest.CaptureFixture[str]) -> None:
    spaced = " ".join(E7[i : i + 2] for i in range(0, len(E7), 2))
    coloned = ":".join(E7[i : i + 2] for i in range(0, len(E7), 2)).upper()
    annotated = f"{E7[:16]} | {E7[16:36]} | {E7[36:]}\n"
    objs = decode(capsys, spaced, coloned, annotated)
    assert [o["kind"] for o in objs] == ["write_request"] * 3
    assert objs[0] | {"input": 0} == objs[1] | {"input": 0} == objs[2] | {"input": 0}


@pytest.mark.parametrize("bad", ["zz", "595", "59 5"])
def test_decode_rejects_what_is_not_hex(capsys: pytest.CaptureFixture[str], bad: str) -> None:
    code, lines, err = run(capsys, "decode", E1, bad)
    assert code == 2
    assert lines == []  # nothing printed for the good argument either
    assert "not hex" in err


def test_decode_needs_an_argument(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "decode")
    assert code == 2
    assert "HEX" in err


# ---------------------------------------------------------------------------------------------
# request


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["write", "96", "1"], E7),
        (["write", "0x60", "0x1", "--device", "17"], E7),
        (
            ["read-holding", "0", "60"],
            "59590001001c010241423132333447353637000000000000000811030000003c474b",
        ),
        (["read-input", "0", "6", "--device", "0x32"], E8[:-4] + "75cb"),
        (
            ["read-meter", "60", "60", "--device", "0x01"],
            "59590001001c01024142313233344735363700000000000000080116003c003c8814",
        ),
    ],
)
def test_request_prints_the_frame(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, lines, err = run(capsys, "request", *argv)
    assert (code, lines, err) == (0, [expected], "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["read-holding", "0", "61"], "1..60"),
        (["read-input", "0", "0"], "1..60"),
        (["read-input", "0", "0x3c", "--device", "0x100"], "device"),
        (["read-input", "65536", "1"], "base register"),
        (["write", "96", "70000"], "value"),
        (["write", "-1", "1"], "register"),
        (["read-input", "zero", "60"], "not a decimal or 0x-hex number"),
        (["read-input", "0"], "COUNT"),
        (["erase", "0"], "invalid choice"),
    ],
)
def test_request_refusals_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, lines, err = run(capsys, "request", *argv)
    assert (code, lines) == (2, [])
    assert message in err


# ---------------------------------------------------------------------------------------------
# registers, help, the real command


def test_registers_prints_the_register_map(capsys: pytest.CaptureFixture[str]) -> None:
    from givenergy_modbus_codec.registers import render_markdown

    code, lines, _ = run(capsys, "registers")
    assert code == 0
    assert "\n".join(lines) + "\n" == render_markdown()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([], ["decode", "request", "registers", "Exit codes"]),
        (["decode"], ["crc_form", "legacy", "suspect_kind", "stdin", "'|'"]),
        (["request"], ["1..60", "0x-hex", "read-holding", "read-input", "write"]),
        (["request", "read-input"], ["BASE", "COUNT", "--device", "0x32"]),
        (["request", "write"], ["REGISTER", "VALUE", "65535"]),
    ],
)
def test_help_explains(capsys: pytest.CaptureFixture[str], argv: list[str], words: list[str]):
    code, lines, _ = run(capsys, *argv, "--help")
    assert code == 0
    text = " ".join(" ".join(lines).split())
    assert all(word in text for word in words), text


def test_command_stays_light_and_reads_stdin() -> None:
    """The CLI must not pay pymodbus' import cost; '-' reads one HEX per line from stdin."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "givenergy_modbus_codec", "decode", "-"],
        cwd=PROJECT_ROOT,
        input=f"{E1}\n\n{E7}\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert [json.loads(line)["kind"] for line in proc.stdout.splitlines()] == [
        "heartbeat",
        "write_request",
    ]
    imported = proc.stderr
    assert "givenergy_modbus_codec.stream" in imported  # importtime output is really there
    assert "pymodbus" not in imported


def test_count_over_60_as_a_real_command() -> None:
    proc = cli("request", "read-input", "0", "120")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert "60" in proc.stderr


# ---------------------------------------------------------------------------------------------
# Agreement with the recorded decode of every captured frame


def cli_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The CLI's JSON in the field names of tests.codec.test_vectors.reference_fields."""
    fields = {k: obj.get(k) for k in ("kind", "adapter_serial", "inverter_serial", "error")}
    for key in ("device", "function"):
        fields[key] = int(obj[key], 16) if obj.get(key) else None
    fields |= {"base": obj.get("base"), "count": obj.get("count"), "values": obj.get("values")}
    if obj["kind"] in ("write_request", "write_response"):
        fields |= {"value": obj["values"][0], "count": None, "values": None}
    fields["adapter_type"] = obj.get("adapter_type")
    return fields


def _decode_batches(hexes: list[str]) -> list[list[dict[str, Any]]]:
    """Run the CLI over all frames, BATCH per process; the objects printed for each frame."""
    per_frame: list[list[dict[str, Any]]] = []
    for start in range(0, len(hexes), BATCH):
        batch = hexes[start : start + BATCH]
        proc = cli("decode", *batch)
        assert (proc.returncode, proc.stderr) == (0, "")
        objs = [json.loads(line) for line in proc.stdout.splitlines()]
        per_frame += [[o for o in objs if o["input"] == i] for i in range(len(batch))]
    return per_frame


@pytest.mark.parametrize("path", capture_params(), ids=lambda p: p.name)
def test_cli_agrees_with_every_captured_frame(path: Path) -> None:
    vectors = load_vectors(str(Path("captures") / path.name))["vectors"]
    outputs = _decode_batches([v["hex"] for v in vectors])
    valid = 0
    for vector, objs in zip(vectors, outputs, strict=True):
        assert len(objs) == 1, vector["hex"]
        (obj,) = objs
        if vector["wire"].get("crc_ok_unified") is False:
            assert obj["kind"] in ("bad", "null", "lan_broadcast")
            assert obj["crc_ok"] is not True
            continue
        expected = reference_fields(vector["decoded"])
        actual = cli_fields(obj)
        assert {k: actual[k] for k in expected} == expected, vector["hex"]
        assert obj["crc_ok"] is (None if obj["kind"] == "heartbeat" else True)
        valid += 1
    assert valid > 0
