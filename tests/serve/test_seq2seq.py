"""Seq2seq endpoints against small stand-in pipelines with the seq2seq interface: translation whole and
streamed, chat with history, routes mounted per kind, pipeline errors as 400, slow models as 504."""

import time

from fastapi.testclient import TestClient

from rnnkit.serve import Settings, create_app


class Translator:
    """Reverses the words; ``beam`` shows in the output so the test sees it arrive."""

    task, kind = "seq2seq", "translate"

    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def describe(self) -> dict:
        return {"kind": self.kind, "defaults": {"beam": 5}}

    def translate(self, text: str, *, beam: int | None = None) -> str:
        time.sleep(self.delay)
        return " ".join(self.translate_stream(text)) + f" [beam {beam or 5}]"

    def translate_stream(self, text: str, *, beam: int | None = None):
        if not text.strip():
            raise ValueError("give a non-empty text to translate")
        yield from reversed(text.split())


class Chat:
    task, kind = "seq2seq", "chat"

    def describe(self) -> dict:
        return {"kind": self.kind, "defaults": {"beam": 5}}

    def reply(self, message: str, history: list[str]) -> str:
        return f"{len(history)} turns before; you said {message.upper()}"


def client_for(*pipelines, **settings) -> TestClient:
    return TestClient(create_app(list(pipelines), Settings(**settings)))


def test_translate_whole_and_streamed(read):
    with client_for(("de-en", Translator())) as client:
        answer = client.post("/v1/seq2seq/translate", json={"text": "one two three", "beam": 2}).json()
        assert answer == {"model": "de-en", "translation": "three two one [beam 2]"}
        stream = read.events(client.post("/v1/seq2seq/translate", json={"text": "one two three", "stream": True}).text)
        assert stream == [("message", {"text": "three"}), ("message", {"text": "two"}), ("message", {"text": "one"}),
                          ("end", {})]
        bad = [({"text": " "}, 400), ({"text": " ", "stream": True}, 400), ({"text": "a", "beam": 0}, 422)]
        for body, status in bad:
            response = client.post("/v1/seq2seq/translate", json=body)
            assert response.status_code == status and response.json()["error"]
        assert client.post("/v1/seq2seq/chat", json={"message": "hi"}).status_code == 404  # no chat model
        assert client.get("/v1/models").json()["models"][0]["details"]["kind"] == "translate"


def test_chat_and_translate_models_side_by_side():
    with client_for(("talk", Chat()), ("de-en", Translator()), max_input_chars=20) as client:
        answer = client.post("/v1/seq2seq/chat", json={"message": "hello", "history": ["hi", "hey"]}).json()
        assert answer == {"model": "talk", "reply": "2 turns before; you said HELLO"}
        assert client.post("/v1/seq2seq/translate", json={"text": "a b"}).json()["model"] == "de-en"
        too_long = client.post("/v1/seq2seq/chat", json={"message": "hello", "history": ["x" * 16]})
        assert too_long.status_code == 413 and "max_input_chars" in too_long.json()["error"]
        unknown = client.post("/v1/seq2seq/chat", json={"message": "hi", "model": "de-en"})
        assert unknown.status_code == 404 and "talk" in unknown.json()["error"]


def test_a_slow_model_answers_504():
    with client_for(("slow", Translator(delay=0.5)), request_timeout_s=0.05) as client:
        response = client.post("/v1/seq2seq/translate", json={"text": "a b"})
        assert response.status_code == 504 and "request_timeout_s" in response.json()["error"]


def test_a_real_translation_run_served(tmp_path, read):
    """A trained seq2seq run (tiny, a few updates) answers as its own pipeline does, whole and streamed."""
    import torch

    from rnnkit.config import apply_overrides
    from rnnkit.pipeline import from_checkpoint
    from rnnkit.tasks import run as runner

    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"{i} {i + 1}\tnumber {i} then {i + 1}\n" for i in range(60)), encoding="utf-8")
    small = ["model.embed_size=16", "model.encoder.hidden_size=16", "model.decoder.hidden_size=16",
             "data.codec.type=word", "train.steps=10", "train.eval_every=10", "train.progress=false",
             "decode.test_beams=[1]"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner.train("seq2seq", apply_overrides(runner.make_config("seq2seq"), small), out=tmp_path / "nums",
                     data=str(data))
    finally:
        torch.set_num_threads(threads)
    pipeline = from_checkpoint(tmp_path / "nums")
    expected = pipeline.translate("3 4", beam=2)
    with TestClient(create_app([tmp_path / "nums"], Settings(allowed_dirs=(tmp_path,)))) as client:
        answer = client.post("/v1/seq2seq/translate", json={"text": "3 4", "beam": 2}).json()
        assert answer == {"model": "nums", "translation": expected}
        events = read.events(client.post("/v1/seq2seq/translate", json={"text": "3 4", "beam": 2,
                                                                         "stream": True}).text)
        assert events[-1] == ("end", {})
        assert "".join(e[1]["text"] for e in events[:-1]).strip() == expected
