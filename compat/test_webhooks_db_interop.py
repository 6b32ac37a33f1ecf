"""Prompts and webhooks move both ways between rsflow and `mlflow server` 3.17.2 through one
database (issue #16): one server writes prompts (versions, alias, tags) and a webhook with a
Fernet-encrypted secret; the other serves the same SQLite file (and, with RSFLOW_TEST_PG_URL,
the same PostgreSQL database) with the same `MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`, reads them
back, and signs deliveries with the secret it decrypted.

With COMPAT_TARGET=mlflow both sides are mlflow servers (a self-check).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import mlflow
import pytest
from mlflow import MlflowClient

from helpers import MLFLOW, create_pg_database, pg_admin_url, target_kind
from test_webhooks import FERNET_KEY, Receiver

SECRET = "interop-secret"
ENV = {
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": FERNET_KEY,
    "MLFLOW_WEBHOOK_CACHE_TTL": "0",
}


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.httpd.shutdown()


def write(server, receiver, tag: str) -> str:
    prompt = f"{tag}-prompt"
    mlflow.set_tracking_uri(server.tracking_uri)
    try:
        mlflow.genai.register_prompt(name=prompt, template="Hi {{name}}", commit_message="v1", tags={"team": "a"})
        mlflow.genai.register_prompt(
            name=prompt,
            template=[{"role": "user", "content": "{{q}}"}],
            response_format={"type": "object", "properties": {"a": {"type": "string"}}},
        )
        mlflow.genai.set_prompt_alias(prompt, "prod", 1)
        mlflow.genai.set_prompt_version_tag(prompt, 2, "reviewed", "yes")
    finally:
        mlflow.set_tracking_uri(None)
    client = MlflowClient(server.tracking_uri)
    client.create_registered_model(f"{tag}-model")
    hook = client.create_webhook(name=f"interop-{tag}", url=f"{receiver.base}/interop/{tag}",
                                 events=["prompt_alias.created", "registered_model.created"], secret=SECRET,
                                 description="written elsewhere")
    return hook.webhook_id


def read(server, receiver, tag: str, webhook_id: str) -> None:
    """What `tag`'s writer stored, read back (and used) by `server`."""
    prompt = f"{tag}-prompt"
    mlflow.set_tracking_uri(server.tracking_uri)
    try:
        assert mlflow.genai.load_prompt(f"prompts:/{prompt}@prod").template == "Hi {{name}}"
        chat = mlflow.genai.load_prompt(f"prompts:/{prompt}@latest")
        assert chat.version == 2 and chat.format(q="x") == [{"role": "user", "content": "x"}]
        assert chat.response_format["properties"]["a"] == {"type": "string"}
        assert chat.tags["reviewed"] == "yes"
        assert [p.name for p in mlflow.genai.search_prompts(filter_string=f"name = '{prompt}'")] == [prompt]
        models = [m.name for m in MlflowClient().search_registered_models(filter_string=f"name LIKE '{tag}-%'")]
        assert models == [f"{tag}-model"]
        client = MlflowClient(server.tracking_uri)
        hook = client.get_webhook(webhook_id)
        assert hook.name == f"interop-{tag}" and hook.description == "written elsewhere"
        assert sorted(str(e) for e in hook.events) == ["prompt_alias.created", "registered_model.created"]
        # The reader decrypts the writer's secret: its signatures verify with the plain secret.
        assert client.test_webhook(webhook_id).success
        mlflow.genai.set_prompt_alias(prompt, "staging", 2)
        hits = receiver.wait(f"/interop/{tag}", lambda b: b["entity"] == "prompt_alias" and b["data"]["name"] == prompt)
        for h in [receiver.on(f"/interop/{tag}")[0], hits[0]]:
            headers = h["headers"]
            signed = f"{headers['x-mlflow-delivery-id']}.{headers['x-mlflow-timestamp']}.{h['body'].decode()}"
            want = base64.b64encode(hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).digest()).decode()
            assert headers["x-mlflow-signature"] == f"v1,{want}"
        assert json.loads(hits[0]["body"])["data"] == {"name": prompt, "alias": "staging", "version": "2"}
    finally:
        mlflow.set_tracking_uri(None)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_prompts_and_webhooks_cross_servers(module_servers, tmp_path, receiver, backend):
    """target writes → mlflow reads and writes → target reads (one mlflow start per backend)."""
    if backend == "postgres":
        if not pg_admin_url():
            pytest.skip("RSFLOW_TEST_PG_URL is not set (scripts/postgres.sh)")
        uri = create_pg_database("hooks_interop")
    else:
        uri = f"sqlite:///{tmp_path / 'shared.db'}"
    first = module_servers.start(target_kind(), workdir=tmp_path / "t1", backend=uri, env=ENV)
    by_target = write(first, receiver, f"{backend}-t")
    first.stop()
    ref = module_servers.start(MLFLOW, workdir=tmp_path / "m", backend=uri, env=ENV)
    read(ref, receiver, f"{backend}-t", by_target)
    by_mlflow = write(ref, receiver, f"{backend}-m")
    ref.stop()
    second = module_servers.start(target_kind(), workdir=tmp_path / "t2", backend=uri, env=ENV)
    read(second, receiver, f"{backend}-m", by_mlflow)
    second.stop()


def test_replicas_on_one_database_deliver_each_event_once(module_servers, tmp_path, receiver):
    """Two replicas on one PostgreSQL database (SQLite without it): writes through either are
    delivered exactly once, by the replica that served them."""
    uri = create_pg_database("hooks_replicas") if pg_admin_url() else f"sqlite:///{tmp_path / 'replicas.db'}"
    a = module_servers.start(target_kind(), workdir=tmp_path / "a", backend=uri, env=ENV)
    b = module_servers.start(target_kind(), workdir=tmp_path / "b", backend=uri, env=ENV)
    MlflowClient(a.tracking_uri).create_webhook(
        name="replicas", url=f"{receiver.base}/replicas", events=["registered_model.created"], secret=SECRET)
    names = [f"replica-model-{i}" for i in range(8)]
    for i, name in enumerate(names):
        MlflowClient((a if i % 2 else b).tracking_uri).create_registered_model(name)
    for name in names:
        receiver.wait("/replicas", lambda body, n=name: body["data"]["name"] == n)
    time.sleep(1.0)  # a duplicate, if any, would arrive by now
    delivered = [json.loads(g["body"])["data"]["name"] for g in receiver.on("/replicas")]
    assert sorted(delivered) == sorted(names)
    a.stop()
    b.stop()
