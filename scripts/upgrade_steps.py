#!/usr/bin/env python3
"""Write the SQL of MLflow's migrations from MLflow 2.0's head (97727af70f4d) to 3.17.2's head
(dc11669786a5), step by step, as alembic runs them (crates/rsflow-store/schema/upgrade-2.0-*.sql).

    PYTHONHASHSEED=0 .venv/bin/python scripts/upgrade_steps.py sqlite > schema/upgrade-2.0-sqlite.sql
    PYTHONHASHSEED=0 .venv/bin/python scripts/upgrade_steps.py postgres postgresql://.../db > schema/upgrade-2.0-postgres.sql

(mlflow==3.17.2, its sqlalchemy and alembic: the venv of the reference server.)

How: an EMPTY database is created as `mlflow db upgrade` creates one (MLflow's initial tables,
then alembic) up to 2.0's head; then alembic runs one migration at a time (online, as
`mlflow db upgrade` does) with an SQLAlchemy `before_cursor_execute` listener that records
every statement sent, bound parameters written in as literals (psycopg2's own `mogrify` on
PostgreSQL). Schema changes do not depend on the rows (SQLite's batch "move and copy" rebuilds
read the schema, not the data), so the statements are the same on a filled database. Reads
(SELECT, reflection, PRAGMA table_info) and alembic_version writes are left out: rsflow updates
alembic_version itself. The data migrations that compute rows in Python (they read on the
empty database and write nothing) are ported by hand in crates/rsflow-store/src/sql/migrate.rs;
the reads of user tables each step made are listed in a `-- reads:` comment so that none goes
unnoticed.

Output: `-- step <revision>: <title>` starts a step; statements are separated by lines holding
only `-- ;;` (trigger and function bodies contain `;`).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from mlflow.store.db.utils import _get_alembic_config

START = "97727af70f4d"  # MLflow 2.0.x's head
END = "dc11669786a5"  # MLflow 3.17.2's head
SEP = "\n-- ;;\n"
READ = re.compile(r"^\s*(SELECT|WITH|SHOW|PRAGMA\s+[\w.]+\s*(\(|$))", re.I)
CATALOG = re.compile(r"\b(pg_catalog|pg_\w+|information_schema|sqlite_master|sqlite_temp_master)\b")


def sqlite_literal(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, bytes):
        return "X'" + v.hex() + "'"
    return "'" + str(v).replace("'", "''") + "'"


def inline_qmark(stmt: str, params) -> str:
    out, i, quote = [], 0, None
    params = list(params)
    for c in stmt:
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "?":
            out.append(sqlite_literal(params[i]))
            i += 1
            continue
        out.append(c)
    assert i == len(params), (stmt, params)
    return "".join(out)


def chain(script: ScriptDirectory) -> list:
    revs = []
    rev = script.get_revision(END)
    while rev.revision != START:
        revs.append(rev)
        rev = script.get_revision(rev.down_revision)
    return list(reversed(revs))


def main() -> None:
    dialect = sys.argv[1]
    tmp = None
    if dialect == "sqlite":
        tmp = tempfile.mkdtemp()
        url = f"sqlite:///{tmp}/mlflow.db"
    else:
        url = sys.argv[2].replace("postgresql://", "postgresql+psycopg2://", 1)
    engine = sa.create_engine(url)
    from mlflow.store.db.utils import InitialBase

    InitialBase.metadata.create_all(engine)
    cfg = _get_alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, START)
    script = ScriptDirectory.from_config(cfg)

    captured: list = []

    def hook(conn, cursor, statement, parameters, context, executemany):
        many = parameters if executemany else [parameters]
        for p in many:
            if dialect == "sqlite":
                text = inline_qmark(statement, p or ())
            else:
                text = cursor.mogrify(statement, p or None).decode()
            captured.append(text)

    out = [
        f"-- MLflow's migrations {START} (MLflow 2.0's head) -> {END} (MLflow 3.17.2's head) on "
        f"{'SQLite' if dialect == 'sqlite' else 'PostgreSQL'}: the statements alembic runs\n"
        "-- (mlflow==3.17.2, `alembic upgrade` one revision at a time, online), captured with an\n"
        "-- SQLAlchemy before_cursor_execute listener by scripts/upgrade_steps.py; do not edit.\n"
        "-- Reads and alembic_version writes are left out. `-- reads:` lists what a migration read\n"
        "-- of the user tables (its Python data migration: ported in src/sql/migrate/).\n"
        "-- {NOW_MS} is the upgrade's time in milliseconds (MLflow's int(time.time() * 1000)).\n"
    ]
    for rev in chain(script):
        captured.clear()
        sa.event.listen(engine, "before_cursor_execute", hook)
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, rev.revision)
        finally:
            sa.event.remove(engine, "before_cursor_execute", hook)
        stmts, reads = [], []
        for s in captured:
            s = s.strip()
            if "alembic_version" in s:
                continue
            if READ.match(s):
                if not CATALOG.search(s) and not s.upper().startswith("PRAGMA"):
                    reads.append(" ".join(s.split())[:160])
                continue
            s = s.rstrip(";").rstrip()
            if rev.revision == END and s.startswith("UPDATE jobs SET"):
                # _cancel_non_terminal_jobs stamps int(time.time() * 1000): rsflow writes its own
                s, n = re.subn(r"last_update_time=\d+", "last_update_time={NOW_MS}", s)
                assert n == 1, s
            stmts.append(s)
        title = (rev.doc or "").strip().splitlines()[0]
        out.append(f"\n-- step {rev.revision}: {title}\n")
        for r in reads:
            out.append(f"-- reads: {r}\n")
        out.append(SEP.join(stmts) + ("\n" if stmts else ""))
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
