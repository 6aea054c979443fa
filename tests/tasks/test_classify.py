"""Task ``classify`` end to end on small made-up sets: training beats chance and the baselines run, the
confusion matrix is written, predictions and explanations name the deciding word, starting weights come
from a language model or a vectors file, and bad input stops with one line."""

import csv
import random

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.config import apply_overrides
from rnnkit.data.labelled import LabelledDataError
from rnnkit.pipeline import from_checkpoint
from rnnkit.tasks import run as runner
from rnnkit.tasks.classify import TASK as CLASSIFY
from rnnkit.tasks.classify import ClassifyRun, init_from_lm

SMALL = [
    "model.embed_size=16",
    "model.encoder.hidden_size=16",
    "train.steps=120",
    "train.eval_every=40",
    "train.lr=0.01",
    "train.warmup_steps=0",
    "data.batch_size=16",
    "model.dropout=0.0",
    "train.progress=false",
]
FILLER = [
    "the",
    "a",
    "film",
    "movie",
    "plot",
    "actors",
    "story",
    "was",
    "is",
    "and",
    "it",
    "really",
    "quite",
    "very",
    "some",
    "this",
    "that",
]


pytestmark = pytest.mark.usefixtures("one_thread")


def reviews(n: int = 240, seed: int = 0) -> list[tuple[str, str]]:
    """Sentences of filler words where only "good" or "bad" (somewhere inside) decides the label."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = rng.choices(FILLER, k=rng.randint(3, 12))
        words.insert(rng.randint(0, len(words)), "good" if label == "pos" else "bad")
        out.append((" ".join(words), label))
    return out


def write_csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def small_config(*extra: str) -> ClassifyRun:
    return apply_overrides(ClassifyRun(), [*SMALL, *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("classify")
    data = write_csv(tmp / "reviews.csv", reviews())
    torch.set_num_threads(1)
    result = runner.train("classify", small_config(), out=tmp / "run", data=str(data))
    return tmp, result


def test_training_learns_and_reports_beside_the_baselines(trained):
    tmp, result = trained
    assert result.test["accuracy"] >= 0.9
    assert {"macro_f1", "precision/pos", "recall/neg"} <= set(result.test)
    assert result.baseline["accuracy"] >= 0.9  # the bag of words sees "good" and "bad" too
    assert result.baseline["majority_accuracy"] == pytest.approx(0.5, abs=0.1)
    assert (tmp / "run" / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_and_explain_name_the_deciding_word(trained):
    tmp, _ = trained
    pipeline = from_checkpoint(tmp / "run")
    label, probs = pipeline.classify("the plot was good and the actors really quite")
    assert label == "pos" and probs["pos"] > 0.8 and list(probs)[0] == "pos"
    assert sum(probs.values()) == pytest.approx(1.0)
    text = "it is a film that was bad and some story"
    explanation = pipeline.explain(text, steps=64)
    assert explanation.label == "neg" and explanation.method == "integrated gradients"
    assert len(explanation.tokens) == len(explanation.scores) == 10
    top = max(range(10), key=lambda i: explanation.scores[i])
    assert explanation.tokens[top] == "bad"
    # completeness: the scores add up to the logit of "neg" minus its logit for an all-zero input
    batch = pipeline._batch(text)
    with torch.no_grad():
        embedded = pipeline.model.embed_inputs(batch)
        real = pipeline.model.classify(embedded, batch)[0][0, 0]
        zero = pipeline.model.classify(torch.zeros_like(embedded), batch)[0][0, 0]
    assert sum(explanation.scores) == pytest.approx(float(real - zero), rel=0.05, abs=0.05)
    assert pipeline.explain(text, method="gradient x input").method == "gradient x input"
    with pytest.raises(ValueError, match="attention"):
        pipeline.explain(text, method="attention")


def test_cli_predict_explain_writes_a_page_and_never_overwrites(trained, capsys):
    tmp, _ = trained
    run = str(tmp / "run")
    assert main(["predict", run, "a", "good", "movie", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "label: pos" in out
    assert (tmp / "run" / "explanation.html").exists()
    assert main(["predict", run, "a bad movie", "--explain"]) == 0
    assert (tmp / "run" / "explanation-2.html").exists()
    assert "label: neg" in capsys.readouterr().out


def test_attention_pooling_explains_with_its_weights(tmp_path):
    data = write_csv(tmp_path / "r.csv", reviews(160, seed=1))
    runner.train("classify", small_config("model.pooling=attention"), out=tmp_path / "run", data=str(data))
    explanation = from_checkpoint(tmp_path / "run").explain("the movie was good", method="attention")
    assert explanation.method == "attention" and explanation.label == "pos"
    assert sum(explanation.scores) == pytest.approx(1.0, abs=1e-5)


def test_numeric_sequences_train_and_predict(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(160):
        label = "up" if i % 2 else "down"
        n = int(rng.integers(5, 15))
        values = rng.normal(1.0 if label == "up" else -1.0, 0.5, n).round(3)
        rows.append([label, *values])
    path = tmp_path / "series.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)  # headerless, label first: the UCR layout
    result = runner.train("classify", small_config(), out=tmp_path / "run", data=str(path))
    assert result.test["accuracy"] >= 0.9
    label, _ = from_checkpoint(tmp_path / "run").classify("1.2 0.8 1.5 0.9")
    assert label == "up"


def test_a_language_model_starts_the_classifier(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("\n".join(t for t, _ in reviews(100)), encoding="utf-8")
    lm_cfg = apply_overrides(
        runner.make_config("lm"),
        [
            "data.codec.type=word",
            "data.codec.lowercase=true",
            "model.embed_size=16",
            "model.encoder.hidden_size=16",
            "model.encoder.num_layers=1",
            "model.encoder.dropout=0.0",
            "train.steps=5",
            "train.progress=false",
            "data.batch_size=4",
            "data.bptt=8",
            "data.keyboard_words=0",
        ],
    )
    runner.train("lm", lm_cfg, out=tmp_path / "lm", data=str(text))
    data = write_csv(tmp_path / "r.csv", reviews())
    cfg = small_config(f"init.from_run={tmp_path / 'lm'}")
    parts = CLASSIFY.build(cfg, str(data))
    lm = runner.load(tmp_path / "lm").model
    assert torch.equal(parts.model.embed.weight, lm.embed.weight)
    for name, value in lm.encoder.state_dict().items():
        assert torch.equal(parts.model.encoder.state_dict()[name.replace(".cell.", ".forward_layer.cell.")], value)
    two = CLASSIFY.build(small_config(f"init.from_run={tmp_path / 'lm'}", "model.ensemble=2"), str(data)).model
    assert all(torch.equal(r.encoder.state_dict()["layers.0.forward_layer.cell.weight_hh"],
                           lm.encoder.state_dict()["layers.0.cell.weight_hh"]) for r in two.readers)
    # the vocabulary is the language model's
    assert parts.preprocessor.text.to_dict() == runner.load(tmp_path / "lm").preprocessor.to_dict()
    wide = small_config("model.embed_size=8")
    with pytest.raises(ValueError, match="embed_size"):
        init_from_lm(CLASSIFY.build_model(wide, parts.preprocessor), lm, str(tmp_path / "lm"))


def test_word_vectors_start_the_embedding(tmp_path):
    data = write_csv(tmp_path / "r.csv", reviews())
    vectors = tmp_path / "glove.txt"
    vectors.write_text(
        "GOOD " + " ".join(["0.5"] * 16) + "\nunseenword " + " ".join(["1"] * 16) + "\n"
        "bad " + " ".join(["-0.25"] * 16) + "\n",
        encoding="utf-8",
    )
    parts = CLASSIFY.build(small_config(f"init.vectors={vectors}"), str(data))
    text = parts.preprocessor.text  # it lowercases, so "GOOD" is "good"
    weight = parts.model.embed.weight
    assert torch.allclose(weight[text.encode("good")[0]], torch.full((16,), 0.5))
    assert torch.allclose(weight[text.encode("bad")[0]], torch.full((16,), -0.25))
    vectors.write_text("good 1 2 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"glove.txt:1: a vector of 3 numbers"):
        CLASSIFY.build(small_config(f"init.vectors={vectors}"), str(data))


def test_bad_input_stops_with_one_line(tmp_path, capsys, trained):
    rows = reviews(40)
    missing = write_csv(tmp_path / "missing.csv", rows, header=("text", "sentiment"))
    one = write_csv(tmp_path / "one.csv", [(t, "pos") for t, _ in rows])
    for path in (missing, one):
        argv = ["train", "classify", "--data", str(path), "--out", str(tmp_path / "never"), *[f"--{o}" for o in SMALL]]
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"rnnkit: error: {path}") and "\n" not in err
    assert not (tmp_path / "never").exists()
    unseen = write_csv(tmp_path / "unseen.csv", [*rows[:30], ("what a plot", "meh")])
    assert main(["eval", str(trained[0] / "run"), "--data", str(unseen)]) == 1
    err = capsys.readouterr().err.strip()
    assert "label 'meh' was never seen in training" in err and "unseen.csv:" in err and "\n" not in err
    with pytest.raises(LabelledDataError):
        CLASSIFY.build(small_config(), str(one))
