#!/usr/bin/env bash
# Local storage servers for the artifact backend tests, all on 127.0.0.1:
#
#   bash scripts/storage-servers.sh start   # install what is missing, start, wait until ready
#   bash scripts/storage-servers.sh env     # print the `export ...` lines the tests read
#   bash scripts/storage-servers.sh stop    # stop what `start` started (by pid file)
#   bash scripts/storage-servers.sh s3s-bin # install s3s-fs if missing, print its path (bench)
#   bash scripts/storage-servers.sh s3s-wide-bin # the same with 1 MiB GetObject reads (bench)
#   eval "$(bash scripts/storage-servers.sh env)"
#
# Servers (port = RSFLOW_STORAGE_PORT_BASE + offset, base 15500 by default):
#   +10 s3s-fs   S3 on a directory       (cargo install --locked s3s-fs@0.14.1 into $RSFLOW_TOOLS)
#   +11 moto     S3, second implementation (PyPI moto[server] in $RSFLOW_TOOLS/venv)
#   +12 Azurite  Azure Blob               (npm azurite in $RSFLOW_TOOLS/node_modules)
#   +13 gcp-storage-emulator  GCS         (PyPI, in $RSFLOW_TOOLS/venv)
#   +14 sshd     SFTP (internal-sftp)     (Debian openssh-server; key pair and host key
#                                           generated in the state dir; runs as this user)
#                When run as root, `start` also creates a throwaway system user
#                (rsflowpw<base>) with a random password for the SFTP password login tests
#                (RSFLOW_TEST_SFTP_PASSWORD_URI); `stop` deletes it. Otherwise those tests
#                skip, with the reason in RSFLOW_TEST_SFTP_PASSWORD_SKIP.
# Buckets/containers are created by `start`. Installs are skipped when already present, so
# reruns take seconds. State (data, keys, logs, pids, env file) lives in .tmp/storage-servers/.
# The stock client's storage SDKs (boto3, azure-storage-blob, google-cloud-storage) are added
# to the compat venv (.venv) for direct-mode tests.
#
# Env: RSFLOW_TOOLS (install dir, default ~/.cache/rsflow-tools), RSFLOW_STORAGE_PORT_BASE, RSFLOW_STORAGE_STATE (state dir), RSFLOW_VENV (compat venv).

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Installed test servers live outside the clone, so CI runs on the same machine reuse them;
# a fresh machine installs them here on the first run.
TOOLS="${RSFLOW_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/rsflow-tools}"
STATE="${RSFLOW_STORAGE_STATE:-$REPO/.tmp/storage-servers}"
BASE="${RSFLOW_STORAGE_PORT_BASE:-15500}"
S3S_PORT=$((BASE + 10))
MOTO_PORT=$((BASE + 11))
AZURITE_PORT=$((BASE + 12))
GCS_PORT=$((BASE + 13))
SSH_PORT=$((BASE + 14))
COMPAT_VENV="${RSFLOW_VENV:-$REPO/.venv}"

S3_KEY=rsflowtest
S3_SECRET=rsflowtestsecret
BUCKET=rsflow-test
AZ_ACCOUNT=devstoreaccount1
# Azurite's well-known development key (public, documented by Microsoft).
AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
CONTAINER=rsflow-test
GCS_BUCKET=rsflow-test

log() { printf 'storage-servers: %s\n' "$*" >&2; }

python_bin() {
    if command -v python3.11 >/dev/null 2>&1; then echo python3.11; else echo python3; fi
}

install_s3s() {
    if [[ -x "$TOOLS/bin/s3s-fs" ]]; then return; fi
    log "installing s3s-fs (cargo install, a few minutes)"
    if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    # 0.14.1 is the newest release that builds with the pinned toolchain (1.95).
    cargo install --locked s3s-fs@0.14.1 --features binary --root "$TOOLS" >&2
}

# The benchmark's second S3 server (issue #22): s3s-fs 0.14.1 with GetObject reading the file in
# 1 MiB blocks instead of 4 KiB (s3s-fs then spends most of its CPU in read syscalls through
# tokio's blocking pool, which caps downloads well below the disk). Built from the crate source
# that `cargo install s3s-fs` leaves in cargo's registry, patched by one sed, into
# $TOOLS/s3s-wide; nothing else differs from the test command's s3s-fs.
install_s3s_wide() {
    if [[ -x "$TOOLS/s3s-wide/bin/s3s-fs" ]]; then return; fi
    install_s3s
    local src dst
    src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/s3s-fs-0.14.1 2>/dev/null | head -n1)"
    if [[ -z "$src" ]]; then
        (cd "$(mktemp -d)" && cargo info s3s-fs@0.14.1 >/dev/null)
        src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/s3s-fs-0.14.1 | head -n1)"
    fi
    dst="$TOOLS/src/s3s-fs-wide"
    rm -rf "$dst"
    mkdir -p "$TOOLS/src"
    cp -r "$src" "$dst"
    chmod -R u+w "$dst"
    sed -i 's/ReaderStream::with_capacity(file, 4096)/ReaderStream::with_capacity(file, 1 << 20)/' \
        "$dst/src/s3.rs"
    if ! grep -q 'ReaderStream::with_capacity(file, 1 << 20)' "$dst/src/s3.rs"; then
        log "s3s-fs-wide: the GetObject read size was not found in $dst/src/s3.rs"
        exit 1
    fi
    log "installing s3s-fs-wide (s3s-fs with 1 MiB reads; cargo install, a few minutes)"
    cargo install --locked --path "$dst" --features binary --root "$TOOLS/s3s-wide" >&2
}

install_tools_venv() {
    local venv="$TOOLS/venv"
    if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c \
        'import moto.server, gcp_storage_emulator, boto3, azure.storage.blob' >/dev/null 2>&1; then
        return
    fi
    log "installing moto[server], gcp-storage-emulator, boto3, azure-storage-blob into $venv"
    "$(python_bin)" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        'moto[server]>=5,<6' 'gcp-storage-emulator>=2024' boto3 azure-storage-blob >&2
}

install_azurite() {
    if [[ -x "$TOOLS/node_modules/.bin/azurite-blob" ]]; then return; fi
    if ! command -v npm >/dev/null 2>&1; then
        log "installing nodejs and npm (apt-get)"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
    fi
    log "installing azurite (npm) into $TOOLS"
    mkdir -p "$TOOLS"
    npm install --prefix "$TOOLS" --no-audit --no-fund --silent azurite@3 >&2
}

install_sshd() {
    if [[ -x /usr/sbin/sshd ]] && command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; then
        return
    fi
    log "installing openssh-server and openssh-client (apt-get)"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >&2
}

install_client_sdks() {
    if [[ ! -x "$COMPAT_VENV/bin/python" ]]; then
        bash "$REPO/scripts/venv.sh" >/dev/null
    fi
    if "$COMPAT_VENV/bin/python" -c 'import boto3, azure.storage.blob, google.cloud.storage' >/dev/null 2>&1; then
        return
    fi
    log "installing boto3, azure-storage-blob, google-cloud-storage into $COMPAT_VENV"
    "$COMPAT_VENV/bin/pip" install -q --disable-pip-version-check \
        boto3 azure-storage-blob google-cloud-storage >&2
}

running() {
    local pidfile="$STATE/$1.pid"
    [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# spawn NAME CMD...: start in the background, output to NAME.log, pid to NAME.pid.
spawn() {
    local name="$1"
    shift
    if running "$name"; then return; fi
    setsid "$@" >"$STATE/$name.log" 2>&1 </dev/null &
    echo $! >"$STATE/$name.pid"
}

wait_port() {
    local name="$1" port="$2" i
    for i in $(seq 1 150); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        if ! running "$name"; then
            log "$name exited; its log:"
            tail -n 30 "$STATE/$name.log" >&2 || true
            return 1
        fi
        sleep 0.2
    done
    log "$name did not listen on $port within 30 s; its log:"
    tail -n 30 "$STATE/$name.log" >&2 || true
    return 1
}

PW_USER="rsflowpw$BASE"

# The password user: only as root (useradd), only created here, and deleted by `stop`.
setup_password_user() {
    rm -f "$STATE/sftp-password"
    if [[ $(id -u) -ne 0 ]] || ! command -v useradd >/dev/null 2>&1 || ! command -v chpasswd >/dev/null 2>&1; then
        return
    fi
    if ! id "$PW_USER" >/dev/null 2>&1; then
        useradd --no-create-home --home-dir "$STATE/sftp-pw" --shell /usr/sbin/nologin "$PW_USER"
    fi
    # Created by us (or left by an earlier run of this script): stop deletes it.
    echo "$PW_USER" >"$STATE/sftp-pw-user"
    local pw
    pw="$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24 || true)"
    printf '%s:%s\n' "$PW_USER" "$pw" | chpasswd
    (umask 077 && printf '%s' "$pw" >"$STATE/sftp-password")
    mkdir -p "$STATE/sftp-pw"
    chown "$PW_USER" "$STATE/sftp-pw"
    chmod 700 "$STATE/sftp-pw"
}

setup_ssh() {
    local home="$STATE/home" user
    user="$(id -un)"
    setup_password_user
    mkdir -p "$home/.ssh" "$STATE/sftp"
    chmod 700 "$home/.ssh"
    [[ -f "$STATE/ssh_host_ed25519_key" ]] || ssh-keygen -q -t ed25519 -N '' -f "$STATE/ssh_host_ed25519_key"
    [[ -f "$home/.ssh/id_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -f "$home/.ssh/id_ed25519"
    cp "$home/.ssh/id_ed25519.pub" "$STATE/authorized_keys"
    chmod 600 "$STATE/authorized_keys"
    printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$STATE/ssh_host_ed25519_key.pub")" \
        >"$home/.ssh/known_hosts"
    cat >"$STATE/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $STATE/ssh_host_ed25519_key
PidFile $STATE/sshd.real.pid
AuthorizedKeysFile $STATE/authorized_keys
AllowUsers $user $PW_USER
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
# The password user logs in by password only (the test key must not let it in).
Match User $PW_USER
    PasswordAuthentication yes
    PubkeyAuthentication no
EOF
    # sshd refuses to start without its privilege-separation directory.
    mkdir -p /run/sshd 2>/dev/null || true
}

create_buckets() {
    "$TOOLS/venv/bin/python" - "$S3S_PORT" "$MOTO_PORT" "$AZURITE_PORT" <<PY
import sys, time
import boto3
from azure.storage.blob import BlobServiceClient

s3s_port, moto_port, az_port = sys.argv[1:4]
for port in (s3s_port, moto_port):
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                      aws_access_key_id="$S3_KEY", aws_secret_access_key="$S3_SECRET")
    names = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    if "$BUCKET" not in names:
        s3.create_bucket(Bucket="$BUCKET")
conn = ("DefaultEndpointsProtocol=http;AccountName=$AZ_ACCOUNT;AccountKey=$AZ_KEY;"
        f"BlobEndpoint=http://127.0.0.1:{az_port}/$AZ_ACCOUNT;")
svc = BlobServiceClient.from_connection_string(conn)
if not svc.get_container_client("$CONTAINER").exists():
    svc.create_container("$CONTAINER")
PY
}

print_env() {
    cat <<EOF
export RSFLOW_STORAGE_STATE='$STATE'
export RSFLOW_TEST_S3_ENDPOINT='http://127.0.0.1:$S3S_PORT'
export RSFLOW_TEST_MOTO_ENDPOINT='http://127.0.0.1:$MOTO_PORT'
export RSFLOW_TEST_S3_BUCKET='$BUCKET'
export RSFLOW_TEST_S3_ACCESS_KEY='$S3_KEY'
export RSFLOW_TEST_S3_SECRET_KEY='$S3_SECRET'
export RSFLOW_TEST_AZURE_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=$AZ_ACCOUNT;AccountKey=$AZ_KEY;BlobEndpoint=http://127.0.0.1:$AZURITE_PORT/$AZ_ACCOUNT;'
export RSFLOW_TEST_AZURE_URI='wasbs://$CONTAINER@$AZ_ACCOUNT.blob.core.windows.net'
export RSFLOW_TEST_GCS_EMULATOR='127.0.0.1:$GCS_PORT'
export RSFLOW_TEST_GCS_BUCKET='$GCS_BUCKET'
export RSFLOW_TEST_SFTP_URI='sftp://$(id -un)@127.0.0.1:$SSH_PORT$STATE/sftp'
export RSFLOW_TEST_SFTP_HOME='$STATE/home'
EOF
    if [[ -f "$STATE/sftp-password" ]]; then
        echo "export RSFLOW_TEST_SFTP_PASSWORD_URI='sftp://$PW_USER:$(cat "$STATE/sftp-password")@127.0.0.1:$SSH_PORT$STATE/sftp-pw'"
    elif [[ $(id -u) -ne 0 ]]; then
        echo "export RSFLOW_TEST_SFTP_PASSWORD_SKIP='storage-servers.sh runs as $(id -un), not root: it cannot create the throwaway system user a password login needs'"
    else
        echo "export RSFLOW_TEST_SFTP_PASSWORD_SKIP='storage-servers.sh could not create the password user (useradd or chpasswd missing, or start has not run)'"
    fi
}

start() {
    mkdir -p "$STATE" "$TOOLS"
    install_s3s
    install_tools_venv
    install_azurite
    install_sshd
    install_client_sdks

    mkdir -p "$STATE/s3s-data" "$STATE/azurite" "$STATE/gcs"
    spawn s3s-fs "$TOOLS/bin/s3s-fs" --host 127.0.0.1 --port "$S3S_PORT" \
        --access-key "$S3_KEY" --secret-key "$S3_SECRET" "$STATE/s3s-data"
    spawn moto "$TOOLS/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"
    spawn azurite "$TOOLS/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 \
        --blobPort "$AZURITE_PORT" --location "$STATE/azurite" --skipApiVersionCheck --silent
    spawn gcs env STORAGE_BASE=/ STORAGE_DIR="$STATE/gcs" "$TOOLS/venv/bin/gcp-storage-emulator" start \
        --host 127.0.0.1 --port "$GCS_PORT" --default-bucket "$GCS_BUCKET" --in-memory
    setup_ssh
    spawn sshd /usr/sbin/sshd -D -e -f "$STATE/sshd_config"

    wait_port s3s-fs "$S3S_PORT"
    wait_port moto "$MOTO_PORT"
    wait_port azurite "$AZURITE_PORT"
    wait_port gcs "$GCS_PORT"
    wait_port sshd "$SSH_PORT"
    create_buckets
    print_env >"$STATE/env"
    log "ready (env in $STATE/env)"
}

stop() {
    local name pid
    for name in s3s-fs moto azurite gcs sshd; do
        if [[ -f "$STATE/$name.pid" ]]; then
            pid="$(cat "$STATE/$name.pid")"
            # Each server leads its own session (setsid): stop the group it started.
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            rm -f "$STATE/$name.pid"
        fi
    done
    if [[ -f "$STATE/sftp-pw-user" ]]; then
        local pw_user
        pw_user="$(cat "$STATE/sftp-pw-user")"
        # sshd's processes for the user must be gone before userdel accepts.
        sleep 0.2
        userdel "$pw_user" 2>/dev/null || userdel -f "$pw_user" 2>/dev/null ||
            log "could not delete the password user $pw_user"
        rm -f "$STATE/sftp-pw-user" "$STATE/sftp-password"
        rm -rf "$STATE/sftp-pw"
    fi
    log "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) print_env ;;
    s3s-bin)
        install_s3s
        echo "$TOOLS/bin/s3s-fs"
        ;;
    s3s-wide-bin)
        install_s3s_wide
        echo "$TOOLS/s3s-wide/bin/s3s-fs"
        ;;
    *)
        echo "usage: $0 start|stop|env|s3s-bin|s3s-wide-bin" >&2
        exit 2
        ;;
esac
