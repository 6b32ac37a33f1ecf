#!/usr/bin/env bash
# Install MLflow's web UI for rsflow:   bash scripts/ui.sh [TARGET_DIR]
#
# The UI is the prebuilt React app inside the mlflow wheel (mlflow/server/js/build,
# Apache-2.0). This extracts it from the pinned wheel into TARGET_DIR, where
# `rsflow server --ui-dir TARGET_DIR` (or RSFLOW_UI_DIR) serves it.
#
# TARGET_DIR defaults to target/share/rsflow/ui in this checkout: a binary at
# target/debug/rsflow or target/release/rsflow looks in <its dir>/../share/rsflow/ui
# without any flag (so does /usr/local/bin/rsflow with /usr/local/share/rsflow/ui).
#
# Where the wheel comes from, first that works:
#   1. MLFLOW_WHEEL=/path/to/mlflow-<version>-py3-none-any.whl
#   2. the mlflow installed in one of this repo's venvs (.venv: 3.17.2, .venv-mlflow318: 3.18.0,
#      made by scripts/venv.sh), if it is the version asked for
#   3. `pip download mlflow==<version> --no-deps` into a temp dir (needs python3 with pip)
#
# Env knobs: MLFLOW_UI_VERSION (default: the version rsflow reports, 3.17.2; 3.18.0 is the other
# version the compat suite runs), PYTHON.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${MLFLOW_UI_VERSION:-3.17.2}"
TARGET="${1:-$REPO/target/share/rsflow/ui}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
BUILD_IN_WHEEL="mlflow/server/js/build"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The new build goes next to TARGET first and replaces it in one rename, so a running
# server never serves half a UI.
install_from_dir() {
    local src="$1"
    [[ -f "$src/index.html" ]] || { echo "ui.sh: $src has no index.html" >&2; return 1; }
    mkdir -p "$(dirname "$TARGET")"
    local staging
    staging="$(mktemp -d "$(dirname "$TARGET")/.ui-staging.XXXXXX")"
    cp -R "$src/." "$staging/"
    chmod -R u+rwX,go+rX "$staging"
    if [[ -e "$TARGET" ]]; then
        mv "$TARGET" "$staging.old"
    fi
    mv "$staging" "$TARGET"
    rm -rf "$staging.old"
    echo "ui.sh: MLflow $VERSION UI installed in $TARGET ($(du -sh "$TARGET" | cut -f1))"
}

install_from_wheel() {
    local wheel="$1"
    "$PYTHON" - "$wheel" "$tmp/unpacked" "$BUILD_IN_WHEEL" <<'EOF'
import sys, zipfile
wheel, dest, prefix = sys.argv[1], sys.argv[2], sys.argv[3] + "/"
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.startswith(prefix) and not m.endswith("/")]
    if not members:
        sys.exit(f"ui.sh: {wheel} holds no {prefix}")
    z.extractall(dest, members)
EOF
    install_from_dir "$tmp/unpacked/$BUILD_IN_WHEEL"
}

if [[ -n "${MLFLOW_WHEEL:-}" ]]; then
    install_from_wheel "$MLFLOW_WHEEL"
    exit 0
fi

for venv_py in "$REPO/.venv/bin/python" "$REPO/.venv-mlflow318/bin/python"; do
    [[ -x "$venv_py" ]] || continue
    venv_mlflow="$("$venv_py" - <<'EOF' 2>/dev/null || true
import importlib.metadata, importlib.util, pathlib
root = pathlib.Path(importlib.util.find_spec("mlflow").submodule_search_locations[0])
print(importlib.metadata.version("mlflow"), root / "server" / "js" / "build")
EOF
)"
    if [[ "${venv_mlflow%% *}" == "$VERSION" && -f "${venv_mlflow#* }/index.html" ]]; then
        install_from_dir "${venv_mlflow#* }"
        exit 0
    fi
done

echo "ui.sh: downloading the mlflow $VERSION wheel (no dependencies)"
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp/wheel" "mlflow==$VERSION"
wheel="$(ls "$tmp"/wheel/mlflow-*.whl)"
install_from_wheel "$wheel"
