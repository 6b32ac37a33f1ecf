"""Fill a new tracking database with an OLD MLflow's own client (run under that release's
venv) and print what that client reads back, as JSON; or read an upgraded copy the same way.

    python fill_release.py fill BACKEND_URI ARTIFACT_DIR
    python fill_release.py read TRACKING_URI SNAPSHOT_JSON

Experiments (with tags), runs (params, metric histories, tags, one deleted), registered models
with tags, versions (tags, an alias where the release has them), and traces where it has them
(MLflow >= 2.14: `mlflow.start_span`, stored by its SqlAlchemyStore).
"""

import json
import sys

import mlflow
from mlflow.tracking import MlflowClient

mode, uri, arg = sys.argv[1], sys.argv[2], sys.argv[3]
mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
c = MlflowClient(uri, uri)
ver = tuple(int(x) for x in mlflow.__version__.split(".")[:2])
T0 = 1_700_000_000_000


def fill(art):
    exps, runs = [], []
    for i in range(3):
        exps.append(c.create_experiment(f"release-exp-{i}", artifact_location=f"{art}/{i}",
                                        tags={"team": f"t{i}", "note": "x" * 10}))
    for e in exps:
        for j in range(3):
            r = c.create_run(e, start_time=T0 + j,
                             tags={"k": f"v{j}", "mlflow.runName": f"run-{j}"})
            rid = r.info.run_id
            runs.append(rid)
            c.log_param(rid, "lr", str(0.1 * (j + 1)))
            c.log_param(rid, "long", "p" * 200)
            for s in range(5):
                c.log_metric(rid, "loss", 1.0 / (s + 1), timestamp=T0 + s, step=s)
                c.log_metric(rid, "acc", s * 0.2, timestamp=T0 + s, step=s)
            c.set_tag(rid, "stage", "train")
            c.set_terminated(rid, "FINISHED", end_time=T0 + 100)
    c.delete_run(runs[-1])
    c.create_registered_model("release-model", tags={"owner": "me"}, description="d")
    for k, rid in enumerate(runs[:2]):
        c.create_model_version("release-model", f"{art}/model-{k}", rid, tags={"v": str(k)})
    if ver >= (2, 3):
        c.set_registered_model_alias("release-model", "champion", "1")
    c.create_registered_model("other-model")
    if ver >= (2, 14):
        mlflow.set_experiment(experiment_id=exps[0])
        for t in range(3):
            with mlflow.start_span(name=f"root-{t}") as span:
                span.set_inputs({"q": t})
                with mlflow.start_span(name="child") as child:
                    child.set_attribute("a", t)
                span.set_outputs({"a": t})
        if hasattr(mlflow, "flush_trace_async_logging"):
            mlflow.flush_trace_async_logging()
    return exps, runs


def name_of(x):
    return getattr(x, "name", None) or str(x)


def snapshot(exps, runs, traced):
    out = {"experiments": {}, "runs": {}, "models": {}, "traces": []}
    for e in c.search_experiments(filter_string="name LIKE 'release-%'"):
        out["experiments"][e.experiment_id] = {"name": e.name, "tags": dict(e.tags),
                                               "stage": e.lifecycle_stage}
    for rid in runs:
        r = c.get_run(rid)
        out["runs"][rid] = {
            "params": r.data.params, "metrics": r.data.metrics, "tags": dict(r.data.tags),
            "status": r.info.status, "stage": r.info.lifecycle_stage,
            "start": r.info.start_time, "end": r.info.end_time,
            "loss": [[m.step, m.timestamp, m.value] for m in c.get_metric_history(rid, "loss")],
        }
    for m in c.search_registered_models():
        out["models"][m.name] = {
            "tags": dict(m.tags), "description": m.description or "",
            # (2.x clients give an alias's version as an int, 3.x as a str)
            "aliases": {k: str(v) for k, v in (getattr(m, "aliases", {}) or {}).items()},
            "versions": {str(v.version): {"source": v.source, "run_id": v.run_id,
                                          "tags": dict(v.tags)}
                         for v in c.search_model_versions(f"name = '{m.name}'")},
        }
    if traced:
        # The store's trace infos (the client's search_traces also fetches each trace's
        # span data from the artifact store, which is not what is upgraded here).
        from mlflow.tracking._tracking_service.utils import _get_store

        store = _get_store(uri)
        try:
            infos, _ = store.search_traces(experiment_ids=[exps[0]], max_results=100)
        except TypeError:
            infos, _ = store.search_traces(locations=[exps[0]], max_results=100)
        for info in infos:
            out["traces"].append({
                "id": getattr(info, "request_id", None) or info.trace_id,
                "time": getattr(info, "timestamp_ms", None) or getattr(info, "request_time", None),
                "status": name_of(getattr(info, "status", None) or getattr(info, "state", None)),
                "name": info.tags.get("mlflow.traceName"),
            })
        out["traces"].sort(key=lambda x: x["id"])
    return out


if mode == "fill":
    exps, runs = fill(arg)
    traced = ver >= (2, 14)
else:
    before = json.load(open(arg))
    exps = sorted(before["snapshot"]["experiments"], key=int)
    runs = list(before["snapshot"]["runs"])
    traced = tuple(int(x) for x in before["version"].split(".")[:2]) >= (2, 14)
print(json.dumps({"version": mlflow.__version__, "snapshot": snapshot(exps, runs, traced)},
                 sort_keys=True))
