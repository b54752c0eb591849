#!/usr/bin/env bash
# The one test command: set up .venv, install the real test servers (mosquitto, VictoriaMetrics,
# Home Assistant 2024.3.3; cached after the first run), then run the whole pytest suite,
# all markers included (servers, homeassistant, slow). Extra arguments go to pytest, e.g.
#   scripts/test.sh -m "not homeassistant" -x
# Exits with pytest's code, except that "no tests collected" (5) counts as a failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() {
    local name=$1 start=$SECONDS
    shift
    "$@"
    echo "test.sh: $name took $((SECONDS - start)) s" >&2
}

step setup bash scripts/setup.sh
step install-test-servers bash scripts/install-test-servers.sh

rc=0
.venv/bin/pytest "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    echo "test.sh: pytest collected no tests: failing" >&2
    rc=1
fi
exit "$rc"
