"""MLflow 3 logged models and the model registry through the stock client (issue: models).

Every test runs against the shared `flow_server` (rsflow, or mlflow with COMPAT_TARGET=mlflow)
and uses its own uniquely named experiments and registered models. Call sequences are those of
spec §3 (b, b2, b3); the source checks follow security.md §1a.
"""

from __future__ import annotations

import json
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException

from helpers import assert_json_error, assert_mlflow_exception, expect_ref_or_better, unique


class AddN(mlflow.pyfunc.PythonModel):
    """A tiny pyfunc model: adds n to every value."""

    def __init__(self, n):
        self.n = n

    def predict(self, context, model_input, params=None):
        return model_input + self.n


def _log_pyfunc(n=2, name="model"):
    # Explicit requirements skip the slow import-capture inference; the model needs only mlflow.
    return mlflow.pyfunc.log_model(name=name, python_model=AddN(n), pip_requirements=["mlflow"])


def _frame():
    return pd.DataFrame({"x": [1.0, 2.0, 3.0]})


# --------------------------------------------------------------------------- (b) pyfunc flow


def test_pyfunc_log_register_alias_and_load(client):
    exp_id = mlflow.set_experiment(unique("models-b")).experiment_id
    name = unique("wf-model")
    t0 = int(time.time() * 1000)
    with mlflow.start_run() as run:
        info = _log_pyfunc(2)
    run_id = run.info.run_id

    model_id = info.model_id
    assert model_id.startswith("m-") and len(model_id) == 34
    assert info.model_uri == f"models:/{model_id}"

    lm = client.get_logged_model(model_id)
    assert lm.status == LoggedModelStatus.READY
    assert lm.name == "model"
    assert lm.experiment_id == exp_id
    assert lm.source_run_id == run_id
    assert lm.artifact_location == f"mlflow-artifacts:/{exp_id}/models/{model_id}/artifacts"
    assert t0 - 5 <= lm.creation_timestamp <= lm.last_updated_timestamp
    # The run lists the model among its outputs.
    outputs = client.get_run(run_id).outputs.model_outputs
    assert [(o.model_id, o.step) for o in outputs] == [(model_id, 0)]

    mv = mlflow.register_model(info.model_uri, name)
    assert mv.name == name and mv.version == "1"
    assert mv.status == "READY"
    assert mv.current_stage == "None"
    assert mv.run_id == run_id
    assert mv.source == f"models:/{model_id}"
    assert client.get_model_version_download_uri(name, "1") == lm.artifact_location

    # The server records the registration on the logged model (the client appends its own
    # entry with a string version, so both spellings may be present).
    tags = client.get_logged_model(model_id).tags
    recorded = json.loads(tags["mlflow.modelVersions"])
    assert {"name": name, "version": 1} in recorded
    assert {(d["name"], str(d["version"])) for d in recorded} == {(name, "1")}

    expected = _frame()["x"].to_numpy() + 2
    by_version = mlflow.pyfunc.load_model(f"models:/{name}/1")
    np.testing.assert_allclose(by_version.predict(_frame())["x"].to_numpy(), expected)

    client.set_registered_model_alias(name, "champion", "1")
    by_alias_mv = client.get_model_version_by_alias(name, "champion")
    assert by_alias_mv.version == "1" and by_alias_mv.aliases == ["champion"]
    by_alias = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    np.testing.assert_allclose(by_alias.predict(_frame())["x"].to_numpy(), expected)

    by_id = mlflow.pyfunc.load_model(f"models:/{model_id}")
    np.testing.assert_allclose(by_id.predict(_frame())["x"].to_numpy(), expected)

    rm = client.get_registered_model(name)
    assert rm.aliases == {"champion": "1"}
    assert [v.version for v in rm.latest_versions] == ["1"]

    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException) as exc:
        client.get_model_version_by_alias(name, "champion")
    assert_mlflow_exception(exc.value, "INVALID_PARAMETER_VALUE", 400,
                            contains="Registered model alias champion not found.")


# --------------------------------------------------------------------------- (b2) sklearn flow


def test_sklearn_log_model_with_registered_model_name(client):
    from sklearn.linear_model import LogisticRegression

    mlflow.set_experiment(unique("models-b2"))
    name = unique("wf-sk")
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    lr = LogisticRegression().fit(x, y)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(lr, name="skmodel", registered_model_name=name)
    assert str(info.registered_model_version) == "1"

    loaded = mlflow.sklearn.load_model(f"models:/{name}/1")
    np.testing.assert_array_equal(loaded.predict(x), lr.predict(x))
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/latest")
    np.testing.assert_array_equal(pyfunc.predict(x), lr.predict(x))

    artifacts = {a.path for a in mlflow.artifacts.list_artifacts(f"models:/{info.model_id}")}
    assert "MLmodel" in artifacts


# --------------------------------------------------------------------------- (b3) runs:/ source


def test_register_from_runs_uri_resolves_the_logged_model(client):
    mlflow.set_experiment(unique("models-b3"))
    name = unique("wf-runs")
    with mlflow.start_run() as run:
        info = _log_pyfunc(5)
    first = mlflow.register_model(info.model_uri, name)
    second = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    assert (first.version, second.version) == ("1", "2")
    # MLflow 3 clients turn runs:/<run>/model into the logged model's URI.
    assert second.source == f"models:/{info.model_id}"
    assert second.run_id == run.info.run_id

    loaded = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(loaded.predict(_frame())["x"].to_numpy(),
                               _frame()["x"].to_numpy() + 5)
    found = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string="name = 'model'",
        output_format="list",
    )
    assert [m.model_id for m in found] == [info.model_id]


def test_register_run_artifact_source_with_raw_run_id(client, flow_server):
    """MLflow 2 clients register the run's artifact URI plus run_id."""
    mlflow.set_experiment(unique("models-src"))
    name = unique("wf-raw")
    with mlflow.start_run() as run:
        pass
    client.create_registered_model(name)
    source = f"{run.info.artifact_uri}/model"
    mv = client.create_model_version(name, source, run_id=run.info.run_id)
    assert mv.source == source and mv.run_id == run.info.run_id
    assert client.get_model_version_download_uri(name, mv.version) == source

    runs_source = f"runs:/{run.info.run_id}/model"
    mv2 = client.create_model_version(name, runs_source, run_id=run.info.run_id)
    assert mv2.version == "2"
    assert client.get_model_version_download_uri(name, "2") == runs_source


# --------------------------------------------------------------------------- search / delete


def test_search_stages_and_delete(client):
    mlflow.set_experiment(unique("models-search"))
    prefix = unique("srch")
    names = [f"{prefix}-a", f"{prefix}-b"]
    with mlflow.start_run():
        info = _log_pyfunc(1)
    for n in names:
        client.create_registered_model(n, tags={"team": "x"}, description=f"model {n}")
        for _ in range(3):
            client.create_model_version(n, info.model_uri, model_id=info.model_id)

    found = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'")
    assert sorted(m.name for m in found) == names
    assert found[0].description == f"model {names[0]}"
    assert found[0].tags == {"team": "x"}
    page = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'", max_results=1)
    assert [m.name for m in page] == names[:1] and page.token
    rest = client.search_registered_models(
        filter_string=f"name LIKE '{prefix}%'", max_results=1, page_token=page.token
    )
    assert [m.name for m in rest] == names[1:]
    tagged = client.search_registered_models(filter_string=f"name LIKE '{prefix}%' AND tags.team = 'x'")
    assert len(tagged) == 2

    versions = client.search_model_versions(f"name = '{names[0]}'")
    assert [v.version for v in versions] == ["3", "2", "1"]
    by_number = client.search_model_versions(
        f"name = '{names[0]}' AND version_number >= 2", order_by=["version_number ASC"]
    )
    assert [v.version for v in by_number] == ["2", "3"]

    client.transition_model_version_stage(names[0], "1", "Production")
    client.transition_model_version_stage(names[0], "2", "production",
                                          archive_existing_versions=True)
    assert client.get_model_version(names[0], "1").current_stage == "Archived"
    assert client.get_model_version(names[0], "2").current_stage == "Production"
    latest = {v.current_stage: v.version
              for v in client.get_latest_versions(names[0])}
    assert latest == {"None": "3", "Production": "2", "Archived": "1"}
    staged = client.get_latest_versions(names[0], stages=["Production"])
    assert [v.version for v in staged] == ["2"]

    client.update_model_version(names[0], "3", description="third")
    assert client.get_model_version(names[0], "3").description == "third"
    client.set_model_version_tag(names[0], "3", "k", "v")
    assert client.get_model_version(names[0], "3").tags == {"k": "v"}
    client.delete_model_version_tag(names[0], "3", "k")
    assert client.get_model_version(names[0], "3").tags == {}

    client.delete_model_version(names[0], "3")
    with pytest.raises(MlflowException) as exc:
        client.get_model_version(names[0], "3")
    assert_mlflow_exception(exc.value, "RESOURCE_DOES_NOT_EXIST", 404,
                            contains=f"Model Version (name={names[0]}, version=3) not found")
    assert [v.version for v in client.search_model_versions(f"name = '{names[0]}'")] == ["2", "1"]
    # Version numbers are never reused.
    assert client.create_model_version(names[0], info.model_uri, model_id=info.model_id).version == "4"

    client.rename_registered_model(names[1], f"{prefix}-c")
    assert [v.version for v in client.search_model_versions(f"name = '{prefix}-c'")] == ["3", "2", "1"]

    client.delete_registered_model(names[0])
    with pytest.raises(MlflowException) as exc:
        client.get_registered_model(names[0])
    assert_mlflow_exception(exc.value, "RESOURCE_DOES_NOT_EXIST", 404,
                            contains=f"Registered Model with name={names[0]} not found")
    assert client.search_model_versions(f"name = '{names[0]}'") == []


def test_logged_model_search_params_and_metrics(client):
    exp_id = mlflow.set_experiment(unique("models-lm")).experiment_id
    with mlflow.start_run() as run:
        a = mlflow.initialize_logged_model(name="alpha", params={"lr": "0.1"}, model_type="agent")
        b = mlflow.initialize_logged_model(name="beta", params={"lr": "0.2"})
        mlflow.log_metric("acc", 0.9, model_id=a.model_id)
        mlflow.log_metric("acc", 0.7, model_id=b.model_id)
    mlflow.set_logged_model_tags(a.model_id, {"stage": "good"})

    got = client.get_logged_model(a.model_id)
    assert got.params == {"lr": "0.1"}
    assert got.model_type == "agent"
    assert got.tags["stage"] == "good"
    assert [(m.key, m.value, m.run_id) for m in got.metrics] == [("acc", 0.9, run.info.run_id)]
    assert got.status == LoggedModelStatus.PENDING

    by_metric = mlflow.search_logged_models(
        experiment_ids=[exp_id], filter_string="metrics.acc > 0.8", output_format="list"
    )
    assert [m.model_id for m in by_metric] == [a.model_id]
    ordered = mlflow.search_logged_models(
        experiment_ids=[exp_id], order_by=[{"field_name": "metrics.acc", "ascending": True}],
        output_format="list",
    )
    assert [m.model_id for m in ordered] == [b.model_id, a.model_id]
    by_param = mlflow.search_logged_models(
        experiment_ids=[exp_id], filter_string="params.lr = '0.2'", output_format="list"
    )
    assert [m.model_id for m in by_param] == [b.model_id]

    page = client.search_logged_models(experiment_ids=[exp_id], max_results=1)
    assert len(page) == 1 and page.token
    rest = client.search_logged_models(experiment_ids=[exp_id], max_results=1, page_token=page.token)
    assert {page[0].model_id, rest[0].model_id} == {a.model_id, b.model_id}

    client.delete_logged_model_tag(a.model_id, "stage")
    assert "stage" not in client.get_logged_model(a.model_id).tags
    client.delete_logged_model(b.model_id)
    with pytest.raises(MlflowException) as exc:
        client.get_logged_model(b.model_id)
    assert_mlflow_exception(exc.value, "RESOURCE_DOES_NOT_EXIST", 404,
                            contains=f"Logged model with ID '{b.model_id}' not found.")
    remaining = mlflow.search_logged_models(experiment_ids=[exp_id], output_format="list")
    assert [m.model_id for m in remaining] == [a.model_id]


# --------------------------------------------------------------------------- raw wire shapes


def test_registry_wire_shapes(flow_server):
    name = unique("wire")
    resp = flow_server.api("POST", "registered-models/create", json={"name": name})
    assert resp.status_code == 200
    rm = resp.json()["registered_model"]
    assert set(rm) == {"name", "creation_timestamp", "last_updated_timestamp"}

    dup = flow_server.api("POST", "registered-models/create", json={"name": name})
    assert_json_error(dup, 400, "RESOURCE_ALREADY_EXISTS",
                      message=f"Registered Model (name={name}) already exists.")
    bad = flow_server.api("POST", "registered-models/create", json={"name": "a/b"})
    assert_json_error(bad, 400, "INVALID_PARAMETER_VALUE",
                      message="Invalid model name 'a/b'. Names cannot contain '/' or ':'.")

    exp = flow_server.api("POST", "experiments/create", json={"name": unique("wire-exp")})
    exp_id = exp.json()["experiment_id"]
    lm = flow_server.api("POST", "logged-models", json={"experiment_id": exp_id}).json()["model"]
    assert lm["info"]["status"] == "LOGGED_MODEL_PENDING"
    assert lm["info"]["model_type"] == "" and lm["info"]["source_run_id"] == ""
    assert lm["data"] == {}
    model_id = lm["info"]["model_id"]

    mv = flow_server.api("POST", "model-versions/create", json={
        "name": name, "source": f"models:/{model_id}", "model_id": model_id,
    }).json()["model_version"]
    assert mv == {
        "name": name, "version": "1", "creation_timestamp": mv["creation_timestamp"],
        "last_updated_timestamp": mv["creation_timestamp"], "current_stage": "None",
        "description": "", "source": f"models:/{model_id}", "run_id": "", "status": "READY",
        "run_link": "",
    }
    uri = flow_server.api("GET", "model-versions/get-download-uri",
                          params={"name": name, "version": "1"}).json()
    assert uri == {"artifact_uri": lm["info"]["artifact_uri"]}

    alias = flow_server.api("GET", "registered-models/alias", params={"name": name, "alias": "nope"})
    assert_json_error(alias, 400, "INVALID_PARAMETER_VALUE",
                      message="Registered model alias nope not found.")
    for reserved, msg in [("latest", "'latest' alias name (case insensitive) is reserved."),
                          ("v1", "Version alias name 'v1' is reserved.")]:
        r = flow_server.api("POST", "registered-models/alias",
                            json={"name": name, "alias": reserved, "version": "1"})
        assert_json_error(r, 400, "INVALID_PARAMETER_VALUE", message=msg)

    # DELETE reads its parameters from the JSON body only.
    q = flow_server.request("DELETE", f"/api/2.0/mlflow/registered-models/delete?name={name}")
    assert_json_error(q, 400, "INVALID_PARAMETER_VALUE", contains="'name'")
    ok = flow_server.api("DELETE", "registered-models/delete", json={"name": name})
    assert ok.status_code == 200 and ok.json() == {}

    tags = flow_server.api("PATCH", f"logged-models/{model_id}/tags",
                           json={"tags": [{"key": "a", "value": "b"}]})
    assert tags.status_code == 200 and tags.json() == {}
    missing_tag = flow_server.api("DELETE", f"logged-models/{model_id}/tags/zz")
    assert_json_error(missing_tag, 404, "RESOURCE_DOES_NOT_EXIST",
                      message=f"No tag with key 'zz' found for model with ID '{model_id}'.")
    page = flow_server.api("POST", "logged-models/search",
                           json={"experiment_ids": [exp_id], "max_results": 1})
    assert page.status_code == 200 and "next_page_token" not in page.json()
    no_ids = flow_server.api("POST", "logged-models/search", json={})
    assert_json_error(no_ids, 400, "INVALID_PARAMETER_VALUE", contains="experiment_ids")


# --------------------------------------------------------------------------- refused sources


def _source_fixture(flow_server):
    name = unique("src")
    assert flow_server.api("POST", "registered-models/create", json={"name": name}).ok
    exp_id = flow_server.api("POST", "experiments/create",
                             json={"name": unique("src-exp")}).json()["experiment_id"]
    run = flow_server.api("POST", "runs/create", json={"experiment_id": exp_id}).json()["run"]
    return name, exp_id, run["info"]


def _create_version(flow_server, name, source, **extra):
    return flow_server.api("POST", "model-versions/create",
                           json={"name": name, "source": source, **extra})


# Refused by MLflow too (same 400 on both servers).
ALWAYS_REFUSED = [
    "/etc",
    "file:///etc/",
    "file://./etc",
    "//proc/self/root",
    "mlflow-artifacts:/../../etc",
    "mlflow-artifacts:/1/..%2f..%2fetc",
    "http://host/api/2.0/mlflow-artifacts/artifacts/../../../",
    "s3://bucket/models/../../other",
    "dbfs:/R/artifacts/a%3f/../../../../",
]


@pytest.mark.parametrize("source", ALWAYS_REFUSED)
def test_traversal_sources_are_refused(flow_server, source):
    name, _, _ = _source_fixture(flow_server)
    resp = _create_version(flow_server, name, source)
    body = assert_json_error(resp, 400, "INVALID_PARAMETER_VALUE")
    # Host-addressed schemes are worded through the host policy on both servers.
    if not source.startswith("http"):
        assert body["message"].startswith("Invalid model version source: '"), body


def test_sources_tied_to_their_run(flow_server):
    name, exp_id, run = _source_fixture(flow_server)
    run_id = run["run_id"]
    other = flow_server.api("POST", "runs/create", json={"experiment_id": exp_id}).json()["run"]
    cases = [
        (f"runs:/{run_id}/model", {}),
        (f"runs:/{run_id}/model", {"run_id": other["info"]["run_id"]}),
        (f"runs://host/{run_id}/model", {"run_id": run_id}),
        (f"{run['artifact_uri']}/model", {}),
        (f"{run['artifact_uri']}/model", {"run_id": other["info"]["run_id"]}),
        (f"runs:/{run_id}/model", {"run_id": "0" * 32}),
    ]
    for source, extra in cases:
        resp = _create_version(flow_server, name, source, **extra)
        assert_json_error(resp, 400, "INVALID_PARAMETER_VALUE",
                          contains="request parameter must identify the resource")
    good = _create_version(flow_server, name, f"{run['artifact_uri']}/model", run_id=run_id)
    assert good.status_code == 200, good.text


def test_prompt_tag_does_not_bypass_source_checks(flow_server):
    """CVE-2026-2614: the prompt tag once skipped source validation."""
    name, _, _ = _source_fixture(flow_server)
    prompt_tag = [{"key": "mlflow.prompt.is_prompt", "value": "true"}]
    resp = _create_version(flow_server, name, "file:///etc/", tags=prompt_tag)
    assert_json_error(resp, 400, "INVALID_PARAMETER_VALUE",
                      message="Invalid prompt source: 'file:///etc/'. "
                              "Prompt sources must use an MLflow placeholder.")


# Accepted by MLflow as given; rsflow refuses them (security.md §1a: nothing that changes under
# decoding or carries ?, #, ; is stored).
STRICTER_REFUSED = [
    "s3://bucket/a;b",
    "s3://bucket/a%20b",
]


@pytest.mark.parametrize("source", STRICTER_REFUSED)
def test_smuggling_sources_are_refused(flow_server, source):
    name, _, _ = _source_fixture(flow_server)
    resp = _create_version(flow_server, name, source)
    expect_ref_or_better(flow_server, resp.status_code, better=400, ref=200,
                         why="rsflow stores no source whose meaning changes under decoding")
    if flow_server.kind == "rsflow":
        assert_json_error(resp, 400, "INVALID_PARAMETER_VALUE",
                          contains=f"Invalid model version source: '{source}'.")


def test_remote_sources_are_registered_as_given_but_never_read(flow_server):
    """`mlflow.register_model("s3://company-models/resnet", ...)` and registries migrated from
    another server (a run this one never saw) work as on MLflow; the server itself never
    fetches a location outside its own roots for a client."""
    name, _, run = _source_fixture(flow_server)
    unknown = "0123456789abcdef" * 2
    for source, extra in [("s3://company-models/resnet", {}),
                          (f"runs:/{unknown}/model", {"run_id": unknown}),
                          ("gs://elsewhere/models/x", {"run_id": run["run_id"]})]:
        resp = _create_version(flow_server, name, source, **extra)
        assert resp.status_code == 200, (source, resp.text)
        mv = resp.json()["model_version"]
        assert mv["source"] == source
        assert flow_server.api("GET", "model-versions/get-download-uri",
                               params={"name": name, "version": mv["version"]}
                               ).json()["artifact_uri"] == source
    # The host policy still applies to what would make the server connect somewhere.
    resp = _create_version(flow_server, name, "http://169.254.169.254/latest/meta-data")
    assert_json_error(resp, 400, "INVALID_PARAMETER_VALUE",
                      message="'source' cannot use the 'http' scheme: the 'http' scheme addresses "
                              "a host other than the tracking server's configured artifact "
                              "storage, so the server would connect to the host named in the URI. "
                              "Set the MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment "
                              "variable on the server to allow it.")
    if flow_server.kind == "rsflow":
        # MLflow would fetch s3://company-models with its own credentials; rsflow refuses.
        r = flow_server.get("/model-versions/get-artifact",
                            params={"name": name, "version": "1", "path": "MLmodel"})
        assert_json_error(r, 403, "PERMISSION_DENIED")
        r = flow_server.get("/model-versions/get-artifact",
                            params={"name": name, "version": "2", "path": "MLmodel"})
        assert_json_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_local_sources_belong_to_the_run_named(servers, tmp_path):
    """With local artifact roots a local source must lie in the run's own directory: inside
    the server's root is not enough (a version pointing into another experiment would let its
    readers download that experiment's files)."""
    server = servers.start(extra_args=["--no-serve-artifacts", "--default-artifact-root",
                                       str(tmp_path / "mlruns")])
    name, exp_id, run = _source_fixture(server)
    other = server.api("POST", "runs/create", json={"experiment_id": exp_id}).json()["run"]["info"]
    root = run["artifact_uri"]
    local = root.removeprefix("file://")
    assert local.startswith("/"), root
    import pathlib

    pathlib.Path(local, "model").mkdir(parents=True)
    pathlib.Path(local, "model", "MLmodel").write_text("flavors: {}\n")
    ok = [(f"{local}/model", {"run_id": run["run_id"]}),
          (f"file://{local}/.", {"run_id": run["run_id"]})]
    for source, extra in ok:
        resp = _create_version(server, name, source, **extra)
        assert resp.status_code == 200, (source, resp.text)
    prefix = ("Invalid model version source: '{}'. To use a local path as a model version source, "
              "the run_id request parameter has to be specified and the local path has to be "
              "contained within the artifact directory of the run specified by the run_id.")
    resp = _create_version(server, name, f"{local}/model")
    assert_json_error(resp, 400, "INVALID_PARAMETER_VALUE", message=prefix.format(f"{local}/model"))
    resp = _create_version(server, name, f"file://{local}/model", run_id=other["run_id"])
    assert_json_error(resp, 400, "INVALID_PARAMETER_VALUE", message=prefix.format(f"{local}/model"))
    for version, path in (("1", "MLmodel"), ("2", "model/MLmodel")):
        r = server.get("/model-versions/get-artifact",
                       params={"name": name, "version": version, "path": path})
        assert r.status_code == 200 and r.text == "flavors: {}\n", (version, r.text)


def test_source_validation_regex_like_the_reference(servers):
    """MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX set on the server: every new
    version's source must match it (re.search), with MLflow's message."""
    from helpers import MLFLOW, target_kind

    env = {"MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX": r"^(s3://models/|runs:/)"}
    answers = []
    for kind in (MLFLOW, target_kind()):
        server = servers.start(kind, env=env)
        name, _, run = _source_fixture(server)
        got = []
        for source, extra in [("s3://models/resnet", {}),
                              ("s3://other/resnet", {}),
                              (f"runs:/{run['run_id']}/model", {"run_id": run["run_id"]}),
                              (f"{run['artifact_uri']}/model", {"run_id": run["run_id"]})]:
            r = _create_version(server, name, source, **extra)
            body = r.json()
            got.append((r.status_code, body.get("message", "").replace(run["run_id"], "<run>")
                        .replace(run["artifact_uri"], "<root>")))
        answers.append(got)
        server.stop()
    assert answers[0] == answers[1], answers
    assert [status for status, _ in answers[1]] == [200, 400, 200, 400]
    assert answers[1][1][1] == "Invalid model version source: 's3://other/resnet'."
