"""--replay: a captured plant served by the simulator, checked against the capture itself.

Expected values come from the capture's own reference decode (``decoded.register_values``
of the shared vectors) and, for read.py, from the raw registers decoded by hand here with
the rules of ../shared/reference/registers.md (sections 1, 6, 8, 10), not from the product's
register tables.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from givenergy_modbus_codec.capturelog import (
    TO_CLIENT,
    CapturedFrame,
    CaptureFileError,
    format_line,
    load_capture,
)
from givenergy_modbus_codec.frames import (
    ErrorResponse,
    Function,
    Heartbeat,
    ReadRequest,
    ReadResponse,
    WriteRequest,
    WriteResponse,
)
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givenergy_modbus_codec.simulator.replay import Replay
from tests.conftest import PROJECT_ROOT, VECTORS_DIR, VECTORS_MISSING, capture_files
from tests.scripts import run_script, sim_env

from .test_cli import http
from .wire import RawClient

CAPTURES = VECTORS_DIR / "captures"
GEN1 = "hybrid_2_bat_a__hybrid_gen1_arm449_0x11_poll_10min.log.json"
GEN2 = "hybrid_gen2_1_bat_a__hybrid_gen2_arm920_60s.log.json"
AC_BEHIND_EMS = "ems_2_inv_3_bat_a__ac_arm282_1x_givbat512gen3_30min.log.json"
AIO = "aio_a__aio_arm612_5min.log.json"
SINGLE_PHASE = {GEN1, GEN2, AC_BEHIND_EMS}
QUIET = 0.4  # seconds without an answer that count as silence on loopback


def capture(name: str) -> Path:
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"{name}: {VECTORS_MISSING}")
    return path


@pytest.fixture
def replay():
    started: list[Simulator] = []

    def start(path: Path, **overrides: object) -> Simulator:
        settings: dict[str, object] = {"replay": path, "speed": 0.0, "heartbeat": 0.0}
        settings.update(overrides)
        sim = Simulator(SimulatorConfig(**settings))  # type: ignore[arg-type]
        sim.start(host="127.0.0.1", port=0)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def captured_answers(path: Path) -> tuple[dict, dict, list, list]:
    """From the reference decode: the last value of every register per (device, function),
    the inverter serial per device, and the (device, function, base, count) of every good
    register answer and of every error answer."""
    document = json.loads(path.read_text())
    last: dict[tuple[int, int], dict[int, int]] = {}
    serials: dict[int, str] = {}
    shapes: list[tuple[int, int, int, int]] = []
    errors: list[tuple[int, int, int, int]] = []
    for vector in document["vectors"]:
        wire, decoded = vector["wire"], vector["decoded"]
        if vector["direction"] != "to_client" or not wire.get("crc_ok_unified"):
            continue
        if "register_count" not in decoded:
            continue
        device = int(wire["device_address"], 16)
        shape = (device, decoded["function"], decoded["base_register"], decoded["register_count"])
        serials[device] = decoded["inverter_serial"]
        if decoded["error"]:
            errors.append(shape)
            continue
        shapes.append(shape)
        values = decoded["register_values"]
        last.setdefault(shape[:2], {}).update({shape[2] + i: v for i, v in enumerate(values)})
    return last, serials, sorted(set(shapes)), sorted(set(errors))


@pytest.mark.parametrize("path", capture_files(), ids=lambda p: p.name.split("__")[0])
def test_every_capture_answers_its_own_requests(replay, path):
    last, serials, shapes, errors = captured_answers(path)
    assert shapes
    sim = replay(path)
    client = RawClient(sim.port)
    try:
        for device, function, base, count in shapes:
            answer, _ = client.ask(ReadRequest(device, function, base, count))
            assert isinstance(answer, ReadResponse)
            file = last[(device, function)]
            assert answer.values == tuple(file[base + i] for i in range(count))
            assert answer.inverter_serial == serials[device]
        for device, function, base, count in errors:
            answer, _ = client.ask(ReadRequest(device, function, base, count))
            assert isinstance(answer, ErrorResponse)
        never_seen = next(a for a in range(0xF0, 0x100) if a not in serials)
        client.send(ReadRequest(never_seen, Function.READ_INPUT, 0, 60))
        assert client.frames(QUIET) == []
    finally:
        client.close()


def test_a_bank_the_plant_never_answered_is_refused(replay):
    sim = replay(capture(AC_BEHIND_EMS))
    client = RawClient(sim.port)
    answer, _ = client.ask(ReadRequest(0x11, Function.READ_HOLDING, 60, 60))
    assert isinstance(answer, ErrorResponse)  # the plant answers HR 60-119 at 0x31 only
    answer, _ = client.ask(ReadRequest(0x31, Function.READ_HOLDING, 60, 60))
    assert isinstance(answer, ReadResponse)
    client.close()


def test_a_request_the_capture_saw_unanswered_stays_silent(replay):
    sim = replay(capture(GEN1))  # read IR(60,30) at 0x01..0x08: no meter ever answered
    client = RawClient(sim.port)
    client.send(ReadRequest(0x01, Function.READ_INPUT, 60, 30))
    assert client.frames(QUIET) == []
    assert sim.requests[-1].outcome == "silence"
    client.close()


def test_a_write_is_applied_in_memory_and_reads_back(replay):
    sim = replay(capture(GEN1))
    client = RawClient(sim.port)
    answer, _ = client.ask(WriteRequest(0x11, 94, 130))
    assert isinstance(answer, WriteResponse) and answer.value == 130
    page, _ = client.ask(ReadRequest(0x11, Function.READ_HOLDING, 60, 60))
    assert isinstance(page, ReadResponse) and page.values[94 - 60] == 130
    refused, _ = client.ask(WriteRequest(0x11, 5000, 1))
    assert isinstance(refused, ErrorResponse)
    client.close()


def test_write_py_reads_back_its_write_on_a_replay(replay, tmp_path):
    sim = replay(capture(GEN2))
    assert sim.truth()["devices"]["0x11"]["holding"][116] != 57
    env = sim_env(sim.port, tmp_path, REQUEST_SPACING="0")
    run = run_script("write.py", "setChargeTarget", '{"chargeToPercent":"57"}', env=env)
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["writes"][0]["readback"] == 57
    assert sim.truth()["devices"]["0x11"]["holding"][116] == 57


def test_step_mode_moves_from_the_first_to_the_last_values(replay):
    path = capture(GEN1)
    document = json.loads(path.read_text())
    pages = [
        v["decoded"]["register_values"]
        for v in document["vectors"]
        if v["direction"] == "to_client"
        and v["wire"].get("device_address") == "0x11"
        and v["decoded"].get("function") == 4
        and v["decoded"].get("base_register") == 0
        and v["wire"]["crc_ok_unified"]
    ]
    assert pages[0] != pages[-1]
    sim = replay(path, replay_step=True)
    client = RawClient(sim.port)
    request = ReadRequest(0x11, Function.READ_INPUT, 0, 60)
    answer, _ = client.ask(request)
    assert list(answer.values) == pages[0]
    sim.advance(24 * 3600)
    answer, _ = client.ask(request)
    assert list(answer.values) == pages[-1]
    client.close()


def test_a_text_log_replays_like_its_json(replay, tmp_path):
    path = capture(GEN2)
    log = tmp_path / "gen2.log"
    lines = [format_line(CapturedFrame(f.time, f.direction, f.data)) for f in load_capture(path)]
    log.write_text("# a comment\n\n" + "\n".join(lines) + "\n")
    bare = tmp_path / "bare.log"  # hex only: no timestamps, no directions
    bare.write_text("\n".join(line.split()[-1] for line in lines) + "\n")
    truths = [replay(p).truth() for p in (path, log, bare)]
    assert truths[0]["devices"] == truths[1]["devices"] == truths[2]["devices"]
    assert truths[0]["devices"]["0x11"]["inverter_serial"] == "EA2302G000"


def test_replay_of_frames_with_mixed_timestamps_and_of_no_answers():
    page = ReadResponse(0x11, Function.READ_INPUT, "SA1234G000", 0, (7,) * 60, "WF1234G000")
    later = page._replace(values=(8,) * 60)
    zoned = dt.datetime(2026, 6, 5, 12, 0, 10, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    naive = dt.datetime(2026, 6, 5, 11, 0, 0)  # taken as UTC-like: 10 s before ``zoned``
    result = Replay.from_frames(
        [CapturedFrame(naive, TO_CLIENT, page.encode()), CapturedFrame(zoned, None, later.encode())]
    )
    assert result.duration == 10.0
    assert result.last[(0x11, Function.READ_INPUT)][0] == 8
    assert result.first[(0x11, Function.READ_INPUT)][0] == 7
    beat = Heartbeat("WF1234G000").encode()
    with pytest.raises(CaptureFileError, match="no answer"):
        Replay.from_frames([CapturedFrame(None, None, beat)])


def test_cli_serves_a_replay_with_its_control_endpoint():
    path = capture(GEN2)
    proc = subprocess.Popen(
        [sys.executable, "-m", "givenergy_modbus_codec.simulator", "--replay", str(path),
         "--replay-step", "--speed", "0", "--port", "0", "--control-port", "0"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().split()[2])
        control = int(proc.stdout.readline().split()[2])
        truth = http(control, "/truth")
        assert truth["model"] == "replay" and truth["replay"]["step"] is True
        assert truth["dongle_serial"] == "WG2302G000"
        client = RawClient(port)
        answer, _ = client.ask(ReadRequest(0x32, Function.READ_INPUT, 60, 60))
        assert [truth["devices"]["0x32"]["input"][str(r)] for r in range(60, 120)] == list(
            answer.values
        )
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_cli_refuses_an_unreadable_capture(tmp_path):
    bad = tmp_path / "bad.log"
    bad.write_text("2026-01-01T00:00:00 rx 5959zz\n")
    for args, message in (
        (["--replay", str(tmp_path / "missing.json")], "cannot read"),
        (["--replay", str(bad)], "line 1"),
        (["--replay-step"], "--replay-step needs --replay"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "givenergy_modbus_codec.simulator", "--port", "0", *args],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert "Traceback" not in result.stderr


# -- read.py against replays, checked by an independent decode -------------------------------


def s16(raw: int) -> int:
    return raw - 65536 if raw >= 32768 else raw


def u32(regs: dict[int, int], first: int) -> int:
    return (regs[first] << 16) + regs[first + 1]


def ascii_at(regs: dict[int, int], first: int) -> str:
    raw = b"".join(regs[r].to_bytes(2, "big") for r in range(first, first + 5))
    return raw.decode("latin-1").replace("\x00", "")


def expected_single_phase(path: Path, batteries: tuple[int, ...]) -> dict:
    """registers.md's single-phase decode of the capture's last values (0x11, batteries)."""
    last, _, _, _ = captured_answers(path)
    hr = last[(0x11, Function.READ_HOLDING)]
    ir = last[(0x11, Function.READ_INPUT)]
    pages = {d: last[(d, Function.READ_INPUT)] for d in batteries}
    return {
        "Power": {
            "PV Power String 1": ir[18],
            "PV Power String 2": ir[20],
            "PV Power": ir[18] + ir[20],
            "Grid Power": s16(ir[30]),
            "EPS Power": ir[31],
            "Invertor Power": s16(ir[24]),
            "Load Power": ir[42],
            "Battery Power": s16(ir[52]),
            "SOC": ir[59],
        },
        "Energy/Today": {
            "PV Energy Today kWh": round((ir[17] + ir[19]) / 10, 1),
            "Import Energy Today kWh": ir[26] / 10,
            "Export Energy Today kWh": ir[25] / 10,
        },
        "Energy/Total": {
            "PV Energy Total kWh": u32(ir, 11) / 10,
            "Export Energy Total kWh": u32(ir, 21) / 10,
            "Import Energy Total kWh": u32(ir, 32) / 10,
        },
        "Invertor Details": {
            "Invertor Serial Number": ascii_at(hr, 13),
            "Invertor Temperature": s16(ir[41]) / 10,
        },
        "Timeslots": {"Charge start time slot 1": f"{hr[94]:04d}"},
        "Control": {"Target SOC": hr[116]},
        "Battery Details": {
            ascii_at(page, 110): {
                "Battery SOC": page[100],
                "Battery Cell 1 Voltage": page[60] / 1000,
            }
            for page in pages.values()
        },
    }


def assert_contains(out: dict, expected: dict) -> None:
    for group, values in expected.items():
        assert group in out, f"no {group!r} group in {sorted(out)}"
        for key, value in values.items():
            if isinstance(value, dict):
                assert_contains(out[group], {key: value})
            else:
                assert out[group].get(key) == pytest.approx(value), f"{group} / {key}"


@pytest.mark.parametrize(
    ("name", "batteries"),
    [
        (GEN1, (0x32, 0x33)),
        (GEN2, (0x32,)),
        pytest.param(
            AC_BEHIND_EMS,
            (0x32,),
            marks=pytest.mark.xfail(
                reason="issue 11, open: read.py now falls back to 0x31 for HR 60-119 and IR "
                "180-239 on this plant; the expected decode here still lacks what that gives",
                strict=False,
            ),
        ),
    ],
    ids=["gen1", "gen2", "ac_behind_ems"],
)
def test_read_run_all_equals_an_independent_decode(replay, tmp_path, name, batteries):
    path = capture(name)
    sim = replay(path)
    env = sim_env(sim.port, tmp_path, NUM_BATTERIES=str(len(batteries)), REQUEST_SPACING="0")
    run = run_script("read.py", "runAll", env=env)
    assert run.code == 0, run.stderr
    out = run.json()
    assert_contains(out, expected_single_phase(path, batteries))
    assert len(out["Battery Details"]) == len(batteries)


OTHER_FAMILIES = [p for p in capture_files() if p.name not in SINGLE_PHASE]


@pytest.mark.parametrize("path", OTHER_FAMILIES, ids=lambda p: p.name.split("__")[0])
@pytest.mark.xfail(
    reason="issue 11, open: AIO, Gateway and EMS are now read (their values are checked at the "
    "decode level in tests/givtcp/test_family_captures.py) and the three-phase capture has no "
    "HR(0,60) to detect it by; this refusal check predates the family maps and is to become "
    "a per-family value check of the replayed run",
    strict=False,
)
def test_read_run_all_never_prints_another_familys_values(replay, tmp_path, path):
    sim = replay(path)
    run = run_script("read.py", "runAll", env=sim_env(sim.port, tmp_path, NUM_BATTERIES="0"))
    assert run.code == 1
    assert "is not supported by this version" in run.stderr
    assert run.stdout.strip() == ""
