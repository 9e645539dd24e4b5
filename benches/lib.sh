# shellcheck shell=bash
# Shared by the benchmark scripts (benches/run, benches/gateway); source it, do not run it.
# Sets ROOT (the repository) and changes to it; gives logging, option lists, the dist build,
# the machine's description and the folder each run's raw output goes to.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }

# "a,b,c" -> "a b c", for comma-separated option values.
list() { tr ',' ' ' <<<"$1"; }

# The header comment of script $1 (from its line 2 to `set -euo`), as its --help text.
usage_header() { sed -n '2,/^set -euo/p' "$1" | sed '$d; s/^# \{0,1\}//'; }

# `cargo build --profile dist` of the packages given as `-p NAME` arguments (dist = release
# + fat LTO, the build to deploy), then sets TARGET, LOADGEN and BELAY. BENCH_PROFILE=release
# uses the release profile instead (thin LTO: builds in half the time, for profiling work).
build_dist() {
    local profile=${BENCH_PROFILE:-dist}
    log "cargo build --profile $profile $*"
    cargo build --profile "$profile" --quiet "$@"
    TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
    # shellcheck disable=SC2034 # used by the scripts that source this file
    LOADGEN=$TARGET/$profile/belay-loadgen
    # shellcheck disable=SC2034
    BELAY=$TARGET/$profile/belay
}

# "2 cores, AMD EPYC …"
machine() {
    echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
}

# Logs the machine and warns when it is busy: other processes distort the numbers.
check_machine() {
    local load1 _
    read -r load1 _ </proc/loadavg
    log "machine: $(machine), load average $load1"
    if awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }'; then
        log "warning: the machine is not idle (load $load1); other processes distort the numbers"
    fi
}

# A fresh folder for the raw output, target/bench/<time>[-$1]; sets RUN_DIR. Needs TARGET.
# shellcheck disable=SC2120 # the suffix is optional
new_run_dir() {
    RUN_DIR=$TARGET/bench/$(date +%Y%m%d-%H%M%S)${1:+-$1}
    mkdir -p "$RUN_DIR"
}
