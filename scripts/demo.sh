#!/usr/bin/env bash
# The demo: set up .venv, start the bundled dongle simulator on a free loopback port, then do
# what a user does against a real inverter: read everything, change charge slot 1 (every write
# is read back), and read the time slots again. No settings.py needed: environment only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

workdir=$(mktemp -d)
.venv/bin/python -m givenergy_modbus_codec.simulator --port 0 --seed 1 >"$workdir/sim.out" 2>"$workdir/sim.err" &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null; wait "$sim_pid" 2>/dev/null; rm -rf "$workdir"' EXIT

for _ in $(seq 100); do
    grep -q '^listening' "$workdir/sim.out" 2>/dev/null && break
    sleep 0.05
done
port=$(awk '/^listening/ {print $3}' "$workdir/sim.out")
[ -n "$port" ] || { echo "demo: the simulator did not start:" >&2; cat "$workdir/sim.err" >&2; exit 1; }

export INVERTOR_IP=127.0.0.1 INVERTOR_PORT=$port STATE_LOCATION=$workdir/state
export GIVTCP_SETTINGS=settings_template.py  # ignore any settings.py of yours
echo "== simulator listening on 127.0.0.1:$port"

echo "== python3 read.py runAll"
.venv/bin/python read.py runAll
echo "== python3 write.py setChargeSlot1 '{\"start\":\"0100\",\"finish\":\"0400\",\"chargeToPercent\":\"55\"}'"
.venv/bin/python write.py setChargeSlot1 '{"start":"0100","finish":"0400","chargeToPercent":"55"}'
echo "== python3 read.py getTimeslots"
.venv/bin/python read.py getTimeslots
echo "== done: every command exited 0"
