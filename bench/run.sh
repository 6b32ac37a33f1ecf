#!/usr/bin/env bash
# Side-by-side benchmark: rsflow vs `mlflow server` 3.17.2 vs FastTrackML 0.6.0.
#
#   bash bench/run.sh            # full run (release build; ~1 h with the defaults)
#   bash bench/run.sh --smoke    # tiny sizes, one repetition, every path; fails on errors
#
# Writes $BENCH_RESULTS/report.md and report.json (default bench/results/; the smoke run
# writes to bench/results/smoke/ so it never overwrites a full report).
#
# Env (defaults for the full run; the smoke run shrinks them):
#   BENCH_REPS=3  BENCH_BIG_MB=1024  BENCH_SMALL_FILES=1000  BENCH_SMALL_KB=4
#   BENCH_LOG_METRIC_N=200  BENCH_BATCHES=20  BENCH_BATCH_SIZE=1000  BENCH_RUNS=300
#   BENCH_HISTORY=2000  BENCH_SEARCH_REPS=20  BENCH_LIST_REPS=5
#   BENCH_WRK_SECS=10  BENCH_WRK_CONNS=32  BENCH_WRK_THREADS=2  BENCH_WRK_BATCH=100
#   BENCH_SAMPLE_MS=50               memory sampling interval
#   BENCH_SERVERS=rsflow,mlflow,fasttrackml
#   BENCH_S3=1                       the big file through the proxy to s3s-fs, and boto3
#                                    straight to it (0: leave the S3 section out;
#                                    BENCH_S3_ONLY=1: run nothing else)
#   BENCH_S3_SERVER=s3s-fs           which S3 server: s3s-fs (as in the test command) or
#                                    s3s-fs-wide (the same with 1 MiB GetObject reads instead
#                                    of 4 KiB, so that the store does not set the pace)
#   BENCH_PORT_BASE=15700            ports used: BASE+10 .. BASE+89 on 127.0.0.1
#   BENCH_WORKDIR=.tmp/bench         state, test files (needs ~3x BENCH_BIG_MB free)
#   BENCH_RESULTS=bench/results
#   BENCH_TRACES=1                   afterwards bench/trace_bench.py (tracing: OTLP ingest,
#                                    get_trace, search_traces vs mlflow server; its own
#                                    trace-report.md/json); 0 leaves it out. The smoke run
#                                    leaves it out: scripts/test.sh runs its --smoke itself.
#   RSFLOW_BIN=...                   skip the build and use this binary
#                                    (--smoke defaults to the debug build, which the test
#                                    command has already made)
#
# Installs what is missing: .venv (scripts/venv.sh: the stock client and `mlflow server`),
# .venv-bench (fasttrackml==0.6.0 with --no-deps: only its Go binary `fml` is used), wrk
# (apt-get), s3s-fs (scripts/storage-servers.sh s3s-bin) and boto3 in .venv. Every process
# it starts is stopped by process group on exit.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

SMOKE=0
for arg in "$@"; do
    case "$arg" in
        --smoke) SMOKE=1 ;;
        -h | --help)
            sed -n '2,30p' "$0"
            exit 0
            ;;
        *)
            echo "run.sh: unknown argument '$arg' (see --help)" >&2
            exit 2
            ;;
    esac
done
export BENCH_SMOKE=$SMOKE

if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

say() { printf '[run.sh] %s\n' "$*" >&2; }

# 1. rsflow
if [[ -n "${RSFLOW_BIN:-}" && ! -x "$RSFLOW_BIN" ]]; then
    say "RSFLOW_BIN=$RSFLOW_BIN is not an executable"
    exit 1
fi
if [[ -z "${RSFLOW_BIN:-}" ]]; then
    if [[ $SMOKE == 1 ]]; then
        say "cargo build --bin rsflow (debug: the smoke run checks paths, not speed)"
        cargo build --bin rsflow
        RSFLOW_BIN="$REPO/target/debug/rsflow"
    else
        say "cargo build --release --bin rsflow"
        cargo build --release --bin rsflow
        RSFLOW_BIN="$REPO/target/release/rsflow"
    fi
fi
export RSFLOW_BIN

# 2. the stock client and `mlflow server` (the compat suite's venv)
# shellcheck source=scripts/venv.sh
source "$REPO/scripts/venv.sh"
set -euo pipefail
export CLIENT_PY="$RSFLOW_PY"
export MLFLOW_BIN="$RSFLOW_VENV/bin/mlflow"

# 3. FastTrackML: the PyPI wheel ships the Go binary; its Python deps are not needed.
FML_VENV="${BENCH_FML_VENV:-$REPO/.venv-bench}"
FML_BIN=""
if [[ ",${BENCH_SERVERS:-rsflow,mlflow,fasttrackml}," == *",fasttrackml,"* ]]; then
    if [[ ! -x "$FML_VENV/bin/fml" ]]; then
        say "installing fasttrackml==0.6.0 into $FML_VENV"
        if { [[ -x "$FML_VENV/bin/python" ]] || python3 -m venv "$FML_VENV"; } &&
            "$FML_VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps \
                fasttrackml==0.6.0 >&2; then
            :
        elif [[ $SMOKE == 1 ]]; then
            say "fasttrackml did not install: the smoke run goes on without it"
        else
            say "fasttrackml did not install (set BENCH_SERVERS=rsflow,mlflow to run without it)"
            exit 1
        fi
    fi
    if [[ -x "$FML_VENV/bin/fml" ]]; then
        FML_BIN="$FML_VENV/bin/fml"
    fi
fi
export FML_BIN

# 4. wrk
if ! command -v wrk >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "installing wrk (apt-get)"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
    else
        say "wrk is missing: install it (Debian: apt-get install wrk)"
        exit 1
    fi
fi
export WRK_BIN
WRK_BIN="$(command -v wrk)"

# 5. the client-ceiling server: std-only Rust, built outside the workspace
BUILD_DIR="$REPO/target/bench"
mkdir -p "$BUILD_DIR"
export CEILING_BIN="$BUILD_DIR/ceiling"
if [[ ! -x "$CEILING_BIN" || "$REPO/bench/ceiling.rs" -nt "$CEILING_BIN" ]]; then
    say "rustc -O bench/ceiling.rs"
    rustc -O --edition 2021 -o "$CEILING_BIN" "$REPO/bench/ceiling.rs"
fi

# 6. the S3 section (BENCH_S3=1, the default): s3s-fs, and boto3 for `mlflow server`'s S3
# repository and the boto3-direct reference (both run from .venv)
if [[ "${BENCH_S3:-1}" != "0" || "${BENCH_S3_ONLY:-0}" != "0" ]]; then
    case "${BENCH_S3_SERVER:-s3s-fs}" in
        s3s-fs) S3S_BIN="$(bash "$REPO/scripts/storage-servers.sh" s3s-bin)" ;;
        s3s-fs-wide) S3S_BIN="$(bash "$REPO/scripts/storage-servers.sh" s3s-wide-bin)" ;;
        *)
            echo "bench/run.sh: BENCH_S3_SERVER must be s3s-fs or s3s-fs-wide" >&2
            exit 2
            ;;
    esac
    export S3S_BIN BENCH_S3_SERVER="${BENCH_S3_SERVER:-s3s-fs}"
    if ! "$CLIENT_PY" -c 'import boto3' >/dev/null 2>&1; then
        say "installing boto3 into $RSFLOW_VENV (mlflow server's S3 artifact repository)"
        "$CLIENT_PY" -m pip install --disable-pip-version-check -q boto3 >&2
    fi
fi

# 7. run
if [[ $SMOKE == 1 ]]; then
    export BENCH_RESULTS="${BENCH_RESULTS:-$REPO/bench/results/smoke}"
    export BENCH_WORKDIR="${BENCH_WORKDIR:-$REPO/.tmp/bench-smoke}"
else
    export BENCH_RESULTS="${BENCH_RESULTS:-$REPO/bench/results}"
    export BENCH_WORKDIR="${BENCH_WORKDIR:-$REPO/.tmp/bench}"
fi
mkdir -p "$BENCH_WORKDIR" "$BENCH_RESULTS"
export BENCH_COMMAND="bash bench/run.sh $*"

# bench.py stops what it starts by process group; this stops bench.py itself on INT/TERM.
"$CLIENT_PY" "$REPO/bench/bench.py" &
BENCH_PID=$!
trap 'kill -TERM "$BENCH_PID" 2>/dev/null || true' INT TERM
rc=0
wait "$BENCH_PID" || rc=$?
trap - INT TERM
if [[ $rc -eq 0 && $SMOKE == 0 && "${BENCH_TRACES:-1}" != "0" ]]; then
    say "trace benchmark: bench/trace_bench.py"
    "$CLIENT_PY" "$REPO/bench/trace_bench.py" --out "$BENCH_RESULTS" || rc=$?
fi
if [[ $rc -eq 0 ]]; then
    say "report: $BENCH_RESULTS/report.md"
    if [[ $SMOKE == 1 ]]; then
        rm -rf "$BENCH_WORKDIR"
    fi
fi
exit "$rc"
