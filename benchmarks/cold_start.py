"""Cold start: whole-process cost of ``read.py runAll`` against a zero-latency simulator.

Every configuration (bare ``python -c pass`` as the floor, read.py's imports alone, JSON only
with the default and with zero request spacing, JSON plus each sink) runs N times, interleaved
so drift hits all alike (the JSON-only ones before the sinks' servers start); the median wall
time, CPU time and peak RSS of each child are reported, also as ratios to the floor. A few
runs per read.py configuration under ``-X importtime`` list the slowest imports and which sink
libraries were imported.

    .venv/bin/python -m benchmarks.cold_start [--runs 20]     # prints JSON results
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .common import (
    DEFAULT_LAUNCH,
    PYTHON,
    ZERO_SPACING_LAUNCH,
    Sample,
    base_env,
    measure,
    median,
    mib,
    ms,
    read_env,
    simulator,
)
from .servers import Server, Unavailable, start_ha_stub, start_mosquitto, start_victoria_metrics

FUNCTION = "runAll"
BATTERIES = 1
# Libraries no JSON-only run may import; a sink run may import only its own one.
SINK_LIBRARIES = ("paho", "influxdb_client", "requests", "flask", "pymodbus")


@dataclass(frozen=True)
class SinkSpec:
    """An output module of outputs/, the server it talks to, and the library it may import."""

    label: str
    start: Callable[[Path], Server]
    library: str


SINKS = {
    "mqtt": SinkSpec("MQTT (mosquitto)", start_mosquitto, "paho"),
    "influx": SinkSpec("InfluxDB (VictoriaMetrics)", start_victoria_metrics, "influxdb_client"),
    "homeassistant": SinkSpec(
        "Home Assistant REST (local stub)", lambda _work: start_ha_stub(), "requests"
    ),
}
TOP_IMPORTS = 12


@dataclass
class Config:
    """One measured command line."""

    key: str
    name: str
    argv: list[str]
    env: dict[str, str]
    sink: str | None = None
    server: Server | None = None
    status: str = "ok"
    samples: list[Sample] = field(default_factory=list)
    server_requests: int | None = None  # requests the sink server got in the measured runs

    def run_once(self) -> None:
        sample = measure(self.argv, self.env)
        if sample.code != 0:
            self.status = f"failed ({sample.last_error()})"
        else:
            self.samples.append(sample)


def sink_available(module: str) -> bool:
    return importlib.util.find_spec(f"outputs.{module}") is not None


def parse_importtime(stderr: str) -> list[tuple[str, int, float, float]]:
    """``-X importtime`` lines as (module, depth, self ms, cumulative ms)."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, raw = line.removeprefix("import time:").split("|", 2)
        depth = (len(raw) - len(raw.lstrip()) - 1) // 2
        rows.append((raw.strip(), depth, int(self_us) / 1000, int(cumulative_us) / 1000))
    return rows


def import_report(config: Config, label: str, runs: int) -> dict[str, Any]:
    """Imports of plain ``read.py runAll`` with ``config``'s settings under -X importtime
    (per-module medians of ``runs`` runs): the slowest modules by own time, the total, and
    which sink libraries were imported."""
    argv = [PYTHON, "-X", "importtime", "read.py", FUNCTION]
    samples = [measure(argv, config.env) for _ in range(runs)]
    per_module: dict[str, list[tuple[int, float, float]]] = {}
    totals = []
    for sample in samples:
        rows = parse_importtime(sample.stderr)
        totals.append(sum(cumulative for _, depth, _, cumulative in rows if depth == 0))
        for name, depth, own, cumulative in rows:
            per_module.setdefault(name, []).append((depth, own, cumulative))
    roots = {name.split(".")[0] for name in per_module}
    imported = [lib for lib in SINK_LIBRARIES if lib in roots]
    allowed = {SINKS[config.sink].library} if config.sink else set()
    unexpected = [lib for lib in imported if lib not in allowed]
    modules = [
        {
            "module": name,
            "depth": values[0][0],
            "self_ms": round(median([own for _, own, _ in values]), 1),
            "cumulative_ms": round(median([cumulative for *_, cumulative in values]), 1),
        }
        for name, values in per_module.items()
    ]
    failed = [s.last_error() for s in samples if s.code != 0]
    return {
        "config": label,
        "runs": runs,
        "status": f"failed ({failed[0]})" if failed else "ok",
        "modules_imported": len(per_module),
        "total_import_ms": round(median(totals), 1),
        "sink_libraries_imported": imported,
        "unexpected_libraries": unexpected,
        "verdict": "PASS" if not failed and not unexpected else "FAIL",
        "top_self": sorted(modules, key=lambda m: m["self_ms"], reverse=True)[:TOP_IMPORTS],
        "top_level": sorted(
            (m for m in modules if m["depth"] == 0), key=lambda m: m["cumulative_ms"], reverse=True
        )[:TOP_IMPORTS],
    }


class Medians(NamedTuple):
    wall: float
    cpu: float
    rss: float | None


def _medians(samples: list[Sample]) -> Medians:
    rss = [s.max_rss for s in samples if s.max_rss is not None]
    return Medians(
        median([s.wall for s in samples]),
        median([s.cpu for s in samples]),
        median(rss) if rss else None,
    )


def summarise(config: Config, floor: Config) -> dict[str, Any]:
    """Medians (and spread) of one configuration, with ratios to the floor's medians."""
    row: dict[str, Any] = {"key": config.key, "config": config.name, "status": config.status}
    if not config.samples:
        return row
    walls = [s.wall for s in config.samples]
    peaks = [s.max_rss for s in config.samples if s.max_rss is not None]
    mine = _medians(config.samples)
    row |= {
        "runs": len(config.samples),
        "wall_ms": ms(mine.wall),
        "wall_ms_min": ms(min(walls)),
        "wall_ms_max": ms(max(walls)),
        "cpu_ms": ms(mine.cpu),
        "max_rss_mib": mib(mine.rss) if mine.rss else None,
        "max_rss_mib_max": mib(max(peaks)) if peaks else None,
    }
    if config is not floor and floor.samples:
        base = _medians(floor.samples)
        row |= {
            "wall_ratio": round(mine.wall / base.wall, 2),
            "cpu_ratio": round(mine.cpu / base.cpu, 2),
        }
        if mine.rss and base.rss:
            row["rss_ratio"] = round(mine.rss / base.rss, 2)
    if config.server_requests is not None:
        row["server_requests_per_run"] = round(config.server_requests / len(config.samples), 1)
    return row


def _configs(port: int, state: Path) -> list[Config]:
    env = read_env(port, state)
    return [
        Config(
            "floor", "bare start-up: python -c pass (floor)", [PYTHON, "-c", "pass"], base_env()
        ),
        Config(
            "imports",
            "read.py's module-level imports only: python -c 'import read' (no read)",
            [PYTHON, "-c", "import read"],
            env,
        ),
        Config(
            "json_default",
            f"JSON only, {DEFAULT_LAUNCH.label}",
            DEFAULT_LAUNCH.command(FUNCTION),
            env | DEFAULT_LAUNCH.env,
        ),
        Config(
            "json",
            f"JSON only, {ZERO_SPACING_LAUNCH.label}",
            ZERO_SPACING_LAUNCH.command(FUNCTION),
            env | ZERO_SPACING_LAUNCH.env,
        ),
    ]


def _measure_interleaved(configs: list[Config], runs: int) -> None:
    """One warm-up run each (byte-code caches, battery list; not counted), then ``runs``
    rounds of one run per configuration, so that drift hits all of them alike."""
    active = [c for c in configs if c.status == "ok"]
    for config in active:
        config.run_once()
        config.samples.clear()
    counted = {c.key: c.server.requests for c in active if c.server and c.server.requests}
    before = {key: count() for key, count in counted.items()}
    for _ in range(runs):
        for config in active:
            if config.status == "ok":
                config.run_once()
    for config in active:
        if config.key in counted:
            config.server_requests = counted[config.key]() - before[config.key]


def run(runs: int = 20, import_runs: int = 5) -> dict[str, Any]:
    """Measure every configuration ``runs`` times; returns the results as JSON-ready data."""
    with (
        simulator(latency=0.0, batteries=BATTERIES) as sim,
        tempfile.TemporaryDirectory() as tmp,
        contextlib.ExitStack() as servers,
    ):
        work = Path(tmp)
        configs = _configs(sim.port, work / "state")
        # The JSON-only configurations run first, before any sink's server is started: the
        # background work of those servers (VictoriaMetrics ingesting the previous run's
        # points) must not land on runs that do not use them.
        _measure_interleaved(configs, runs)
        zero = ZERO_SPACING_LAUNCH
        sink_configs = []
        for module, sink in SINKS.items():
            config = Config(module, f"JSON + {sink.label}", zero.command(FUNCTION), {}, module)
            sink_configs.append(config)
            if not sink_available(module):
                config.status = f"not available: outputs/{module}.py does not exist yet"
                continue
            try:
                config.server = sink.start(work)
            except Unavailable as exc:
                config.status = f"not available: {exc}"
                continue
            servers.callback(config.server.stop)
            config.env = read_env(sim.port, work / "state", **config.server.settings) | zero.env
        _measure_interleaved(sink_configs, runs)
        configs += sink_configs
        imports = [
            import_report(c, "JSON only" if c.key == "json" else c.name, import_runs)
            for c in configs
            if c.key not in ("floor", "imports", "json_default") and c.status == "ok"
        ]
        floor = configs[0]
        return {
            "function": FUNCTION,
            "batteries": BATTERIES,
            "runs": runs,
            "configs": [summarise(c, floor) for c in configs],
            "imports": imports,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="measured runs per configuration")
    parser.add_argument("--import-runs", type=int, default=5, help="-X importtime runs")
    parser.add_argument("--quick", action="store_true", help="2 runs: proves the script works")
    args = parser.parse_args(argv)
    runs, import_runs = (2, 1) if args.quick else (args.runs, args.import_runs)
    print(json.dumps(run(runs, import_runs), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
