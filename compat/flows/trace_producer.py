"""Produce traces with the stock client in a process of its own (compat/test_traces.py).

The trace exporter reads MLFLOW_ENABLE_ASYNC_TRACE_LOGGING when tracing starts, so each
export mode gets a fresh process. Prints one JSON line with the ids it made.

    python trace_producer.py <tracking_uri> <experiment_name>
"""

import json
import sys

import mlflow
from mlflow.entities import SpanType

uri, exp_name = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
exp_id = mlflow.set_experiment(exp_name).experiment_id
out = {"experiment_id": exp_id}


@mlflow.trace(span_type=SpanType.TOOL, attributes={"k": "v", "n": 7})
def inner(x):
    if x > 5:
        raise ValueError("boom")
    return {"v": x * 2, "é": [1.5, None, True]}


@mlflow.trace(name="outer", attributes={"root_attr": "r"})
def outer(x):
    inner(x)
    try:
        inner(9)
    except ValueError:
        pass
    mlflow.update_current_trace(tags={"team": "a", "flow": "nested"}, client_request_id="creq-1")
    return x + 4


outer(3)
out["nested"] = mlflow.get_last_active_trace_id()


@mlflow.trace(name="fails")
def fails():
    raise RuntimeError("root failure")


try:
    fails()
except RuntimeError:
    pass
out["failed"] = mlflow.get_last_active_trace_id()

with mlflow.start_span(name="chat", span_type=SpanType.CHAT_MODEL) as root:
    root.set_inputs({"messages": [{"role": "user", "content": "hello there"}]})
    root.set_attribute("mlflow.chat.tokenUsage", {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10})
    with mlflow.start_span(name="retrieve", span_type=SpanType.RETRIEVER) as child:
        child.set_inputs("query")
        child.set_outputs([{"page_content": "doc", "metadata": {"id": 1}}])
    with mlflow.start_span(name="parse", span_type="CUSTOM_KIND") as child:
        child.set_attribute("custom", {"a": [1, 2]})
    root.set_outputs({"choices": [{"message": {"role": "assistant", "content": "hi!"}}]})
    mlflow.update_current_trace(tags={"flow": "spans"})
out["spans"] = mlflow.get_last_active_trace_id()

with mlflow.start_run() as run:

    @mlflow.trace
    def in_run(a, b):
        return a * b

    in_run(6, 7)
    out["in_run"] = mlflow.get_last_active_trace_id()
    out["run_id"] = run.info.run_id

mlflow.flush_trace_async_logging()
print(json.dumps(out))
