"""The PostgreSQL backend store: URI forms, credentials, outages (issue: PostgreSQL backend store).

- every URI form MLflow accepts (`postgresql://`, `+psycopg2`, `+psycopg`, `+pg8000`) works for
  --backend-store-uri and --registry-store-uri, and the password never shows in the log;
- a wrong password stops start-up with PostgreSQL's message, without the password;
- an outage (below).

In the outage test the server runs on its own PostgreSQL cluster (scripts/postgres.sh on the
port after the shared cluster's, 15833 by default, so the shared cluster is not disturbed).
While the database is down every request gets a JSON 503 TEMPORARILY_UNAVAILABLE with
Retry-After within a bounded time; when it is back the server answers 200 again by itself,
with the data from before the outage intact.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from helpers import (
    REPO,
    RSFLOW,
    create_pg_database,
    pg_admin_url,
    run_server_expect_exit,
    start_server,
    target_kind,
    with_database,
)

# Next to the shared test cluster's port (scripts/postgres.sh: 15832 unless RSFLOW_PG_PORT).
PORT = str(int(os.environ.get("RSFLOW_PG_PORT") or 15832) + 1)
SCRIPT = REPO / "scripts" / "postgres.sh"
ACQUIRE_TIMEOUT_S = 2

PASSWORD_URL = os.environ.get("RSFLOW_TEST_PG_PASSWORD_URL", "")

pytestmark = [
    pytest.mark.skipif(pg_admin_url() is None, reason="RSFLOW_TEST_PG_URL is not set "
                       '(bash scripts/postgres.sh start; eval "$(bash scripts/postgres.sh env)")'),
    pytest.mark.timeout(300),
]
needs_password_role = pytest.mark.skipif(
    "@" not in PASSWORD_URL, reason="RSFLOW_TEST_PG_PASSWORD_URL (a role that must give its password) is not set")


def _password_db() -> tuple[str, str, str]:
    """A fresh database owned by the password role: (url, user, password)."""
    import psycopg2

    user_info = PASSWORD_URL.split("://", 1)[1].split("@", 1)[0]
    user, password = user_info.split(":", 1)
    url = create_pg_database("pw")
    name = url.rsplit("/", 1)[1]
    con = psycopg2.connect(pg_admin_url())
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f'ALTER DATABASE "{name}" OWNER TO {user}')
    con.close()
    return with_database(PASSWORD_URL, name), user, password


@needs_password_role
@pytest.mark.parametrize("driver", ["", "+psycopg2", "+psycopg", "+pg8000"])
def test_uri_forms_and_no_password_in_log(servers, driver):
    if target_kind() != RSFLOW and driver == "+pg8000":
        pytest.skip("pg8000 is not installed for the reference server")
    url, _user, password = _password_db()
    backend = url.replace("postgresql://", f"postgresql{driver}://", 1)
    server = servers.start(backend=backend, extra_args=["--registry-store-uri", url])
    exp = server.api("POST", "experiments/create", json={"name": "uri-form"})
    assert exp.status_code == 200, exp.text
    model = server.api("POST", "registered-models/create", json={"name": "uri-form-model"})
    assert model.status_code == 200, model.text
    dup = server.api("POST", "experiments/create", json={"name": "uri-form"})
    assert dup.status_code == 400 and dup.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert password not in dup.text
    got = server.api("GET", "experiments/get-by-name", params={"experiment_name": "uri-form"})
    assert got.json()["experiment"]["experiment_id"] == exp.json()["experiment_id"]
    server.stop()
    assert password not in server.log_text()


@needs_password_role
def test_wrong_password_is_a_clear_startup_error(tmp_path):
    url, user, password = _password_db()
    wrong = "Wr0ng-Pa55-" + password[::-1]
    bad = url.replace(f"{user}:{password}@", f"{user}:{wrong}@", 1)
    rc, out = run_server_expect_exit(target_kind(), tmp_path, backend=bad, timeout=120)
    assert rc is not None and rc != 0, out[-3000:]
    assert f'password authentication failed for user "{user}"' in out, out[-3000:]
    assert wrong not in out, "the password was printed"


def _pg(cmd: str) -> str:
    # The script's default directory for the port (/tmp/rsflow-pg-<port>), which the server's
    # account can reach (pytest's temp dirs are private to the test user).
    env = dict(os.environ, RSFLOW_PG_PORT=PORT)
    env.pop("RSFLOW_PG_DIR", None)
    done = subprocess.run(["bash", str(SCRIPT), cmd], env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0 or cmd == "status", f"postgres.sh {cmd}: {done.stderr[-2000:]}"
    return done.stdout.strip()


@pytest.fixture
def own_cluster():
    _pg("stop")  # leftovers of an interrupted run
    yield _pg("start")
    _pg("stop")


def _log_metric(server, run_id: str, i: int):
    return server.api("POST", "runs/log-metric", timeout=30, json={
        "run_id": run_id, "key": "m", "value": float(i), "timestamp": 1000 + i, "step": i})


@pytest.mark.skipif(target_kind() != RSFLOW, reason="rsflow's outage behaviour (MLflow answers 500)")
def test_outage_gives_503_then_recovers(servers, own_cluster):
    admin_url = own_cluster
    import psycopg2

    con = psycopg2.connect(admin_url)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("CREATE DATABASE outage")
    con.close()
    url = with_database(admin_url, "outage")

    os.environ["RSFLOW_DB_ACQUIRE_TIMEOUT_SECS"] = str(ACQUIRE_TIMEOUT_S)
    try:
        server = start_server(RSFLOW, servers.workdir("outage"), backend=url)
        servers._servers.append(server)
    finally:
        del os.environ["RSFLOW_DB_ACQUIRE_TIMEOUT_SECS"]
    exp = server.api("POST", "experiments/create", json={"name": "outage"}).json()["experiment_id"]
    run_id = server.api("POST", "runs/create", json={"experiment_id": exp, "start_time": 1}
                        ).json()["run"]["info"]["run_id"]
    for i in range(5):
        assert _log_metric(server, run_id, i).status_code == 200

    _pg("pause")
    try:
        unavailable = 0
        for i in range(5, 10):
            t0 = time.monotonic()
            resp = _log_metric(server, run_id, i)
            took = time.monotonic() - t0
            assert took < ACQUIRE_TIMEOUT_S + 5, f"request hung for {took:.1f}s"
            assert resp.status_code == 503, resp.text
            assert resp.headers["Content-Type"].startswith("application/json")
            assert resp.json()["error_code"] == "TEMPORARILY_UNAVAILABLE", resp.text
            assert int(resp.headers["Retry-After"]) >= 1
            assert "secret" not in resp.text and "password" not in resp.text.lower()
            unavailable += 1
        get = server.api("GET", "runs/get", params={"run_id": run_id}, timeout=30)
        assert get.status_code == 503 and get.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert server.get("/health").status_code == 200  # as MLflow's: no database check
        assert server.alive(), server.log_tail()
    finally:
        _pg("start")

    deadline = time.monotonic() + 60
    while True:
        resp = _log_metric(server, run_id, 100)
        if resp.status_code == 200:
            break
        assert resp.status_code == 503, resp.text
        assert time.monotonic() < deadline, "no recovery within 60 s after the database came back"
        time.sleep(0.5)
    for i in range(101, 105):
        assert _log_metric(server, run_id, i).status_code == 200
    hist = server.api("GET", "metrics/get-history", params={"run_id": run_id, "metric_key": "m"}).json()
    steps = sorted(m["step"] for m in hist["metrics"])
    assert steps == [0, 1, 2, 3, 4, 100, 101, 102, 103, 104], steps
    assert unavailable == 5
