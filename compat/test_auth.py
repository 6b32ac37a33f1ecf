"""The basic-auth app (`--app-name basic-auth`) with the stock 3.17.2 client and its auth client,
run side by side on rsflow and on `mlflow server --app-name basic-auth` (one of each per
module; mlflow-genai §8, security §3).

- admin creates users, grants per-resource permissions; the matrix anonymous / wrong password /
  default / READ / USE / EDIT / MANAGE / DENY / admin over experiments, runs, artifacts, traces,
  registered models and prompts gives the same status on both servers;
- searches are filtered; a password change takes effect at once;
- a `basic_auth.db` written by `mlflow server` is used by rsflow and the other way round;
- every route of 3.17.2's auth app, called without credentials, answers 401 except what MLflow
  leaves open (compared with the reference); undeclared routes are refused to non-admins;
- hostile rows: `//api`, `%2F`, case and trailing-slash variants, method override, GraphQL.

401/403 bodies are MLflow JSON errors on rsflow where MLflow sends text (known_differences).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from helpers import MLFLOW, REPO, RSFLOW, start_server, target_kind


def _ensure_flask_wtf() -> str:
    """MLflow's auth app (server and `get_app_client`) imports Flask-WTF (`mlflow[auth]`)."""
    try:
        import flask_wtf  # noqa: F401

        return ""
    except ImportError:
        target = REPO / "target" / "auth-pylib"
        if not (target / "flask_wtf").is_dir():
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                 str(target), "flask-wtf==1.3.0", "wtforms==3.3.2"],
                check=True,
            )
        sys.path.insert(0, str(target))
        return str(target)


EXTRA_PYTHONPATH = _ensure_flask_wtf()

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.server import get_app_client  # noqa: E402

ADMIN = ("admin", "admin-password-1234")
PASSWORD = "user-password-1234"
LEVELS = ["READ", "USE", "EDIT", "MANAGE", "DENY"]
PROMPT_TAG = "mlflow.prompt.is_prompt"


def _ini(workdir: Path, db: Path, default_permission: str = "READ") -> Path:
    ini = workdir / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\n"
        f"default_permission = {default_permission}\n"
        f"database_uri = sqlite:///{db}\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 60\n"
    )
    return ini


def _start(kind: str, workdir: Path, db: Path | None = None):
    workdir.mkdir(parents=True, exist_ok=True)
    db = db or workdir / "basic_auth.db"
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(_ini(workdir, db)),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "compat-secret",
        "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false",
    }
    if EXTRA_PYTHONPATH:
        env["PYTHONPATH"] = EXTRA_PYTHONPATH + os.pathsep + os.environ.get("PYTHONPATH", "")
    server = start_server(kind, workdir, extra_args=["--app-name", "basic-auth"], env=env)
    server.auth_db = db
    return server


@contextlib.contextmanager
def as_user(name: str | None, password: str | None):
    keys = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    old = {k: os.environ.get(k) for k in keys}
    for k, v in zip(keys, (name, password)):
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def status_of(fn) -> int:
    """200 for success, else the HTTP status the client's exception carries."""
    try:
        fn()
        return 200
    except Exception as e:  # noqa: BLE001 - any client error maps to its status
        text = str(e)
        m = re.search(r"error code (\d{3})", text) or re.search(r"(\d{3}) Client Error", text)
        if m:
            return int(m.group(1))
        code = getattr(e, "get_http_status_code", lambda: None)()
        if code and code != 500:
            return code
        for status, marker in ((401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED"),
                               (404, "RESOURCE_DOES_NOT_EXIST"), (403, "Permission denied")):
            if marker in text:
                return status
        raise


class World:
    """One server with users at every level and resources granted to them."""

    def __init__(self, server):
        self.server = server
        self.uri = server.tracking_uri
        self.client = MlflowClient(self.uri)
        with as_user(*ADMIN):
            auth = get_app_client("basic-auth", tracking_uri=self.uri)
            self.auth = auth
            self.exp = self.client.create_experiment("auth-exp")
            self.run = self.client.create_run(self.exp).info.run_id
            self.client.log_text(self.run, "hello", "a.txt")
            mlflow.set_tracking_uri(self.uri)
            mlflow.set_experiment(experiment_id=self.exp)
            with mlflow.start_span("span") as span:
                span.set_inputs({"x": 1})
            self.trace = span.trace_id
            # The export is asynchronous: send it while the admin's credentials are set.
            mlflow.flush_trace_async_logging()
            self.model = self.client.create_registered_model("auth-model").name
            # A prompt is a registered model with the prompt tag (the client refuses that
            # spelling, so it goes over REST as the prompt registry does).
            r = requests.post(server.url("/api/2.0/mlflow/registered-models/create"), auth=ADMIN,
                              json={"name": "auth-prompt",
                                    "tags": [{"key": PROMPT_TAG, "value": "true"}]})
            assert r.status_code == 200, r.text
            self.prompt = "auth-prompt"
            self.users = {}
            for level in LEVELS + ["default"]:
                name = f"u-{level.lower()}"
                auth.create_user(name, PASSWORD)
                self.users[level] = name
                if level != "default":
                    auth.grant_user_permission(name, "experiment", self.exp, level)
                    auth.grant_user_permission(name, "registered_model", self.model, level)
                    auth.grant_user_permission(name, "prompt", self.prompt, level)
            # A run per user to try deleting.
            self.victims = {lv: self.client.create_run(self.exp).info.run_id for lv in self.users}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    kinds = [target_kind()]
    if target_kind() == RSFLOW:
        kinds.append(MLFLOW)
    out = {}
    servers = []
    try:
        for kind in kinds:
            server = _start(kind, tmp_path_factory.mktemp(f"auth-{kind}"))
            servers.append(server)
            out[kind] = World(server)
        yield out
    finally:
        for s in servers:
            s.stop()


def _rest(w: World, method: str, endpoint: str, **kw) -> None:
    """A REST call with the client's credential variables, raising like the client does."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    auth = (user, os.environ.get("MLFLOW_TRACKING_PASSWORD")) if user else None
    r = requests.request(method, w.server.url("/api/2.0/mlflow/" + endpoint), auth=auth, **kw)
    if r.status_code != 200:
        raise RuntimeError(f"error code {r.status_code}: {r.text[:200]}")


def matrix_row(w: World, tmp: Path) -> dict[str, int]:
    return {name: status_of(op) for name, op in matrix_ops(w, tmp).items()}


def matrix_ops(w: World, tmp: Path) -> dict:
    c = w.client
    return {
        "get_experiment": lambda: c.get_experiment(w.exp),
        "get_run": lambda: c.get_run(w.run),
        "download_artifact": lambda: c.download_artifacts(w.run, "a.txt", str(tmp)),
        "get_trace": lambda: c.get_trace(w.trace),
        "get_model": lambda: c.get_registered_model(w.model),
        "get_prompt": lambda: _rest(w, "GET", "registered-models/get", params={"name": w.prompt}),
        "set_experiment_tag": lambda: c.set_experiment_tag(w.exp, "k", "v"),
        "set_run_tag": lambda: c.set_tag(w.run, "k", "v"),
        "upload_artifact": lambda: c.log_text(w.run, "x", "up.txt"),
        "set_trace_tag": lambda: c.set_trace_tag(w.trace, "k", "v"),
        "set_model_tag": lambda: c.set_registered_model_tag(w.model, "k", "v"),
        "set_prompt_tag": lambda: _rest(w, "POST", "registered-models/set-tag",
                                        json={"name": w.prompt, "key": "k", "value": "v"}),
    }


EXPECTED = {
    # reads, updates
    "READ": (200, 403), "USE": (200, 403), "EDIT": (200, 200), "MANAGE": (200, 200),
    "DENY": (403, 403), "default": (200, 403), "admin": (200, 200),
}


def test_permission_matrix_matches_the_reference(worlds, tmp_path):
    results = {}
    for kind, w in worlds.items():
        table = {}
        who = [("anonymous", None, None), ("wrong-password", "u-default", "not-the-password")]
        who += [(lv, name, PASSWORD) for lv, name in w.users.items()] + [("admin", *ADMIN)]
        for label, name, pw in who:
            if label == "wrong-password":
                # One wrong password per existing user, so the per-user throttle stays out of it.
                names = list(w.users.values()) * 3
                row = {}
                for i, (op, fn) in enumerate(matrix_ops(w, tmp_path / kind / label).items()):
                    with as_user(names[i], "not-the-password"):
                        row[op] = status_of(fn)
                table[label] = row
                continue
            with as_user(name, pw):
                table[label] = matrix_row(w, tmp_path / kind / label)
                table[label]["delete_run"] = status_of(
                    lambda: w.client.delete_run(w.victims.get(label, w.run))
                ) if label in w.users or label == "admin" else status_of(
                    lambda: w.client.delete_run(w.run))
        results[kind] = table
        for label, row in table.items():
            if label in ("anonymous", "wrong-password"):
                assert set(row.values()) == {401}, (kind, label, row)
                continue
            read, update = EXPECTED[label]
            for op, status in row.items():
                if op == "delete_run":
                    want = 200 if label in ("MANAGE", "admin") else 403
                elif op.startswith(("get_", "download")):
                    want = read
                else:
                    want = update
                assert status == want, (kind, label, op, row)
    if len(results) == 2:
        assert results[RSFLOW] == results[MLFLOW]


def test_auth_client_users_and_permissions(worlds):
    for kind, w in worlds.items():
        with as_user(*ADMIN):
            auth = w.auth
            user = auth.get_user("u-edit")
            assert user.username == "u-edit" and not user.is_admin
            got = auth.get_user_permission("u-edit", "experiment", w.exp)
            assert got.permission == "EDIT", kind
            role = auth.create_role("default", "readers", "read everything")
            rp = auth.add_role_permission(role.id, "experiment", "*", "READ")
            assert rp.resource_pattern == "*"
            assert auth.get_role(role.id).name == "readers", kind
            assert "readers" in [r.name for r in auth.list_roles("default")], kind
            assignment = auth.assign_role("u-default", role.id)
            assert assignment.role_id == role.id
            assert [a.role_id for a in auth.list_role_users(role.id)] == [role.id]
            auth.unassign_role("u-default", role.id)
            auth.delete_role(role.id)
            with pytest.raises(Exception, match="at least 12"):
                auth.create_user("shorty", "short")
            with pytest.raises(Exception, match="NO_PERMISSIONS"):
                auth.grant_user_permission("u-edit", "experiment", w.exp, "NO_PERMISSIONS")
        # A non-admin may not create users (CVE-2023-6014) nor read others.
        with as_user("u-manage", PASSWORD):
            auth = get_app_client("basic-auth", tracking_uri=w.uri)
            assert status_of(lambda: auth.create_user("intruder", PASSWORD)) == 403
            assert status_of(lambda: auth.get_user("u-read")) == 403
            assert auth.get_user("u-manage").username == "u-manage"
            # MANAGE on the experiment may grant on it, not on everything.
            auth.grant_user_permission("u-default", "experiment", w.exp, "READ")
            assert status_of(
                lambda: auth.grant_user_permission("u-default", "experiment", "*", "MANAGE")) == 403


def test_searches_are_filtered(worlds):
    for kind, w in worlds.items():
        with as_user(*ADMIN):
            hidden = w.client.create_experiment("hidden-exp")
            hidden_model = w.client.create_registered_model("hidden-model").name
            w.auth.grant_user_permission("u-read", "experiment", hidden, "DENY")
            w.auth.grant_user_permission("u-read", "registered_model", hidden_model, "DENY")
        with as_user("u-read", PASSWORD):
            names = {e.name for e in w.client.search_experiments()}
            assert "auth-exp" in names and "hidden-exp" not in names, (kind, names)
            models = {m.name for m in w.client.search_registered_models()}
            assert "auth-model" in models and "hidden-model" not in models, (kind, models)
            # MLflow answers without the unreadable experiment's runs; rsflow refuses the search
            # (known_differences: auth-search-runs-unreadable-experiment).
            with as_user(*ADMIN):
                w.client.create_run(hidden)
            status = status_of(lambda: w.client.search_runs([hidden]))
            if status == 200:
                assert w.client.search_runs([hidden]) == [], kind
            else:
                assert (kind, status) == (RSFLOW, 403)
            assert status_of(lambda: w.client.search_runs([w.exp])) == 200, kind


def test_password_change_takes_effect_at_once(worlds):
    for kind, w in worlds.items():
        with as_user(*ADMIN):
            w.auth.create_user("rotating", PASSWORD)
        url = w.server.url(f"/api/2.0/mlflow/experiments/get?experiment_id={w.exp}")
        assert requests.get(url, auth=("rotating", PASSWORD)).status_code == 200  # now cached
        with as_user(*ADMIN):
            w.auth.update_user_password("rotating", "a-brand-new-password")
        assert requests.get(url, auth=("rotating", PASSWORD)).status_code == 401, kind
        assert requests.get(url, auth=("rotating", "a-brand-new-password")).status_code == 200
        with as_user(*ADMIN):
            w.auth.delete_user("rotating")
        assert requests.get(url, auth=("rotating", "a-brand-new-password")).status_code == 401


def _copy_db(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


def test_auth_db_written_by_mlflow_serves_rsflow_and_back(worlds, tmp_path_factory):
    if set(worlds) != {RSFLOW, MLFLOW}:
        pytest.skip("needs both servers")
    ref, ours = worlds[MLFLOW], worlds[RSFLOW]
    # rsflow on a copy of MLflow's auth database: its users and grants hold.
    db = _copy_db(ref.server.auth_db, tmp_path_factory.mktemp("interop-a") / "basic_auth.db")
    server = _start(RSFLOW, db.parent / "srv", db)
    try:
        client = MlflowClient(server.tracking_uri)
        with as_user("u-edit", PASSWORD):
            exp = client.create_experiment("made-by-u-edit")  # a werkzeug scrypt hash verified
        with as_user(*ADMIN):
            perms = get_app_client("basic-auth", tracking_uri=server.tracking_uri)
            assert perms.get_user_permission("u-deny", "experiment", ref.exp).permission == "DENY"
            assert perms.get_user_permission("u-edit", "experiment", exp).permission == "MANAGE"
    finally:
        server.stop()
    # MLflow's own auth store on a copy of rsflow's database (what `mlflow server` opens at
    # start): no migration, rsflow's scrypt hashes verify, its grants read back.
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    db = _copy_db(ours.server.auth_db, tmp_path_factory.mktemp("interop-b") / "basic_auth.db")
    store = SqlAlchemyStore()
    store.init_db(f"sqlite:///{db}")
    assert store.authenticate_user("u-manage", PASSWORD)
    assert not store.authenticate_user("u-manage", "not-the-password")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version_auth").fetchall() == [
            ("f1a2b3c4d5e6",)]
        grants = conn.execute(
            "SELECT rp.resource_type, rp.resource_pattern, rp.permission FROM users u "
            "JOIN user_role_assignments a ON a.user_id = u.id "
            "JOIN role_permissions rp ON rp.role_id = a.role_id WHERE u.username = 'u-use'"
        ).fetchall()
    assert ("experiment", ours.exp, "USE") in grants
    user = store.get_user("u-use")
    found = store.list_grants(user.id, "default", {"experiment"})
    assert any(g.resource_pattern == ours.exp and g.permission == "USE" for g in found)


def _rules() -> list[tuple[str, str, str]]:
    text = (REPO / "crates/rsflow-api/src/auth/rules.rs").read_text()
    return re.findall(r'\br\(\s*"([A-Z]+)",\s*"([^"]+)",\s*([A-Za-z]+)', text)


def _concrete(template: str) -> str:
    return re.sub(r"\{\*?[^}]+\}", "x", template)


def test_route_walk_without_credentials(worlds):
    rules = _rules()
    assert len(rules) > 450
    seen = {}
    for kind, w in worlds.items():
        statuses = {}
        for method, template, need in rules:
            path = _concrete(template)
            r = requests.request(method, w.server.url(path), timeout=30, allow_redirects=False)
            statuses[(method, template)] = r.status_code
            if kind == RSFLOW:
                if need == "Public":
                    assert r.status_code != 401, (method, template)
                else:
                    assert r.status_code == 401, (method, template, r.status_code)
                    assert r.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
        seen[kind] = statuses
    if len(seen) == 2:
        ref_open = {k for k, v in seen[MLFLOW].items() if v != 401}
        ours_open = {k for k, v in seen[RSFLOW].items() if v != 401}
        # FastAPI-native and rsflow-only lines are not in the reference's Flask app.
        fastapi = {k for k in seen[MLFLOW] if k[1].startswith(("/v1/", "/ajax-api/3.0/jobs",
                                                               "/ajax-api/3.0/mlflow/assistant",
                                                               "/metrics", "/favicon.ico"))}
        assert ours_open - fastapi <= ref_open - fastapi, sorted(ours_open - ref_open)


def test_undeclared_and_admin_routes_are_refused_to_users(worlds):
    for kind, w in worlds.items():
        creds = ("u-manage", PASSWORD)
        for method, template, need in _rules():
            if need != "Admin" or kind != RSFLOW:
                continue
            r = requests.request(method, w.server.url(_concrete(template)), auth=creds, timeout=30)
            assert r.status_code == 403, (method, template, r.status_code)
        # Unknown paths: 403 for users (MLflow's fail-closed net), never a 404 that leaks.
        r = requests.get(w.server.url("/api/2.0/mlflow/no-such-route"), auth=creds)
        assert r.status_code == 403, kind


def test_hostile_rows_are_refused(worlds):
    for kind, w in worlds.items():
        deny = ("u-deny", PASSWORD)
        q = f"?experiment_id={w.exp}"
        for path in (f"//api/2.0/mlflow/experiments/get{q}",
                     f"///ajax-api/2.0/mlflow/experiments/get{q}",
                     f"/api/2.0/mlflow%2Fexperiments/get{q}",
                     f"/api/2.0/mlflow/experiments%2Fget{q}",
                     f"/API/2.0/mlflow/experiments/get{q}",
                     f"/api/2.0/mlflow/Experiments/get{q}",
                     f"/api/2.0/mlflow/experiments/get/{q}",
                     f"/ajax-api/2.0/mlflow/experiments/get{q}",
                     f"/api/2.0/mlflow/experiments/get;x{q}"):
            r = requests.get(w.server.base_url + path, auth=deny, allow_redirects=False)
            assert r.status_code in (403, 404), (kind, path, r.status_code)
            assert w.exp not in r.text or r.status_code != 200, (kind, path)
            r = requests.get(w.server.base_url + path, allow_redirects=False)
            assert r.status_code == 401, (kind, path, r.status_code)
        # A method override header does not turn a refused write into an allowed read.
        r = requests.post(w.server.url("/api/2.0/mlflow/experiments/delete"), auth=deny,
                          json={"experiment_id": w.exp}, headers={"X-HTTP-Method-Override": "GET"})
        assert r.status_code == 403, (kind, r.status_code)
        with as_user(*ADMIN):
            assert w.client.get_experiment(w.exp).lifecycle_stage == "active"
        # GraphQL: a denied experiment resolves to null; no credentials is a 401.
        query = {"query": 'query { mlflowGetExperiment(input: {experimentId: "%s"}) '
                          '{ experiment { name } } }' % w.exp}
        r = requests.post(w.server.url("/graphql"), json=query, auth=deny)
        assert r.status_code == 200, (kind, r.text)
        assert r.json()["data"]["mlflowGetExperiment"] is None, (kind, r.text)
        r = requests.post(w.server.url("/graphql"), json=query, auth=("u-read", PASSWORD))
        assert r.json()["data"]["mlflowGetExperiment"]["experiment"]["name"] == "auth-exp"
        assert requests.post(w.server.url("/graphql"), json=query).status_code == 401
        # The artifact proxy checks the experiment in the path.
        art = f"/api/2.0/mlflow-artifacts/artifacts/{w.exp}/{w.run}/artifacts/a.txt"
        assert requests.get(w.server.url(art), auth=deny).status_code == 403, kind
        assert requests.get(w.server.url(art), auth=("u-read", PASSWORD)).status_code == 200
        assert requests.delete(w.server.url(art), auth=("u-edit", PASSWORD)).status_code == 403


def test_public_routes_and_response_shapes(worlds):
    for kind, w in worlds.items():
        assert requests.get(w.server.url("/health")).status_code == 200
        assert requests.get(w.server.url("/api/3.0/mlflow/server-info")).status_code == 200
        for path in ("/", "/version"):
            r = requests.get(w.server.url(path))
            assert r.status_code == 401, (kind, path)
            assert r.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
        r = requests.get(w.server.url("/api/2.0/mlflow/users/current"), auth=("u-read", PASSWORD))
        body = r.json()
        assert body["user"]["username"] == "u-read" and body["is_basic_auth"] is True
        if kind == RSFLOW:
            r = requests.get(w.server.url("/api/2.0/mlflow/experiments/search"))
            assert r.json()["error_code"] == "UNAUTHENTICATED"
            r = requests.get(w.server.url(f"/api/2.0/mlflow/experiments/get?experiment_id={w.exp}"),
                             auth=("u-deny", PASSWORD))
            body = r.json()
            assert (body["error_code"], body["message"]) == ("PERMISSION_DENIED", "Permission denied")


def test_failed_logins_are_throttled(worlds):
    w = worlds.get(RSFLOW)
    if w is None:
        pytest.skip("rsflow-only: MLflow does not throttle logins")
    # A user of its own: the matrix's wrong passwords for the other users may still be
    # inside the 60 s window.
    with as_user(*ADMIN):
        w.auth.create_user("u-throttled", PASSWORD)
    url = w.server.url("/api/2.0/mlflow/experiments/search")
    statuses = [requests.get(url, auth=("u-throttled", f"wrong-{i}")).status_code
                for i in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429], statuses
    r = requests.get(url, auth=("u-throttled", "wrong-again"))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    # No credentials or a hash ever appear in the server's log.
    log = w.server.log_text()
    assert "wrong-1" not in log and PASSWORD not in log and "scrypt:" not in log
