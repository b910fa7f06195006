#!/usr/bin/env bash
# gridmap's two commands, for a fresh Debian 12 machine (Python 3.11 with venv; root or sudo):
#   ./dev.sh demo [options of `gridmap demo`]   set up, build the demo, start the dashboard
#   ./dev.sh test [options of pytest]           set up, run the whole test suite
#   ./dev.sh bench NAME [options]               set up with the peers, run bench/NAME.py
# Both install what they need (Debian packages, a virtualenv in .venv with the
# versions pinned in constraints.txt) and are safe to run again: a second run
# skips whatever is already in place.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${GRIDMAP_VENV:-.venv}
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

log() { printf '\033[1m[dev.sh]\033[0m %s\n' "$*" >&2; }

apt_install() {
    # Install the Debian packages that are missing, and only those.
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        # apt's and dpkg's output go to a log: quiet when it works, the cause shown when not
        local aptlog
        aptlog=$(mktemp "${TMPDIR:-/tmp}/gridmap-apt.XXXXXX.log")
        if ! { $SUDO apt-get update -qq &&
            $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; } >"$aptlog" 2>&1; then
            tail -40 "$aptlog" >&2
            log "apt-get could not install ${missing[*]} (the whole log: $aptlog)"
            exit 1
        fi
        rm -f "$aptlog"
    fi
}

python_setup() {
    local extra=$1
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        log "gridmap needs Python 3.11 or newer as python3 (found: $(python3 --version 2>&1))"
        exit 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating the virtualenv $VENV"
        python3 -m venv "$VENV" || {
            apt_install python3-venv
            python3 -m venv "$VENV"
        }
    fi
    # Reinstall only when what we install from has changed.
    local stamp="$VENV/.gridmap-installed-$extra"
    local want
    want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log "installing gridmap and its pinned dependencies into $VENV (about a minute)"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[$extra]"
        echo "$want" >"$stamp"
    fi
}

cmd=${1:-}
shift || true
case "$cmd" in
demo)
    python_setup all
    exec "$VENV/bin/gridmap" demo "$@"
    ;;
test)
    # gdal-bin: the tests open exported files with GDAL's own ogrinfo; PostGIS for the
    # throwaway test cluster; Chromium (driven by Playwright, never downloaded) and a CJK
    # font for the browser tests and their screenshots; libatomic1 for the Node.js that
    # Playwright's wheel runs as its driver (not in a minimal Debian: without it every
    # browser test ends in "Connection closed while reading from the driver").
    # bench/fresh_machine.sh checks this list in a fresh Debian 12 chroot.
    apt_install gdal-bin postgresql-15-postgis-3 chromium fonts-wqy-microhei libatomic1
    python_setup all,test
    set +e
    "$VENV/bin/python" -m pytest "$@"
    rc=$?
    set -e
    if [ $rc -eq 5 ]; then
        log "pytest collected no tests: that is a failure here, not a pass"
        exit 1
    fi
    exit $rc
    ;;
bench)
    # Benchmarks are not tests: they print figures and the ratio to their peers.
    python_setup "all,test,bench"
    name=${1:?name a benchmark: $(ls bench/*.py | xargs -n1 basename | sed 's/\.py$//' | tr '\n' ' ')}
    shift
    exec "$VENV/bin/python" "bench/$name.py" "$@"
    ;;
*)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
