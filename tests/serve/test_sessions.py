"""Typing sessions: keystrokes (and backspaces) give what ``complete`` gives for the resulting text, and the
store keeps its bounds: least recently used sessions go first, idle ones expire, memory is capped."""

import pytest
from fastapi.testclient import TestClient

from rnnkit.serve import Settings, create_app
from rnnkit.serve.sessions import session_bytes

pytestmark = pytest.mark.usefixtures("one_thread")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def start(client, **body) -> str:
    response = client.post("/v1/lm/sessions", json=body)
    assert response.status_code == 201, response.text
    return response.json()["session_id"]


def keys(client, sid: str, text: str):
    return client.post(f"/v1/lm/sessions/{sid}/keys", json={"text": text})


def words(suggestions) -> list[str]:
    return [s["word"] for s in suggestions]


def test_keystrokes_give_the_completions_of_the_text(make_app, lm_pipeline):
    with TestClient(make_app()) as client:
        sid = start(client, k=3)
        typed = ""
        for c in "the ca":
            typed += c
            answer = keys(client, sid, c).json()
            assert answer["text"] == typed
            expected = lm_pipeline.complete(typed, k=3)
            assert words(answer["suggestions"]) == [w for w, _ in expected], typed
            assert [s["probability"] for s in answer["suggestions"]] == pytest.approx([p for _, p in expected])
        answer = keys(client, sid, "t sat o" + "\b" * 5 + "on the m").json()  # back over a whole word
        assert answer["text"] == "the cat on the m"
        assert words(answer["suggestions"]) == [w for w, _ in lm_pipeline.complete("the cat on the m")]
        answer = keys(client, sid, "\b" * 3).json()
        assert answer["text"] == "the cat on th"
        assert words(answer["suggestions"]) == [w for w, _ in lm_pipeline.complete("the cat on th")]
        assert keys(client, sid, "\b" * 50).json()["text"] == ""  # never past the start


def test_keys_the_model_cannot_read_leave_the_text_as_it_was(char_pipeline):
    with TestClient(create_app([("chars", char_pipeline)], Settings())) as client:
        sid = client.post("/v1/lm/sessions").json()["session_id"]  # every field has a default: no body needed
        assert keys(client, sid, "the cat").status_code == 200
        refused = keys(client, sid, "\b\b\bdog ©")
        assert refused.status_code == 400 and "©" in refused.json()["error"]
        answer = keys(client, sid, "s").json()
        assert answer["text"] == "the cats"
        assert words(answer["suggestions"]) == [w for w, _ in char_pipeline.complete("the cats")]


def test_ended_and_unknown_sessions_answer_404_json(make_app):
    with TestClient(make_app()) as client:
        sid = start(client)
        assert client.delete(f"/v1/lm/sessions/{sid}").json() == {"ended": True}
        for response in (keys(client, sid, "a"), client.delete(f"/v1/lm/sessions/{sid}"), keys(client, "x" * 22, "a")):
            assert response.status_code == 404 and "no session" in response.json()["error"]


def test_least_recently_used_sessions_are_evicted_first(make_app, read):
    with TestClient(make_app(max_sessions=2)) as client:
        a, b = start(client), start(client)
        assert keys(client, a, "the").status_code == 200  # a is now the most recently used
        c = start(client)
        assert keys(client, b, "x").status_code == 404
        assert keys(client, a, " ").status_code == 200 and keys(client, c, "a").status_code == 200
        metrics = client.get("/metrics").text
        assert read.metric(metrics, 'rnnkit_sessions_evicted_total{reason="lru"}') == 1
        assert read.metric(metrics, "rnnkit_sessions ") == 2


def test_idle_sessions_expire(make_app):
    clock = Clock()
    with TestClient(make_app(session_idle_s=60, clock=clock)) as client:
        a, b = start(client), start(client)
        clock.now += 50
        assert keys(client, a, "t").status_code == 200  # used: a's idle time starts again
        clock.now += 20
        assert keys(client, b, "t").status_code == 404
        assert keys(client, a, "h").json()["text"] == "th"
        clock.now += 61
        assert keys(client, a, "e").status_code == 404


def test_session_memory_is_capped(make_app, lm_pipeline, read):
    history = 8
    one = session_bytes(lm_pipeline.predictor.begin(), history)
    with TestClient(make_app(session_history=history, session_memory_mb=2.5 * one / 2**20)) as client:
        sids = [start(client) for _ in range(3)]
        assert keys(client, sids[0], "a").status_code == 404  # the third pushed the first out
        assert all(keys(client, s, "a").status_code == 200 for s in sids[1:])
        metrics = client.get("/metrics").text
        assert read.metric(metrics, 'rnnkit_sessions_evicted_total{reason="memory"}') == 1
        assert read.metric(metrics, "rnnkit_session_memory_bytes") == 2 * one
    with TestClient(make_app(session_history=history, session_memory_mb=0.5 * one / 2**20)) as client:
        response = client.post("/v1/lm/sessions", json={})
        assert response.status_code == 507 and "session_memory_mb" in response.json()["error"]
