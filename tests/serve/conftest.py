"""Tiny trained runs (a word language model and a text classifier), app factories, and readers of what the
server writes (server-sent events, the Prometheus text format) for the server tests."""

import csv
import json
import random
import re

import pytest
import torch

from rnnkit.config import apply_overrides
from rnnkit.pipeline import from_checkpoint
from rnnkit.serve import Settings, create_app
from rnnkit.tasks import run as runner

TEXT = "the cat sat on the mat. the dog sat on the log. a cat ate the fish. the car is red.\n" * 100
LM = ["data.codec.type=word", "model.embed_size=16", "model.encoder.hidden_size=32", "model.encoder.num_layers=1",
      "train.steps=20", "train.eval_every=20", "train.lr=0.01", "train.warmup_steps=0", "train.progress=false",
      "data.batch_size=4", "data.bptt=16", "data.keyboard_words=0"]
CLASSIFY = ["model.embed_size=16", "model.encoder.hidden_size=16", "train.steps=20", "train.eval_every=20",
            "train.lr=0.01", "train.warmup_steps=0", "data.batch_size=16", "train.progress=false"]


def reviews(n: int = 80) -> list[tuple[str, str]]:
    rng = random.Random(0)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = rng.choices(["the", "film", "was", "and", "it", "plot"], k=4)
        words.insert(rng.randint(0, 4), "good" if label == "pos" else "bad")
        rows.append((" ".join(words), label))
    return rows


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """``(root, lm_run, classify_run)``: two runs trained for a few steps under one temporary folder."""
    root = tmp_path_factory.mktemp("serve")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    (root / "corpus.txt").write_text(TEXT, encoding="utf-8")
    runner.train("lm", apply_overrides(runner.make_config("lm"), LM), out=root / "words", data=str(root / "corpus.txt"))
    with open(root / "reviews.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label"), *reviews()])
    cfg = apply_overrides(runner.make_config("classify"), CLASSIFY)
    runner.train("classify", cfg, out=root / "reviews", data=str(root / "reviews.csv"))
    torch.set_num_threads(threads)
    return root, root / "words", root / "reviews"


@pytest.fixture(scope="session")
def char_pipeline(runs):
    """A character language model (no ``<unk>``: it refuses unseen characters), trained for three steps."""
    root = runs[0]
    overrides = [o for o in LM if not o.startswith("data.codec")]  # the default codec: characters
    cfg = apply_overrides(runner.make_config("lm"), [*overrides, "train.steps=3", "train.eval_every=3"])
    runner.train("lm", cfg, out=root / "chars", data=str(root / "corpus.txt"))
    return from_checkpoint(root / "chars")


@pytest.fixture(scope="session")
def lm_pipeline(runs):
    return from_checkpoint(runs[1])


@pytest.fixture(scope="session")
def classify_pipeline(runs):
    return from_checkpoint(runs[2])


@pytest.fixture
def make_app(runs, lm_pipeline, classify_pipeline):
    """``make_app(**settings)``: an app over the two trained pipelines (already loaded, to stay fast)."""

    def make(**overrides):
        settings = Settings(allowed_dirs=(runs[0],), **overrides)
        return create_app([("words", lm_pipeline), ("reviews", classify_pipeline)], settings)

    return make

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def _events(text: str) -> list[tuple[str, dict]]:
    """``(event name, data)`` for each event of a text/event-stream body."""
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields.get("event", "message"), json.loads(fields["data"])))
    return out


def _prometheus(text: str) -> dict[str, list[tuple[str, float]]]:
    """Samples by metric family, checking every line: a sample needs a ``# TYPE`` of its family before it."""
    families: dict[str, str] = {}
    samples: dict[str, list[tuple[str, float]]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"counter", "gauge", "histogram", "summary", "untyped"}, line
            families[name] = kind
            continue
        if line.startswith("# HELP ") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        name = match.group(1)
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in families else name
        assert family in families, f"{name} has no # TYPE line"
        samples.setdefault(family, []).append((line, float(match.group(4))))
    return samples


def _metric(text: str, prefix: str) -> float:
    """The value of the one sample whose line starts with ``prefix``."""
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)]
    assert len(values) == 1, (prefix, values)
    return values[0]


@pytest.fixture(scope="session")
def read():
    """``read.events(body)``, ``read.prometheus(text)`` and ``read.metric(text, line_prefix)``."""

    class Read:
        events, prometheus, metric = staticmethod(_events), staticmethod(_prometheus), staticmethod(_metric)

    return Read
