"""Databases at every MLflow revision from `start` to `end`, as MLflow makes them: the initial
tables, then alembic (MLflow's own config, as mlflow.store.db.utils runs it) one revision at a
time. Runs under an MLflow venv whose migrations include `end` (3.18.0's has them all).

    python build_revisions.py sqlite OUT_DIR START END           # OUT_DIR/<rev>.db
    python build_revisions.py postgres ADMIN_URL PREFIX START END # databases PREFIX_<rev>

Each database is a copy taken when the previous one reached its revision (SQLite: the file;
PostgreSQL: CREATE DATABASE ... TEMPLATE), so the chain is migrated once. Prints the revisions.
"""

import shutil
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from mlflow.store.db.utils import InitialBase, _get_alembic_config


def chain(cfg, start, end):
    script = ScriptDirectory.from_config(cfg)
    revs, rev = [], script.get_revision(end)
    while rev.revision != start:
        revs.append(rev.revision)
        rev = script.get_revision(rev.down_revision)
    return [start, *reversed(revs)]


def upgrade(url, rev):
    engine = sa.create_engine(url)
    cfg = _get_alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, rev)
    engine.dispose()
    return cfg


def main():
    kind = sys.argv[1]
    if kind == "sqlite":
        out, start, end = Path(sys.argv[2]), sys.argv[3], sys.argv[4]
        work = out / "work.db"
        url = f"sqlite:///{work}"
        engine = sa.create_engine(url)
        InitialBase.metadata.create_all(engine)
        engine.dispose()
        cfg = upgrade(url, start)
        for rev in chain(cfg, start, end):
            upgrade(url, rev)
            shutil.copyfile(work, out / f"{rev}.db")
            print(rev, flush=True)
        work.unlink()
    else:
        import psycopg2

        admin, prefix, start, end = sys.argv[2:6]
        base = admin.rsplit("/", 1)[0]
        work = f"{prefix}_work"
        con = psycopg2.connect(admin)
        con.autocommit = True
        con.cursor().execute(f'CREATE DATABASE "{work}"')
        url = f"postgresql+psycopg2://{base.split('://', 1)[1]}/{work}"
        engine = sa.create_engine(url)
        InitialBase.metadata.create_all(engine)
        engine.dispose()
        cfg = upgrade(url, start)
        for rev in chain(cfg, start, end):
            upgrade(url, rev)
            con.cursor().execute(f'CREATE DATABASE "{prefix}_{rev}" TEMPLATE "{work}"')
            print(rev, flush=True)
        con.cursor().execute(f'DROP DATABASE "{work}"')


if __name__ == "__main__":
    main()
