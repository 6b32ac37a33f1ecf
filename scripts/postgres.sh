#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks (Debian's packages).
#
#   bash scripts/postgres.sh start    # install if missing, init + start; prints the admin URL
#   bash scripts/postgres.sh env      # prints export lines: eval "$(bash scripts/postgres.sh env)"
#   bash scripts/postgres.sh pause    # stop the server, keep its data (outage tests)
#   bash scripts/postgres.sh stop     # stop the server and delete its data directory
#   bash scripts/postgres.sh status   # exit 0 when it accepts connections
#
# Env:
#   RSFLOW_PG_PORT   TCP port on 127.0.0.1 (default 15832)
#   RSFLOW_PG_DIR    where the cluster lives (default /tmp/rsflow-pg-$RSFLOW_PG_PORT)
#
# The cluster listens on 127.0.0.1 only. Superuser `postgres` logs in without a password
# (trust); role `rsflow_pw` (CREATEDB) must give its password (scram-sha-256), so tests can
# check how rsflow reports a wrong one. It runs as a non-root user: the current user, or,
# when that is root, Debian's `postgres` account (created if missing). Durability is off
# (fsync, synchronous_commit, full_page_writes): the data is disposable and tests are faster.
# `start` is idempotent: a running server is left as it is, a paused one is restarted.

set -euo pipefail

PORT="${RSFLOW_PG_PORT:-15832}"
BASE="${RSFLOW_PG_DIR:-/tmp/rsflow-pg-$PORT}"
DATA="$BASE/data"
LOG="$BASE/postgres.log"
PW_ROLE="rsflow_pw"
PW_SECRET="rsflow-pw-secret"
ADMIN_URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
PW_URL="postgresql://$PW_ROLE:$PW_SECRET@127.0.0.1:$PORT/postgres"

log() { echo "postgres.sh: $*" >&2; }

bin_dir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            echo "$d"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    return 1
}

ensure_installed() {
    if bin_dir >/dev/null; then
        return 0
    fi
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        log "PostgreSQL is not installed (need initdb and pg_ctl; apt-get install postgresql)"
        return 1
    fi
    log "installing PostgreSQL with apt-get"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql postgresql-client >&2
    # The package may start its own default cluster; it is not ours and not needed.
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        local v
        for v in $(ls /etc/postgresql 2>/dev/null); do
            pg_ctlcluster "$v" main stop >/dev/null 2>&1 || true
        done
    fi
    bin_dir >/dev/null
}

# The account the server runs as (PostgreSQL refuses to run as root).
run_user() {
    if [[ $(id -u) -ne 0 ]]; then
        id -un
        return
    fi
    if ! id postgres >/dev/null 2>&1; then
        log "creating system user postgres"
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    echo postgres
}

# Run a command as the server account, without the test token (the test command's cleanup
# kills every process carrying it; this server is stopped through `stop` instead).
as_user() {
    local user="$1"
    shift
    if [[ "$user" == "$(id -un)" ]]; then
        env -u RSFLOW_TEST_TOKEN "$@"
    else
        env -u RSFLOW_TEST_TOKEN runuser -u "$user" -- "$@"
    fi
}

is_ready() {
    local bin
    bin="$(bin_dir)" || return 1
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT" -d postgres -U postgres >/dev/null 2>&1
}

psql_admin() {
    local bin
    bin="$(bin_dir)"
    PGCONNECT_TIMEOUT=5 "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" \
        -U postgres -d postgres "$@"
}

cmd_start() {
    ensure_installed
    local bin user
    bin="$(bin_dir)"
    user="$(run_user)"
    if is_ready; then
        echo "$ADMIN_URL"
        return 0
    fi
    mkdir -p "$BASE"
    chown "$user" "$BASE"
    chmod 700 "$BASE"
    if [[ ! -s "$DATA/PG_VERSION" ]]; then
        rm -rf "$DATA"
        as_user "$user" "$bin/initdb" -D "$DATA" -U postgres -A trust -E UTF8 \
            --locale=C --no-sync >"$BASE/initdb.log" 2>&1 || {
            cat "$BASE/initdb.log" >&2
            return 1
        }
        cat >"$DATA/pg_hba.conf" <<EOF
# rsflow test cluster: loopback only; $PW_ROLE must send its password.
local   all   all                     trust
host    all   $PW_ROLE   127.0.0.1/32   scram-sha-256
host    all   $PW_ROLE   ::1/128        scram-sha-256
host    all   all        127.0.0.1/32   trust
host    all   all        ::1/128        trust
EOF
        cat >>"$DATA/postgresql.conf" <<EOF
# rsflow test cluster
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$BASE'
max_connections = 300
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
password_encryption = 'scram-sha-256'
log_min_messages = warning
log_min_error_statement = panic
EOF
        chown "$user" "$DATA/pg_hba.conf" "$DATA/postgresql.conf"
        local fresh=1
    fi
    as_user "$user" "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -o "-p $PORT" start \
        >/dev/null || {
        log "pg_ctl start failed; last lines of $LOG:"
        tail -n 30 "$LOG" >&2 || true
        return 1
    }
    if [[ -n "${fresh:-}" ]]; then
        psql_admin -c "CREATE ROLE $PW_ROLE LOGIN CREATEDB PASSWORD '$PW_SECRET'"
    fi
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (data: $DATA)"
    echo "$ADMIN_URL"
}

cmd_pause() {
    local bin user
    bin="$(bin_dir)" || return 0
    [[ -f "$DATA/postmaster.pid" ]] || return 0
    user="$(run_user)"
    as_user "$user" "$bin/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
        as_user "$user" "$bin/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
}

cmd_stop() {
    cmd_pause
    if [[ -d "$BASE" ]]; then
        rm -rf "$BASE"
    fi
}

cmd_env() {
    echo "export RSFLOW_TEST_PG_URL='$ADMIN_URL'"
    echo "export RSFLOW_TEST_PG_PASSWORD_URL='$PW_URL'"
    echo "export RSFLOW_PG_PORT='$PORT'"
    echo "export RSFLOW_PG_DIR='$BASE'"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    pause) cmd_pause ;;
    env) cmd_env ;;
    status) is_ready ;;
    *)
        echo "usage: $0 start|stop|pause|env|status" >&2
        exit 2
        ;;
esac
