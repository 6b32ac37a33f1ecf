#!/usr/bin/env bash
# The gates every change passes before any test runs:   bash scripts/gates.sh
#
#   1. cargo fmt --all --check
#   2. cargo clippy --workspace --all-targets -- -D warnings
#   3. cargo deny check licenses bans sources   (deny.toml; cargo-deny installed on first use)
#
# Cost on the 2-core machine, warm build: fmt 1 s, clippy 0-3 s (plus re-checking what changed),
# deny 2 s. Installing cargo-deny once per machine compiles ~210 crates: 4.5 CPU-minutes
# (4m28s user + 20 s system, measured with cargo install -j 1).
#
# Advisories are not checked: cargo-deny (and cargo-audit) read the RustSec advisory database
# from its git repository, which this project's machines and CI cannot reach (they reach the
# package registries only), and no registry package ships that database. deny.toml says so too.
#
# Env: RSFLOW_TOOLS (where cargo-deny is installed, default ~/.cache/rsflow-tools, shared with
# scripts/storage-servers.sh), RSFLOW_SKIP_DENY=1 (skip step 3), RSFLOW_DENY_IF_INSTALLED=1
# (step 3 only if cargo-deny is already installed: the quick tier does not wait for the build),
# RSFLOW_CLIPPY_IN_BUILD=1 (skip step 2: the caller builds with clippy-driver as the workspace
# compiler and the same lints, as scripts/test.sh does; see there).

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
TOOLS="${RSFLOW_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/rsflow-tools}"
DENY_VERSION=0.20.2

if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

log() { printf 'gates: %s\n' "$*" >&2; }

# rust-toolchain.toml pins a version. A machine that has that version only as `stable` (an
# offline one, where rustup cannot download) gets it under the pinned name as well, the way
# rustup lays out toolchains, so that cargo does not try to download it.
ensure_toolchain() {
    command -v rustup >/dev/null 2>&1 || return 0
    local want home host stable
    want="$(sed -n 's/^channel = "\(.*\)"$/\1/p' "$REPO/rust-toolchain.toml")"
    home="${RUSTUP_HOME:-$HOME/.rustup}"
    host="$(rustup show 2>/dev/null | sed -n 's/^Default host: //p')"
    [[ -n "$want" && -n "$host" ]] || return 0
    [[ -e "$home/toolchains/$want-$host" ]] && return 0
    stable="$home/toolchains/stable-$host"
    if [[ -x "$stable/bin/rustc" ]] && "$stable/bin/rustc" --version | grep -q "^rustc $want "; then
        log "linking the installed stable ($want) as toolchain $want"
        ln -s "$stable" "$home/toolchains/$want-$host"
    fi
}
ensure_toolchain

step() {
    local name="$1" start=$SECONDS
    shift
    log "$name"
    "$@"
    log "$name: ok ($((SECONDS - start)) s)"
}

install_deny() {
    local bin="$TOOLS/bin/cargo-deny"
    if [[ -x "$bin" ]] && "$bin" --version 2>/dev/null | grep -qF " $DENY_VERSION"; then
        return
    fi
    log "installing cargo-deny $DENY_VERSION into $TOOLS (cargo install --locked, once per machine)"
    # Outside the clone, so that the repository's target/ and toolchain file stay out of it.
    (cd / && cargo install --locked "cargo-deny@$DENY_VERSION" --root "$TOOLS" >&2)
}

step "cargo fmt --all --check" cargo fmt --all --check
if [[ "${RSFLOW_CLIPPY_IN_BUILD:-}" == "1" ]]; then
    log "cargo clippy: run by the test command's build instead (clippy-driver as the compiler of the workspace crates)"
else
    step "cargo clippy --workspace --all-targets -- -D warnings" \
        cargo clippy --workspace --all-targets -- -D warnings
fi
if [[ "${RSFLOW_DENY_IF_INSTALLED:-}" == "1" && ! -x "$TOOLS/bin/cargo-deny" ]]; then
    log "cargo-deny is not installed yet: skipping cargo deny (the full test command installs it)"
elif [[ "${RSFLOW_SKIP_DENY:-}" != "1" ]]; then
    install_deny
    step "cargo deny check licenses bans sources" \
        "$TOOLS/bin/cargo-deny" --log-level error check licenses bans sources
fi
