#!/usr/bin/env bash
# Install the real servers the integration tests (tests/servers) start on loopback:
#   * mosquitto + clients and VictoriaMetrics from Debian (apt);
#   * Home Assistant 2024.3.3 in its OWN venv: its mqtt integration pins paho-mqtt 1.6.1,
#     which conflicts with the project's paho-mqtt 2.x.
# Idempotent: apt runs only when a binary is missing; the HA venv (~700 MB) is kept in a cache
# dir outside the repo so fresh clones reuse it, and is rebuilt only when its stamp (version +
# pins) does not match or a previous install was interrupted.
#
# Environment:
#   GIVTCP_CACHE_DIR  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/givtcp)
#   GIVTCP_HA_VENV    HA venv path (default $GIVTCP_CACHE_DIR/ha-2024.3.3); tests read it too
#   GIVTCP_SKIP_HA=1  skip the Home Assistant part
#   PYTHON            interpreter for the HA venv (default python3; must be 3.11 or 3.12)
set -euo pipefail

HA_VERSION=2024.3.3
CACHE_DIR="${GIVTCP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/givtcp}"
HA_VENV="${GIVTCP_HA_VENV:-$CACHE_DIR/ha-$HA_VERSION}"
PYTHON="${PYTHON:-python3}"

# Pins from shared/reference/test-servers.md §4.1 (why each is needed is documented there).
HA_PINS=(
    "homeassistant==$HA_VERSION"
    "home-assistant-frontend==20240307.0"
    "SQLAlchemy==2.0.27"
    "fnv-hash-fast==0.5.0"
    "Pillow==10.2.0"
    "securetar==2024.2.1"
    "janus==1.0.0"
    "psutil-home-assistant==0.0.1"
    "paho-mqtt==1.6.1"
    "PyTurboJPEG==1.7.1"
    "numpy==1.26.0"
    "josepy<2"
)
STAMP="ha=$HA_VERSION pins=${HA_PINS[*]}"

log() { echo "install-test-servers: $*" >&2; }

# Retry a flaky network step (registry hiccups) a few times before giving up.
retry() {
    local n
    for n in 1 2 3; do
        if "$@"; then return 0; fi
        log "attempt $n failed: $*"
        sleep $((n * 5))
    done
    return 1
}

# This machine's pip config lists local mirror folders that may not exist; pip then warns
# once per package. Drop just those lines, keep every other message and pip's exit code.
quiet_pip() { "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

install_apt() {
    local missing=()
    have mosquitto || missing+=(mosquitto)
    { have mosquitto_pub && have mosquitto_sub; } || missing+=(mosquitto-clients)
    have victoria-metrics || missing+=(victoria-metrics)
    # Lint tool for scripts/ (cheap, so installed with the rest).
    have shellcheck || missing+=(shellcheck)
    # Node-RED (tests/test_node_red.py) needs node >= 18.5 and npm; Debian bookworm has 18.19.
    { have node && have npm; } || missing+=(nodejs npm)
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    log "apt-get install ${missing[*]}"
    # Wait for a concurrent apt/dpkg instead of failing on its lock.
    local aptopts=(-o DPkg::Lock::Timeout=300 -qq)
    retry "${sudo[@]}" apt-get "${aptopts[@]}" update
    retry "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get "${aptopts[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
}

ha_ok() {
    [ -x "$HA_VENV/bin/hass" ] && [ -f "$HA_VENV/.givtcp-stamp" ] &&
        [ "$(cat "$HA_VENV/.givtcp-stamp")" = "$STAMP" ] &&
        "$HA_VENV/bin/python" -c "import homeassistant.const as c; assert c.__version__ == '$HA_VERSION'" \
            >/dev/null 2>&1
}

install_ha() {
    if ha_ok; then
        log "Home Assistant $HA_VERSION venv present: $HA_VENV"
        return 0
    fi
    local pyver
    pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    case "$pyver" in
        3.11 | 3.12) ;;
        *)
            log "Home Assistant $HA_VERSION needs Python 3.11 or 3.12; $PYTHON is $pyver"
            return 1
            ;;
    esac
    log "installing Home Assistant $HA_VERSION into $HA_VENV (about 700 MB)"
    local start=$SECONDS
    rm -rf "$HA_VENV"
    mkdir -p "$(dirname "$HA_VENV")"
    "$PYTHON" -m venv "$HA_VENV"
    local pip=("$HA_VENV/bin/python" -m pip --disable-pip-version-check --no-input -q)
    local tmp
    tmp="$(mktemp -d)"
    # shellcheck disable=SC2064  # expand $tmp now: it is local
    trap "rm -rf '$tmp'" RETURN
    # HA's own constraints file lives in its wheel; installing against it reproduces the
    # dependency set HA was released with.
    retry quiet_pip "${pip[@]}" download --no-deps --only-binary=:all: -d "$tmp" "homeassistant==$HA_VERSION"
    unzip -p "$tmp"/homeassistant-"$HA_VERSION"-*.whl homeassistant/package_constraints.txt \
        >"$tmp/constraints.txt"
    [ -s "$tmp/constraints.txt" ] || { log "no package_constraints.txt in the HA wheel"; return 1; }
    retry quiet_pip "${pip[@]}" install --prefer-binary -c "$tmp/constraints.txt" "${HA_PINS[@]}"
    # Imports the tests rely on (core, frontend, recorder, mqtt, cloud) must all work.
    "$HA_VENV/bin/python" -c "import homeassistant, hass_frontend, sqlalchemy, paho.mqtt.client, hass_nabucasa, PIL, numpy"
    # The stamp is written last: an interrupted install is redone next time.
    printf '%s' "$STAMP" >"$HA_VENV/.givtcp-stamp"
    log "Home Assistant installed in $((SECONDS - start)) s"
}

install_apt
if [ "${GIVTCP_SKIP_HA:-0}" != 1 ]; then
    mkdir -p "$CACHE_DIR"
    # One installer at a time (two test runs started together must not both build the venv).
    exec 9>"$CACHE_DIR/.install.lock"
    flock 9
    install_ha
fi
