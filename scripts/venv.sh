#!/usr/bin/env bash
# Create or refresh the Python venv used by the compatibility suite.
#
#   bash scripts/venv.sh            # ensure $REPO/.venv is ready, print its path
#   source scripts/venv.sh          # same, and export RSFLOW_VENV / RSFLOW_PY
#
# Env:
#   RSFLOW_VENV   venv directory (default: $REPO/.venv)
#   RSFLOW_REQ    requirements file (default: compat/requirements.txt)
#   PYTHON        interpreter used to create it (default: python3.11, else python3)
#
# Lines of the requirements file that end in `# no-deps` are installed first with
# `pip install --no-deps`, then their own requirements (evaluated from the installed metadata,
# without the no-deps packages themselves and without mlflow-tracing), then the other lines:
# that is how a release whose mlflow-tracing wheel is missing from the index installs.
#
# The install is skipped when the venv already holds exactly the requirements
# in compat/requirements.txt (checked via a stamp file holding their hash plus
# the installed mlflow version), so reruns cost well under a second.
#
# Where the venv lives: a venv path that does not exist yet (a fresh clone) or is a symlink
# becomes a symlink to a venv kept outside the clone, in RSFLOW_VENV_CACHE_DIR (default
# ~/.cache/rsflow-venvs, next to the tools of scripts/gates.sh and storage-servers.sh), named
# after the path and a hash of the requirements file, this script and the interpreter's
# version: another clone with the same requirements reuses it instead of installing ~1 GiB
# again (96 s for .venv on the 2-core machine, ~4 min for the test command's three venvs).
# A change to any of the three makes a new one. Creation is serialised with flock, so two
# runs at once do not install into the same directory. A venv path that is a real directory
# (an older checkout) is used in place as before; RSFLOW_VENV_CACHE=0 keeps new ones in place.

_rsflow_venv_main() {
    set -euo pipefail
    local repo req venv py stamp want have
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    req="${RSFLOW_REQ:-$repo/compat/requirements.txt}"
    venv="${RSFLOW_VENV:-$repo/.venv}"
    stamp="$venv/.rsflow-requirements.sha256"

    if [[ -n "${PYTHON:-}" ]]; then
        py="$PYTHON"
    elif command -v python3.11 >/dev/null 2>&1; then
        py=python3.11
    else
        py=python3
    fi

    local link=""
    if [[ "${RSFLOW_VENV_CACHE:-1}" != "0" ]] && { [[ -L "$venv" ]] || [[ ! -e "$venv" ]]; }; then
        local cache key
        cache="${RSFLOW_VENV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rsflow-venvs}"
        key="$({ cat "$req" "${BASH_SOURCE[0]}"; "$py" -c 'import sys; print(sys.version)'; } \
            | sha256sum | cut -c1-16)"
        mkdir -p "$cache"
        link="$venv"
        venv="$cache/$(basename "$link" | sed 's/^\.//')-$key"
        stamp="$venv/.rsflow-requirements.sha256"
        # Held until this process exits: one run at a time creates or checks this venv.
        exec 9>"$venv.lock"
        flock 9
    fi

    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        echo "venv.sh: creating venv at $venv with $py" >&2
        rm -rf "$venv"
        if ! "$py" -m venv "$venv" >/dev/null 2>&1; then
            # Debian's python3.x ships ensurepip separately.
            if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
                local ver
                ver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
                echo "venv.sh: '$py -m venv' failed; installing python${ver}-venv via apt-get" >&2
                rm -rf "$venv"
                apt-get update -qq >&2
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${ver}-venv" >&2 \
                    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
                "$py" -m venv "$venv"
            else
                echo "venv.sh: '$py -m venv $venv' failed (install python3-venv)" >&2
                return 1
            fi
        fi
    fi

    want="$(sha256sum "$req" | cut -d' ' -f1)"
    have=""
    if [[ -f "$stamp" ]]; then
        have="$(cat "$stamp")"
    fi
    local mlflow_pin
    mlflow_pin="$(sed -n 's/^mlflow==\([^ ]*\).*/\1/p' "$req")"
    if [[ "$have" == "$want" ]] && "$venv/bin/python" - "$mlflow_pin" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
assert version("mlflow") == sys.argv[1]
for pkg in ("pytest", "pytest-timeout", "requests"):
    version(pkg)
PY
    then
        echo "venv.sh: $venv is up to date (mlflow==$mlflow_pin)" >&2
    else
        echo "venv.sh: installing $(grep -cv '^\s*\(#\|$\)' "$req") requirements into $venv" >&2
        "$venv/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip >&2 || true
        local nodeps rest
        nodeps="$(sed -n 's/^\([^#]*[^# ]\)[[:space:]]*#[[:space:]]*no-deps[[:space:]]*$/\1/p' "$req")"
        if [[ -n "$nodeps" ]]; then
            # shellcheck disable=SC2086
            "$venv/bin/python" -m pip install --disable-pip-version-check -q --no-deps $nodeps >&2
            # shellcheck disable=SC2086
            "$venv/bin/python" - $nodeps >"$venv/.rsflow-nodeps-requirements.txt" <<'PY'
import re
import sys
from importlib.metadata import requires
try:
    from packaging.requirements import Requirement
except ImportError:  # a fresh venv: pip's own copy
    from pip._vendor.packaging.requirements import Requirement

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

own = {norm(Requirement(spec).name) for spec in sys.argv[1:]}
skip = own | {"mlflow-tracing"}
seen = set()
for name in own:
    for spec in requires(name) or []:
        req = Requirement(spec)
        if norm(req.name) in skip or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        req.marker = None
        if str(req) not in seen:
            seen.add(str(req))
            print(req)
PY
            "$venv/bin/python" -m pip install --disable-pip-version-check -q \
                -r "$venv/.rsflow-nodeps-requirements.txt" >&2
        fi
        rest="$venv/.rsflow-requirements.txt"
        grep -v '#[[:space:]]*no-deps[[:space:]]*$' "$req" >"$rest"
        "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$rest" >&2
        echo "$want" >"$stamp"
    fi

    if [[ -n "$link" ]]; then
        ln -sfn "$venv" "$link"
        venv="$link"
    fi
    RSFLOW_VENV="$venv"
    RSFLOW_PY="$venv/bin/python"
    export RSFLOW_VENV RSFLOW_PY
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    _rsflow_venv_main "$@"
    echo "$RSFLOW_VENV"
else
    # Sourced: do the work in a child bash so `set -euo pipefail` doesn't leak into the
    # caller's shell, then export the result.
    if RSFLOW_VENV="$(bash "${BASH_SOURCE[0]}" "$@")"; then
        RSFLOW_PY="$RSFLOW_VENV/bin/python"
        export RSFLOW_VENV RSFLOW_PY
    else
        echo "venv.sh: failed" >&2
        return 1
    fi
fi
