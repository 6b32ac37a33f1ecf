"""The model lifecycle with the MLflow 2.x client (issue: models): `log_model` writes under the
run, `register_model` from `runs:/`, aliases, stages, and `load_model` through every URI form.

The 2.x client lives in its own venv (`.venv-mlflow2`, made by the test command); the flow runs
there as a subprocess against the shared server.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from helpers import unique

FLOW = Path(__file__).parent / "flows" / "mlflow2_model_flow.py"


def _mlflow2_python() -> str:
    py = os.environ.get("RSFLOW_MLFLOW2_PY") or str(Path(__file__).parents[1] / ".venv-mlflow2/bin/python")
    assert Path(py).exists(), (
        f"MLflow 2.x venv missing at {py}: the test command creates it (scripts/test.sh), or run "
        "RSFLOW_VENV=.venv-mlflow2 RSFLOW_REQ=compat/requirements-mlflow2.txt bash scripts/venv.sh")
    return py


def test_mlflow2_client_model_lifecycle(flow_server):
    name = unique("v2-model")
    proc = subprocess.run(
        [_mlflow2_python(), str(FLOW), flow_server.base_url, unique("v2-exp"), name],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "GIT_PYTHON_REFRESH": "quiet"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["client_version"].startswith("2.22.")
    assert out["model_files"] == ["model/MLmodel", "model/conda.yaml", "model/python_env.yaml",
                                  "model/python_model.pkl", "model/requirements.txt"]
    assert out["log_model_history_len"] == 1
    assert out["version"] == "1"
    assert out["stage"] == "Production"
    assert out["production_versions"] == ["1"]
    assert out["source"].endswith(f"/{out['run_id']}/artifacts/model"), out["source"]
    assert all(p == [4.0, 5.0] for p in out["predictions"].values()), out["predictions"]
    assert len(out["predictions"]) == 4
