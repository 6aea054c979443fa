"""The direct way to the endpoints answers exactly as the FastAPI routes do (which still serve every request it
does not take), keeps the route labels of the metrics, and the serving settings reach uvicorn and torch."""

import asyncio
import json

import pytest
import torch
import uvicorn
from fastapi.testclient import TestClient

from rnnkit.serve import Settings
from rnnkit.serve import app as app_module
from rnnkit.serve.direct import Direct
from rnnkit.serve.settings import ServeError
from rnnkit.tasks.lm.serve import router

pytestmark = pytest.mark.usefixtures("one_thread")
ROUTED = {"content-type": "application/merge-patch+json"}  # JSON to FastAPI, not taken by the direct way


def test_the_direct_way_answers_as_the_routes_do(make_app):
    with TestClient(make_app()) as client:
        for path, body in (("/v1/lm/complete", {"text": "the cat sat on the m", "k": 4}),
                           ("/v1/lm/complete", {"text": ""}), ("/v1/classify/classify", {"text": "good film"})):
            direct = client.post(path, json=body)
            routed = client.post(path, content=json.dumps(body), headers=ROUTED)
            assert direct.status_code == routed.status_code == 200
            assert direct.json() == routed.json() and direct.headers["content-type"] == "application/json"
        started = client.post("/v1/lm/sessions", json={"k": 2})
        assert started.status_code == 201 and set(started.json()) == {"session_id", "model"}
        sid = started.json()["session_id"]
        routed_sid = client.post("/v1/lm/sessions", content=b'{"k": 2}', headers=ROUTED).json()["session_id"]
        for keys in ("the c", "at\b\bat ", "s"):
            direct = client.post(f"/v1/lm/sessions/{sid}/keys", json={"text": keys})
            routed = client.post(f"/v1/lm/sessions/{routed_sid}/keys", content=json.dumps({"text": keys}),
                                 headers=ROUTED)
            assert direct.status_code == 200 and direct.json() == routed.json()
        missing = client.post("/v1/lm/sessions/nope/keys", json={"text": "a"})
        assert missing.status_code == 404 and list(missing.json()) == ["error"]
        assert client.post("/v1/lm/complete", json={"text": "a", "k": 500}).status_code == 422  # an ApiError


def test_metrics_keep_the_route_templates(make_app, read):
    with TestClient(make_app()) as client:
        sid = client.post("/v1/lm/sessions", json={}).json()["session_id"]
        client.post(f"/v1/lm/sessions/{sid}/keys", json={"text": "th"})
        client.post("/v1/lm/complete", json={"text": "the "})
        client.post("/v1/lm/complete", json={"text": 1})  # refused by the routes' own validation
        metrics = client.get("/metrics").text
    template = 'rnnkit_requests_total{method="POST",route="/v1/lm/sessions/{session_id}/keys",status="200"}'
    assert read.metric(metrics, template) == 1
    assert read.metric(metrics, 'rnnkit_requests_total{method="POST",route="/v1/lm/complete",status="200"}') == 1
    assert read.metric(metrics, 'rnnkit_requests_total{method="POST",route="/v1/lm/complete",status="422"}') == 1
    assert sid not in metrics


def call(app, method: str, path: str, body: bytes, content_type: bytes = b"application/json"):
    """Drive an ASGI app once; the messages it sent."""
    scope = {"type": "http", "method": method, "path": path, "headers": [(b"content-type", content_type)],
             "query_string": b""}
    messages = [{"type": "http.request", "body": body[:3], "more_body": True},
                {"type": "http.request", "body": body[3:], "more_body": False}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_only_valid_json_posts_go_the_direct_way(make_app, lm_pipeline):
    server = make_app().state.server
    seen = []

    async def routes(scope, receive, send):  # stands for the FastAPI app: notes what reaches it
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message["body"], message["more_body"]
        seen.append((scope["method"], scope["path"], body))

    mounted = [(spec, type("Route", (), {"path": spec.route})()) for spec in router.endpoints]
    direct = Direct(routes, server, [(s, r) for s, r in mounted if "{" not in s.route])
    sent = call(direct, "POST", "/v1/lm/complete", b'{"text": "the ", "k": 2}')
    assert not seen and sent[0]["status"] == 200
    answer, want = json.loads(sent[1]["body"])["suggestions"], lm_pipeline.complete("the ", k=2)
    assert [(s["word"], pytest.approx(s["probability"], rel=1e-5)) for s in answer] == want
    for method, path, body, kind in (("POST", "/v1/lm/complete", b'{"text": 3}', b"application/json"),
                                     ("POST", "/v1/lm/complete", b'{"text": "a"', b"application/json"),
                                     ("POST", "/v1/lm/complete", b'{"text": "a"}', b"text/plain"),
                                     ("GET", "/v1/models", b"", b"application/json"),
                                     ("POST", "/v1/lm/nothing", b"{}", b"application/json")):
        call(direct, method, path, body, kind)
        assert seen[-1] == (method, path, body)  # handed on with the whole body
    assert len(seen) == 5


def test_serving_settings_reach_uvicorn_and_torch(runs, monkeypatch):
    assert Settings().batch_wait_ms == 0.3 and Settings().torch_threads == 1 and Settings().access_log is False
    with pytest.raises(ServeError, match="torch_threads"):
        Settings(torch_threads=0)
    called = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: called.update(kwargs))
    threads = torch.get_num_threads()
    try:
        app_module.run([str(runs[1])], Settings(allowed_dirs=(runs[0],), port=0, torch_threads=2, access_log=True))
        assert torch.get_num_threads() == 2 and called["access_log"] is True
        app_module.run([str(runs[1])], Settings(allowed_dirs=(runs[0],), port=0, torch_threads=None))
        assert torch.get_num_threads() == 2 and called["access_log"] is False  # None: left as it was
    finally:
        torch.set_num_threads(threads)
