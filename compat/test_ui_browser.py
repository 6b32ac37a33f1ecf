"""MLflow's web UI in a real browser (Debian's Chromium, headless, driven by Playwright) on rsflow
and on `mlflow server` 3.17.2, with the same data: every classic page loads without a failed
request or a console error that `mlflow server` does not show as well, and shows its key texts
(run and model names, a metric, the artifacts' contents) on both servers. The harness is
compat/ui_walk.py.

Pages walked: the experiments list, the runs table, its chart view, a run page, a metric page,
the run's artifacts (image, text, JSON, CSV), a logged model, the registered models list, a
registered model and one of its versions.

Every request counts, the trace and GenAI routes these pages call included, except the families
rsflow does not serve (see EXCLUDED). The GenAI pages have their own walks
(test_ui_traces_browser.py, test_ui_genai_browser.py, test_ui_prompts_browser.py). The
experiment is tagged as a classic
(`custom_model_development`) experiment so the UI opens its runs view, not GenAI mode.

Screenshots of every page of both servers go to COMPAT_UI_SHOTS (default: a temp dir),
printed in the "rsflow figures" section.
"""

from __future__ import annotations

import json
import re
import struct
import time
import zlib

import pytest
import requests

from helpers import MLFLOW, RSFLOW, target_kind
from ui_walk import View, compare, shots_dir, ui_build, walk_servers

pytestmark = pytest.mark.skipif(target_kind() != RSFLOW, reason="compares rsflow with the reference")

# Families rsflow does not serve (the assistant's chat, the AI gateway, GenAI demo data, MCP
# servers); every other request counts, the trace and GenAI routes the classic pages call included.
EXCLUDED = re.compile(r"/ajax-api/3\.0/(mlflow/)?(assistant|gateway|demo|mcp-servers)(/|\?|$)")


def png(width: int = 8, height: int = 8) -> bytes:
    """A small valid RGB PNG (a red/blue checker), without an imaging library."""
    rows = b"".join(
        b"\x00" + b"".join(b"\xff\x00\x00" if (x + y) % 2 else b"\x00\x00\xff" for x in range(width))
        for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


ARTIFACTS = {
    "plot.png": png(),
    "notes.txt": b"hello from the browser test\n",
    "config.json": b'{"lr": 0.1, "layers": [64, 32]}\n',
    "table.csv": b"a,b\n1,2\n3,4\n",
}


def seed(server) -> dict[str, str]:
    """One classic experiment: a run with params, metric history and artifacts, a logged model
    with metrics and an MLmodel file, and a registered model with one version of it."""
    def api(method, ep, body=None, **kw):
        r = server.request(method, f"/api/2.0/mlflow/{ep}", json=body, timeout=60, **kw)
        assert r.status_code == 200, (ep, r.text)
        return r.json()

    exp = api("POST", "experiments/create", {
        "name": "browser", "tags": [{"key": "mlflow.experimentKind",
                                     "value": "custom_model_development"}]})["experiment_id"]
    now = int(time.time() * 1000) - 60_000
    run = api("POST", "runs/create", {"experiment_id": exp, "run_name": "walk", "start_time": now,
                                      "tags": [{"key": "mlflow.user", "value": "ui"}]})
    run_id = run["run"]["info"]["run_id"]
    api("POST", "runs/log-batch", {
        "run_id": run_id, "params": [{"key": "lr", "value": "0.1"}, {"key": "layers", "value": "2"}],
        "metrics": [{"key": k, "value": v * (s + 1), "timestamp": now + s, "step": s}
                    for s in range(10) for k, v in (("loss", 0.9), ("accuracy", 0.05))]})
    for name, data in ARTIFACTS.items():
        r = server.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run_id}/artifacts/{name}",
                           data=data, timeout=60)
        assert r.status_code == 200, (name, r.text)
    model = api("POST", "logged-models", {"experiment_id": exp, "name": "walk-model",
                                          "source_run_id": run_id, "model_type": "classifier",
                                          "params": [{"key": "depth", "value": "3"}]})["model"]
    model_id = model["info"]["model_id"]
    api("POST", "runs/log-batch", {"run_id": run_id, "metrics": [
        {"key": k, "value": v, "timestamp": now, "step": 0, "model_id": model_id}
        for k, v in (("val_loss", 0.3), ("auc", 0.8))]})
    r = server.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{exp}/models/{model_id}/artifacts/MLmodel",
                       data=f"artifact_path: model\nmodel_id: {model_id}\nflavors: {{}}\n".encode(),
                       timeout=60)
    assert r.status_code == 200, r.text
    api("PATCH", f"logged-models/{model_id}", {"model_id": model_id, "status": "LOGGED_MODEL_READY"})
    api("POST", "registered-models/create", {"name": "walk-registered", "description": "browser"})
    api("POST", "model-versions/create", {"name": "walk-registered", "source": f"models:/{model_id}",
                                          "model_id": model_id, "run_id": run_id})
    return {"exp": exp, "run": run_id, "model": model_id}


def views(ids: dict[str, str]) -> list[View]:
    e, r, m = ids["exp"], ids["run"], ids["model"]
    metric = ("#/metric?runs=" + json.dumps([r]) + "&metric=%22loss%22&experiments=" + json.dumps([e])
              + "&plot_metric_keys=%5B%22loss%22%5D&plot_layout={}&x_axis=step&y_axis_scale=linear"
              "&line_smoothness=1&show_point=false&deselected_curves=[]&last_linear_y_axis_range=[]")
    artifact_texts = {"notes.txt": ["hello from the browser test"], "config.json": ['"layers"'],
                      "table.csv": ["Previewing the first 2 rows"], "plot.png": []}
    return [
        View("experiments", "#/experiments", ["browser"]),
        View("runs-table", f"#/experiments/{e}/runs", ["walk"]),
        View("runs-chart", f"#/experiments/{e}/runs?compareRunsMode=CHART", ["loss", "accuracy"]),
        View("run", f"#/experiments/{e}/runs/{r}", ["walk", "lr", "0.1"]),
        View("metric", metric, ["loss"]),
        *[View(f"artifact-{name}", f"#/experiments/{e}/runs/{r}/artifacts/{name}",
               [name, *artifact_texts[name]]) for name in ARTIFACTS],
        View("logged-model", f"#/experiments/{e}/models/{m}", ["walk-model", "val_loss"]),
        View("registered-models", "#/models", ["walk-registered"]),
        View("registered-model", "#/models/walk-registered", ["walk-registered", "Version 1"]),
        View("model-version", "#/models/walk-registered/versions/1", ["walk-registered", "Version 1"]),
    ]


@pytest.mark.timeout(1800)  # 28 page loads; up to 11 min on a 2-core machine under load 15
def test_classic_pages_show_no_error_mlflow_does_not(module_servers):
    build = ui_build()
    ref = module_servers.start(MLFLOW)
    rs = module_servers.start(RSFLOW, extra_args=["--ui-dir", str(build)])
    ids = {s.kind: seed(s) for s in (ref, rs)}
    shots = shots_dir("rsflow-ui-shots-")
    seen = walk_servers((ref, rs), lambda s: views(ids[s.kind]), shots, EXCLUDED,
                        viewport=(1400, 900), settle_ms=1000)
    compare(seen, "web UI (classic pages)", shots)
    assert requests.get(rs.url("/"), timeout=30).status_code == 200
