"""The recurrent model interpolated with the run's Kneser-Ney n-gram: fitted after training, saved with the
run, offered by ``--scorer`` in ``predict``, by ``scorer`` in the HTTP API, and reported beside each
component."""

import json
import math
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from rnnkit.cli import main
from rnnkit.pipeline import from_checkpoint
from rnnkit.serve import Settings, create_app
from rnnkit.tasks.lm.mixture import MIXTURE_FILE, NGRAM_FILE

TEXT = "".join(f"the cat sat on the mat. the dog sat on the log. a bird {i % 7} sang.\n" for i in range(150))
TINY = ["--model.encoder.hidden_size=32", "--model.encoder.num_layers=1", "--model.embed_size=16",
        "--data.batch_size=4", "--data.bptt=16", "--train.steps=30", "--train.eval_every=30",
        "--train.warmup_steps=5", "--train.progress=false", "--data.codec.type=word", "--data.keyboard_words=200"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixture")
    data = root / "corpus.txt"
    data.write_text(TEXT, encoding="utf-8")
    out = root / "run"
    assert main(["train", "lm", "--data", str(data), "--out", str(out), *TINY]) == 0
    return out


def test_the_run_keeps_its_ngram_and_a_fitted_weight(run, capsys):
    assert (run / NGRAM_FILE).exists()
    saved = json.loads((run / MIXTURE_FILE).read_text())
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert saved["weight"] == pytest.approx(metrics["mixture_weight"]) and 0 <= saved["weight"] <= 1
    # the fitted weight is the best of all, the two components included: never worse than either alone
    assert metrics["mixture_loss"] <= min(metrics["mixture_rnn_loss"], metrics["mixture_ngram_loss"]) + 1e-9
    assert metrics["mixture_perplexity"] == pytest.approx(math.exp(metrics["mixture_loss"]))
    for name in ("mixture_top3", "mixture_next_word_top3", "mixture_keystroke_savings"):
        assert 0 <= metrics[name] <= 1
    for name in ("perplexity", "next_word_top3"):  # beside the model's own figures, not instead of them
        assert name in metrics


def test_predict_offers_each_scorer(run, capsys):
    answers = {}
    for scorer in ("rnn", "ngram", "mixture"):
        assert main(["predict", str(run), "the cat sat on the ", "--scorer", scorer, "-k", "3"]) == 0
        answers[scorer] = capsys.readouterr().out
    assert len(set(answers.values())) == 3
    assert main(["predict", str(run), "the cat sat on the ", "-k", "3"]) == 0
    assert capsys.readouterr().out == answers["mixture"]  # the default of a run with a mixture


def test_the_mixture_is_the_weighted_sum_of_its_components(run):
    pipeline = from_checkpoint(run)
    w = pipeline.mixture.weight
    p = {s: np.exp(pipeline.predictor_for(s).begin().logp.astype(np.float64)) for s in ("rnn", "ngram", "mixture")}
    np.testing.assert_allclose(p["mixture"], w * p["rnn"] + (1 - w) * p["ngram"], rtol=1e-4, atol=1e-7)
    assert pipeline.describe()["scorers"] == ["rnn", "ngram", "mixture"]
    assert pipeline.defaults["scorer"] == "mixture"


def test_a_run_without_a_mixture_offers_the_model_alone(run, tmp_path, capsys):
    bare = tmp_path / "bare"
    shutil.copytree(run, bare)
    (bare / MIXTURE_FILE).unlink()
    pipeline = from_checkpoint(bare)
    assert pipeline.scorers == ("rnn",) and pipeline.defaults["scorer"] == "rnn"
    status = main(["predict", str(bare), "the cat", "--scorer", "mixture"])
    err = capsys.readouterr().err.strip()
    assert status != 0 and len(err.splitlines()) == 1 and "offers rnn" in err and "Traceback" not in err


def test_bad_scorers_and_damaged_files_give_one_line(run, tmp_path, capsys):
    status = main(["predict", str(run), "the cat", "--scorer", "trigram"])
    err = capsys.readouterr().err.strip()
    assert status != 0 and len(err.splitlines()) == 1 and "rnn, ngram, mixture" in err
    damaged = tmp_path / "damaged"
    shutil.copytree(run, damaged)
    (damaged / NGRAM_FILE).write_bytes(b"not a model")
    status = main(["predict", str(damaged), "the cat"])
    err = capsys.readouterr().err.strip()
    assert status != 0 and len(err.splitlines()) == 1 and NGRAM_FILE in err and "Traceback" not in err


def test_the_server_takes_the_same_scorer_names(run):
    pipeline = from_checkpoint(run)
    app = create_app([("words", pipeline)], Settings(allowed_dirs=(run.parent,)))
    with TestClient(app) as client:
        details = client.get("/v1/models").json()["models"][0]["details"]
        assert details["scorers"] == ["rnn", "ngram", "mixture"] and details["defaults"]["scorer"] == "mixture"
        for scorer in ("rnn", "ngram", "mixture"):
            answer = client.post("/v1/lm/complete", json={"text": "the cat sat on the ", "k": 3, "scorer": scorer})
            assert answer.status_code == 200
            expected = pipeline.complete("the cat sat on the ", k=3, scorer=scorer)
            assert [(s["word"], pytest.approx(s["probability"])) for s in answer.json()["suggestions"]] == expected
        bad = client.post("/v1/lm/complete", json={"text": "the", "scorer": "trigram"})
        assert bad.status_code == 422 and "rnn, ngram, mixture" in bad.json()["error"]
        sid = client.post("/v1/lm/sessions", json={"scorer": "ngram"}).json()["session_id"]
        typed = client.post(f"/v1/lm/sessions/{sid}/keys", json={"text": "the cat sat on the "}).json()
        ngram = pipeline.complete("the cat sat on the ", k=3, scorer="ngram")
        assert [s["word"] for s in typed["suggestions"]] == [w for w, _ in ngram]
