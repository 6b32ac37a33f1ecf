"""Registry webhooks through the stock 3.17.2 client (issue #16, spec §7).

Two servers per module (rsflow, or mlflow with COMPAT_TARGET=mlflow):
- `open_server` allows loopback receivers the way an operator does it with MLflow's settings
  (`MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true`, `MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https`) and has
  a fixed `MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`; registry and prompt writes are delivered to a
  receiver in this process, whose signatures are verified as MLflow documents it.
- `guarded_server` has MLflow's defaults: loopback, metadata and private addresses, `file://`,
  non-HTTPS schemes and unknown events are refused with 4xx and nothing is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from helpers import assert_json_error, expect_ref_or_better, unique

FERNET_KEY = "7sSeKjD2N5w0uEYZqZ1lWzm0kBBR0X9s3y3G2yH3Hx0="
SECRET = "whsec-compat"


class Receiver:
    """A loopback HTTP receiver: records every POST; paths under /flaky/ answer 503 once."""

    def __init__(self):
        self.got: list[dict] = []
        self.lock = threading.Lock()
        seen_flaky: set[str] = set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    outer.got.append({"path": self.path, "headers": headers, "body": body})
                status = 200
                if self.path.startswith("/flaky/") and self.path not in seen_flaky:
                    seen_flaky.add(self.path)
                    status = 503
                if self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("Location", "/hook/redirected")
                    self.end_headers()
                    return
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"received")

            def do_GET(self):
                with outer.lock:
                    outer.got.append({"path": self.path, "headers": dict(self.headers), "body": b"{}"})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"

    def on(self, path: str) -> list[dict]:
        with self.lock:
            return [g for g in self.got if g["path"] == path]

    def wait(self, path: str, pred, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [g for g in self.on(path) if pred(json.loads(g["body"]))]
            if hits:
                return hits
            time.sleep(0.05)
        raise AssertionError(f"no delivery on {path}; got {[json.loads(g['body']) for g in self.on(path)]}")


def verify(delivery: dict, secret: str) -> dict:
    """MLflow's documented check: HMAC-SHA256 over '<delivery id>.<timestamp>.<raw body>'."""
    h = delivery["headers"]
    assert h["content-type"] == "application/json"
    delivery_id, ts = h["x-mlflow-delivery-id"], h["x-mlflow-timestamp"]
    assert abs(time.time() - int(ts)) < 300
    signed = f"{delivery_id}.{ts}.{delivery['body'].decode()}".encode()
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    version, sig = h["x-mlflow-signature"].split(",", 1)
    assert version == "v1"
    assert hmac.compare_digest(sig, expected)
    return json.loads(delivery["body"])


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.httpd.shutdown()


@pytest.fixture(scope="module")
def open_server(module_servers):
    return module_servers.start(
        env={
            "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
            "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
            "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": FERNET_KEY,
            "MLFLOW_WEBHOOK_CACHE_TTL": "0",
        }
    )


@pytest.fixture(scope="module")
def guarded_server(module_servers):
    return module_servers.start()


ALL_EVENTS = [
    "registered_model.created",
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
    "prompt.created",
    "prompt_version.created",
    "prompt_tag.set",
    "prompt_tag.deleted",
    "prompt_version_tag.set",
    "prompt_alias.created",
    "prompt_alias.deleted",
]


def test_registry_and_prompt_events_are_delivered_signed(open_server, receiver):
    client = MlflowClient(open_server.tracking_uri)
    hook = client.create_webhook(
        name="all-events", url=receiver.base + "/hook/all", events=ALL_EVENTS, secret=SECRET,
        description="compat",
    )
    assert hook.status.value == "ACTIVE" and hook.secret is None
    model, prompt = unique("hooked-model"), unique("hooked-prompt")
    path = "/hook/all"

    client.create_registered_model(model, tags={"k": "v"})
    client.create_model_version(model, "s3://bucket/model", tags={"t": "1"}, description="d1")
    client.set_model_version_tag(model, "1", "stage", "qa")
    client.delete_model_version_tag(model, "1", "stage")
    client.set_registered_model_alias(model, "champion", "1")
    client.delete_registered_model_alias(model, "champion")
    mlflow.set_tracking_uri(open_server.tracking_uri)
    try:
        mlflow.genai.register_prompt(name=prompt, template="Hi {{name}}", commit_message="c", tags={"o": "p"})
        mlflow.genai.set_prompt_tag(prompt, "lang", "en")
        mlflow.genai.delete_prompt_tag(prompt, "lang")
        mlflow.genai.set_prompt_version_tag(prompt, 1, "ok", "yes")
        mlflow.genai.set_prompt_alias(prompt, "prod", 1)
        mlflow.genai.delete_prompt_alias(prompt, "prod")
    finally:
        mlflow.set_tracking_uri(None)

    def one(entity, action, **match):
        hits = receiver.wait(
            path,
            lambda b: b["entity"] == entity and b["action"] == action
            and all(b["data"].get(k) == v for k, v in match.items()),
        )
        body = verify(hits[0], SECRET)
        assert set(body) == {"entity", "action", "timestamp", "data"}
        assert body["timestamp"].endswith("+00:00")
        return body["data"]

    assert one("registered_model", "created", name=model) == {"name": model, "tags": {"k": "v"}, "description": ""}
    assert one("model_version", "created", name=model) == {
        "name": model, "version": "1", "source": "s3://bucket/model", "run_id": None,
        "tags": {"t": "1"}, "description": "d1",
    }
    assert one("model_version_tag", "set", name=model) == {"name": model, "version": "1", "key": "stage", "value": "qa"}
    assert one("model_version_tag", "deleted", name=model) == {"name": model, "version": "1", "key": "stage"}
    assert one("model_version_alias", "created", name=model) == {"name": model, "alias": "champion", "version": "1"}
    assert one("model_version_alias", "deleted", name=model) == {"name": model, "alias": "champion"}
    created = one("prompt", "created", name=prompt)
    assert created["name"] == prompt and "mlflow.prompt.is_prompt" not in created["tags"]
    pv = one("prompt_version", "created", name=prompt)
    assert pv["version"] == "1" and pv["template"] == "Hi {{name}}" and pv["description"] == "c"
    assert pv["tags"] == {"o": "p"}
    assert one("prompt_tag", "set", name=prompt, key="lang") == {"name": prompt, "key": "lang", "value": "en"}
    assert one("prompt_tag", "deleted", name=prompt, key="lang") == {"name": prompt, "key": "lang"}
    assert one("prompt_version_tag", "set", name=prompt) == {"name": prompt, "version": "1", "key": "ok", "value": "yes"}
    assert one("prompt_alias", "created", name=prompt) == {"name": prompt, "alias": "prod", "version": "1"}
    assert one("prompt_alias", "deleted", name=prompt) == {"name": prompt, "alias": "prod"}
    # Prompts fire prompt events only, models model events only; each event is sent once.
    time.sleep(0.5)
    bodies = [json.loads(g["body"]) for g in receiver.on(path)]
    assert not [b for b in bodies if b["entity"].startswith("model") and b["data"]["name"] == prompt]
    assert not [b for b in bodies if b["entity"].startswith("prompt") and b["data"]["name"] == model]
    ids = [g["headers"]["x-mlflow-delivery-id"] for g in receiver.on(path)]
    assert len(ids) == len(set(ids))


def test_test_route_and_crud(open_server, receiver):
    client = MlflowClient(open_server.tracking_uri)
    hook = client.create_webhook(name="crud.hook-1", url=receiver.base + "/hook/crud", events=["model_version.created"])
    got = client.get_webhook(hook.webhook_id)
    assert got.name == "crud.hook-1" and [str(e) for e in got.events] == ["model_version.created"]
    result = client.test_webhook(hook.webhook_id)
    assert result.success and result.response_status == 200 and result.response_body == "received"
    body = json.loads(receiver.on("/hook/crud")[-1]["body"])
    assert body["data"]["name"] == "example_model" and body["entity"] == "model_version"
    assert "x-mlflow-signature" not in receiver.on("/hook/crud")[-1]["headers"]
    result = client.test_webhook(hook.webhook_id, event="prompt_alias.deleted")
    assert result.success
    assert json.loads(receiver.on("/hook/crud")[-1]["body"])["data"] == {"name": "example_prompt", "alias": "example_alias"}

    updated = client.update_webhook(
        hook.webhook_id, description="new", events=["registered_model.created", "model_version.created"],
        status="DISABLED", secret="later",
    )
    assert updated.description == "new" and updated.status.value == "DISABLED"
    assert sorted(str(e) for e in updated.events) == ["model_version.created", "registered_model.created"]
    assert updated.last_updated_timestamp >= updated.creation_timestamp
    # A disabled webhook receives nothing.
    before = len(receiver.on("/hook/crud"))
    client.create_registered_model(unique("unseen"))
    time.sleep(1.0)
    assert len(receiver.on("/hook/crud")) == before
    ids = [w.webhook_id for w in client.list_webhooks(max_results=1000)]
    assert hook.webhook_id in ids
    page = client.list_webhooks(max_results=1)
    assert len(page) == 1 and page.token
    client.delete_webhook(hook.webhook_id)
    with pytest.raises(MlflowException) as e:
        client.get_webhook(hook.webhook_id)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert hook.webhook_id not in [w.webhook_id for w in client.list_webhooks(max_results=1000)]


def test_retry_on_503_and_no_redirects(open_server, receiver):
    client = MlflowClient(open_server.tracking_uri)
    flaky = client.create_webhook(name="flaky", url=receiver.base + "/flaky/1", events=["registered_model.created"],
                                  secret=SECRET)
    redirect = client.create_webhook(name="redirect", url=receiver.base + "/redirect", events=["registered_model.created"])
    name = unique("retried")
    client.create_registered_model(name)
    hits = receiver.wait("/flaky/1", lambda b: b["data"]["name"] == name)
    deadline = time.monotonic() + 10
    while len(receiver.on("/flaky/1")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    attempts = receiver.on("/flaky/1")
    assert len(attempts) == 2, attempts
    # The retry is the same request: same delivery id, timestamp and signed body.
    assert attempts[0]["headers"]["x-mlflow-delivery-id"] == attempts[1]["headers"]["x-mlflow-delivery-id"]
    assert attempts[0]["body"] == attempts[1]["body"]
    verify(hits[0], SECRET)
    receiver.wait("/redirect", lambda b: b["data"]["name"] == name)
    time.sleep(0.5)
    # MLflow's requests session follows the 302 (as a GET); rsflow does not follow redirects.
    expect_ref_or_better(open_server, len(receiver.on("/hook/redirected")), better=0, ref=1,
                         why="webhook redirects are not followed")
    client.delete_webhook(flaky.webhook_id)
    client.delete_webhook(redirect.webhook_id)


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://169.254.169.254/latest/meta-data", "Invalid webhook URL scheme: 'http'. Allowed schemes are: https."),
        ("https://169.254.169.254/latest/meta-data",
         "Webhook URL must not resolve to a non-public IP address. '169.254.169.254' resolves to 169.254.169.254."),
        ("https://127.0.0.1:9/hook", "Webhook URL must not resolve to a non-public IP address. '127.0.0.1' resolves to 127.0.0.1."),
        ("https://10.0.0.1/hook", "Webhook URL must not resolve to a non-public IP address. '10.0.0.1' resolves to 10.0.0.1."),
        ("https://[::ffff:169.254.169.254]/x",
         "Webhook URL must not resolve to a non-public IP address. '::ffff:169.254.169.254' resolves to ::ffff:a9fe:a9fe."),
        ("file:///etc/passwd", "Invalid webhook URL scheme: 'file'. Allowed schemes are: https."),
        ("ftp://example.com/x", "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: https."),
        ("gopher://localhost:25/", "Invalid webhook URL scheme: 'gopher'. Allowed schemes are: https."),
    ],
)
def test_guard_refuses_urls(guarded_server, url, message):
    r = guarded_server.api("POST", "webhooks", json={"name": "x", "url": url,
                                                       "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]})
    assert_json_error(r, 400, "INVALID_PARAMETER_VALUE", message=message)
    assert guarded_server.api("GET", "webhooks").json() == {}


def test_events_and_fields_refused(guarded_server, open_server):
    ok_url = "https://example.com/hook"
    s = open_server
    r = s.api("POST", "webhooks", json={"name": "x", "url": ok_url, "events": [{"entity": "REGISTERED_MODEL", "action": "DELETED"}]})
    assert_json_error(r, 400, "INVALID_PARAMETER_VALUE",
                      message="Invalid action 'deleted' for entity 'registered_model'. Valid actions are: ['created']")
    r = s.api("POST", "webhooks", json={"name": "x", "url": ok_url, "events": []})
    assert_json_error(r, 400, "INVALID_PARAMETER_VALUE",
                      message="Webhook events must be a non-empty list of WebhookEvent objects: [].")
    r = s.api("POST", "webhooks", json={"name": "-x-", "url": ok_url, "events": [{"entity": "PROMPT", "action": "CREATED"}]})
    assert_json_error(r, 400, "INVALID_PARAMETER_VALUE", contains="Webhook name '-x-' is invalid.")
    r = s.api("POST", "webhooks", json={"name": "x", "events": [{"entity": "PROMPT", "action": "CREATED"}]})
    assert_json_error(r, 400, "INVALID_PARAMETER_VALUE", contains="Missing value for required parameter 'url'")
    # Unknown or lower-case event names: MLflow's parser drops them and answers 500.
    for bad in ({"entity": "model_version", "action": "created"}, {"entity": "EXPERIMENT", "action": "CREATED"}):
        r = s.api("POST", "webhooks", json={"name": "x", "url": ok_url, "events": [bad]})
        expect_ref_or_better(s, r.status_code, better=400, ref=500, why="unknown webhook event")
    with pytest.raises(MlflowException):
        MlflowClient(s.tracking_uri).create_webhook(name="x", url=ok_url, events=["model_version.deleted"])
    r = s.api("GET", "webhooks", params={"max_results": 1001})
    assert_json_error(r, 400, "INVALID_PARAMETER_VALUE", message="max_results must be between 1 and 1000.")
    r = s.api("GET", "webhooks/does-not-exist")
    assert_json_error(r, 404, "RESOURCE_DOES_NOT_EXIST", message="Webhook with ID does-not-exist not found.")
    names = {w["name"] for w in s.api("GET", "webhooks", params={"max_results": 1000}).json().get("webhooks", [])}
    assert "x" not in names and "-x-" not in names


def test_stored_private_url_is_refused_at_delivery(module_servers, tmp_path, receiver):
    """A webhook to a loopback receiver, stored while the setting allowed it, gets nothing from a
    server without the setting: the URL is checked again before every delivery."""
    uri = f"sqlite:///{tmp_path / 'recheck.db'}"
    allowing = module_servers.start(workdir=tmp_path / "allowing", backend=uri,
                                    env={"MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
                                         "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
                                         "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": FERNET_KEY})
    hook = MlflowClient(allowing.tracking_uri).create_webhook(
        name="recheck", url=receiver.base + "/hook/recheck", events=["registered_model.created"])
    allowing.stop()
    guarded = module_servers.start(workdir=tmp_path / "guarded", backend=uri,
                                   env={"MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": FERNET_KEY})
    client = MlflowClient(guarded.tracking_uri)
    client.create_registered_model(unique("not-delivered"))
    result = client.test_webhook(hook.webhook_id)
    assert not result.success and "Invalid webhook URL scheme: 'http'" in result.error_message
    time.sleep(1.5)
    assert receiver.on("/hook/recheck") == []
    guarded.stop()
