#!/usr/bin/env bash
# GivTCP container start-up (the image's ENTRYPOINT), as the v1.0 image did it:
#   1. INVERTOR_IP empty: probe the local /24 (or GIVTCP_DISCOVERY_SUBNET) on INVERTOR_PORT
#      for a GivEnergy dongle and export its address; exit 1 with a message if none answers;
#   2. MQTT_ADDRESS 127.0.0.1 or localhost: start a local mosquitto listening on MQTT_PORT
#      (1883), password-protected when MQTT_USERNAME is set;
#   3. SELF_RUN true: `python3 read.py runAll` every SELF_RUN_LOOP_TIMER seconds (30), in the
#      background; a failed run is logged and the loop carries on;
#   4. the REST API in the foreground: gunicorn -w 4 -b 0.0.0.0:6345 REST:giv_api. That address
#      is reachable from the LAN, so with REST_TOKEN empty the control (POST) routes are off
#      (GIVTCP_REST_READ_ONLY=1: they answer 403) and only the reads are served.
# Settings are the environment variables themselves (givtcp/config.py reads the Docker names),
# so nothing is written to settings.py. Exit codes: 1 no inverter found, 2 a bad setting,
# otherwise gunicorn's. SIGTERM/SIGINT stop gunicorn, the loop and the broker.
# Commands are looked up on PATH and run from the folder above this script, so the same logic
# runs outside a container (the tests put stubs for mosquitto and gunicorn first on PATH).
set -euo pipefail

APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REST_BIND="0.0.0.0:6345"
RUN_DIR=""  # the broker's config, made only when the broker is started
HELPERS=()  # background processes to stop on the way out

log() { echo "entrypoint: $*" >&2; }

die() {
    local code=$1
    shift
    log "$*"
    exit "$code"
}

# Booleans are read as givtcp/config.py reads them: anything else is a setting error.
is_true() {
    case "${2,,}" in
        true | 1 | yes | on) return 0 ;;
        false | 0 | no | off | "") return 1 ;;
        *) die 2 "$1 must be True or False (true/1/yes or false/0/no), got '$2'" ;;
    esac
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local pid
    for pid in "${HELPERS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${HELPERS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$RUN_DIR" ]; then rm -rf "$RUN_DIR"; fi
}

discover_inverter() {
    local subnet=() found rc=0
    if [ -n "${GIVTCP_DISCOVERY_SUBNET:-}" ]; then subnet=("$GIVTCP_DISCOVERY_SUBNET"); fi
    log "INVERTOR_IP is empty: looking for a GivEnergy dongle in" \
        "${GIVTCP_DISCOVERY_SUBNET:-the local /24} on port ${INVERTOR_PORT:-8899}"
    # 1.5 s per host: a busy WiFi dongle can take a second to answer (0.25 s is typical).
    found="$(python3 -m givtcp.discovery "${subnet[@]}" --port "${INVERTOR_PORT:-8899}" \
        --timeout 1.5)" || rc=$?
    if [ "$rc" -ne 0 ]; then
        die "$rc" "no inverter found: set INVERTOR_IP to the dongle's address, or" \
            "GIVTCP_DISCOVERY_SUBNET to the subnet it is on (e.g. 192.168.1.0/24)"
    fi
    INVERTOR_IP="${found%%$'\n'*}"
    if [ "$found" != "$INVERTOR_IP" ]; then
        log "several dongles answered (${found//$'\n'/ }): using the first; set INVERTOR_IP to choose"
    fi
    log "using the inverter dongle at $INVERTOR_IP"
    export INVERTOR_IP
}

start_mosquitto() {
    local port="${MQTT_PORT:-1883}"
    RUN_DIR="$(mktemp -d -t givtcp-mqtt.XXXXXX)"
    {
        echo "persistence false"
        echo "log_dest stderr"
        echo "listener $port"
        if [ -n "${MQTT_USERNAME:-}" ]; then
            echo "allow_anonymous false"
            echo "password_file $RUN_DIR/passwd"
        else
            echo "allow_anonymous true"
        fi
    } >"$RUN_DIR/mosquitto.conf"
    if [ -n "${MQTT_USERNAME:-}" ]; then
        # The password goes in on stdin (its prompts), never on a command line. Not -U on a
        # plain "user:password" file: that cuts a password at its first colon.
        printf '%s\n%s\n' "${MQTT_PASSWORD:-}" "${MQTT_PASSWORD:-}" |
            mosquitto_passwd -c "$RUN_DIR/passwd" "$MQTT_USERNAME" >/dev/null
    fi
    # Started as root, mosquitto drops to the "mosquitto" user, which must read these files.
    if [ "$(id -u)" -eq 0 ] && id mosquitto >/dev/null 2>&1; then
        chown -R mosquitto "$RUN_DIR"
    fi
    mosquitto -c "$RUN_DIR/mosquitto.conf" &
    HELPERS+=("$!")
    log "started a local MQTT broker on port $port (MQTT_ADDRESS=${MQTT_ADDRESS:-})"
}

# REST_BIND is not loopback, so the write routes need a token: without one, reads only.
guard_rest_writes() {
    local token="${REST_TOKEN:-}"
    if [ -n "${token//[[:space:]]/}" ]; then return 0; fi
    export GIVTCP_REST_READ_ONLY=1
    log "REST_TOKEN is empty and the REST API listens on $REST_BIND (reachable from the LAN):" \
        "its control (POST) routes are off (403). Set REST_TOKEN to a long random string" \
        "(e.g. -e REST_TOKEN=\$(openssl rand -hex 16)) and send 'Authorization: Bearer <token>'"
}

# Positive seconds; decimals are allowed (sleep takes them).
loop_interval() {
    local interval="${SELF_RUN_LOOP_TIMER:-30}"
    if ! [[ $interval =~ ^[0-9]+([.][0-9]+)?$ ]] || [[ $interval =~ ^0*([.]0*)?$ ]]; then
        die 2 "SELF_RUN_LOOP_TIMER must be a number of seconds above 0, got '$interval'"
    fi
    echo "$interval"
}

# Runs in a subshell: its TERM trap stops the current read or sleep, then the loop.
self_run_loop() {
    local interval=$1 rc
    CHILD=""
    trap 'if [ -n "$CHILD" ]; then kill -TERM "$CHILD" 2>/dev/null; fi; exit 0' TERM
    while true; do
        python3 read.py runAll &
        CHILD=$!
        rc=0
        wait "$CHILD" || rc=$?
        if [ "$rc" -ne 0 ]; then
            log "self-run: read.py runAll failed (exit code $rc); next run in $interval s"
        fi
        sleep "$interval" &
        CHILD=$!
        wait "$CHILD" || true
    done
}

main() {
    cd "$APP_DIR"
    export STATE_LOCATION="${STATE_LOCATION:-$APP_DIR/.state}"  # the volume README documents
    trap cleanup EXIT
    trap 'exit 143' TERM INT  # until gunicorn runs: stop, cleaning up on the way out

    local interval=""
    if is_true SELF_RUN "${SELF_RUN:-False}"; then interval="$(loop_interval)" || exit $?; fi

    if [ -z "${INVERTOR_IP:-}" ]; then discover_inverter; fi

    local mqtt_address="${MQTT_ADDRESS:-}"
    case "${mqtt_address,,}" in
        127.0.0.1 | localhost) start_mosquitto ;;
    esac

    if [ -n "$interval" ]; then
        self_run_loop "$interval" &
        HELPERS+=("$!")
        log "self-run: read.py runAll every $interval s"
    fi

    guard_rest_writes
    gunicorn -w 4 -b "$REST_BIND" REST:giv_api &
    local server=$! rc=0
    trap 'kill -TERM "$server" 2>/dev/null || true' TERM INT
    # A trapped signal ends `wait` early: wait again until gunicorn has really exited.
    wait "$server" || rc=$?
    while kill -0 "$server" 2>/dev/null; do
        rc=0
        wait "$server" || rc=$?
    done
    exit "$rc"
}

main "$@"
