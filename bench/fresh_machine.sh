#!/usr/bin/env bash
# The README's two commands on a fresh Debian 12, for real (not part of CI: it takes
# half an hour or so, most of it the full test suite).
#
#   bench/fresh_machine.sh [--keep] [--dir DIR] [--demo-timeout S] [REPO]
#
# Builds a minimal bookworm in DIR with debootstrap (minbase plus python3, python3-venv,
# python3-pip, ca-certificates, git and curl: what the README asks of a machine), gives it
# this machine's apt sources, apt Acquire settings, extra CA certificates and pip
# configuration (the package mirrors must be reached the same way from inside), clones
# REPO's committed HEAD into it (default: the repository this script is in) and, as root
# inside:
#   1. ./dev.sh test   must exit 0, with no test skipped (CI=true is set, as .ci/run's
#                      environment has it, so a missing tool fails instead of skipping);
#   2. ./dev.sh demo   in the background: http://127.0.0.1:8050/ must answer 200 and
#                      /_dash-layout must give the layout, within --demo-timeout seconds
#                      (default 1200); then it is stopped.
# Then a summary: PASS or FAIL for each phase, with its duration. Exit 0 only if all pass.
#
# Must run as root. Everything is mounted in a private mount namespace of this script
# (unshare), so nothing it mounts is seen by, or can be propagated to, the host; the
# chroot's mounts are unmounted and its processes ended on exit, failure or not. DIR
# (default: a new folder under /tmp) is removed afterwards unless --keep is given.
# The chroot shares the host's network: `gridmap demo` serves on port 8050 (it has no
# --port option), so that port must be free on the host; the script checks first.
# Logs of every phase go to DIR.logs/ (kept).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KEEP=0
DIR=""
REPO=""
DEMO_TIMEOUT=1200
TEST_TIMEOUT=5400 # CI's budget for one run of .ci/run
PORT=8050         # gridmap demo's fixed port
SUITE=bookworm
MARKER=.gridmap-fresh-machine
ARGS=("$@")

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
    --keep) KEEP=1 ;;
    --dir) DIR=${2:?--dir needs a folder}; shift ;;
    --dir=*) DIR=${1#--dir=} ;;
    --demo-timeout) DEMO_TIMEOUT=${2:?--demo-timeout needs seconds}; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    *) [ -z "$REPO" ] || { echo "one REPO only" >&2; exit 2; }; REPO=$1 ;;
    esac
    shift
done

[ "$(id -u)" -eq 0 ] || { echo "fresh_machine.sh must run as root (debootstrap, chroot, mount)" >&2; exit 2; }

# Re-run inside a private mount namespace: every mount below lives and dies with it.
if [ -z "${GRIDMAP_FRESH_IN_NS:-}" ]; then
    export GRIDMAP_FRESH_IN_NS=1
    exec unshare --mount --propagation private -- bash "$0" ${ARGS[@]+"${ARGS[@]}"}
fi

REPO=$(cd "${REPO:-$SCRIPT_DIR/..}" && pwd)
git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1 || { echo "not a git repository: $REPO" >&2; exit 2; }
if [ -z "$DIR" ]; then
    DIR=$(mktemp -d /tmp/gridmap-fresh.XXXXXX)
else
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    if [ -n "$(ls -A "$DIR")" ]; then
        echo "$DIR is not empty: give a new or empty folder (a fresh machine is the point)" >&2
        exit 2
    fi
fi
case "$DIR" in / | /proc* | /sys* | /dev* | /usr* | /etc* | /bin* | /lib* | /boot* | /root | /home | /work | /tmp)
    echo "refusing to use $DIR as the chroot" >&2; exit 2 ;;
esac
touch "$DIR/$MARKER"
LOGS="$DIR.logs"
mkdir -p "$LOGS"
WORKTREE=/root/gridmap # the clone, inside the chroot

bold() { printf '\033[1m[fresh]\033[0m %s\n' "$*" >&2; }

# --- bookkeeping of phases -------------------------------------------------------------
PHASES=()
RESULTS=()
TIMES=()
NOTES=()
CURRENT=""
T0=0
start_phase() { CURRENT=$1; T0=$SECONDS; bold "== $1"; }
end_phase() { # end_phase PASS|FAIL [note]
    PHASES+=("$CURRENT"); RESULTS+=("$1"); TIMES+=($((SECONDS - T0))); NOTES+=("${2:-}")
    bold "== $CURRENT: $1 in $((SECONDS - T0)) s${2:+ ($2)}"
    CURRENT=""
}
fmt() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

summary() {
    local overall=PASS i
    [ -z "$CURRENT" ] || { PHASES+=("$CURRENT"); RESULTS+=(FAIL); TIMES+=($((SECONDS - T0))); NOTES+=("stopped here"); }
    [ ${#PHASES[@]} -gt 0 ] || overall=FAIL
    printf '\n===== fresh Debian 12 machine: the README commands =====\n'
    printf 'repo   %s @ %s\n' "$REPO" "$(git -C "$REPO" rev-parse --short HEAD) ($(git -C "$REPO" rev-parse --abbrev-ref HEAD))"
    printf 'chroot %s%s\nlogs   %s\n' "$DIR" "$([ $KEEP -eq 1 ] && echo ' (kept)' || echo ' (removed)')" "$LOGS"
    for i in "${!PHASES[@]}"; do
        printf '%-5s %-26s %8s  %s\n' "${RESULTS[$i]}" "${PHASES[$i]}" "$(fmt "${TIMES[$i]}")" "${NOTES[$i]}"
        [ "${RESULTS[$i]}" = PASS ] || overall=FAIL
    done
    printf '%-5s %-26s %8s\n' "$overall" "overall" "$(fmt "$SECONDS")"
    [ "$overall" = PASS ]
}

# --- cleanup: processes of the chroot, its mounts, the folder ----------------------------
DEMO_PID=""
chroot_pids() { # processes whose root is the chroot: all started by this script
    local p root
    for p in /proc/[0-9]*; do
        root=$(readlink "$p/root" 2>/dev/null) || continue
        [ "$root" = "$DIR" ] && echo "${p#/proc/}"
    done
    return 0
}
chroot_mounts() { # mount points under DIR, deepest first
    awk -v d="$DIR" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
stop_chroot_processes() {
    local pids
    if [ -n "$DEMO_PID" ]; then kill -TERM -- "-$DEMO_PID" 2>/dev/null || true; fi
    pids=$(chroot_pids)
    [ -z "$pids" ] || { kill -TERM $pids 2>/dev/null || true; sleep 3; }
    pids=$(chroot_pids)
    [ -z "$pids" ] || { kill -KILL $pids 2>/dev/null || true; sleep 1; }
}
cleanup() {
    local rc=$? m
    trap - EXIT INT TERM
    set +e
    stop_chroot_processes
    for m in $(chroot_mounts); do umount "$m" 2>/dev/null || umount -l "$m"; done
    summary
    local ok=$?
    if [ $KEEP -eq 0 ]; then
        if [ -n "$(chroot_mounts)" ]; then
            bold "something is still mounted under $DIR: not removing it"
        elif [ -n "$DIR" ] && [ "$DIR" != / ] && [ -f "$DIR/$MARKER" ]; then
            rm -rf --one-file-system -- "$DIR"
        fi
    fi
    [ $rc -eq 0 ] && [ $ok -eq 0 ] && exit 0
    exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# chroot with the environment a root login would have (and CI=true, see above)
IN_CHROOT=(chroot "$DIR" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" CI=true)
# pip's settings from the environment travel too (not PIP_FIND_LINKS: a folder of this host)
for v in PIP_DEFAULT_TIMEOUT PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_CERT \
    http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -z "${!v:-}" ] || IN_CHROOT+=("$v=${!v}")
done
in_chroot() { "${IN_CHROOT[@]}" "$@"; }

# --- 1. host: debootstrap ----------------------------------------------------------------
start_phase "host: debootstrap tool"
apt-get update -qq >"$LOGS/host-apt.log" 2>&1
if ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >>"$LOGS/host-apt.log" 2>&1
fi
end_phase PASS "$(debootstrap --version)"

# --- 2. the minimal system ------------------------------------------------------------------
start_phase "debootstrap minbase"
MIRROR=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if ! debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates,git,curl \
    "$SUITE" "$DIR" ${MIRROR:+"$MIRROR"} >"$LOGS/debootstrap.log" 2>&1; then
    tail -20 "$LOGS/debootstrap.log" >&2
    end_phase FAIL "see debootstrap.log"
    exit 1
fi
end_phase PASS "$(du -sh --exclude=proc "$DIR" | cut -f1)"

# --- 3. this machine's mirror, certificate and pip settings; mounts ---------------------------
start_phase "configure the chroot"
# apt: the same sources and Acquire settings as here (the mirror may only be reached so)
if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null || compgen -G "/etc/apt/sources.list.d/*.list" >/dev/null; then
    rm -f "$DIR/etc/apt/sources.list"
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && cp "$f" "$DIR/etc/apt/sources.list.d/"
    done
fi
[ ! -s /etc/apt/sources.list ] || cp /etc/apt/sources.list "$DIR/etc/apt/sources.list"
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
    [ -f "$f" ] && grep -q -i '^[[:space:]]*Acquire' "$f" && cp "$f" "$DIR/etc/apt/apt.conf.d/"
done
# TLS: this machine's extra certificate authorities, and pip's configuration
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$DIR/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$DIR/usr/local/share/ca-certificates/"
fi
[ ! -f /etc/pip.conf ] || cp /etc/pip.conf "$DIR/etc/pip.conf"
cp /etc/resolv.conf "$DIR/etc/resolv.conf"
[ -s "$DIR/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$DIR/etc/hosts"
mount -t proc proc "$DIR/proc"
mount -t sysfs sysfs "$DIR/sys"
mount --bind /dev "$DIR/dev"
mount --bind /dev/pts "$DIR/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$DIR/dev/shm" # Chromium's shared memory
in_chroot update-ca-certificates >"$LOGS/configure.log" 2>&1
end_phase PASS

# --- 4. the clone ---------------------------------------------------------------------------
start_phase "git clone"
git clone -q "$REPO" "$DIR$WORKTREE" >"$LOGS/clone.log" 2>&1
end_phase PASS "$(git -C "$DIR$WORKTREE" log -1 --format='%h %s' | cut -c1-60)"

# --- 5. ./dev.sh test ------------------------------------------------------------------------
start_phase "./dev.sh test"
set +e
in_chroot timeout "$TEST_TIMEOUT" bash -c "cd $WORKTREE && ./dev.sh test" >"$LOGS/test.log" 2>&1
rc=$?
set -e
counts=$(grep -E '^=+ .*[0-9]+ (passed|failed|error|errors)' "$LOGS/test.log" | tail -1 | sed -E 's/^=+ //; s/ =+$//')
if [ $rc -eq 0 ] && ! grep -q -E '[0-9]+ skipped' <<<"$counts"; then
    end_phase PASS "$counts"
else
    grep -E '^(FAILED|ERROR|SKIPPED)' "$LOGS/test.log" | head -30 >&2 || true
    tail -15 "$LOGS/test.log" >&2
    end_phase FAIL "exit $rc: ${counts:-no pytest summary, see test.log}"
fi
# Shared libraries that a binary of the venv (Playwright's driver included) or Chromium links
# against and this system lacks (informative: a wheel may carry an optional extension, such
# as numba's TBB and OpenMP thread pools). A wheel's own vendored libraries, which sit beside
# the file that needs them and load through its RPATH, are not counted.
cat >"$DIR/root/ldd-check.sh" <<'EOF'
cd /root/gridmap || exit 1
find .venv /usr/lib/chromium -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) 2>/dev/null |
    while read -r f; do
        ldd "$f" 2>/dev/null | awk '/not found/ { print $1 }' | while read -r lib; do
            [ -e "$(dirname "$f")/$lib" ] || printf '%s: %s not found\n' "$f" "$lib"
        done
    done
exit 0
EOF
in_chroot bash /root/ldd-check.sh >"$LOGS/ldd.log" 2>&1 || true
bold "ldd: $(grep -c 'not found' "$LOGS/ldd.log" || true) missing library references (see ldd.log)"

# --- 6. ./dev.sh demo -------------------------------------------------------------------------
start_phase "./dev.sh demo"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    end_phase FAIL "port $PORT is in use on this machine (the chroot shares its network)"
    exit 1
fi
# its own session, so that it and all it starts are stopped together
setsid "${IN_CHROOT[@]}" bash -c "cd $WORKTREE && exec ./dev.sh demo" >"$LOGS/demo.log" 2>&1 &
DEMO_PID=$!
served=""
deadline=$((SECONDS + DEMO_TIMEOUT))
while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$DEMO_PID" 2>/dev/null; then
        break
    fi
    code=$(curl -s -o "$LOGS/demo-index.html" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/" || true)
    if [ "$code" = 200 ]; then served=$((SECONDS - T0)); break; fi
    sleep 3
done
if [ -z "$served" ]; then
    tail -15 "$LOGS/demo.log" >&2
    if kill -0 "$DEMO_PID" 2>/dev/null; then
        end_phase FAIL "no 200 from http://127.0.0.1:$PORT/ within $DEMO_TIMEOUT s"
    else
        wait "$DEMO_PID"; end_phase FAIL "./dev.sh demo exited ($?) before serving"
    fi
    exit 1
fi
layout_code=$(curl -s -o "$LOGS/demo-layout.json" -w '%{http_code}' --max-time 60 "http://127.0.0.1:$PORT/_dash-layout" || true)
if [ "$layout_code" = 200 ] && python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(not d.get("props"))' "$LOGS/demo-layout.json" 2>/dev/null \
    && grep -q '_dash-renderer\|dash_renderer\|react' "$LOGS/demo-index.html"; then
    end_phase PASS "/ 200 after ${served}s; /_dash-layout 200, $(wc -c <"$LOGS/demo-layout.json") bytes of JSON"
else
    end_phase FAIL "/ 200 after ${served}s but /_dash-layout gave $layout_code (see demo-layout.json)"
    exit 1
fi
kill -TERM -- "-$DEMO_PID" 2>/dev/null || kill -TERM "$DEMO_PID" 2>/dev/null || true
for _ in $(seq 20); do kill -0 "$DEMO_PID" 2>/dev/null || break; sleep 0.5; done
DEMO_PID=""
exit 0
