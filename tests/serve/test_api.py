"""The HTTP API over real tiny runs: every endpoint answers what the pipeline answers, bad requests get 4xx
JSON with one line, runs outside the allowed folders are refused, the token guards the API, and /metrics
is Prometheus text."""

import prometheus_client
import pytest
from fastapi.testclient import TestClient

from rnnkit.serve import ServeError, Settings, create_app

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def client(make_app):
    with TestClient(make_app()) as c:
        yield c


def one_line_error(response, status):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error, str) and error and "\n" not in error and "Traceback" not in error
    return error


def test_models_health_page_and_docs(client):
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert models["words"]["task"] == "lm" and models["words"]["details"]["vocab_size"] > 10
    assert models["reviews"]["details"]["classes"] == ["neg", "pos"]
    assert "POST /v1/lm/sessions/{session_id}/keys" in models["words"]["endpoints"]
    assert client.get("/healthz").json() == {"status": "ok", "models": 2}
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/lm/complete", "/v1/lm/generate", "/v1/classify/explain"} <= set(paths)
    assert not any(p.startswith("/v1/seq2seq") for p in paths)  # no seq2seq model is loaded
    page = client.get("/")
    assert page.status_code == 200 and 'id="typing"' in page.text and 'id="suggestions"' in page.text
    assert client.get("/static/app.js").status_code == 200


def test_complete_equals_the_pipeline(client, lm_pipeline):
    for text, k in [("the ca", 3), ("the cat sat on the ", 5), ("", 2), ("a cat ate the f", 1), ("The D", 3)]:
        answer = client.post("/v1/lm/complete", json={"text": text, "k": k}).json()
        expected = lm_pipeline.complete(text, k=k)
        assert [s["word"] for s in answer["suggestions"]] == [w for w, _ in expected], text
        assert [s["probability"] for s in answer["suggestions"]] == pytest.approx([p for _, p in expected], rel=1e-5)
        assert answer["model"] == "words"


def test_generate_streams_events_equal_to_the_pipeline(client, lm_pipeline, read):
    request = {"prime": "the cat", "length": 12, "temperature": 0.9, "top_k": 5, "seed": 7}
    expected = list(lm_pipeline.generate("the cat", length=12, temperature=0.9, top_k=5, seed=7))
    response = client.post("/v1/lm/generate", json={**request, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    stream = read.events(response.text)
    assert stream[-1] == ("end", {}) and len(stream) > 3
    assert [data["text"] for name, data in stream[:-1]] == expected
    whole = client.post("/v1/lm/generate", json=request).json()
    assert whole["text"] == "".join(expected)


def test_classify_and_explain_equal_the_pipeline(client, classify_pipeline):
    text = "the plot was good and it"
    label, probabilities = classify_pipeline.classify(text)
    answer = client.post("/v1/classify/classify", json={"text": text}).json()
    assert answer["label"] == label and answer["probabilities"] == pytest.approx(probabilities)
    assert list(answer["probabilities"]) == list(probabilities)  # best first
    explained = client.post("/v1/classify/explain", json={"text": text, "method": "gradient x input"}).json()
    reference = classify_pipeline.explain(text, method="gradient x input")
    assert explained["tokens"] == reference.tokens and explained["method"] == "gradient x input"
    assert explained["scores"] == pytest.approx(reference.scores, rel=1e-4, abs=1e-6)


def test_bad_requests_answer_4xx_json(make_app):
    with TestClient(make_app(max_body_bytes=2000, max_input_chars=100, max_new_tokens=50)) as client:
        raw = {"headers": {"content-type": "application/json"}}
        assert "JSON" in one_line_error(client.post("/v1/lm/complete", content=b'{"text": "the', **raw), 400)
        assert "text" in one_line_error(client.post("/v1/lm/complete", json={"text": 3}), 422)
        assert "text" in one_line_error(client.post("/v1/lm/complete", json={}), 422)
        assert "JSON object" in one_line_error(client.post("/v1/lm/complete", json=["the"]), 422)
        form = {"headers": {"content-type": "application/x-www-form-urlencoded"}}
        assert "JSON object" in one_line_error(client.post("/v1/lm/complete", content=b"text=a", **form), 422)
        assert "kk" in one_line_error(client.post("/v1/lm/complete", json={"text": "a", "kk": 3}), 422)
        assert "k" in one_line_error(client.post("/v1/lm/complete", json={"text": "a", "k": 0}), 422)
        assert "max_k" in one_line_error(client.post("/v1/lm/complete", json={"text": "a", "k": 500}), 422)
        assert "max_body_bytes" in one_line_error(client.post("/v1/lm/complete", json={"text": "a" * 3000}), 413)
        chunked = iter([b'{"text": "', b"a" * 3000, b'"}'])  # no Content-Length: counted as it arrives
        assert "max_body_bytes" in one_line_error(client.post("/v1/lm/complete", content=chunked, **raw), 413)
        assert "max_input_chars" in one_line_error(client.post("/v1/lm/complete", json={"text": "a" * 150}), 413)
        assert "max_new_tokens" in one_line_error(client.post("/v1/lm/generate", json={"length": 51}), 422)
        assert "temperature" in one_line_error(client.post("/v1/lm/generate", json={"temperature": -1}), 422)
        assert "nope" in one_line_error(client.post("/v1/lm/complete", json={"text": "a", "model": "nope"}), 404)
        assert "non-empty" in one_line_error(client.post("/v1/classify/classify", json={"text": " "}), 400)
        one_line_error(client.post("/v1/classify/explain", json={"text": "good", "method": "attention"}), 400)
        one_line_error(client.get("/v1/nothing"), 404)
        one_line_error(client.get("/v1/lm/complete"), 405)


def test_runs_load_from_paths_with_unique_names(runs):
    root, words, _ = runs
    with TestClient(create_app([str(words), str(words)], Settings(allowed_dirs=(root,)))) as client:
        models = client.get("/v1/models").json()["models"]
        assert [m["name"] for m in models] == ["words", "words-2"] and models[0]["run"] == str(words)
        assert "several" in one_line_error(client.post("/v1/lm/complete", json={"text": "the"}), 400)
        assert client.post("/v1/lm/complete", json={"text": "the", "model": "words-2"}).status_code == 200


def test_a_run_outside_the_allowed_folders_is_refused(runs, tmp_path):
    root, words, _ = runs
    for settings in (Settings(allowed_dirs=(tmp_path,)), Settings()):  # the default: the current folder
        with pytest.raises(ServeError, match="outside the allowed directories") as caught:
            create_app([str(words)], settings)
        assert str(words) in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ServeError, match="outside"):
        create_app([str(root / ".." / ".." / "etc")], Settings(allowed_dirs=(root,)))
    with pytest.raises(ValueError, match="no such run directory"):
        create_app([str(root / "missing")], Settings(allowed_dirs=(root,)))


def test_a_bearer_token_guards_the_api(make_app):
    with TestClient(make_app(token="s3cret")) as client:
        assert "bearer" in one_line_error(client.get("/v1/models"), 401)
        assert client.get("/v1/models").headers["www-authenticate"] == "Bearer"
        one_line_error(client.get("/v1/models", headers={"Authorization": "Bearer wrong"}), 401)
        one_line_error(client.get("/metrics"), 401)
        one_line_error(client.post("/v1/lm/complete", json={"text": "a"}), 401)
        assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/healthz").status_code == 200 and client.get("/").status_code == 200


def test_metrics_are_prometheus_text(client, read):
    client.post("/v1/lm/complete", json={"text": "the "})
    client.post("/v1/lm/complete", json={"text": 1})
    client.post("/v1/lm/sessions", json={})
    response = client.get("/metrics")
    assert response.headers["content-type"] == prometheus_client.CONTENT_TYPE_LATEST
    text = response.text
    families = read.prometheus(text)
    assert {"rnnkit_requests_total", "rnnkit_request_seconds", "rnnkit_batch_size", "rnnkit_sessions"} <= set(families)
    assert read.metric(text, 'rnnkit_requests_total{method="POST",route="/v1/lm/complete",status="200"}') == 1
    assert read.metric(text, 'rnnkit_requests_total{method="POST",route="/v1/lm/complete",status="422"}') == 1
    assert read.metric(text, 'rnnkit_request_seconds_count{route="/v1/lm/complete"}') == 2
    # prometheus_client writes the labels sorted by name, le among them
    assert read.metric(text, 'rnnkit_request_seconds_bucket{le="+Inf",route="/v1/lm/complete"}') == 2
    assert read.metric(text, 'rnnkit_batch_size_count{model="words",work="complete:mixture"}') == 1
    assert read.metric(text, "rnnkit_sessions ") == 1
    assert read.metric(text, "rnnkit_session_memory_bytes") > 0


def test_two_apps_in_one_process_count_apart(make_app, read):
    with TestClient(make_app()) as first, TestClient(make_app()) as second:
        first.get("/v1/models")
        first.get("/v1/models")
        second.get("/v1/models")
        counts = [read.metric(c.get("/metrics").text, 'rnnkit_requests_total{method="GET",route="/v1/models"')
                  for c in (first, second)]
    assert counts == [2, 1]


def test_settings_refuse_bad_limits():
    with pytest.raises(ServeError, match="max_sessions"):
        Settings(max_sessions=0)
    with pytest.raises(ServeError, match="token"):
        Settings(token=" ")
    assert Settings().host == "127.0.0.1"
