"""Shared benchmark helpers: measured child processes, read.py launchers, simulator, statistics."""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from givenergy_modbus_codec.frames import Function, ReadRequest
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givenergy_modbus_codec.simulator.faults import Faults
from givenergy_modbus_codec.simulator.server import RequestRecord, describe

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LOOPBACK = "127.0.0.1"
DEFAULT_SPACING = 0.25  # the REQUEST_SPACING setting's default, for labels
SPACING_ENV = "REQUEST_SPACING"  # seconds between requests (givtcp/config.py)
MIB = 1024 * 1024

# Banks each read function needs (README "Reading"): inverter banks, plus one IR(60,60) page per
# battery for the functions that report batteries. Kept here, not taken from the product, so the
# benchmark checks the product's plan instead of repeating it.
INVERTER_BANKS = {"getTimeslots": 2, "getModesandTimes": 2, "getCombinedStats": 3, "runAll": 4}
WITH_BATTERIES = {"getCombinedStats", "runAll"}


def banks_needed(function: str, batteries: int) -> int:
    """Banks ``function`` must read with ``batteries`` batteries present."""
    return INVERTER_BANKS[function] + (batteries if function in WITH_BATTERIES else 0)


# -- measured child processes ---------------------------------------------------------------


# GNU time reports the child's own peak RSS. os.wait4's ru_maxrss would not do: Linux carries
# the spawning process's high-water mark into a child across exec, so every child of this
# (larger) benchmark process would look at least as big as it.
GNU_TIME = Path("/usr/bin/time")


@dataclass(frozen=True)
class Sample:
    """One child process: wall and CPU seconds, peak RSS, exit code and output."""

    wall: float
    cpu: float
    max_rss: int | None  # bytes; None without GNU time
    code: int
    stdout: str
    stderr: str

    def last_error(self) -> str:
        lines = self.stderr.strip().splitlines()
        return f"exit {self.code}: {lines[-1] if lines else '(no stderr)'}"


def measure(
    argv: Sequence[str], env: dict[str, str], timeout: float = 120.0, cwd: Path = PROJECT_ROOT
) -> Sample:
    """Run ``argv``; wall time around it, CPU time from os.wait4, peak RSS from GNU time."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as rss,
    ):
        wrapper = [str(GNU_TIME), "-f", "%M", "-o", rss.name] if GNU_TIME.exists() else []
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*wrapper, *argv], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        report = rss.read().split()
        out.seek(0)
        err.seek(0)
        return Sample(
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,  # includes GNU time's own (~1 ms)
            max_rss=int(report[-1]) * 1024 if report and report[-1].isdigit() else None,
            code=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def base_env(**extra: str) -> dict[str, str]:
    """A clean environment: no user settings.py (the template instead), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["GIVTCP_SETTINGS"] = str(PROJECT_ROOT / "settings_template.py")
    env.update(extra)
    return env


def read_env(port: int, state_dir: Path, **extra: str) -> dict[str, str]:
    """Settings for read.py / REST.py against a simulator on ``port``."""
    return base_env(
        INVERTOR_IP=LOOPBACK, INVERTOR_PORT=str(port), STATE_LOCATION=str(state_dir), **extra
    )


@dataclass(frozen=True)
class Launch:
    """read.py in one spacing mode: a label and the environment that selects the mode."""

    label: str
    env: dict[str, str] = field(default_factory=dict)

    def command(self, function: str) -> list[str]:
        return [PYTHON, "read.py", function]


DEFAULT_LAUNCH = Launch(f"default spacing ({DEFAULT_SPACING:g} s)")
ZERO_SPACING_LAUNCH = Launch(f"spacing 0 ({SPACING_ENV}=0)", {SPACING_ENV: "0"})


# -- simulator ------------------------------------------------------------------------------


@contextlib.contextmanager
def simulator(latency: float, batteries: int = 1) -> Iterator[Simulator]:
    """An in-process simulator on a free loopback port: frozen plant clock, no heartbeats."""
    config = SimulatorConfig(
        seed=1, batteries=batteries, speed=0.0, heartbeat=0.0, faults=Faults(latency=latency)
    )
    with Simulator(config) as sim:
        yield sim


def last_seq(sim: Simulator) -> int:
    records = sim.requests
    return records[-1].seq if records else 0


def requests_since(sim: Simulator, seq: int) -> list[RequestRecord]:
    """Read/write requests logged after sequence number ``seq``."""
    return [r for r in sim.requests if r.seq > seq and r.frame.kind.endswith("request")]


def is_inverter_read(record: RequestRecord) -> bool:
    """HR(0,60) at the inverter: the first bank of every read, so one per inverter read."""
    frame = record.frame
    return (
        isinstance(frame, ReadRequest)
        and frame.function == Function.READ_HOLDING
        and frame.base == 0
        and frame.device == 0x11
    )


def labels(records: Sequence[RequestRecord]) -> list[str]:
    return [describe(r.frame) for r in records]


# -- statistics -----------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (defined for any non-empty sample)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def mib(size: float) -> float:
    return round(size / MIB, 1)
