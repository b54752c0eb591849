"""Helpers to run read.py / write.py as a user would: a subprocess with environment settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import PROJECT_ROOT


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)

    def error(self) -> dict:
        return json.loads(self.stderr.strip().splitlines()[-1])


def run_script(script: str, *args: str, env: dict[str, str], timeout: float = 60) -> Run:
    """Run ``script`` from the project root with ``env`` over a clean, settings-free base."""
    passed = ("PATH", "HOME", "LANG", "TMPDIR", "STATE_LOCATION", "XDG_STATE_HOME")
    base = {k: v for k, v in os.environ.items() if k in passed}
    base["GIVTCP_SETTINGS"] = str(PROJECT_ROOT / "settings_template.py")
    proc = subprocess.run(
        [sys.executable, script, *args],
        cwd=PROJECT_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def sim_env(port: int, state: Path, **extra: str) -> dict[str, str]:
    return {
        "INVERTOR_IP": "127.0.0.1",
        "INVERTOR_PORT": str(port),
        "STATE_LOCATION": str(state),
        **extra,
    }
