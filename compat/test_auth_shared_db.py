"""One basic-auth database shared by `mlflow server --app-name basic-auth` 3.17.2 and rsflow,
on SQLite and on PostgreSQL (RSFLOW_TEST_PG_URL), both servers running at once on the same
auth and tracking databases (a mixed fleet, or a migration done one server at a time):

1. through `mlflow server`, the admin creates users, per-resource grants and a role with an
   assignment (`mlflow.server.get_app_client("basic-auth", ...)`);
2. rsflow, started on the same databases, authenticates those users (Werkzeug hashes written
   by MLflow) and enforces those grants: the same status for every (user, operation) pair as
   `mlflow server` gives;
3. through rsflow, the admin creates a user, grants, revokes, unassigns the role and changes a
   password; `mlflow server` enforces all of it (rsflow's hashes verify in MLflow); a grant
   the user already holds is RESOURCE_ALREADY_EXISTS on both (MLflow's grant only inserts);
4. a grant made through `mlflow server` after rsflow has read the user's grants is enforced by
   rsflow at once (auth_cache_ttl_seconds = 0: no cached grants, as MLflow reads them).
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from mlflow import MlflowClient

from helpers import MLFLOW, RSFLOW, create_pg_database, pg_admin_url, start_server, target_kind
from test_auth import ADMIN, EXTRA_PYTHONPATH, PASSWORD, as_user, status_of

from mlflow.server import get_app_client  # noqa: E402  (after test_auth made Flask-WTF importable)

pytestmark = pytest.mark.timeout(600)

NEW_PASSWORD = "a-brand-new-password-5678"


def _start(kind: str, workdir: Path, auth_uri: str, tracking_uri: str):
    workdir.mkdir(parents=True, exist_ok=True)
    ini = workdir / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {auth_uri}\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # No cached logins or grants: a change made through the other server counts at once.
        "auth_cache_ttl_seconds = 0\n"
    )
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "compat-secret",
    }
    if EXTRA_PYTHONPATH:
        env["PYTHONPATH"] = EXTRA_PYTHONPATH + os.pathsep + os.environ.get("PYTHONPATH", "")
    return start_server(kind, workdir, backend=tracking_uri,
                        extra_args=["--app-name", "basic-auth"], env=env)


def _ops(client: MlflowClient, exp: str, run: str, model: str) -> dict:
    return {
        "get_experiment": lambda: client.get_experiment(exp),
        "set_experiment_tag": lambda: client.set_experiment_tag(exp, "k", "v"),
        "get_run": lambda: client.get_run(run),
        "set_run_tag": lambda: client.set_tag(run, "k", "v"),
        "get_model": lambda: client.get_registered_model(model),
        "set_model_tag": lambda: client.set_registered_model_tag(model, "k", "v"),
    }


def _table(tracking_uri: str, who: dict[str, tuple[str, str]], exp: str, run: str, model: str
           ) -> dict:
    client = MlflowClient(tracking_uri)
    out = {}
    for label, (name, password) in who.items():
        with as_user(name, password):
            out[label] = {op: status_of(fn) for op, fn in _ops(client, exp, run, model).items()}
    return out


def _tables(servers, who: dict[str, tuple[str, str]], exp: str, run: str, model: str) -> dict:
    """{kind: _table(...)}, made on the servers at once, one forked process each: the client's
    credentials are process-wide environment variables (as_user), so threads could not share
    them, and most of a table is the servers checking password hashes. The MLflow client keys
    its HTTP session by process id, so a child opens its own connections."""
    with multiprocessing.get_context("fork").Pool(len(servers)) as pool:
        jobs = {s.kind: pool.apply_async(_table, (s.tracking_uri, who, exp, run, model))
                for s in servers}
        return {kind: job.get(timeout=300) for kind, job in jobs.items()}


def _status(server, name: str, password: str, op: str, exp: str, run: str, model: str) -> int:
    client = MlflowClient(server.tracking_uri)
    with as_user(name, password):
        return status_of(_ops(client, exp, run, model)[op])


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_mlflow_and_rsflow_share_one_auth_database(backend, tmp_path):
    if target_kind() != RSFLOW:
        pytest.skip("needs rsflow and mlflow server side by side")
    if backend == "postgres":
        if pg_admin_url() is None:
            pytest.skip("RSFLOW_TEST_PG_URL is not set (bash scripts/postgres.sh start; "
                        'eval "$(bash scripts/postgres.sh env)")')
        auth_uri, tracking_uri = create_pg_database("auth"), create_pg_database("track")
    else:
        auth_uri = f"sqlite:///{tmp_path / 'basic_auth.db'}"
        tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    servers = []
    try:
        # 1. MLflow creates both databases, the users, grants and a role.
        ref = _start(MLFLOW, tmp_path / "mlflow", auth_uri, tracking_uri)
        servers.append(ref)
        with as_user(*ADMIN):
            client = MlflowClient(ref.tracking_uri)
            exp = client.create_experiment("shared-exp")
            run = client.create_run(exp).info.run_id
            victim = client.create_run(exp).info.run_id
            model = client.create_registered_model("shared-model").name
            auth = get_app_client("basic-auth", tracking_uri=ref.tracking_uri)
            for name in ("alice", "bob", "carol"):
                auth.create_user(name, PASSWORD)
            auth.grant_user_permission("alice", "experiment", exp, "EDIT")
            auth.grant_user_permission("alice", "registered_model", model, "READ")
            auth.grant_user_permission("bob", "experiment", exp, "DENY")
            role = auth.create_role("default", "model-editors", "edit the shared model")
            auth.add_role_permission(role.id, "registered_model", model, "EDIT")
            auth.assign_role("carol", role.id)

        # 2. rsflow on the same databases, MLflow still running: the same decisions.
        ours = _start(RSFLOW, tmp_path / "rsflow", auth_uri, tracking_uri)
        servers.append(ours)
        who = {"admin": ADMIN, "alice": ("alice", PASSWORD), "bob": ("bob", PASSWORD),
               "carol": ("carol", PASSWORD), "alice-wrong": ("alice", "not-the-password"),
               "nobody": ("nobody", PASSWORD)}
        tables = _tables((ref, ours), who, exp, run, model)
        assert tables[RSFLOW] == tables[MLFLOW], tables
        t = tables[RSFLOW]
        assert set(t["admin"].values()) == {200}, t
        assert set(t["alice-wrong"].values()) == set(t["nobody"].values()) == {401}, t
        assert t["alice"] == {"get_experiment": 200, "set_experiment_tag": 200, "get_run": 200,
                              "set_run_tag": 200, "get_model": 200, "set_model_tag": 403}, t
        assert t["bob"]["get_experiment"] == t["bob"]["get_run"] == 403, t
        assert (t["carol"]["set_model_tag"], t["carol"]["set_experiment_tag"]) == (200, 403), t

        # 3. rsflow's admin changes users and grants; MLflow enforces them.
        with as_user(*ADMIN):
            auth = get_app_client("basic-auth", tracking_uri=ours.tracking_uri)
            auth.create_user("dave", PASSWORD)
            auth.grant_user_permission("dave", "experiment", exp, "MANAGE")
            auth.revoke_user_permission("alice", "experiment", exp)
            # A grant only inserts, on both servers: changing one is revoke + grant.
            auth.revoke_user_permission("bob", "experiment", exp)
            auth.grant_user_permission("bob", "experiment", exp, "EDIT")
            auth.unassign_role("carol", role.id)
            auth.update_user_password("carol", NEW_PASSWORD)
        with as_user("dave", PASSWORD):
            MlflowClient(ref.tracking_uri).delete_run(victim)  # MANAGE, rsflow's scrypt hash
        with as_user(*ADMIN):
            assert MlflowClient(ref.tracking_uri).get_run(victim).info.lifecycle_stage == "deleted"
        for server in (ref, ours):
            got = {
                "alice set_experiment_tag": _status(server, "alice", PASSWORD,
                                                    "set_experiment_tag", exp, run, model),
                "alice get_experiment": _status(server, "alice", PASSWORD, "get_experiment",
                                                exp, run, model),
                "bob set_run_tag": _status(server, "bob", PASSWORD, "set_run_tag", exp, run,
                                           model),
                "carol old password": _status(server, "carol", PASSWORD, "get_model", exp, run,
                                              model),
                "carol set_model_tag": _status(server, "carol", NEW_PASSWORD, "set_model_tag",
                                               exp, run, model),
                "dave set_experiment_tag": _status(server, "dave", PASSWORD,
                                                   "set_experiment_tag", exp, run, model),
            }
            assert got == {"alice set_experiment_tag": 403, "alice get_experiment": 200,
                           "bob set_run_tag": 200, "carol old password": 401,
                           "carol set_model_tag": 403, "dave set_experiment_tag": 200}, (
                server.kind, got)

        # Granting what a user holds, or revoking what it does not, is refused alike.
        for server in (ref, ours):
            with as_user(*ADMIN):
                auth = get_app_client("basic-auth", tracking_uri=server.tracking_uri)
                with pytest.raises(Exception, match="RESOURCE_ALREADY_EXISTS") as dup:
                    auth.grant_user_permission("bob", "experiment", exp, "READ")
                assert "user=bob on resource_type=experiment" in str(dup.value), server.kind
                with pytest.raises(Exception, match="RESOURCE_DOES_NOT_EXIST"):
                    auth.revoke_user_permission("alice", "experiment", exp)
            assert _status(server, "bob", PASSWORD, "set_run_tag", exp, run, model) == 200

        # 4. A grant made through MLflow after rsflow read alice's grants counts on rsflow.
        assert _status(ours, "alice", PASSWORD, "set_model_tag", exp, run, model) == 403
        with as_user(*ADMIN):
            auth = get_app_client("basic-auth", tracking_uri=ref.tracking_uri)
            auth.revoke_user_permission("alice", "registered_model", model)
            auth.grant_user_permission("alice", "registered_model", model, "EDIT")
        assert _status(ours, "alice", PASSWORD, "set_model_tag", exp, run, model) == 200
        with as_user(*ADMIN):
            get_app_client("basic-auth", tracking_uri=ref.tracking_uri).delete_user("dave")
        assert _status(ours, "dave", PASSWORD, "get_experiment", exp, run, model) == 401
    finally:
        for s in servers:
            s.stop()
