#!/usr/bin/env bash
# THE test command for rsflow:   bash scripts/test.sh [--quick] [extra pytest args]
#
#   0. gates (scripts/gates.sh): cargo fmt --check, cargo deny check licenses bans sources
#      (cargo-deny installed on first use); clippy's lints (-D warnings, all targets) run in
#      step 2, whose compiler for the workspace crates is clippy-driver
#   1. Python venv at .venv with the pinned mlflow client/reference server (scripts/venv.sh),
#      and MLflow's web UI from it in target/share/rsflow/ui (scripts/ui.sh)
#   2. cargo build --workspace --all-targets   (debug, with clippy's lints)
#   3. cargo test --workspace
#   4. pytest compat/   (stock mlflow client + raw HTTP against target/debug/rsflow,
#                        differential and DB-interop runs against the reference mlflow server)
#   5. the compat flows again with the MLflow 3.18.0 client and `mlflow server` 3.18.0
#      (.venv-mlflow318; rsflow creates its databases at 3.18.0's head there)
#
# --quick: the fast tier for a change, no venvs, databases or storage servers: the gates
#   (cargo-deny only if already installed), then `cargo test --workspace` (unit tests, the
#   in-process HTTP behaviour tests over TestApp, the SQLite store and local artifact suites;
#   the tests that need PostgreSQL, a storage server or the reference venv skip).
#
# Env knobs:
#   COMPAT_TARGET=mlflow     run the compat flows against the reference `mlflow server` instead
#   RSFLOW_TEST_SKIP_COMPAT_MAIN=1  skip the main compat run (step 4), e.g. to rerun the later
#                            stages (PostgreSQL, MariaDB, 3.18.0 client, smoke runs) alone
#   RSFLOW_TEST_SKIP_CARGO=1 skip the gates and steps 2-3 (e.g. with COMPAT_TARGET=mlflow, to validate the suite)
#   COMPAT_BIG_MB=N          size of the big-file round trip in the main run (default 64)
#   COMPAT_BIG_RUN=1         also run the big-file round trip with 1024 MiB (opt-in, slow)
#   RSFLOW_TEST_SKIP_PG=1    do not start PostgreSQL (its tests then skip) nor run the
#                            compat flows on it
#   RSFLOW_PG_PORT=N         PostgreSQL port (default 15832; the outage test uses N+1)
#   PYTEST_ARGS="..."        extra pytest arguments (so do arguments to this script)
#   COMPAT_WORKERS=N         pytest-xdist processes for the compat suites (default 2; 0 = one
#                            process): modules are spread over them whole (--dist loadfile)
#   RSFLOW_TEST_SKIP_STORAGE=1  do not start the storage servers (S3, Azure, GCS, SFTP); their
#                            tests then skip with a reason instead of running
#   RSFLOW_LOAD_SECS=N       duration of compat/test_load.py (default here 20; the test's own 60)
#   RSFLOW_FUZZ_SECS=N       seconds per fuzz target in the fuzz_smoke cargo test (default here 5)
#   COMPAT_318_FILES="..."   compat files of the MLflow 3.18.0 client run (default: the flow,
#                            model, artifact, differential, DB, 3.18 and web UI files, ~10 min on
#                            a loaded 2-core box; "compat/" = everything, measured 9.7-12.5 min there)
#
# Exits non-zero if any step fails; pytest's "no tests collected" (exit 5) counts as failure.
# Every process started here (and by the test servers) carries RSFLOW_TEST_TOKEN in its
# environment; the EXIT trap stops exactly those processes by pid.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

QUICK=0
if [[ "${1:-}" == "--quick" ]]; then
    QUICK=1
    shift
fi

RSFLOW_TEST_TOKEN="rsflow-test-$$-$(date +%s%N)"
export RSFLOW_TEST_TOKEN
export RSFLOW_LOAD_SECS="${RSFLOW_LOAD_SECS:-20}"
export RSFLOW_FUZZ_SECS="${RSFLOW_FUZZ_SECS:-5}"

_stop_our_processes() {
    local sig="$1" env pid found=1
    for env in /proc/[0-9]*/environ; do
        pid="${env#/proc/}"
        pid="${pid%/environ}"
        [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
        if grep -qz "^RSFLOW_TEST_TOKEN=${RSFLOW_TEST_TOKEN}\$" "$env" 2>/dev/null; then
            kill "-$sig" "$pid" 2>/dev/null && found=0
        fi
    done
    return $found
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # --- PostgreSQL (scripts/postgres.sh) ---
    if [[ -n "${RSFLOW_PG_STARTED:-}" ]]; then
        bash "$REPO/scripts/postgres.sh" stop || true
    fi
    # --- end PostgreSQL ---
    # --- MariaDB (scripts/mariadb.sh) ---
    if [[ -n "${RSFLOW_MYSQL_STARTED:-}" ]]; then
        bash "$REPO/scripts/mariadb.sh" stop || true
    fi
    # --- end MariaDB ---
    if [[ "${RSFLOW_TEST_SKIP_STORAGE:-}" != "1" ]]; then
        bash "$REPO/scripts/storage-servers.sh" stop >/dev/null 2>&1 || true
    fi
    if _stop_our_processes TERM; then
        sleep 2
        _stop_our_processes KILL || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bash runs traps only after a foreground command finishes, so long steps run in the
# background and are waited for: INT/TERM then stop the script (and, via cleanup, them) at once.
run() {
    "$@" &
    local pid=$! rc=0
    wait "$pid" || rc=$?
    return "$rc"
}

declare -a SUMMARY=()
STEP_START=0
banner() {
    STEP_START=$SECONDS
    printf '\n======================================================================\n'
    printf '== %s\n' "$*"
    printf '======================================================================\n'
}
done_step() {
    SUMMARY+=("$(printf '%-34s %5ss' "$1" "$((SECONDS - STEP_START))")")
}

if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

if [[ $QUICK == 1 ]]; then
    banner "gates (scripts/gates.sh)"
    RSFLOW_DENY_IF_INSTALLED=1 run bash "$REPO/scripts/gates.sh"
    done_step "gates"
    banner "cargo test --workspace (quick: no external services)"
    # Without the services' variables the tests that need them skip, each saying why.
    for v in $(compgen -e); do
        if [[ "$v" == RSFLOW_TEST_* && "$v" != RSFLOW_TEST_TOKEN ]] || [[ "$v" == RSFLOW_REF_VENV ]]; then
            unset "$v"
        fi
    done
    RSFLOW_FUZZ_SECS="${RSFLOW_FUZZ_SECS_QUICK:-1}" run cargo test --workspace
    done_step "cargo test (quick)"
    banner "summary"
    printf '%s\n' "${SUMMARY[@]}"
    echo "total                              $((SECONDS))s"
    echo "all steps passed"
    exit 0
fi

if [[ "${RSFLOW_TEST_SKIP_CARGO:-}" != "1" ]]; then
    banner "gates (scripts/gates.sh: fmt, deny; clippy runs in the build below)"
    RSFLOW_CLIPPY_IN_BUILD=1 run bash "$REPO/scripts/gates.sh"
    done_step "gates"
fi

banner "environment"
echo "repo:    $REPO"
echo "python:  $(command -v python3.11 || command -v python3) ($(python3 --version 2>&1))"
if [[ "${RSFLOW_TEST_SKIP_CARGO:-}" != "1" ]]; then
    echo "cargo:   $(cargo --version)"
fi
echo "target:  ${COMPAT_TARGET:-rsflow}"
done_step "environment"

banner "python venv (.venv: mlflow client + reference server, pytest)"
# shellcheck source=scripts/venv.sh
source "$REPO/scripts/venv.sh"
set -euo pipefail
"$RSFLOW_PY" -c 'import mlflow, pytest, requests; print("mlflow", mlflow.__version__, "| pytest", pytest.__version__)'
# The store's tests against the reference itself (schema, databases MLflow wrote): with the
# variable set they fail, never skip, when the reference is missing.
export RSFLOW_REF_VENV="${RSFLOW_REF_VENV:-$RSFLOW_VENV}"
done_step "venv"

# --- PostgreSQL (scripts/postgres.sh): a throwaway server on 127.0.0.1:15832 for the
# store's PostgreSQL suite (RSFLOW_TEST_PG_URL), the compat PostgreSQL tests and the compat
# flows on PostgreSQL below; stopped (data deleted) by the EXIT trap.
if [[ "${RSFLOW_TEST_SKIP_PG:-}" != "1" ]]; then
    banner "PostgreSQL (scripts/postgres.sh start)"
    # A server that was already running (a developer's, RSFLOW_PG_PORT) is used and left alone.
    if ! bash "$REPO/scripts/postgres.sh" status; then
        RSFLOW_PG_STARTED=1
    fi
    RSFLOW_PG_RUN=1
    bash "$REPO/scripts/postgres.sh" start
    eval "$(bash "$REPO/scripts/postgres.sh" env)"
    done_step "postgres"
fi
# --- end PostgreSQL ---
# --- MariaDB (scripts/mariadb.sh): a throwaway server on 127.0.0.1:13306 for the store's
# MySQL suite (crates/rsflow-store/tests/it/mysql.rs, RSFLOW_TEST_MYSQL_URL, run by
# `cargo test --workspace`); stopped (data deleted) by the EXIT trap.
if [[ "${RSFLOW_TEST_SKIP_MYSQL:-}" != "1" ]]; then
    banner "MariaDB (scripts/mariadb.sh start)"
    if ! bash "$REPO/scripts/mariadb.sh" status; then
        RSFLOW_MYSQL_STARTED=1
    fi
    bash "$REPO/scripts/mariadb.sh" start
    eval "$(bash "$REPO/scripts/mariadb.sh" env)"
    done_step "mariadb"
fi
# --- end MariaDB ---
# MLflow's web UI from the .venv's mlflow package into target/share/rsflow/ui, where
# target/debug/rsflow finds it (compat/test_web_ui.py passes --ui-dir itself).
banner "web UI (scripts/ui.sh)"
bash "$REPO/scripts/ui.sh"
done_step "web UI"

# Debian's Chromium for compat/test_ui_browser.py: Playwright (compat/requirements.txt) drives
# it through executable_path, so no browser is downloaded.
banner "browser (Debian chromium for compat/test_ui_browser.py)"
if ! command -v chromium >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    else
        echo "ERROR: chromium is missing; install it as root: apt-get install -y chromium" >&2
        exit 1
    fi
fi
chromium --version 2>/dev/null || true
done_step "browser"

banner "python venv (.venv-mlflow2: the MLflow 2.x client for the 2.x model flow)"
RSFLOW_MLFLOW2_PY="$(RSFLOW_VENV="$REPO/.venv-mlflow2" RSFLOW_REQ="$REPO/compat/requirements-mlflow2.txt" \
    bash "$REPO/scripts/venv.sh")/bin/python"
export RSFLOW_MLFLOW2_PY
"$RSFLOW_MLFLOW2_PY" -c 'import mlflow; print("mlflow", mlflow.__version__)'
done_step "venv (mlflow 2.x)"

banner "python venv (.venv-mlflow318: the MLflow 3.18.0 client and server)"
# mlflow-tracing==3.18.0 is not on the index: requirements-mlflow318.txt marks mlflow and
# mlflow-skinny `# no-deps` and venv.sh installs their own requirements after them.
RSFLOW_MLFLOW318_PY="$(RSFLOW_VENV="$REPO/.venv-mlflow318" RSFLOW_REQ="$REPO/compat/requirements-mlflow318.txt" \
    bash "$REPO/scripts/venv.sh")/bin/python"
export RSFLOW_MLFLOW318_PY
# The store's 3.18.0 schema tests (crates/rsflow-store/tests/it/heads.rs) fail, never skip, with it set.
export RSFLOW_REF_VENV_318="${RSFLOW_REF_VENV_318:-$REPO/.venv-mlflow318}"
"$RSFLOW_MLFLOW318_PY" -c 'import mlflow; print("mlflow", mlflow.__version__)'
done_step "venv (mlflow 3.18.0)"

if [[ "${RSFLOW_TEST_SKIP_STORAGE:-}" != "1" ]]; then
    banner "storage servers: s3s-fs, moto, Azurite, gcp-storage-emulator, sshd (scripts/storage-servers.sh)"
    run bash "$REPO/scripts/storage-servers.sh" start
    # Exports RSFLOW_TEST_* for cargo test and pytest: with them set, a backend whose server
    # is not working fails its tests instead of skipping them.
    eval "$(bash "$REPO/scripts/storage-servers.sh" env)"
    done_step "storage servers"
fi

if [[ "${RSFLOW_TEST_SKIP_CARGO:-}" != "1" ]]; then
    # Clippy's lints run in this build: clippy-driver (rustc plus the lints, what
    # `cargo clippy` runs) compiles the workspace crates, with `cargo clippy -- -D warnings`'s
    # arguments in CLIPPY_ARGS (its `__CLIPPY_HACKERY__`-separated form). A separate
    # `cargo clippy` also checks every dependency a second time in check mode: on a fresh clone
    # it took 277 s before a 436 s build, against 641 s for this build with the lints (most of
    # clippy's time is the lints on our own crates). Exported for the rest of the run, so that cargo test
    # and the benchmark smoke's builds reuse these artifacts instead of rebuilding the
    # workspace without the wrapper.
    RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
    export RUSTC_WORKSPACE_WRAPPER
    export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
    banner "cargo build --workspace --all-targets (with clippy's lints, -D warnings)"
    run cargo build --workspace --all-targets
    done_step "cargo build"

    banner "cargo test --workspace"
    run cargo test --workspace --no-fail-fast
    done_step "cargo test"
else
    echo "RSFLOW_TEST_SKIP_CARGO=1: skipping cargo build and cargo test"
fi

export RSFLOW_BIN="${RSFLOW_BIN:-$REPO/target/debug/rsflow}"

run_pytest() {
    local label="$1"
    shift
    local rc=0
    # shellcheck disable=SC2086
    run "$RSFLOW_PY" -m pytest -p no:cacheprovider -q "$@" ${PYTEST_ARGS:-} || rc=$?
    if [[ $rc -eq 5 ]]; then
        echo "ERROR: pytest collected no tests ($label)" >&2
        return 1
    fi
    if [[ $rc -ne 0 ]]; then
        echo "ERROR: pytest failed with exit code $rc ($label)" >&2
        return "$rc"
    fi
}

# The compat modules mostly wait on servers (the reference server's start-up, a browser's page
# loads): spread whole modules over COMPAT_WORKERS processes; each keeps its own servers.
COMPAT_XDIST=()
if [[ "${COMPAT_WORKERS:-2}" != "0" ]]; then
    COMPAT_XDIST=(-n "${COMPAT_WORKERS:-2}" --dist loadfile)
fi

if [[ "${RSFLOW_TEST_SKIP_COMPAT_MAIN:-}" != "1" ]]; then
    banner "compat suite: pytest compat/ (target: ${COMPAT_TARGET:-rsflow}, RSFLOW_BIN=$RSFLOW_BIN)"
    run_pytest "compat suite" "${COMPAT_XDIST[@]}" compat/ "$@"
    done_step "compat suite"
fi

# --- rsflow db upgrade of a database made and filled by MLflow 2.22's own client (the fast
# subset of scripts/upgrade-matrix.sh; its venv is cached under ~/.cache/rsflow-tools) ---
if [[ "${COMPAT_TARGET:-rsflow}" == rsflow ]]; then
    banner "db upgrade from a release: MLflow 2.22 (bash scripts/upgrade-matrix.sh 2.22)"
    run env RSFLOW_MLFLOW318_PY="$RSFLOW_MLFLOW318_PY" bash scripts/upgrade-matrix.sh 2.22
    done_step "db upgrade (2.22)"
fi

# --- PostgreSQL: the tracking and model flows again, each server on a fresh database ---
if [[ -n "${RSFLOW_PG_RUN:-}" ]]; then
    banner "compat flows on PostgreSQL (COMPAT_BACKEND=postgres)"
    COMPAT_BACKEND=postgres run_pytest "compat flows on PostgreSQL" \
        compat/test_tracking_flows.py compat/test_models.py compat/test_traces.py
    done_step "compat flows (postgres)"

    # Tiny sizes, rsflow only (both phases): the PostgreSQL benchmark cannot rot.
    banner "PostgreSQL benchmark smoke: bench/postgres_bench.py (tiny, rsflow only)"
    run "$RSFLOW_PY" bench/postgres_bench.py --runs 2000 --metric-rows 20000 \
        --history-steps 2000 --repeat 1 --batches 2 --wrk-secs 1 --skip-mlflow --rsflow-bin "$RSFLOW_BIN" \
        >/dev/null
    done_step "postgres bench smoke"
fi
# --- end PostgreSQL ---

# --- MariaDB: the MySQL benchmark at tiny sizes, rsflow only, so that it cannot rot either ---
if [[ "${RSFLOW_TEST_SKIP_MYSQL:-}" != "1" ]]; then
    banner "MySQL benchmark smoke: bench/mysql_bench.py (tiny, rsflow only)"
    run "$RSFLOW_PY" bench/mysql_bench.py --runs 2000 --metric-rows 20000 \
        --history-steps 2000 --repeat 1 --batches 2 --wrk-secs 1 --skip-mlflow --rsflow-bin "$RSFLOW_BIN" \
        >/dev/null
    done_step "mysql bench smoke"

    # The tracking, model and trace flows again, each server (rsflow and `mlflow server`) on a
    # fresh MariaDB database through mysql+pymysql://, as for PostgreSQL above.
    banner "compat flows on MariaDB (COMPAT_BACKEND=mysql)"
    COMPAT_BACKEND=mysql run_pytest "compat flows on MariaDB" \
        compat/test_tracking_flows.py compat/test_models.py compat/test_traces.py
    done_step "compat flows (mysql)"
fi
# --- end MariaDB benchmark smoke and flows ---

# ---- the benchmark smokes (every benchmark at tiny sizes, so that none can rot). They run in the
# background beside the MLflow 3.18.0 suite below (RSFLOW_TEST_SMOKES_BESIDE=0: after it, in
# the foreground): both mostly wait on server start-ups and the client, and each step of either
# has its own servers and ports. Their output is printed, whole, once the 3.18.0 suite is done.
bench_smokes() {
    local first=${#SUMMARY[@]}
    # ---- benchmark smoke (bench/run.sh --smoke): tiny sizes, one repetition, every workload path
    # against rsflow, `mlflow server` and FastTrackML (if it installs), so the benchmark cannot rot.
    banner "benchmark smoke: bash bench/run.sh --smoke"
    if [[ -x "$RSFLOW_BIN" ]]; then
        run bash bench/run.sh --smoke
    else
        run env -u RSFLOW_BIN bash bench/run.sh --smoke
    fi
    done_step "bench smoke"
    banner "large-file smoke: bench/large_file.py (16 MiB; the full check uses --gib 4)"
    run "$RSFLOW_PY" bench/large_file.py --gib 0.015625 --bin "$RSFLOW_BIN" --port 15791
    done_step "large-file smoke"
    banner "db upgrade benchmark smoke: bench/upgrade_bench.py --small (10,000 metrics, rsflow only)"
    run "$RSFLOW_PY" bench/upgrade_bench.py --small --skip-mlflow --rsflow-bin "$RSFLOW_BIN" \
        --mlflow318-py "$RSFLOW_MLFLOW318_PY" >/dev/null
    done_step "upgrade bench smoke"
    banner "trace benchmark smoke: bench/trace_bench.py --smoke (tiny, rsflow only)"
    run "$RSFLOW_PY" bench/trace_bench.py --smoke --rsflow-bin "$RSFLOW_BIN" >/dev/null
    done_step "trace bench smoke"
    banner "local upload benchmark smoke: bench/local_upload_bench.py (8 MiB, 1 repetition)"
    run "$RSFLOW_PY" bench/local_upload_bench.py --mb 8 --reps 1 --rsflow-bin "$RSFLOW_BIN" \
        --python "$RSFLOW_PY" >/dev/null
    done_step "local upload bench smoke"
    # The GenAI, basic-auth and operations benchmarks at tiny sizes (each under a minute; the
    # reports go to bench/results/smoke/), so that they cannot rot either. The ops smoke runs every
    # rsflow row but mlflow's side on the local gc row only (3 runs; mlflow gc deletes through an
    # rsflow server there): ~45 s on the shared 2-core machine, was ~190 s.
    banner "GenAI, auth and ops benchmark smoke (bench/genai_bench.py, auth_bench.py, ops_bench.py)"
    run "$RSFLOW_PY" bench/genai_bench.py --smoke --rsflow-bin "$RSFLOW_BIN" >/dev/null
    RSFLOW_BIN="$RSFLOW_BIN" AUTH_BENCH_SECS=1 AUTH_BENCH_REPEATS=1 AUTH_BENCH_MLFLOW=0 \
        run "$RSFLOW_PY" bench/auth_bench.py >/dev/null
    RSFLOW_BIN="$RSFLOW_BIN" BENCH_SMOKE=1 BENCH_WORKDIR="$REPO/.tmp/ops-bench-smoke" \
        run "$RSFLOW_PY" bench/ops_bench.py >/dev/null
    done_step "genai/auth/ops bench smoke"
    # ---- end of benchmark smoke
    if [[ -n "${SMOKE_DIR:-}" ]]; then
        printf '%s\n' "${SUMMARY[@]:first}" >"$SMOKE_DIR/summary"
    fi
}
SMOKE_PID=""
SMOKE_DIR=""
if [[ "${RSFLOW_TEST_SMOKES_BESIDE:-1}" == "1" ]]; then
    SMOKE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rsflow-smokes.XXXXXX")
    banner "benchmark smokes: started in the background, beside the MLflow 3.18.0 suite"
    bench_smokes >"$SMOKE_DIR/log" 2>&1 &
    SMOKE_PID=$!
fi

# ---- the MLflow 3.18.0 client: the same flows with the newest client (and, for the differential
# and interop files, `mlflow server` 3.18.0 as the reference); rsflow creates new databases at
# 3.18.0's head, as a team running 3.18 servers beside it would ask.
banner "compat suite with the MLflow 3.18.0 client (.venv-mlflow318)"
# shellcheck disable=SC2086
RSFLOW_PY="$RSFLOW_MLFLOW318_PY" RSFLOW_SCHEMA_REVISION=f4a9b2c7d1e6 run_pytest "compat suite (mlflow 3.18.0)" \
    "${COMPAT_XDIST[@]}" \
    ${COMPAT_318_FILES:-compat/test_tracking_flows.py compat/test_models.py compat/test_artifact_flows.py \
    compat/test_differential.py compat/test_db_interop.py compat/test_mlflow318.py compat/test_web_ui.py}
done_step "compat suite (mlflow 3.18.0)"
# ---- end of the MLflow 3.18.0 client

if [[ -n "$SMOKE_PID" ]]; then
    banner "benchmark smokes (ran beside the MLflow 3.18.0 suite): their output"
    smoke_rc=0
    wait "$SMOKE_PID" || smoke_rc=$?
    cat "$SMOKE_DIR/log"
    if [[ -f "$SMOKE_DIR/summary" ]]; then
        mapfile -t smoke_lines <"$SMOKE_DIR/summary"
        SUMMARY+=("${smoke_lines[@]}")
    fi
    rm -rf "$SMOKE_DIR"
    if [[ $smoke_rc -ne 0 ]]; then
        echo "ERROR: a benchmark smoke failed (exit $smoke_rc)" >&2
        exit "$smoke_rc"
    fi
    done_step "benchmark smokes (waiting for them)"
else
    bench_smokes
fi

if [[ "${COMPAT_BIG_RUN:-}" == "1" ]]; then
    banner "opt-in: 1 GiB artifact round trip"
    COMPAT_BIG_MB=1024 run_pytest "big file" compat/test_artifact_flows.py -k test_big_file_round_trip
    done_step "big file (1 GiB)"
fi


banner "summary"
printf '%s\n' "${SUMMARY[@]}"
echo "total                              $((SECONDS))s"
echo "all steps passed"
