"""Fault costs (issue 10, Benchmarks): what a misbehaving dongle or a first run costs, each as
a ratio to a clean run measured alongside it in the same run.

* CRC errors: ``read.py runAll`` at ``--latency`` with 20 % of answers sent with a bad CRC,
  against the same command on the clean dongle, runs interleaved. Target: <= 1.5 x clean.
* Silence: the dongle answers the first request of ``read.py runAll`` and then nothing more;
  how long read.py takes to give up (it must exit 1). Target: <= 10 s.
* First run: ``read.py runAll`` with an empty state folder (battery probe, no remembered
  state) against a steady run with the state of earlier runs in place, interleaved.
  Target: <= 2 x steady.

A configuration with any run that failed (an unexpected exit code, a killed run, a sample
missing) has no verdict but FAIL.

    .venv/bin/python -m benchmarks.fault_costs [--runs 7] [--latency 0.25]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from givenergy_modbus_codec.frames import Request
from givenergy_modbus_codec.simulator import Simulator
from givenergy_modbus_codec.simulator.device import Reply

from .common import (
    DEFAULT_LAUNCH,
    Sample,
    banks_needed,
    last_seq,
    measure,
    median,
    ms,
    read_env,
    requests_since,
    simulator,
)

FUNCTION = "runAll"
BATTERIES = 1
CRC_ERROR_RATE = 0.2
CRC_TARGET_RATIO = 1.5
SILENT_TARGET_S = 10.0
SILENT_KILL_S = 120.0  # a run still going after this is killed (and FAILs)
FIRST_RUN_TARGET_RATIO = 2.0
EXIT_UNREACHABLE = 1  # README exit codes: inverter unreachable / no valid data


def _wall_stats(samples: list[Sample]) -> dict[str, Any]:
    walls = [s.wall for s in samples]
    return {
        "runs": len(walls),
        "wall_ms": ms(median(walls)),
        "wall_ms_min": ms(min(walls)),
        "wall_ms_max": ms(max(walls)),
        "wall_ms_mean": ms(sum(walls) / len(walls)),
    }


def _failures(samples: list[Sample], runs: int, code: int = 0) -> list[str]:
    """Why a configuration's runs cannot be judged: exits other than ``code``, missing runs."""
    problems = [s.last_error() for s in samples if s.code != code]
    if len(samples) < runs:
        problems.append(f"{runs - len(samples)} of {runs} runs missing")
    return problems


def _ratio_row(
    name: str,
    target: float,
    faulty: list[Sample],
    clean: list[Sample],
    runs: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """A faulty configuration against its clean one: median wall ratio, PASS only if every
    run of both succeeded."""
    row: dict[str, Any] = {"name": name, "target_ratio": target, **extra}
    problems = _failures(faulty, runs) + _failures(clean, runs)
    if faulty and clean:
        row["faulty"] = _wall_stats(faulty)
        row["clean"] = _wall_stats(clean)
        row["ratio"] = round(median([s.wall for s in faulty]) / median([s.wall for s in clean]), 2)
    if problems:
        return row | {"status": f"failed ({problems[0]})", "verdict": "FAIL"}
    return row | {"status": "ok", "verdict": "PASS" if row["ratio"] <= target else "FAIL"}


def crc_errors(sim: Simulator, state: Path, runs: int) -> dict[str, Any]:
    """runAll with CRC_ERROR_RATE of answers corrupted, against clean runs, interleaved."""
    env = read_env(sim.port, state)
    command = DEFAULT_LAUNCH.command(FUNCTION)
    clean: list[Sample] = []
    faulty: list[Sample] = []
    hit_runs = 0
    for _ in range(runs):
        sim.faults.crc_error_rate = 0.0
        clean.append(measure(command, env))
        seq = last_seq(sim)
        sim.faults.crc_error_rate = CRC_ERROR_RATE
        try:
            faulty.append(measure(command, env))
        finally:
            sim.faults.crc_error_rate = 0.0
        hit_runs += any("crc" in r.faults for r in requests_since(sim, seq))
    return _ratio_row(
        f"{FUNCTION} with {CRC_ERROR_RATE:.0%} CRC errors vs clean",
        CRC_TARGET_RATIO,
        faulty,
        clean,
        runs,
        {"crc_error_rate": CRC_ERROR_RATE, "runs_with_a_crc_error": hit_runs},
    )


def first_run(sim: Simulator, state: Path, work: Path, runs: int) -> dict[str, Any]:
    """runAll with an empty state folder against runAll with earlier runs' state, interleaved."""
    command = DEFAULT_LAUNCH.command(FUNCTION)
    steady_env = read_env(sim.port, state)
    first: list[Sample] = []
    steady: list[Sample] = []
    requests: list[int] = []
    for index in range(runs):
        empty = work / f"first-{index}"
        seq = last_seq(sim)
        first.append(measure(command, read_env(sim.port, empty)))
        requests.append(len(requests_since(sim, seq)))
        shutil.rmtree(empty, ignore_errors=True)
        steady.append(measure(command, steady_env))
    return _ratio_row(
        f"first {FUNCTION} (empty state folder) vs steady",
        FIRST_RUN_TARGET_RATIO,
        first,
        steady,
        runs,
        {"first_run_requests": sorted(set(requests))},
    )


@contextlib.contextmanager
def _answers_once(sim: Simulator) -> Iterator[None]:
    """The simulator's inverter handles one request; every later one gets silence.

    The simulator has no such fault switch, and switching ``silent`` on once the log shows
    the first answer races with read.py's next request (it is sent one spacing after the
    first, about when the first answer leaves). Wrapping the device of this in-process
    simulator decides per request, so exactly one is answered.
    """
    device = sim.device
    handle = device.handle
    handled = 0

    def once(request: Request) -> Reply:
        nonlocal handled
        handled += 1
        if handled > 1:
            return Reply("silence", None, "benchmark: silent after one answer")
        return handle(request)

    device.handle = once  # type: ignore[method-assign]
    try:
        yield
    finally:
        device.handle = handle  # type: ignore[method-assign]


def silent_after_one_answer(sim: Simulator, state: Path, runs: int) -> dict[str, Any]:
    """How long runAll takes to exit 1 when the dongle answers once, then never again; the
    log afterwards confirms that exactly one request was answered."""
    env = read_env(sim.port, state)
    samples: list[Sample] = []
    problems: list[str] = []
    for _ in range(runs):
        seq = last_seq(sim)
        with _answers_once(sim):
            sample = measure(DEFAULT_LAUNCH.command(FUNCTION), env, timeout=SILENT_KILL_S)
        records = requests_since(sim, seq)
        answered = sum(r.outcome == "answered" for r in records)
        if answered != 1:
            problems.append(f"the dongle answered {answered} requests, not 1")
        elif sample.code != EXIT_UNREACHABLE:
            problems.append(f"expected exit {EXIT_UNREACHABLE}, got {sample.last_error()}")
        samples.append(sample)
    row: dict[str, Any] = {
        "name": f"{FUNCTION} exits 1 when the dongle goes silent after one answer",
        "target_s": SILENT_TARGET_S,
        "banks_needed": banks_needed(FUNCTION, BATTERIES),
        "exit_codes": sorted({s.code for s in samples}),
    }
    if samples:
        row |= _wall_stats(samples)
        row["wall_s"] = round(median([s.wall for s in samples]), 2)
        row["ratio"] = round(row["wall_s"] / SILENT_TARGET_S, 2)
    if len(samples) < runs:
        problems.append(f"{runs - len(samples)} of {runs} runs missing")
    if problems:
        return row | {"status": f"failed ({problems[0]})", "verdict": "FAIL"}
    return row | {"status": "ok", "verdict": "PASS" if row["wall_s"] <= SILENT_TARGET_S else "FAIL"}


def run(runs: int = 7, silent_runs: int = 2, latency: float = 0.25) -> dict[str, Any]:
    """All three measurements on one simulator at ``latency``."""
    with (
        simulator(latency=latency, batteries=BATTERIES) as sim,
        tempfile.TemporaryDirectory() as tmp,
    ):
        work = Path(tmp)
        state = work / "state"
        warm = measure(DEFAULT_LAUNCH.command(FUNCTION), read_env(sim.port, state))
        rows = [
            crc_errors(sim, state, runs),
            silent_after_one_answer(sim, state, silent_runs),
            first_run(sim, state, work, runs),
        ]
    return {
        "latency_s": latency,
        "batteries": BATTERIES,
        "launch": DEFAULT_LAUNCH.label,
        "warm_up_exit_code": warm.code,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per configuration")
    parser.add_argument("--silent-runs", type=int, default=2, help="runs of the silence row")
    parser.add_argument("--latency", type=float, default=0.25, help="simulator answer delay (s)")
    parser.add_argument("--quick", action="store_true", help="1 run each: proves it works")
    args = parser.parse_args(argv)
    runs, silent_runs = (1, 1) if args.quick else (args.runs, args.silent_runs)
    print(json.dumps(run(runs, silent_runs, args.latency), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
