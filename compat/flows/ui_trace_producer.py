"""Produce the traces the browser test (compat/test_ui_traces_browser.py) shows, with the stock
client in a process of its own. Prints one JSON line with the ids it made.

    python ui_trace_producer.py <tracking_uri>
"""

import json
import sys

import mlflow
from mlflow.entities import AssessmentSource, AssessmentSourceType, SpanType

uri = sys.argv[1]
mlflow.set_tracking_uri(uri)
client = mlflow.MlflowClient()
out = {"empty": client.create_experiment("ui-empty")}
exp_id = mlflow.set_experiment("ui-traces").experiment_id
out["exp"] = exp_id


@mlflow.trace(span_type=SpanType.TOOL, attributes={"tool_attr": "lookup"})
def lookup_tool(x):
    if x > 5:
        raise ValueError("tool exploded")
    return {"doubled": x * 2}


@mlflow.trace(span_type=SpanType.RETRIEVER)
def fetch_docs(query):
    return [{"page_content": f"doc about {query}", "metadata": {"id": 1}}]


@mlflow.trace(name="answer_question", attributes={"root_attr": "r"})
def answer_question(question, session):
    fetch_docs(question)
    lookup_tool(3)
    try:
        lookup_tool(9)
    except ValueError:
        pass
    mlflow.update_current_trace(metadata={"mlflow.trace.session": session, "mlflow.trace.user": "ui-user"},
                                tags={"team": "ui"})
    return f"answer to {question}"


answer_question("what is rsflow", "sess-ui-1")
out["main"] = mlflow.get_last_active_trace_id()
answer_question("and a follow-up", "sess-ui-1")
out["followup"] = mlflow.get_last_active_trace_id()


@mlflow.trace(name="crashing_flow")
def crashing_flow():
    raise RuntimeError("root failure")


try:
    crashing_flow()
except RuntimeError:
    pass
out["failed"] = mlflow.get_last_active_trace_id()

with mlflow.start_run(run_name="traced-run") as run:

    @mlflow.trace(name="run_traced_fn")
    def run_traced_fn(a, b):
        return a * b

    run_traced_fn(6, 7)
    out["in_run"] = mlflow.get_last_active_trace_id()
    out["run"] = run.info.run_id

model = mlflow.create_external_model(name="ui-agent")
out["model"] = model.model_id
mlflow.set_active_model(model_id=model.model_id)


@mlflow.trace(name="model_traced_fn")
def model_traced_fn(q):
    return q.upper()


model_traced_fn("hi")
out["in_model"] = mlflow.get_last_active_trace_id()
mlflow.clear_active_model()

mlflow.flush_trace_async_logging()
human = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="reviewer@example.com")
mlflow.log_feedback(trace_id=out["main"], name="helpfulness_score", value=True, source=human,
                    rationale="clear and correct")
mlflow.log_expectation(trace_id=out["main"], name="expected_answer_fact",
                       value="rsflow is a tracking server", source=human)
print(json.dumps(out))
