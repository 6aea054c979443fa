"""A word model with the adaptive softmax through the whole product: trained by the CLI, scored beside the
n-gram, suggesting words, typing in a session, answering the server's micro-batched completions, and
exported to ONNX with the full distribution."""

import json
import random

import pytest
import torch
from fastapi.testclient import TestClient

from rnnkit.cli import main
from rnnkit.export import export_onnx
from rnnkit.pipeline import from_checkpoint
from rnnkit.serve import Settings, create_app


def zipf_text(words: int = 40_000, vocab: int = 4_000) -> str:
    """Sentences over a Zipf-distributed vocabulary of ``vocab`` made-up words, with some structure (a
    word is often followed by its neighbour) for a model to learn."""
    rng = random.Random(0)
    names = [f"w{i}" for i in range(vocab)]
    weights = [1 / (i + 1) for i in range(vocab)]
    out, prev = [], 0
    for k in range(words):
        i = prev + 1 if rng.random() < 0.5 and prev + 1 < vocab else rng.choices(range(vocab), weights)[0]
        out.append(names[i] + ("\n" if k % 12 == 11 else ""))
        prev = i
    return " ".join(out)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("adaptive")
    (root / "corpus.txt").write_text(zipf_text(), encoding="utf-8")
    args = ["train", "lm", "--data", str(root / "corpus.txt"), "--out", str(root / "run"), "--data.codec.type=word",
            "--model.output=adaptive", "--model.cutoffs=[500, 1500]", "--model.encoder.hidden_size=32",
            "--model.encoder.num_layers=1", "--model.embed_size=16", "--data.batch_size=8", "--data.bptt=16",
            "--train.steps=30", "--train.eval_every=30", "--train.progress=false", "--data.keyboard_words=200"]
    assert main(args) == 0
    return root / "run"


def test_it_trains_and_scores_beside_the_ngram(run):
    figures = json.loads((run / "metrics.json").read_text())
    assert figures["metrics"]["perplexity"] > 1 and "next_word_top3" in figures["metrics"]
    assert "perplexity" in figures["baseline"]
    assert from_checkpoint(run).model.output == "adaptive"


def test_suggestions_sessions_and_the_server_work_with_it(run, tmp_path, monkeypatch):
    lm = from_checkpoint(run)
    words = lm.complete("w1 w2 ", k=3)
    assert len(words) == 3 and all(w.startswith("w") for w, _ in words) and 0 < sum(p for _, p in words) <= 1
    session = lm.session(k=3)
    assert session.type("w1 w2 ") == words
    monkeypatch.chdir(run.parent)
    with TestClient(create_app([run.name], Settings(allowed_dirs=(run.parent,)))) as client:
        answer = client.post("/v1/lm/complete", json={"text": "w1 w2 ", "k": 3}).json()
    assert [s["word"] for s in answer["suggestions"]] == [w for w, _ in words]


def test_the_export_carries_the_full_distribution(run, tmp_path):
    import onnxruntime as ort

    path = export_onnx(run, tmp_path / "onnx")  # checked against PyTorch inside
    meta = json.loads((tmp_path / "onnx" / "export.json").read_text())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"token": torch.tensor([meta["start_token"]]).numpy()}
    feed |= {s["input"]: torch.zeros(1, s["size"]).numpy() for s in meta["state"]}
    logits = session.run(["logits"], feed)[0]
    assert logits.shape == (1, meta["vocab_size"])
    assert abs(float(torch.tensor(logits).exp().sum()) - 1.0) < 1e-4  # log-probabilities of all ids


def test_a_word_codec_without_a_cap_gets_one_from_the_corpus_and_says_so(tmp_path):
    from rnnkit.tasks.lm import TASK, LMRun
    from rnnkit.tasks.lm.task import MIN_VOCAB

    (tmp_path / "c.txt").write_text(zipf_text(words=20_000, vocab=6_000), encoding="utf-8")
    cfg = LMRun()
    cfg.data.codec.type = "word"
    cfg.model.encoder.hidden_size, cfg.model.encoder.num_layers = 8, 1
    parts = TASK.build(cfg, str(tmp_path / "c.txt"))
    assert parts.preprocessor.vocab_size == MIN_VOCAB  # 18,000 training words: the floor of 2,000
    assert parts.notes[0].startswith("vocabulary: at most 2,000 words") and "output layer: exact" in parts.notes[-1]
    cfg.data.codec.max_vocab = 3_000
    parts = TASK.build(cfg, str(tmp_path / "c.txt"))
    assert parts.preprocessor.vocab_size == 3_000 and len(parts.notes) == 1  # the user's cap, no note


def test_a_word_codec_gets_the_word_model_unless_the_model_is_set():
    from rnnkit.tasks.lm.config import word_model_defaults
    from rnnkit.tasks.run import make_config

    assert make_config("lm").model.encoder.num_layers == 2  # characters: 2x512
    words = make_config("lm", overrides=["data.codec.type=word"])
    assert words.model == word_model_defaults() and words.model.tie_weights
    mine = make_config("lm", overrides=["data.codec.type=word", "model.encoder.hidden_size=300"])
    assert mine.model.encoder.hidden_size == 300 and mine.model.encoder.num_layers == 2  # the user's, kept
    assert make_config("lm", overrides=["data.codec.type=bpe"]).model == word_model_defaults()
