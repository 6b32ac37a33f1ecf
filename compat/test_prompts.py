"""The prompt registry through the stock 3.17.2 client (issue #16): prompts are registered
models and versions with MLflow's prompt tags (spec §4).

Runs against `flow_server` (rsflow, or mlflow with COMPAT_TARGET=mlflow): versions, aliases
(`@latest` too), text and chat templates with response formats, prompt and version tags,
search (and prompts hidden from model search), links to a run and a trace, the server-side
source rule, name clashes with models, deletion.
"""

from __future__ import annotations

import json

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pydantic import BaseModel

from helpers import assert_json_error, assert_mlflow_exception, unique


class Answer(BaseModel):
    answer: str
    confidence: float


@pytest.fixture(scope="module")
def registered(flow_server):
    """Two text versions and one chat version of two prompts, plus a plain model."""
    mlflow.set_tracking_uri(flow_server.tracking_uri)
    text = unique("qa-prompt")
    chat = unique("chat-prompt")
    model = unique("plain-model")
    v1 = mlflow.genai.register_prompt(
        name=text, template="Answer {{question}}", commit_message="first", tags={"team": "a"}
    )
    v2 = mlflow.genai.register_prompt(
        name=text,
        template="Answer {{ question }} in {{style}}",
        commit_message="second",
        response_format=Answer,
    )
    c1 = mlflow.genai.register_prompt(
        name=chat,
        template=[
            {"role": "system", "content": "You are {{persona}}."},
            {"role": "user", "content": "{{question}}"},
        ],
        model_config={"temperature": 0.2},
    )
    MlflowClient().create_registered_model(model)
    yield {"text": text, "chat": chat, "model": model, "v1": v1, "v2": v2, "c1": c1}
    mlflow.set_tracking_uri(None)


def test_versions_and_format(registered):
    assert registered["v1"].version == 1 and registered["v2"].version == 2
    p1 = mlflow.genai.load_prompt(f"prompts:/{registered['text']}/1")
    assert p1.template == "Answer {{question}}"
    assert p1.commit_message == "first"
    assert p1.tags.get("team") == "a"
    assert p1.format(question="why?") == "Answer why?"
    p2 = mlflow.genai.load_prompt(registered["text"], version=2)
    assert p2.format(question="q", style="haiku") == "Answer q in haiku"
    assert p2.response_format["properties"]["answer"]["type"] == "string"
    assert p2.variables == {"question", "style"}
    with pytest.raises(Exception):
        p2.format(question="only one")


def test_chat_template_and_model_config(flow_server, registered):
    c = mlflow.genai.load_prompt(f"prompts:/{registered['chat']}/1")
    assert not c.is_text_prompt
    assert c.format(persona="a pirate", question="hi") == [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "hi"},
    ]
    assert c.model_config == {"temperature": 0.2}
    mv = flow_server.api("GET", "model-versions/get", params={"name": registered["chat"], "version": "1"})
    tags = {t["key"]: t["value"] for t in mv.json()["model_version"]["tags"]}
    assert tags["_mlflow_prompt_type"] == "chat"
    assert json.loads(tags["mlflow.prompt.text"])[1] == {"role": "user", "content": "{{question}}"}


def test_aliases_and_latest(flow_server, registered):
    name = registered["text"]
    mlflow.genai.set_prompt_alias(name, alias="prod", version=1)
    assert mlflow.genai.load_prompt(f"prompts:/{name}@prod").version == 1
    assert mlflow.genai.load_prompt(f"prompts:/{name}@latest").version == 2
    mlflow.genai.set_prompt_alias(name, alias="prod", version=2)
    assert mlflow.genai.load_prompt(f"prompts:/{name}@prod").version == 2
    mlflow.genai.delete_prompt_alias(name, alias="prod")
    with pytest.raises(MlflowException):
        mlflow.genai.load_prompt(f"prompts:/{name}@prod")
    # Aliasing records the experiment on the prompt (the client's set-tag).
    rm = flow_server.api("GET", "registered-models/get", params={"name": name}).json()["registered_model"]
    tags = {t["key"]: t["value"] for t in rm["tags"]}
    assert tags["mlflow.prompt.is_prompt"] == "true"
    assert tags.get("_mlflow_experiment_ids", "").startswith(",")


def test_prompt_and_version_tags(registered):
    name = registered["text"]
    mlflow.genai.set_prompt_tag(name, "owner", "me")
    assert mlflow.genai.get_prompt_tags(name)["owner"] == "me"
    mlflow.genai.delete_prompt_tag(name, "owner")
    assert "owner" not in mlflow.genai.get_prompt_tags(name)
    mlflow.genai.set_prompt_version_tag(name, 1, "reviewed", "yes")
    assert mlflow.genai.load_prompt(name, version=1).tags["reviewed"] == "yes"
    mlflow.genai.delete_prompt_version_tag(name, 1, "reviewed")
    assert "reviewed" not in mlflow.genai.load_prompt(name, version=1).tags


def test_search_prompts_and_hidden_from_model_search(registered):
    found = {p.name for p in mlflow.genai.search_prompts(filter_string=f"name = '{registered['text']}'")}
    assert found == {registered["text"]}
    everything = {p.name for p in mlflow.genai.search_prompts(max_results=1000)}
    assert {registered["text"], registered["chat"]} <= everything
    assert registered["model"] not in everything
    client = MlflowClient()
    models = {m.name for m in client.search_registered_models(max_results=1000)}
    assert registered["model"] in models
    assert registered["text"] not in models and registered["chat"] not in models
    versions = client.search_model_versions(f"name = '{registered['text']}'")
    assert versions == []
    prompt_versions = client.search_prompt_versions(registered["text"])
    assert sorted(int(v.version) for v in prompt_versions) == [1, 2]


def test_raw_registry_search_rules(flow_server, registered):
    """The server's own rule, without the client's extra filter."""
    r = flow_server.api("GET", "registered-models/search", params={"max_results": 1000})
    names = {m["name"] for m in r.json().get("registered_models", [])}
    assert registered["model"] in names and registered["text"] not in names
    r = flow_server.api(
        "GET",
        "registered-models/search",
        params={"filter": "tags.`mlflow.prompt.is_prompt` = 'true'", "max_results": 1000},
    )
    names = {m["name"] for m in r.json().get("registered_models", [])}
    assert registered["text"] in names and registered["model"] not in names
    r = flow_server.api("GET", "model-versions/search", params={"filter": f"name = '{registered['text']}'"})
    assert r.json().get("model_versions") is None


def test_prompt_source_rule_and_name_clash(flow_server, registered):
    r = flow_server.api(
        "POST",
        "model-versions/create",
        json={
            "name": registered["text"],
            "source": "s3://bucket/x",
            "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}],
        },
    )
    assert_json_error(
        r,
        400,
        "INVALID_PARAMETER_VALUE",
        message="Invalid prompt source: 's3://bucket/x'. Prompt sources must use an MLflow placeholder.",
    )
    r = flow_server.api(
        "POST", "model-versions/create", json={"name": registered["model"], "source": f"models:/{registered['text']}/1"}
    )
    assert_json_error(r, 400, "INVALID_PARAMETER_VALUE", contains="Prompt versions cannot be used as model version sources")
    with pytest.raises(MlflowException) as e:
        mlflow.genai.register_prompt(name=registered["model"], template="x")
    assert "exists with the same name" in str(e.value)
    # The server's own refusal, without the client's check in front of it.
    r = flow_server.api(
        "POST",
        "registered-models/create",
        json={"name": registered["model"], "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]},
    )
    assert_json_error(
        r,
        400,
        "RESOURCE_ALREADY_EXISTS",
        message=f"Tried to create a prompt with name '{registered['model']}', but the name is already taken by "
        "a registered model. MLflow does not allow creating a model and a prompt with the same name.",
    )
    # Nothing was stored by the refused requests.
    assert len(MlflowClient().search_prompt_versions(registered["text"])) == 2


def test_link_to_run_and_trace(registered):
    name = registered["text"]
    exp = mlflow.set_experiment(unique("prompt-links"))
    client = MlflowClient()
    with mlflow.start_run() as run:
        client.link_prompt_version_to_run(run.info.run_id, mlflow.genai.load_prompt(name, version=1))
    linked = json.loads(client.get_run(run.info.run_id).data.tags["mlflow.linkedPrompts"])
    assert {"name": name, "version": "1"} in linked

    @mlflow.trace
    def answer(q):
        return mlflow.genai.load_prompt(f"prompts:/{name}/2").format(question=q, style="prose")

    answer("why")
    trace_id = mlflow.get_last_active_trace_id()
    mlflow.flush_trace_async_logging()
    client.link_prompt_versions_to_trace(trace_id=trace_id, prompt_versions=[mlflow.genai.load_prompt(name, version=1)])
    trace = mlflow.get_trace(trace_id)
    links = json.loads(trace.info.tags["mlflow.linkedPrompts"])
    assert {"name": name, "version": "1"} in links and {"name": name, "version": "2"} in links
    found = mlflow.search_traces(
        locations=[exp.experiment_id],
        filter_string=f"prompt = '{name}/1'",
        return_type="list",
    )
    assert [t.info.trace_id for t in found] == [trace_id]


def test_delete_versions_and_prompt(flow_server):
    name = unique("doomed-prompt")
    mlflow.genai.register_prompt(name=name, template="a {{x}}")
    mlflow.genai.register_prompt(name=name, template="b {{x}}")
    client = MlflowClient()
    client.delete_prompt_version(name, "1")
    with pytest.raises(MlflowException) as e:
        client.get_prompt_version(name, 1)
    assert_mlflow_exception(e.value, "RESOURCE_DOES_NOT_EXIST")
    assert mlflow.genai.load_prompt(f"prompts:/{name}@latest").version == 2
    client.delete_prompt_version(name, "2")
    client.delete_prompt(name)
    assert client.get_prompt(name) is None
