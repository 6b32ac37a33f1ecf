"""The MLflow 2.x model lifecycle, run with the 2.x client in its own venv.

Usage: python mlflow2_model_flow.py <tracking_uri> <experiment name> <model name>
Prints one JSON object with what the flow observed; exits non-zero on any error.
"""

import json
import sys

import mlflow
import pandas as pd
from mlflow import MlflowClient


class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n):
        self.n = n

    def predict(self, context, model_input, params=None):
        return model_input + self.n


def main(uri: str, experiment: str, name: str) -> None:
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    client = MlflowClient()
    with mlflow.start_run() as run:
        mlflow.log_param("n", 3)
        mlflow.pyfunc.log_model(artifact_path="model", python_model=AddN(3), pip_requirements=["mlflow"])
    run_id = run.info.run_id
    # In 2.x, log_model writes under the run's own artifact root.
    model_files = sorted(f.path for f in client.list_artifacts(run_id, "model"))
    history = client.get_run(run_id).data.tags.get("mlflow.log-model.history", "[]")

    mv = mlflow.register_model(f"runs:/{run_id}/model", name)
    client.set_registered_model_alias(name, "champion", mv.version)
    client.transition_model_version_stage(name, mv.version, "Production")
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    predictions = {}
    for uri_ in (f"models:/{name}/{mv.version}", f"models:/{name}@champion",
                 f"models:/{name}/Production", f"runs:/{run_id}/model"):
        predictions[uri_.split(":/", 1)[0] + ":" + uri_.rsplit("/", 1)[-1]] = (
            mlflow.pyfunc.load_model(uri_).predict(frame)["x"].tolist())
    latest = client.get_latest_versions(name, stages=["Production"])
    got = client.get_model_version(name, mv.version)
    print(json.dumps({
        "run_id": run_id,
        "model_files": model_files,
        "log_model_history_len": len(json.loads(history)),
        "version": mv.version,
        "stage": got.current_stage,
        "source": got.source,
        "production_versions": [v.version for v in latest],
        "predictions": predictions,
        "client_version": mlflow.__version__,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:4])
