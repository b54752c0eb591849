#!/usr/bin/env bash
# Create the project venv (.venv in the repo root) and install requirements-dev.txt into it.
# Idempotent and quiet: pip only runs when the requirements files changed since the last
# successful install (hash stamp inside .venv) or the venv is missing/broken.
#   PYTHON   interpreter to build the venv with (default python3; Python 3.11 expected)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.givtcp-requirements.sha256"

log() { echo "setup: $*" >&2; }

# This machine's pip config lists local mirror folders that may not exist; pip then warns
# once per package. Drop just those lines, keep every other message and pip's exit code.
quiet_pip() { "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }

# The stamp covers every requirements file pip reads (requirements-dev.txt includes requirements.txt).
want="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        exit 0
    fi
else
    # Missing, or broken (e.g. the interpreter it was made from is gone): rebuild.
    log "creating $VENV with $("$PYTHON" -V 2>&1)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

log "installing requirements-dev.txt into $VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input -q)
# Retry once: a registry hiccup should not fail a CI run.
quiet_pip "${pip[@]}" install --prefer-binary -r requirements-dev.txt ||
    { sleep 5; quiet_pip "${pip[@]}" install --prefer-binary -r requirements-dev.txt; }
printf '%s' "$want" >"$STAMP"
