"""MLflow's web UI on rsflow, against `mlflow server` (spec mlflow-tracking §1.1, §7).

- `/` and `/static-files/*` give the same bytes and headers as the reference, with and
  without --static-prefix; no path leaves the UI build.
- Every `ajax-api/...` path the UI bundle calls is routed where the reference routes it (same
  status class for a minimal GET and POST), except the families listed in UI_LEFT.
- The UI's GraphQL queries (taken from the bundle) answer what the reference answers.
- Without a UI build, `/` says how to install it.

rsflow gets the build of the reference's own mlflow package (the .venv's) with --ui-dir.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from helpers import MLFLOW, RSFLOW, child_env, free_port, raw_http, rsflow_bin, unique

pytestmark = pytest.mark.skipif(
    __import__("helpers").target_kind() != RSFLOW, reason="compares rsflow with the reference"
)


def ui_build() -> Path:
    import mlflow.server

    build = Path(mlflow.server.__file__).parent / "js" / "build"
    if not (build / "index.html").is_file():
        pytest.fail(f"the reference mlflow package has no UI build at {build}", pytrace=False)
    return build


# Paths of the bundle that rsflow leaves unrouted on purpose (the UI shows an error or an
# empty state for them; the tracking and registry pages do not need them). Each entry is a
# regex over the path with template parameters replaced by "x1".
UI_LEFT = {
    r"ajax-api/3\.0/mlflow/issues/schedule(/.*)?":
        "scheduled issue detection (MLflow 3.18.0's UI): runs judges, not served",
    r"ajax-api/3\.0/mlflow/scorer/invoke":
        "scorer invocation runs judges on the server; rsflow never runs scorer code",
    r"ajax-api/3\.0/mlflow/gateway(/.*)?": "AI gateway (not served by rsflow; server-info says so)",
    r"ajax-api/3\.0/(mlflow/)?jobs(/.*)?": "GenAI job runner",
    r"ajax-api/3\.0/mlflow/(demo|mcp-servers|genai)(/.*)?": "GenAI demo data",
    # config and providers are served: MLflow's answers with no provider configured.
    r"ajax-api/3\.0/mlflow/assistant(?!/config$|/providers$)(/.*)?": "assistant sessions",
    r"ajax-api/3\.0/mlflow/workspaces(/.*)?": "workspaces (server-info: workspaces_enabled false)",
    r"ajax-api/2\.0/mlflow/runs/create-promptlab-run": "prompt lab (GenAI)",
    r"ajax-api/3\.0/mlflow/skills(/.*)?": "skill registry (MLflow 3.18.0's UI): not served yet",
    r"ajax-api/2\.0/mlflow/artifacts/presigned-upload-url":
        "presigned uploads (MLflow 3.18.0's UI; server-info: presigned_upload_run_id_supported false)",
    r"ajax-api/2\.0/mlflow/artifacts/presigned-download-url":
        "presigned downloads (server-info: model_artifact_presigned_downloads_supported false)",
    r"ajax-api/[23]\.0/mlflow/(users|roles)(/.*)?": "basic-auth app only (the reference 404s too)",
    r"ajax-api/2\.0/(agents|sql)/.*": "Databricks-only",
    r"ajax-api/4\.0/.*": "Databricks-only trace API v4",
}

# (path, method): a status-class difference that is deliberate.
UI_DIFFERENT = {
    ("ajax-api/2.0/mlflow/runs/create", "POST"):
        "an empty body: MLflow fails inserting experiment_id '' (400 from an IntegrityError); "
        "rsflow creates the run in the default experiment",
    ("ajax-api/2.0/mlflow-artifacts/artifacts/", "POST"):
        "the artifact proxy path takes GET/PUT/DELETE: rsflow answers 405, MLflow's FastAPI 404",
    ("ajax-api/2.0/mlflow/traces", "POST"):
        "v2 StartTrace without experiment_id: MLflow crashes (500, invalid literal for int()); "
        "rsflow answers 400 missing 'experiment_id'",
    ("graphql", "GET"): "no query: MLflow crashes (500); rsflow answers a GraphQL error (200)",
    ("graphql", "POST"): "no query: MLflow crashes (500); rsflow answers a GraphQL error (200)",
}


def bundle_paths() -> list[str]:
    """Every relative `ajax-api/...` path in the UI's JavaScript, `${...}` as `x1`."""
    pat = re.compile(r"""[`"'](ajax-api/[0-9.]+/[A-Za-z0-9_./:${}\-]*?)(?=[`"'?])""")
    paths = set()
    for f in (ui_build() / "static" / "js").glob("*.js"):
        for m in pat.finditer(f.read_text(encoding="utf-8", errors="replace")):
            p = re.sub(r"\$\{[^}]*\}", "x1", m.group(1))
            paths.add(p if p.endswith("artifacts/") else p.rstrip("/"))
    assert len(paths) > 100, "the bundle scan found too few paths; did the bundle change?"
    return sorted(paths | {"graphql", "get-artifact", "model-versions/get-artifact",
                           "ajax-api/2.0/mlflow/metrics/get-history-bulk"})


def left(path: str) -> str | None:
    return next((why for pat, why in UI_LEFT.items() if re.fullmatch(pat, path)), None)


@pytest.fixture(scope="module")
def pair(module_servers):
    ref = module_servers.start(MLFLOW)
    rs = module_servers.start(RSFLOW, extra_args=["--ui-dir", str(ui_build())])
    return ref, rs


@pytest.fixture(scope="module")
def prefixed_pair(module_servers):
    ref = module_servers.start(MLFLOW, static_prefix="/mlflow")
    rs = module_servers.start(RSFLOW, static_prefix="/mlflow",
                              extra_args=["--ui-dir", str(ui_build())])
    return ref, rs


def ui_files() -> list[str]:
    """index.html's own references, plus one file of every extension in the build."""
    build = ui_build()
    index = (build / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="\.?/?static-files/([^"]+)"', index)
    assert any(r.endswith(".js") for r in refs) and any(r.endswith(".css") for r in refs), refs
    by_ext: dict[str, str] = {}
    for p in sorted(build.rglob("*")):
        if p.is_file():
            by_ext.setdefault(p.suffix, p.relative_to(build).as_posix())
    return sorted(set(refs) | set(by_ext.values()))


HEADERS = ("content-type", "content-length", "cache-control", "content-disposition",
           "accept-ranges")


def _compare(ref, rs, path):
    a, b = ref.get(path), rs.get(path)
    assert (a.status_code, b.status_code) == (200, 200), path
    assert a.content == b.content, path
    for h in HEADERS:
        assert a.headers.get(h) == b.headers.get(h), (path, h, a.headers.get(h), b.headers.get(h))
    assert ("expires" in a.headers) == ("expires" in b.headers), path


@pytest.mark.parametrize("which", ["plain", "prefixed"])
def test_ui_files_match_the_reference(request, which):
    ref, rs = request.getfixturevalue("pair" if which == "plain" else "prefixed_pair")
    _compare(ref, rs, "/")
    files = ui_files()
    for rel in files:
        _compare(ref, rs, f"/static-files/{rel}")
    # A revalidation of the index is a 304 on both.
    etag = rs.get("/").headers["etag"]
    assert rs.get("/", headers={"If-None-Match": etag}).status_code == 304
    assert rs.get("/static-files/nope.js").status_code == ref.get("/static-files/nope.js").status_code == 404
    if which == "prefixed":
        a = requests.get(f"http://127.0.0.1:{ref.port}/mlflow", allow_redirects=False, timeout=30)
        b = requests.get(f"http://127.0.0.1:{rs.port}/mlflow", allow_redirects=False, timeout=30)
        assert a.status_code == b.status_code == 308
        assert a.headers["location"].endswith("/mlflow/") and b.headers["location"] == "/mlflow/"
        for server in (ref, rs):
            unprefixed = f"http://127.0.0.1:{server.port}/static-files/favicon.ico"
            assert requests.get(unprefixed, timeout=30).status_code == 404


def test_no_request_leaves_the_ui_build(pair):
    ref, rs = pair
    outside = (ui_build().parent.parent / "__init__.py").read_bytes()[:200]
    for target in [
        "/static-files/../__init__.py",
        "/static-files/..%2f..%2f__init__.py",
        "/static-files/%2e%2e/%2e%2e/__init__.py",
        "/static-files/%252e%252e/%252e%252e/__init__.py",
        "/static-files/static/..%2f..%2f..%2f..%2f__init__.py",
        "/static-files/..%5c..%5c__init__.py",
        "/static-files//etc/passwd",
        "/static-files/%2fetc%2fpasswd",
        "/static-files/../../../../../../etc/passwd",
    ]:
        r = raw_http(rs.port, "GET", target)
        assert r.status == 404, (target, r.status)
        assert outside not in r.body and b"root:" not in r.body, target
        # The reference 404s too (or redirects `//` to a path inside the build).
        leaked = raw_http(ref.port, "GET", target)
        assert leaked.status in (404, 308) and outside not in leaked.body, target


def _kind(server, method: str, path: str) -> str:
    r = server.request(method, "/" + path, json=None if method == "GET" else {}, timeout=30)
    ctype = r.headers.get("content-type", "")
    if r.status_code == 404 and ("html" in ctype or not r.content or "ENDPOINT_NOT_FOUND" in r.text):
        return "no route"
    return f"{r.status_code // 100}xx"


def test_every_ui_endpoint_is_routed_like_the_reference(pair):
    ref, rs = pair
    checked, problems = 0, []
    for path in bundle_paths():
        if left(path):
            continue
        for method in ("GET", "POST"):
            a, b = _kind(ref, method, path), _kind(rs, method, path)
            if a == b or (path, method) in UI_DIFFERENT:
                checked += 1
                continue
            problems.append(f"{method} /{path}: reference {a}, rsflow {b}")
    assert not problems, "\n".join(problems)
    assert checked >= 100, checked


def test_left_ui_endpoints_are_documented_and_still_absent(pair):
    """UI_LEFT stays honest: each family matches bundle paths rsflow does not route."""
    _, rs = pair
    paths = bundle_paths()
    for pat, why in UI_LEFT.items():
        matching = [p for p in paths if re.fullmatch(pat, p)]
        for p in matching:
            assert _kind(rs, "GET", p) == "no route", (p, why)


def _graphql_queries() -> dict[str, str]:
    """The UI's GraphQL documents, with the `__typename` Apollo Client adds to each object."""
    found = {}
    for f in (ui_build() / "static" / "js").glob("*.js"):
        text = f.read_text(encoding="utf-8", errors="replace")
        for m in re.finditer(r"`\s*(query|mutation) (\w+)\(", text):
            end = text.index("`", m.end())
            doc, out, depth = text[m.start() + 1:end], [], 0
            for ch in doc:
                if ch == "}":
                    if depth > 1:
                        out.append(" __typename ")
                    depth -= 1
                elif ch == "{":
                    depth += 1
                out.append(ch)
            found[m.group(2)] = "".join(out)
    assert {"GetRun", "MlflowGetExperimentQuery", "GetMetricHistoryBulkInterval",
            "SearchRuns"} <= set(found), sorted(found)
    return found


def _normalise(obj, ids):
    if isinstance(obj, dict):
        return {k: _normalise(v, ids) for k, v in obj.items()
                if k not in ("creationTime", "lastUpdateTime", "creationTimestamp",
                             "lastUpdatedTimestamp")}
    if isinstance(obj, list):
        return [_normalise(v, ids) for v in obj]
    if isinstance(obj, str):
        for real, alias in ids.items():
            obj = obj.replace(real, alias)
    return obj


def _seed(server, name):
    def api(ep, body):
        r = server.post(f"/api/2.0/mlflow/{ep}", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    exp = api("experiments/create", {"name": name})["experiment_id"]
    run = api("runs/create", {"experiment_id": exp, "start_time": 1000, "run_name": "r1",
                              "tags": [{"key": "t", "value": "v"}]})["run"]["info"]["run_id"]
    api("runs/log-batch", {"run_id": run, "params": [{"key": "p", "value": "1"}],
                           "metrics": [{"key": "m", "value": 0.5 * s, "timestamp": 5, "step": s}
                                       for s in range(5)]})
    api("runs/log-metric", {"run_id": run, "key": "n", "value": "NaN", "timestamp": 5, "step": 0})
    api("registered-models/create", {"name": name})
    api("model-versions/create", {"name": name, "source": f"runs:/{run}/model", "run_id": run})
    return exp, run


def test_ui_graphql_queries_answer_like_the_reference(pair):
    ref, rs = pair
    queries = _graphql_queries()
    name = unique("ui-graphql")
    seeded = {s.kind: _seed(s, name) for s in (ref, rs)}
    for op, variables in [
        ("GetRun", lambda e, r: {"data": {"runId": r}}),
        ("GetRun", lambda e, r: {"data": {"runId": "no-such-run"}}),
        ("MlflowGetExperimentQuery", lambda e, r: {"input": {"experimentId": e}}),
        ("MlflowGetExperimentQuery", lambda e, r: {"input": {"experimentId": "987654"}}),
        ("GetMetricHistoryBulkInterval",
         lambda e, r: {"data": {"runIds": [r], "metricKey": "m", "maxResults": 320}}),
        ("SearchRuns", lambda e, r: {"data": {"experimentIds": [e], "filter": ""}}),
    ]:
        answers = []
        for server in (ref, rs):
            exp, run = seeded[server.kind]
            r = server.post("/graphql", json={"query": queries[op], "operationName": op,
                                              "variables": variables(exp, run)})
            assert r.status_code == 200, (server.kind, op, r.text[:300])
            answers.append(_normalise(r.json(), {run: "RUN", f"/{exp}/": "/EXP/",
                                                 f":/{exp}": ":/EXP"}))
        a, b = answers
        # Experiment ids differ between the servers; compare them by shape only.
        assert _strip_ids(a) == _strip_ids(b), op


def test_graphql_root_fields_run_mlflows_impl_functions(pair):
    """Each root field runs what MLflow's resolver runs (the RPC's `*_impl`, no REST request
    schema): absent input fields are proto defaults, the store's checks and messages answer,
    and `mlflowGetMetricHistoryBulkInterval` ignores the input's `maxResults` (MLflow reads it
    from the HTTP query string)."""
    ref, rs = pair
    fields = {
        "run": "query Q($d: MlflowGetRunInput!) { mlflowGetRun(input: $d) "
               "{ apiError { code message } run { info { runId } } } }",
        "experiment": "query Q($d: MlflowGetExperimentInput) { mlflowGetExperiment(input: $d) "
                      "{ experiment { name } } }",
        "search": "query Q($d: MlflowSearchRunsInput) { mlflowSearchRuns(input: $d) "
                  "{ runs { info { runId } } } }",
        "bulk": "query Q($d: MlflowGetMetricHistoryBulkIntervalInput) "
                "{ mlflowGetMetricHistoryBulkInterval(input: $d) { metrics { step } } }",
        "list": "query Q($d: MlflowListArtifactsInput) { mlflowListArtifacts(input: $d) "
                "{ files { path } } }",
        "versions": "query Q($d: MlflowSearchModelVersionsInput) "
                    "{ mlflowSearchModelVersions(input: $d) { modelVersions { name } } }",
        "datasets": "mutation Q($d: MlflowSearchDatasetsInput) "
                    "{ mlflowSearchDatasets(input: $d) { datasetSummaries { name } } }",
    }
    cases = [
        ("run", lambda r: {"runId": "no-such-run"}),
        ("run", lambda r: {}),
        ("run", lambda r: {"runId": "../x"}),
        ("experiment", lambda r: {}),
        ("experiment", lambda r: {"experimentId": "987654"}),
        ("search", lambda r: {"experimentIds": ["0"], "maxResults": 99999999}),
        ("bulk", lambda r: {"runIds": ["nope"], "metricKey": "m"}),
        ("bulk", lambda r: {}),
        ("bulk", lambda r: {"runIds": [r], "metricKey": "m", "maxResults": 320}),
        ("list", lambda r: {}),
        ("list", lambda r: {"runId": "nope"}),
        ("versions", lambda r: {"maxResults": 300000}),
        ("datasets", lambda r: {}),
    ]
    runs = {}
    for server in (ref, rs):
        run = server.post("/api/2.0/mlflow/runs/create",
                          json={"experiment_id": "0", "start_time": 1}).json()["run"]["info"]["run_id"]
        for first in range(0, 400, 100):
            r = server.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run, "metrics": [
                {"key": "m", "value": s, "timestamp": 5, "step": s}
                for s in range(first, first + 100)]})
            assert r.status_code == 200, r.text
        runs[server.kind] = run
    for field, data in cases:
        answers = []
        for server in (ref, rs):
            run = runs[server.kind]
            r = server.post("/graphql", json={"query": fields[field], "variables": {"d": data(run)}})
            assert r.status_code == 200, (server.kind, field, r.text[:300])
            answers.append(_normalise(r.json(), {run: "RUN"}))
        assert answers[0] == answers[1], (field, data("RUN"))
    r = rs.post("/graphql", json={"query": fields["bulk"], "variables": {"d": {
        "runIds": [runs[rs.kind]], "metricKey": "m", "maxResults": 320}}})
    assert len(r.json()["data"]["mlflowGetMetricHistoryBulkInterval"]["metrics"]) == 400


def _strip_ids(obj):
    if isinstance(obj, dict):
        return {k: ("ID" if k == "experimentId" else _strip_ids(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_strip_ids(v) for v in obj]
    return obj


def test_without_a_ui_build_the_index_says_how_to_install_it(tmp_path):
    # A copy of the binary in a directory with no share/rsflow/ui next to it.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    binary = bin_dir / "rsflow"
    shutil.copy2(rsflow_bin(), binary)
    port = free_port()
    proc = subprocess.Popen(
        [str(binary), "server", "--port", str(port), "--backend-store-uri",
         f"sqlite:///{tmp_path / 'mlflow.db'}", "--artifacts-destination", str(tmp_path / "a")],
        cwd=tmp_path, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        import time

        deadline = time.monotonic() + 30
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "rsflow did not start"
                time.sleep(0.05)
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert "not installed" in r.text
        assert f"bash scripts/ui.sh {tmp_path / 'share' / 'rsflow' / 'ui'}" in r.text
        assert requests.get(f"http://127.0.0.1:{port}/static-files/index.html",
                            timeout=5).status_code == 404
    finally:
        proc.terminate()
        proc.wait(10)
