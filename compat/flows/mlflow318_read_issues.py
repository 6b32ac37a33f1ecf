"""Run with MLflow 3.18.0: open a backend store with its SqlAlchemyStore (which refuses, and never
migrates, a database that is not at its head), read the experiment's issues back and search them
by category (3.18.0 searches through the issue_categories table its migration fills).

    python mlflow318_read_issues.py <backend uri> <experiment id>

Prints one JSON line: alembic revision, issues by id, and issue ids per category searched.
"""

from __future__ import annotations

import json
import sys
import tempfile

import mlflow
import sqlalchemy as sa
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

CATEGORIES = ["quality", "latency", "\u00e9t\u00e9 \u2713", "grounding", "nothing"]


def main() -> None:
    uri, exp_id = sys.argv[1], sys.argv[2]
    assert mlflow.__version__ == "3.18.0", mlflow.__version__
    store = SqlAlchemyStore(uri, tempfile.mkdtemp())
    try:
        with store.engine.connect() as con:
            alembic = con.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        issues = {}
        for issue in store.search_issues(experiment_id=exp_id, max_results=100):
            full = store.get_issue(issue.issue_id)
            issues[full.issue_id] = {
                "name": full.name,
                "categories": full.categories,
                "created_timestamp": full.created_timestamp,
                "last_seen_timestamp": full.last_seen_timestamp,
            }
        by_category = {
            c: sorted(i.issue_id for i in store.search_issues(experiment_id=exp_id, categories=[c]))
            for c in CATEGORIES
        }
    finally:
        store.engine.dispose()
    print(json.dumps({"alembic": alembic, "issues": issues, "by_category": by_category}, sort_keys=True))


if __name__ == "__main__":
    main()
