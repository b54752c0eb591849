"""Smoke test: every benchmark script still runs in quick mode and gives well-formed results;
and benchmarks/RESULTS.md was generated at a commit with today's code.

No timing assertions: benchmarks measure, they do not pass or fail a build.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "benchmarks" / "RESULTS.md"
REGENERATE = ".venv/bin/python -m benchmarks.run_all"

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


def test_fault_costs_measure_each_fault_against_a_clean_run() -> None:
    result = results("fault_costs", "--latency", QUICK_LATENCY)
    crc, silent, first = result["rows"]
    for row in (crc, first):
        assert row["status"] == "ok", row
        assert row["faulty"]["runs"] == row["clean"]["runs"] == 1
        assert row["ratio"] == pytest.approx(
            row["faulty"]["wall_ms"] / row["clean"]["wall_ms"], abs=0.01
        )
        assert row["verdict"] == ("PASS" if row["ratio"] <= row["target_ratio"] else "FAIL")
    assert first["first_run_requests"][0] >= 5
    assert silent["status"] == "ok", silent
    assert silent["exit_codes"] == [1]
    assert silent["verdict"] == ("PASS" if silent["wall_s"] <= silent["target_s"] else "FAIL")


def test_a_configuration_with_a_failed_run_is_fail() -> None:
    from benchmarks import run_all

    cold = {
        "runs": 2,
        "configs": [
            {"key": "floor", "config": "floor", "status": "ok", "runs": 2, "wall_ms": 20.0},
            {
                "key": "json",
                "config": "JSON only",
                "status": "failed (exit 1: no answer)",
                "runs": 1,  # the one run that succeeded before the failure
                "wall_ms": 30.0,
                "wall_ratio": 1.5,
            },
            {"key": "json_default", "config": "JSON", "status": "ok", "runs": 1},
        ],
        "imports": [],
    }
    reqs = {"latency_s": 0.25, "rows": []}
    rows = run_all.target_rows(cold, reqs)
    assert [row[-1] for row in rows] == ["**FAIL**", "**FAIL**"]
    assert "failed (exit 1" in rows[0][1]
    assert "1 of 2 runs" in rows[1][1]


def test_run_all_writes_results_markdown(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    run_benchmark("run_all", "--latency", QUICK_LATENCY, "--output", str(output))
    text = output.read_text()
    for heading in ("## Machine", "## Targets (issues 6 and 10)", "## Cold start", "## Imports"):
        assert heading in text
    assert "## Requests and latency" in text and "## Concurrency" in text
    assert "## Fault costs (issue 10)" in text
    targets = text.split("## Targets", 1)[1].split("\n## ", 1)[0]
    for row in ("CRC errors vs clean", "silent after one answer", "empty state folder"):
        assert row in targets, row
    verdicts = re.findall(r"\| (PASS|\*\*FAIL\*\*) \|$", targets, re.MULTILINE)
    met = re.search(r"Met: (\d+) of (\d+)\.", targets)
    assert met is not None and int(met[2]) == len(verdicts) > 0
    assert int(met[1]) == verdicts.count("PASS")
    assert re.search(r"^\| Commit \| [0-9a-f]{40}", text, re.MULTILINE)


# -- RESULTS.md names the commit it was measured at ---------------------------------------


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=30
    )


def _documentation(path: str) -> bool:
    """Files that do not change what the benchmarks measure: RESULTS.md, docs/, READMEs."""
    parts = PurePosixPath(path)
    return path == "benchmarks/RESULTS.md" or parts.parts[0] == "docs" or parts.name == "README.md"


def test_results_were_measured_at_the_current_code() -> None:
    """RESULTS.md names the commit it was generated at; any code change since makes it stale."""
    match = re.search(r"^\| Commit \| ([0-9a-f]{7,40})( [^|]*)? \|$", RESULTS.read_text(), re.M)
    assert match, f"{RESULTS} names no commit: regenerate it with `{REGENERATE}`"
    commit, note = match[1], (match[2] or "").strip()
    if shutil.which("git") is None or _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout: cannot tell whether RESULTS.md is stale")
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        pytest.skip(
            f"RESULTS.md names commit {commit}, which this clone does not have (shallow or "
            "exported history): cannot tell whether it is stale"
        )
    assert not note, (
        f"benchmarks/RESULTS.md is stale: generated at {commit} {note}; "
        f"regenerate it at a clean commit with `{REGENERATE}`"
    )
    changed = _git("diff", "--name-only", commit, "HEAD").stdout.split()
    code = [path for path in changed if not _documentation(path)]
    assert not code, (
        f"benchmarks/RESULTS.md is stale: generated at {commit[:12]}, and code changed since "
        f"({', '.join(code[:8])}{' ...' if len(code) > 8 else ''}); "
        f"regenerate it with `{REGENERATE}` and commit it"
    )
