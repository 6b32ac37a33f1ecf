#!/usr/bin/env bash
# The full-size CLI test of issue 19: `rsflow artifacts upload|download` of a 1 GiB file plus
# 2,000 small files, SHA-256 equal, the progress bar checked in a pseudo-terminal, a download
# killed mid-file and resumed (compat/test_artifacts_cli_big.py). The test command runs the
# same test at 128 MiB + 300 files; this runs it at full size (about 3 GiB of disk, a minute
# or two).
#
#   bash scripts/cli-big.sh                  # 1024 MiB, 2000 files
#   COMPAT_CLI_BIG_MB=4096 bash scripts/cli-big.sh
#
# Env: RSFLOW_VENV (the compat venv, default .venv), RSFLOW_BIN (default target/debug/rsflow,
# built if missing).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${RSFLOW_VENV:-$REPO/.venv}/bin/python"
if [[ -z "${RSFLOW_BIN:-}" ]]; then
    (cd "$REPO" && cargo build -p rsflow)
fi
cd "$REPO/compat"
COMPAT_CLI_BIG_MB="${COMPAT_CLI_BIG_MB:-1024}" COMPAT_CLI_TREE_FILES="${COMPAT_CLI_TREE_FILES:-2000}" \
    exec "$PY" -m pytest -q -s -p no:cacheprovider test_artifacts_cli_big.py "$@"
