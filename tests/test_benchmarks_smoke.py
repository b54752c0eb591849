"""Smoke test: every benchmark script still runs in quick mode and gives well-formed results.

No timing assertions: benchmarks measure, they do not pass or fail a build.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT

QUICK_LATENCY = "0.05"  # short answers keep the smoke run fast; the full run uses 0.25 s


def run_benchmark(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--quick", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def results(module: str, *args: str) -> dict[str, Any]:
    return json.loads(run_benchmark(module, *args).stdout)


def test_cold_start_measures_floor_json_and_every_sink() -> None:
    result = results("cold_start")
    configs = {c["key"]: c for c in result["configs"]}
    assert set(configs) == {
        *("floor", "imports", "json_default", "json"),
        *("mqtt", "influx", "homeassistant"),
    }
    for key in ("floor", "imports", "json_default", "json"):
        assert configs[key]["status"] == "ok", configs[key]
        assert configs[key]["runs"] == 2
        assert configs[key]["wall_ms"] > 0 and configs[key]["cpu_ms"] > 0
    assert configs["json"]["wall_ratio"] > 0
    for key in ("mqtt", "influx", "homeassistant"):
        assert configs[key]["status"].startswith(("ok", "not available", "failed")), configs[key]
    json_only = result["imports"][0]
    assert json_only["config"] == "JSON only"
    assert isinstance(json_only["sink_libraries_imported"], list)
    assert json_only["top_self"] and json_only["top_level"]


def test_requests_latency_counts_requests_per_function() -> None:
    result = results("requests_latency", "--latency", QUICK_LATENCY)
    rows = result["rows"]
    assert len(rows) == 8  # 4 functions x (default spacing, spacing 0)
    for row in rows:
        assert row["status"] == "ok", row
        assert row["requests"] and row["connections"] and row["banks_read"]
        assert row["floor_ms"] == pytest.approx(row["banks_needed"] * float(QUICK_LATENCY) * 1000)
    assert result["probe"]["requests"] >= 1


def test_concurrency_reports_reads_and_latency_distribution() -> None:
    result = results("concurrency", "--latency", QUICK_LATENCY)
    assert sum(result["statuses"].values()) == result["clients"] == 8
    assert result["inverter_reads"] >= 1
    latency = result["latency_ms"]
    assert latency["min"] <= latency["median"] <= latency["p90"] <= latency["max"]


def test_run_all_writes_results_markdown(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    run_benchmark("run_all", "--latency", QUICK_LATENCY, "--output", str(output))
    text = output.read_text()
    for heading in ("## Machine", "## Targets (issue 6)", "## Cold start", "## Imports"):
        assert heading in text
    assert "## Requests and latency" in text and "## Concurrency" in text
    assert "PASS" in text or "FAIL" in text
