"""Shared test fixtures: paths to the shared real-frame vectors (skipped cleanly if absent)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["tests.servers.plugin"]  # real mosquitto / VictoriaMetrics / Home Assistant

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VECTORS_DIR = Path(os.environ.get("GIVTCP_VECTORS", PROJECT_ROOT.parent / "shared" / "vectors"))
VECTORS_MISSING = (
    f"shared vectors not found at {VECTORS_DIR}; put shared/vectors beside the repository "
    "or point GIVTCP_VECTORS at it"
)


@pytest.fixture(autouse=True)
def _state_outside_the_clone(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """Every test keeps its state files in a temporary folder, never in the clone: the
    STATE_LOCATION default (beside the settings file: settings_template.py in tests) and the
    per-user default (XDG_STATE_HOME) both point into tmp. tests/scripts.py hands both on to
    the scripts it runs."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("STATE_LOCATION", str(state))
    monkeypatch.setenv("XDG_STATE_HOME", str(state / "xdg"))


def load_vectors(relative: str) -> dict:
    """Load one vectors JSON file, or skip the test when shared/vectors is not beside the repo."""
    path = VECTORS_DIR / relative
    if not path.exists():
        pytest.skip(f"{path.name}: {VECTORS_MISSING}")
    return json.loads(path.read_text())


def capture_files() -> list[Path]:
    """The real capture files (empty list when shared/vectors is absent)."""
    return sorted((VECTORS_DIR / "captures").glob("*.json")) if VECTORS_DIR.exists() else []


def capture_params() -> list[Any]:
    """capture_files() for ``parametrize``. Without captures, one value that skips saying what
    is missing and how to provide it (an empty list skips as "got empty parameter set")."""
    files: list[Any] = capture_files()
    if files:
        return files
    skip = pytest.mark.skip(reason=f"no captures: {VECTORS_MISSING}")
    return [pytest.param(None, id="no-captures", marks=skip)]
