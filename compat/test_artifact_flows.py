"""Artifact store flows (issue: artifact store).

Client flows go through the stock mlflow client against the shared `flow_server`
(default mode: --serve-artifacts, proxied `mlflow-artifacts:/` roots). Raw HTTP
checks use `requests` against the proxy routes. Other serving modes
(--no-serve-artifacts, --artifacts-only, --static-prefix, gc) get their own servers.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException

from helpers import (
    ARTIFACTS_API,
    assert_json_error,
    assert_mlflow_exception,
    big_file_mb,
    expect_ref_or_better,
    run_mlflow_cli,
    sha256_file,
    tree_contents,
    unique,
    write_random_file,
    write_tree,
)

TREE = {
    "top.txt": b"top level\n",
    "empty.txt": b"",
    "dir with space/a b.txt": b"spaced out",
    "dir with space/nested/deep.bin": bytes(range(256)) * 4,
    "\u00fcn\u00efc\u00f6d\u00e9/\u65e5\u672c\u8a9e.txt": "unicode \u2713".encode(),
    "pct/50% off.txt": b"percent sign",
    "plus/a+b c.csv": b"1,2\n3,4\n",
    "zeros/zero.bin": b"",
}


def _run_dir(server, run) -> Path:
    """Where a proxied run's artifacts live on the server's disk (spec artifacts §2.4)."""
    return server.artifacts_dir / run.info.experiment_id / run.info.run_id / "artifacts"


@pytest.fixture
def run(client):
    mlflow.set_experiment(unique("art"))
    with mlflow.start_run() as r:
        yield r


# --------------------------------------------------------------------------- client flows


def test_log_and_download_tree(client, flow_server, run, tmp_path):
    src = write_tree(tmp_path / "src", TREE)
    single = write_tree(tmp_path / "single", {"report.json": b'{"a": 1}'}) / "report.json"
    mlflow.log_artifact(str(single))
    mlflow.log_artifact(str(single), artifact_path="reports/2024")
    mlflow.log_artifacts(str(src), artifact_path="tree")
    mlflow.log_text("hello text\n", "notes/readme.md")
    mlflow.log_dict({"b": [1, 2], "a": "x"}, "cfg/config.json")
    mlflow.log_dict({"k": "v"}, "cfg/config.yaml")
    run_id = run.info.run_id

    root = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in root] == [
        ("cfg", True), ("notes", True), ("report.json", False), ("reports", True), ("tree", True)]
    assert root[2].file_size == 8
    assert all(f.file_size is None for f in root if f.is_dir)

    tree = client.list_artifacts(run_id, "tree")
    assert [(f.path, f.is_dir, f.file_size) for f in tree] == [
        ("tree/dir with space", True, None),
        ("tree/empty.txt", False, None),  # 0-byte files carry no file_size
        ("tree/pct", True, None),
        ("tree/plus", True, None),
        ("tree/top.txt", False, 10),
        ("tree/zeros", True, None),
        ("tree/\u00fcn\u00efc\u00f6d\u00e9", True, None),
    ]
    assert [(f.path, f.file_size) for f in client.list_artifacts(run_id, "tree/dir with space/nested")] == [
        ("tree/dir with space/nested/deep.bin", 1024)]
    assert [f.path for f in client.list_artifacts(run_id, "tree/pct")] == ["tree/pct/50% off.txt"]
    assert client.list_artifacts(run_id, "tree/top.txt") == []  # a file lists as empty
    assert client.list_artifacts(run_id, "no/such/dir") == []

    # On the server's disk, under <destination>/<exp>/<run>/artifacts (spec §2.4).
    assert tree_contents(_run_dir(flow_server, run) / "tree") == TREE

    # Whole directory, single file, whole run.
    d = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="tree", dst_path=str(tmp_path / "d1")))
    assert tree_contents(d) == TREE
    f = Path(client.download_artifacts(run_id, "tree/dir with space/a b.txt", str(tmp_path / "d2")))
    assert f.name == "a b.txt" and f.read_bytes() == b"spaced out"
    f = Path(client.download_artifacts(run_id, "tree/pct/50% off.txt", str(tmp_path / "d3")))
    assert f.read_bytes() == b"percent sign"
    whole = Path(client.download_artifacts(run_id, "", str(tmp_path / "d4")))
    got = tree_contents(whole)
    assert {k[len("tree/"):]: v for k, v in got.items() if k.startswith("tree/")} == TREE
    assert got["report.json"] == got["reports/2024/report.json"] == b'{"a": 1}'
    assert got["notes/readme.md"] == b"hello text\n"
    assert json.loads(got["cfg/config.json"]) == {"b": [1, 2], "a": "x"}
    assert got["cfg/config.yaml"].decode().strip() == "k: v"
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.md") == "hello text\n"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/cfg/config.json") == {"b": [1, 2], "a": "x"}


def test_download_missing_artifact_fails(client, run, tmp_path):
    with pytest.raises(MlflowException) as ei:
        client.download_artifacts(run.info.run_id, "nope.txt", str(tmp_path))
    assert_mlflow_exception(ei.value, "RESOURCE_DOES_NOT_EXIST", 404,
                            "Failed to download artifacts from path 'nope.txt'")


def test_overwrite_artifact(client, run, tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("one")
    mlflow.log_artifact(str(p))
    p.write_text("second version")
    mlflow.log_artifact(str(p))
    out = client.download_artifacts(run.info.run_id, "v.txt", str(tmp_path / "out"))
    assert Path(out).read_text() == "second version"
    assert [(f.path, f.file_size) for f in client.list_artifacts(run.info.run_id)] == [("v.txt", 14)]


def test_big_file_round_trip(client, flow_server, run, tmp_path):
    size = big_file_mb() * 1024 * 1024
    src = tmp_path / "big" / "blob.bin"
    digest = write_random_file(src, size)
    mlflow.log_artifact(str(src), artifact_path="big")
    src.unlink()  # keep disk use at 2x, not 3x
    [info] = client.list_artifacts(run.info.run_id, "big")
    assert (info.path, info.file_size) == ("big/blob.bin", size)
    on_disk = _run_dir(flow_server, run) / "big" / "blob.bin"
    assert on_disk.stat().st_size == size
    out = Path(client.download_artifacts(run.info.run_id, "big/blob.bin", str(tmp_path / "dl")))
    assert out.stat().st_size == size
    assert sha256_file(out) == digest


def test_delete_artifacts_via_client_repo(client, run, tmp_path):
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    write_tree(tmp_path / "t", {"a/x.txt": b"x", "a/y.txt": b"y", "b.txt": b"b"})
    mlflow.log_artifacts(str(tmp_path / "t"))
    repo = get_artifact_repository(client.get_run(run.info.run_id).info.artifact_uri)
    repo.delete_artifacts("a")
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["b.txt"]


# --------------------------------------------------------------------------- raw HTTP on the proxy


@pytest.fixture
def raw(flow_server):
    """(server, unique top-level dir) for raw proxy requests."""
    return flow_server, unique("raw")


def _art(server, path=""):
    return server.url(f"{ARTIFACTS_API}/{path}" if path else ARTIFACTS_API)


def test_proxy_put_get_delete(raw):
    server, top = raw
    assert requests.put(_art(server, f"{top}/a.txt"), data=b"hello world").status_code == 200
    r = requests.get(_art(server, f"{top}/a.txt"))
    assert r.status_code == 200 and r.content == b"hello world"
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["Content-Disposition"] == "attachment; filename=a.txt"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Length"] == "11"

    # Overwrite; parents created on demand; the body is opaque whatever the Content-Type.
    r = requests.put(_art(server, f"{top}/a.txt"), data=b"bye", headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    assert requests.get(_art(server, f"{top}/a.txt")).content == b"bye"
    r = requests.put(_art(server, f"{top}/deep/er/x.bin"), data=b"\x00\xff",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200
    assert requests.get(_art(server, f"{top}/deep/er/x.bin")).content == b"\x00\xff"

    r = requests.delete(_art(server, f"{top}/a.txt"))
    assert (r.status_code, r.json()) == (200, {})
    assert_json_error(requests.get(_art(server, f"{top}/a.txt")), 404, "RESOURCE_DOES_NOT_EXIST",
                      message=f"No such artifact: '{top}/a.txt'")


@pytest.mark.parametrize("name,ctype", [
    ("a.txt", "text/plain"), ("b.json", "text/plain"), ("c.yaml", "text/plain"), ("MLmodel", "text/plain"),
    ("d.csv", "text/plain"), ("e.py", "text/plain"), ("f.png", "image/png"), ("g.bin", "application/octet-stream"),
    ("h.html", "text/html"), ("noext", "application/octet-stream"),
])
def test_proxy_content_type(raw, name, ctype):
    server, top = raw
    assert requests.put(_art(server, f"{top}/{name}"), data=b"data").status_code == 200
    r = requests.get(_art(server, f"{top}/{name}"))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == ctype
    assert r.headers["Content-Disposition"] == f"attachment; filename={name}"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_proxy_content_disposition_unicode(raw):
    server, top = raw
    assert requests.put(_art(server, f"{top}/d\u00e9j\u00e0 vu.txt"), data=b"uni").status_code == 200
    r = requests.get(_art(server, f"{top}/d\u00e9j\u00e0 vu.txt"))
    assert r.content == b"uni"
    assert r.headers["Content-Disposition"] == (
        "attachment; filename=\"deja vu.txt\"; filename*=UTF-8''d%C3%A9j%C3%A0%20vu.txt")


def test_proxy_range_requests(raw):
    server, top = raw
    requests.put(_art(server, f"{top}/r.txt"), data=b"hello world")
    url = _art(server, f"{top}/r.txt")
    full = requests.get(url)
    assert full.headers.get("Accept-Ranges") == "bytes"
    for rng, status, body, crange in [
        ("bytes=2-5", 206, b"llo ", "bytes 2-5/11"),
        ("bytes=4-", 206, b"o world", "bytes 4-10/11"),
        ("bytes=-3", 206, b"rld", "bytes 8-10/11"),
        ("bytes=0-100", 206, b"hello world", "bytes 0-10/11"),
    ]:
        r = requests.get(url, headers={"Range": rng})
        assert (r.status_code, r.content, r.headers.get("Content-Range")) == (status, body, crange), rng
        assert r.headers["Content-Length"] == str(len(body))
        assert r.headers["Content-Type"] == "text/plain"
    r = requests.get(url, headers={"Range": "bytes=20-30"})
    assert r.status_code == 416
    assert r.headers.get("Content-Range") == "bytes */11"


def test_proxy_listing(raw):
    server, top = raw
    for path, data in [("f.txt", b"12345"), ("zero.bin", b""), ("sub/inner.txt", b"i"), ("sub/deeper/x", b"x")]:
        assert requests.put(_art(server, f"{top}/{path}"), data=data).status_code == 200

    def listing(path=None, base=ARTIFACTS_API):
        params = {} if path is None else {"path": path}
        r = requests.get(server.url(base), params=params)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/json")
        return r.json()

    assert listing(top) == {"files": [
        {"path": "f.txt", "is_dir": False, "file_size": 5},
        {"path": "sub", "is_dir": True},
        {"path": "zero.bin", "is_dir": False},
    ]}
    assert listing(f"{top}/sub") == {"files": [
        {"path": "deeper", "is_dir": True}, {"path": "inner.txt", "is_dir": False, "file_size": 1}]}
    assert listing(f"{top}/sub/") == listing(f"{top}/sub")
    assert listing(f"{top}/f.txt") == {}
    assert listing(f"{top}/zero.bin") == {}
    assert listing(f"{top}/missing") == {}
    root = listing()
    assert {"path": top, "is_dir": True} in root["files"]
    assert listing("") == root
    assert listing(top, base="/ajax-api/2.0/mlflow-artifacts/artifacts") == listing(top)


def test_proxy_delete_semantics(raw):
    server, top = raw
    for path in ("d/one.txt", "d/two/three.txt", "keep.txt"):
        requests.put(_art(server, f"{top}/{path}"), data=b"z")
    r = requests.delete(_art(server, f"{top}/never/was.txt"))
    assert (r.status_code, r.json()) == (200, {})
    r = requests.delete(_art(server, f"{top}/d/"))  # trailing slash, as `mlflow gc` sends it
    assert (r.status_code, r.json()) == (200, {})
    r = requests.get(_art(server), params={"path": top})
    assert r.json() == {"files": [{"path": "keep.txt", "is_dir": False, "file_size": 1}]}


def test_proxy_errors(raw):
    server, top = raw
    requests.put(_art(server, f"{top}/dir/file.txt"), data=b"x")

    # MLflow's uvicorn routes answer {"detail": msg}; rsflow answers the same message as an
    # MLflow JSON error (known_differences.py: art-get-dir, art-put-trailing-slash).
    for r, msg in [
        (requests.get(_art(server, f"{top}/dir")),
         f"Artifact path refers to a directory, not a file: '{top}/dir'"),
        (requests.put(_art(server, f"{top}/dir/"), data=b"x"),
         "Artifact path must include a filename (cannot end with '/')."),
    ]:
        assert r.status_code == 400, r.text
        body = r.json()
        expect_ref_or_better(server, body, why="MLflow-shaped error body",
                             ref={"detail": msg},
                             better={"error_code": "INVALID_PARAMETER_VALUE", "message": msg,
                                     "sqlstate": "KAM00", "error_class": "INVALID_PARAMETER_VALUE"})

    msg = "Multipart upload is not supported for the current artifact repository"
    for op, body in [("create", {"path": "big.bin", "num_parts": 2}),
                     ("complete", {"path": "big.bin", "upload_id": "u", "parts": []}),
                     ("abort", {"path": "big.bin", "upload_id": "u"})]:
        r = requests.post(server.url(f"/api/2.0/mlflow-artifacts/mpu/{op}/{top}/dir"), json=body)
        assert_json_error(r, 501, "NOT_IMPLEMENTED", message=msg)
    r = requests.get(server.url(f"/api/2.0/mlflow-artifacts/presigned/{top}/dir/file.txt"))
    assert_json_error(r, 501, "NOT_IMPLEMENTED",
                      message="Multipart download is not supported for the current artifact repository")


BAD_PATHS = [
    "..%2F..%2Fetc%2Fpasswd",
    "x/..%2F..%2Fsecret",
    "x/%252E%252E%252Fsecret",  # double-encoded ../
    "x/%25252E%25252E%25252Fsecret",  # triple-encoded
    "%2Fetc%2Fpasswd",  # absolute
    "x/a%23b",  # '#'
]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_proxy_rejects_unsafe_paths(flow_server, bad):
    for method in ("GET", "PUT", "DELETE"):
        r = requests.request(method, flow_server.url(f"{ARTIFACTS_API}/{bad}"),
                             data=b"x" if method == "PUT" else None, allow_redirects=False)
        if method == "DELETE" and bad.startswith("%2F"):
            # MLflow's Flask DELETE route sees `artifacts//etc/passwd`, answers 308 to the
            # slash-merged `artifacts/etc/passwd` and would then delete that *relative* path.
            # rsflow rejects the absolute path outright.
            expect_ref_or_better(flow_server, r.status_code, better=400, ref=308,
                                 why="absolute path on proxy DELETE")
            if r.status_code == 308:
                continue
        assert_json_error(r, 400, "INVALID_PARAMETER_VALUE", message="Invalid path")


@pytest.mark.parametrize("bad", ["../x", "x/../../y", "/etc", "x/%2E%2E/y", "a#b"])
def test_proxy_list_rejects_unsafe_paths(flow_server, bad):
    r = requests.get(flow_server.url(ARTIFACTS_API), params={"path": bad})
    assert_json_error(r, 400, "INVALID_PARAMETER_VALUE", message="Invalid path")


# --------------------------------------------------------------------------- tracking-side artifact routes


def test_tracking_artifact_routes(client, flow_server, run, tmp_path):
    write_tree(tmp_path / "t", {"a.txt": b"alpha", "sub/b.csv": b"1,2", "sub/empty": b""})
    mlflow.log_artifacts(str(tmp_path / "t"))
    run_id = run.info.run_id
    artifact_uri = client.get_run(run_id).info.artifact_uri

    r = flow_server.api("GET", "artifacts/list", params={"run_id": run_id})
    assert r.status_code == 200
    assert r.json() == {"root_uri": artifact_uri, "files": [
        {"path": "a.txt", "is_dir": False, "file_size": 5}, {"path": "sub", "is_dir": True}]}
    r = flow_server.api("GET", "artifacts/list", params={"run_uuid": run_id, "path": "sub"})
    assert r.json() == {"root_uri": artifact_uri, "files": [
        {"path": "sub/b.csv", "is_dir": False, "file_size": 3}, {"path": "sub/empty", "is_dir": False}]}
    r = flow_server.request("GET", "/ajax-api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": "a.txt"})
    assert r.json() == {"root_uri": artifact_uri}
    assert_json_error(flow_server.api("GET", "artifacts/list"), 400, "INVALID_PARAMETER_VALUE",
                      contains="Missing value for required parameter 'run_id'")
    assert_json_error(flow_server.api("GET", "artifacts/list", params={"run_id": "f" * 32}), 404,
                      "RESOURCE_DOES_NOT_EXIST", contains=f"Run with id={'f' * 32} not found")

    r = flow_server.get("/get-artifact", params={"run_uuid": run_id, "path": "sub/b.csv"})
    assert r.status_code == 200 and r.content == b"1,2"
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["Content-Disposition"] == "attachment; filename=b.csv"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    r = flow_server.get("/get-artifact", params={"run_id": run_id, "path": "a.txt"})
    assert r.status_code == 200 and r.content == b"alpha"
    r = flow_server.get("/get-artifact", params={"run_uuid": run_id, "path": "../../etc/passwd"})
    assert_json_error(r, 400, "INVALID_PARAMETER_VALUE")


# --------------------------------------------------------------------------- gc


def test_gc_deletes_artifacts_through_proxy(servers, bind_client, tmp_path):
    server = servers.start()
    client = bind_client(server)
    exp_id = client.create_experiment(unique("gc"))
    keep = client.create_run(exp_id).info.run_id
    gone = client.create_run(exp_id).info.run_id
    write_tree(tmp_path / "t", {"x.txt": b"x", "d/y.txt": b"y"})
    for rid in (keep, gone):
        client.log_artifacts(rid, str(tmp_path / "t"))
    gone_dir = server.artifacts_dir / exp_id / gone / "artifacts"
    assert tree_contents(gone_dir) == {"x.txt": b"x", "d/y.txt": b"y"}
    client.delete_run(gone)

    res = run_mlflow_cli(["gc", "--backend-store-uri", server.backend_uri, "--run-ids", gone],
                         cwd=tmp_path, tracking_uri=server.tracking_uri)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not gone_dir.exists()
    r = server.api("GET", "runs/get", params={"run_id": gone})
    assert_json_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    r = server.get(ARTIFACTS_API, params={"path": f"{exp_id}/{gone}/artifacts"})
    assert r.json() == {}
    assert [f.path for f in client.list_artifacts(keep)] == ["d", "x.txt"]


# --------------------------------------------------------------------------- other serving modes


def test_no_serve_artifacts_direct_mode(servers, bind_client, tmp_path):
    root = tmp_path / "direct-root"
    server = servers.start(extra_args=["--no-serve-artifacts", "--default-artifact-root", str(root)])
    client = bind_client(server)
    exp_id = client.create_experiment(unique("direct"))
    exp = client.get_experiment(exp_id)
    assert exp.artifact_location == f"{root}/{exp_id}"
    assert client.get_experiment("0").artifact_location == f"{root}/0"
    mlflow.set_experiment(experiment_id=exp_id)
    write_tree(tmp_path / "t", {"a.txt": b"direct", "sub/b.txt": b"bee"})
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tmp_path / "t"))
    run_id = run.info.run_id
    artifact_uri = client.get_run(run_id).info.artifact_uri
    assert artifact_uri == f"{root}/{exp_id}/{run_id}/artifacts"
    # The client wrote the files itself; the server never saw the bytes.
    assert tree_contents(Path(artifact_uri)) == {"a.txt": b"direct", "sub/b.txt": b"bee"}
    assert not (server.artifacts_dir and server.artifacts_dir.exists() and any(server.artifacts_dir.iterdir()))

    r = server.api("GET", "artifacts/list", params={"run_id": run_id})
    assert r.json() == {"root_uri": artifact_uri, "files": [
        {"path": "a.txt", "is_dir": False, "file_size": 6}, {"path": "sub", "is_dir": True}]}
    r = server.get("/get-artifact", params={"run_uuid": run_id, "path": "sub/b.txt"})
    assert (r.status_code, r.content) == (200, b"bee")

    # The proxy service is off.
    assert server.get(ARTIFACTS_API, params={"path": "x"}).status_code == 503
    assert server.put(f"{ARTIFACTS_API}/x/y.txt", data=b"1").status_code == 503
    assert server.get(f"{ARTIFACTS_API}/x/y.txt").status_code == 503
    info = server.get("/api/3.0/mlflow/server-info").json()
    assert info["multipart_uploads_enabled"] is False
    assert info["multipart_downloads_enabled"] is False


@pytest.mark.parametrize("root_form", ["http", "mlflow-artifacts"])
def test_artifacts_only_server_as_store(servers, bind_client, tmp_path, root_form):
    """Spec artifacts §4.1: an --artifacts-only server addressed as
    http://host:port/api/2.0/mlflow-artifacts/artifacts/<prefix> or mlflow-artifacts://host:port/<prefix>."""
    store = servers.start(backend=None, extra_args=["--artifacts-only"])
    if root_form == "http":
        root = f"http://127.0.0.1:{store.port}{ARTIFACTS_API}/tracked"
    else:
        root = f"mlflow-artifacts://127.0.0.1:{store.port}/tracked"
    tracking = servers.start(extra_args=["--no-serve-artifacts", "--default-artifact-root", root])

    # Tracking routes on the artifacts-only server are disabled.
    for method, endpoint, kw in [("POST", "experiments/search", {"json": {"max_results": 10}}),
                                 ("GET", "experiments/get", {"params": {"experiment_id": "0"}}),
                                 ("POST", "runs/create", {"json": {"experiment_id": "0"}})]:
        r = store.api(method, endpoint, **kw)
        assert r.status_code == 503, (endpoint, r.status_code, r.text[:200])
    assert store.get("/health").status_code == 200

    client = bind_client(tracking)
    exp_id = client.create_experiment(unique("split"))
    assert client.get_experiment(exp_id).artifact_location == f"{root}/{exp_id}"
    write_tree(tmp_path / "t", TREE)
    run = client.create_run(exp_id)
    client.log_artifacts(run.info.run_id, str(tmp_path / "t"), artifact_path="t")
    assert run.info.artifact_uri == f"{root}/{exp_id}/{run.info.run_id}/artifacts"

    on_store = store.artifacts_dir / "tracked" / exp_id / run.info.run_id / "artifacts" / "t"
    assert tree_contents(on_store) == TREE
    assert [f.path for f in client.list_artifacts(run.info.run_id, "t/plus")] == ["t/plus/a+b c.csv"]
    out = client.download_artifacts(run.info.run_id, "t", str(tmp_path / "dl"))
    assert tree_contents(Path(out)) == TREE

    r = store.get(ARTIFACTS_API, params={"path": f"tracked/{exp_id}/{run.info.run_id}/artifacts/t/pct"})
    assert r.json() == {"files": [{"path": "50% off.txt", "is_dir": False, "file_size": 12}]}
    # The tracking server lists the run through the artifacts-only server.
    r = tracking.api("GET", "artifacts/list", params={"run_id": run.info.run_id, "path": "t/pct"})
    if root_form == "mlflow-artifacts":
        # MLflow cannot resolve mlflow-artifacts://host roots server-side (it needs an http
        # tracking URI and has a sqlite one): 500 INTERNAL_ERROR. rsflow lists them like http roots.
        expect_ref_or_better(tracking, r.status_code, better=200, ref=500,
                             why="tracking-side listing of an mlflow-artifacts://host root")
        if r.status_code == 500:
            return
    assert r.status_code == 200, r.text[:500]
    assert r.json()["files"] == [{"path": "t/pct/50% off.txt", "is_dir": False, "file_size": 12}]


def test_static_prefix(servers, bind_client, tmp_path):
    server = servers.start(static_prefix="/rsf")
    assert requests.get(f"http://127.0.0.1:{server.port}/rsf/health").status_code == 200
    assert requests.get(f"http://127.0.0.1:{server.port}/health").status_code == 404
    assert requests.get(f"http://127.0.0.1:{server.port}/api/2.0/mlflow/experiments/get",
                        params={"experiment_id": "0"}).status_code == 404
    client = bind_client(server)
    exp_id = client.create_experiment(unique("prefix"))
    run = client.create_run(exp_id)
    write_tree(tmp_path / "t", {"p.txt": b"prefixed"})
    client.log_artifacts(run.info.run_id, str(tmp_path / "t"))
    assert tree_contents(server.artifacts_dir / exp_id / run.info.run_id / "artifacts") == {"p.txt": b"prefixed"}
    out = client.download_artifacts(run.info.run_id, "p.txt", str(tmp_path / "dl"))
    assert Path(out).read_bytes() == b"prefixed"
    r = server.get(f"{ARTIFACTS_API}/{exp_id}/{run.info.run_id}/artifacts/p.txt")
    assert (r.status_code, r.content) == (200, b"prefixed")
    r = server.get("/get-artifact", params={"run_uuid": run.info.run_id, "path": "p.txt"})
    assert (r.status_code, r.content) == (200, b"prefixed")
