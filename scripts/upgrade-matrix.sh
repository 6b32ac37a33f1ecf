#!/usr/bin/env bash
# `rsflow db upgrade` of databases made and filled by older MLflow releases
# (compat/test_db_upgrade_releases.py), one MLflow release line at a time.
#
#   bash scripts/upgrade-matrix.sh [LINE...]    # default: 2.0 2.9 2.22 3.0 3.10, and then (with
#                                               # RSFLOW_TEST_PG_URL) the PostgreSQL chain of
#                                               # every revision (compat/test_db_upgrade_chain.py)
#   bash scripts/upgrade-matrix.sh venv LINE    # only build (or find) LINE's venv; prints its python
#
# Each line's venv is cached under ~/.cache/rsflow-tools/mlflow-<version>/ and built once:
# `pip install --no-deps mlflow==<version>` plus what its SqlAlchemyStore and client need, with
# the SQLAlchemy and Alembic that release supports. 2.22 reuses the lead's .venv-mlflow2 (its
# client) under an overlay venv that holds only SQLAlchemy 2.0 (2.22's store refuses 2.1).
# Needs the 3.17.2 venv (RSFLOW_VENV, default .venv: pytest and the test's client) and
# MLflow 3.18.0 (RSFLOW_MLFLOW318_PY, default .venv-mlflow318/bin/python). PostgreSQL runs
# too when RSFLOW_TEST_PG_URL is set (eval "$(bash scripts/postgres.sh env)").
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CACHE="${RSFLOW_TOOLS_CACHE:-$HOME/.cache/rsflow-tools}"
PY311="${RSFLOW_PY311:-$(command -v python3.11 || echo /root/.pyenv/versions/3.11.7/bin/python3.11)}"
VENV="${RSFLOW_VENV:-$REPO/.venv}"

# line -> the release installed (the newest of the line that installs on Python 3.11).
version_of() {
    case "$1" in
        2.0) echo 2.0.1 ;; 2.9) echo 2.9.2 ;; 2.22) echo 2.22.5 ;; 3.0) echo 3.0.1 ;;
        3.10) echo 3.10.1 ;; *) echo "$1" ;;
    esac
}

# The dependencies of each line's SqlAlchemyStore, client and tracing (pip resolves the rest).
deps_of() {
    case "$1" in
        2.0|2.9) echo "sqlalchemy<2 alembic<1.14 sqlparse<0.5 click<9 cloudpickle entrypoints \
gitpython pyyaml protobuf<5 pytz requests packaging importlib_metadata<8 querystring_parser databricks-cli \
numpy<2 psycopg2-binary" ;;
        # (3.0 has no mlflow-tracing of its own version: mlflow-skinny carries the tracing)
        3.0) echo "mlflow-skinny==$(version_of "$1") \
sqlalchemy<2.1 alembic<1.17 numpy<2.3 pandas<2.3 pyarrow<21 Flask<4 graphene<4 docker \
psycopg2-binary" ;;
        3.10) echo "mlflow-skinny==$(version_of "$1") mlflow-tracing==$(version_of "$1") \
sqlalchemy<2.1 alembic<1.17 numpy<2.3 pandas<2.3 pyarrow<21 Flask<4 graphene<4 docker \
psycopg2-binary" ;;
    esac
}

venv_for() {
    local line=$1 ver dir
    ver=$(version_of "$line")
    dir="$CACHE/mlflow-$ver"
    if [[ -x "$dir/bin/python" ]] && "$dir/bin/python" -c "import mlflow, sqlalchemy" 2>/dev/null; then
        echo "$dir/bin/python"; return
    fi
    mkdir -p "$CACHE"
    "$PY311" -m venv "$dir" >&2
    if [[ "$line" == 2.22 ]]; then
        # The test command's MLflow 2.x client venv (built here too when it is missing).
        local mlflow2 site
        mlflow2="$(RSFLOW_VENV="$REPO/.venv-mlflow2" RSFLOW_REQ="$REPO/compat/requirements-mlflow2.txt" \
            bash "$REPO/scripts/venv.sh")"
        "$dir/bin/pip" install -q "sqlalchemy>=2.0,<2.1" psycopg2-binary >&2
        site=$("$dir/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        "$mlflow2/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" \
            > "$site/zz-mlflow2.pth"
    else
        "$dir/bin/pip" install -q --no-deps "mlflow==$ver" >&2
        # shellcheck disable=SC2046
        "$dir/bin/pip" install -q $(deps_of "$line") >&2
    fi
    "$dir/bin/python" -c "import mlflow.store.tracking.sqlalchemy_store" >&2
    echo "$dir/bin/python"
}

if [[ "${1:-}" == venv ]]; then
    venv_for "$2"; exit 0
fi
LINES=("$@")
[[ ${#LINES[@]} -gt 0 ]] || LINES=(2.0 2.9 2.22 3.0 3.10)
PYS=()
for line in "${LINES[@]}"; do PYS+=("$line=$(venv_for "$line")"); done
export RSFLOW_UPGRADE_RELEASES="${PYS[*]}"
cd compat
# shellcheck disable=SC2086
if [[ $# -eq 0 && -n "${RSFLOW_TEST_PG_URL:-}" ]]; then
    # The full matrix also runs the PostgreSQL chain of every revision (the test command runs
    # the SQLite chain only).
    # shellcheck disable=SC2086
    RSFLOW_TEST_UPGRADE_CHAIN_PG=1 "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
        test_db_upgrade_chain.py -k every_revision_postgres ${PYTEST_ARGS:-}
fi
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider test_db_upgrade_releases.py ${PYTEST_ARGS:-}
