#!/usr/bin/env bash
# A throwaway MariaDB server for tests and benchmarks (Debian's packages).
#
#   bash scripts/mariadb.sh start    # install if missing, init + start; prints the admin URL
#   bash scripts/mariadb.sh env      # prints export lines: eval "$(bash scripts/mariadb.sh env)"
#   bash scripts/mariadb.sh pause    # stop the server, keep its data (outage tests)
#   bash scripts/mariadb.sh stop     # stop the server and delete its data directory
#   bash scripts/mariadb.sh status   # exit 0 when it accepts connections
#
# Env:
#   RSFLOW_MYSQL_PORT   TCP port on 127.0.0.1 (default 13306)
#   RSFLOW_MYSQL_DIR    where the server's files live (default /tmp/rsflow-mariadb-$RSFLOW_MYSQL_PORT)
#
# The server listens on 127.0.0.1 only, with its own datadir and socket under
# RSFLOW_MYSQL_DIR (Debian's packaged server, if it starts one, is stopped and left alone).
# Account `rsflow` (password `rsflow-secret`, all privileges, may create databases) is the
# admin the tests use; its password must be given, so tests can also check how rsflow
# reports a wrong one. Durability is relaxed (innodb_flush_log_at_trx_commit=2, no doublewrite):
# the data is disposable and tests are faster. `start` is idempotent.

set -euo pipefail

PORT="${RSFLOW_MYSQL_PORT:-13306}"
BASE="${RSFLOW_MYSQL_DIR:-/tmp/rsflow-mariadb-$PORT}"
DATA="$BASE/data"
SOCK="$BASE/mysqld.sock"
PIDF="$BASE/mysqld.pid"
LOG="$BASE/mariadb.log"
USER_NAME="rsflow"
USER_SECRET="rsflow-secret"
ADMIN_URL="mysql://$USER_NAME:$USER_SECRET@127.0.0.1:$PORT/rsflow"

log() { echo "mariadb.sh: $*" >&2; }

server_bin() {
    local b
    for b in mariadbd mysqld /usr/sbin/mariadbd /usr/sbin/mysqld; do
        if command -v "$b" >/dev/null 2>&1; then
            command -v "$b"
            return 0
        fi
    done
    return 1
}

install_db_bin() {
    local b
    for b in mariadb-install-db mysql_install_db; do
        if command -v "$b" >/dev/null 2>&1; then
            command -v "$b"
            return 0
        fi
    done
    return 1
}

client_bin() {
    local b
    for b in mariadb mysql; do
        if command -v "$b" >/dev/null 2>&1; then
            command -v "$b"
            return 0
        fi
    done
    return 1
}

ensure_installed() {
    if server_bin >/dev/null && install_db_bin >/dev/null && client_bin >/dev/null; then
        return 0
    fi
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        log "MariaDB is not installed (apt-get install mariadb-server mariadb-client)"
        return 1
    fi
    log "installing MariaDB with apt-get"
    apt-get update -qq >&2
    # policy-rc.d keeps the package from starting its own server during the install.
    local policy=/usr/sbin/policy-rc.d made_policy=""
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        mariadb-server mariadb-client >&2 || {
        [[ -n "$made_policy" ]] && rm -f "$policy"
        return 1
    }
    [[ -n "$made_policy" ]] && rm -f "$policy"
    # Should a packaged server run anyway, it is not ours and not needed.
    if command -v service >/dev/null 2>&1; then
        service mariadb stop >/dev/null 2>&1 || true
    fi
    server_bin >/dev/null
}

# The account the server runs as (mariadbd refuses root unless told; use Debian's `mysql`).
run_user() {
    if [[ $(id -u) -ne 0 ]]; then
        id -un
        return
    fi
    if ! id mysql >/dev/null 2>&1; then
        log "creating system user mysql"
        useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin mysql
    fi
    echo mysql
}

client() {
    local bin
    bin="$(client_bin)"
    "$bin" --no-defaults --protocol=socket -S "$SOCK" -uroot "$@"
}

is_ready() {
    [[ -S "$SOCK" ]] || return 1
    client_bin >/dev/null || return 1
    client -e "SELECT 1" >/dev/null 2>&1
}

cmd_start() {
    ensure_installed
    local user
    user="$(run_user)"
    if is_ready; then
        echo "$ADMIN_URL"
        return 0
    fi
    mkdir -p "$BASE"
    chown "$user" "$BASE"
    chmod 700 "$BASE"
    local fresh=""
    if [[ ! -d "$DATA/mysql" ]]; then
        rm -rf "$DATA"
        env -u RSFLOW_TEST_TOKEN "$(install_db_bin)" --no-defaults --datadir="$DATA" \
            --user="$user" --auth-root-authentication-method=socket \
            --skip-test-db >"$BASE/install.log" 2>&1 || {
            cat "$BASE/install.log" >&2
            return 1
        }
        fresh=1
    fi
    cat >"$BASE/my.cnf" <<CNF
[mariadbd]
datadir = $DATA
socket = $SOCK
pid-file = $PIDF
port = $PORT
bind-address = 127.0.0.1
user = $user
skip-name-resolve
log-error = $LOG
max_connections = 400
innodb_buffer_pool_size = 256M
innodb_flush_log_at_trx_commit = 2
innodb_doublewrite = 0
innodb_lock_wait_timeout = 20
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
CNF
    chown "$user" "$BASE/my.cnf"
    # Started without the test token (the test command's cleanup kills every process carrying
    # it; this server is stopped through `stop` instead).
    env -u RSFLOW_TEST_TOKEN setsid "$(server_bin)" --defaults-file="$BASE/my.cnf" \
        >/dev/null 2>&1 </dev/null &
    local i
    for i in $(seq 1 120); do
        if is_ready; then
            break
        fi
        sleep 0.5
    done
    if ! is_ready; then
        log "mariadbd did not start; last lines of $LOG:"
        tail -n 30 "$LOG" >&2 || true
        return 1
    fi
    if [[ -n "$fresh" ]]; then
        client -e "CREATE USER '$USER_NAME'@'%' IDENTIFIED BY '$USER_SECRET';
GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'%' WITH GRANT OPTION;
CREATE DATABASE rsflow; FLUSH PRIVILEGES;"
    fi
    log "MariaDB $("$(server_bin)" --version | awk '{print $3}') on 127.0.0.1:$PORT (data: $DATA)"
    echo "$ADMIN_URL"
}

cmd_pause() {
    [[ -f "$PIDF" ]] || return 0
    local pid i
    pid="$(cat "$PIDF" 2>/dev/null || true)"
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 120); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cmd_stop() {
    cmd_pause
    if [[ -d "$BASE" ]]; then
        rm -rf "$BASE"
    fi
}

cmd_env() {
    echo "export RSFLOW_TEST_MYSQL_URL='$ADMIN_URL'"
    echo "export RSFLOW_MYSQL_PORT='$PORT'"
    echo "export RSFLOW_MYSQL_DIR='$BASE'"
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
