"""``rnnkit demo``: a next-word predictor trained on the embedded default corpus, in a few minutes on a CPU.

The corpus is English prose that Python itself ships (its documentation topics and the docstrings of its
standard library), so the demo needs no download. It trains a word-level LSTM to a wall-clock budget,
scores it beside a Kneser-Ney trigram fitted on the same split (next-word accuracy, keystroke savings),
shows suggestions for a few typed prefixes, measures the latency of a keystroke, and writes an HTML
report and the run directory.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rnnkit.autocomplete import NGramScorer, Predictor, Session, keystroke_savings, next_word_accuracy
from rnnkit.config import to_dict
from rnnkit.data.text import CodecConfig, codec_from_dict
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.language_model import LMConfig
from rnnkit.rundir import RunDir
from rnnkit.tasks.lm import LM, LMRun, TextDataConfig, corpus_spans, fit_ngram, score_ngram
from rnnkit.train.budget import fit_for
from rnnkit.train.plots import plot_history
from rnnkit.train.trainer import Trainer

PREFIXES = ("the function returns a", "if the file does not", "this module provides", "raise an", "the default valu")
EVAL_WORDS = 3000  # validation words for next-word accuracy and keystroke savings (each costs a model step)


def demo_config() -> LMRun:
    """The demo's run config: lowercased words, a one-layer LSTM with tied embeddings, cosine schedule."""
    return LMRun(
        data=TextDataConfig(codec=CodecConfig(type="word", max_vocab=8000, lowercase=True), batch_size=32, bptt=35),
        model=LMConfig(embed_size=256, encoder=EncoderConfig(hidden_size=512), tie_weights=True,
                       output_dropout=0.2),
    )


@dataclass
class DemoResult:
    run: Path
    metrics: dict[str, float]
    baseline: dict[str, float]
    suggestions: dict[str, list[tuple[str, float]]]
    latency_ms: dict[str, float]
    report: Path
    history: list[dict] = field(default_factory=list)


def run_demo(out: str | Path, *, minutes: float = 2.0, say: Callable[[str], None] = print) -> DemoResult:
    """Train, evaluate and report the demo model into the run directory ``out`` (which must not exist)."""
    cfg = demo_config()
    torch.manual_seed(cfg.train.seed)
    say("reading the embedded corpus: " + "Python's documentation topics and standard-library docstrings")
    spans = corpus_spans(None)
    parts = LM.build(cfg, None)
    codec = codec_from_dict(parts.codec)
    size = sum(s.size for s in spans)
    say(f"{len(spans)} documents, {size:,} characters, {codec.vocab_size:,} words in the vocabulary")
    run = RunDir(out, task="lm", config=to_dict(cfg), resume=False, overwrite=False)
    meta = {"task": "lm", "config": to_dict(cfg), "codec": parts.codec, "data": None}
    trainer = Trainer(parts.model, cfg.train, train=parts.train, valid=parts.valid, run=run, meta=meta)
    say(f"training a {_describe(cfg)} for {minutes:g} minutes")
    fit_for(trainer, minutes)
    trainer.evaluate_and_checkpoint()
    metrics = parts.metrics(trainer.evaluate(parts.valid))
    say("fitting the Kneser-Ney trigram baseline on the same split")
    ngram = fit_ngram(codec, parts.train.spans, cfg.data)
    baseline = parts.metrics(score_ngram(ngram, codec, parts.valid.spans))
    valid_text = _valid_text(parts.valid.spans)
    model_predictor = Predictor(parts.model.eval(), codec)
    ngram_predictor = Predictor(NGramScorer(ngram), codec)
    say(f"scoring next-word suggestions on {EVAL_WORDS:,} validation words")
    for predictor, scores in ((model_predictor, metrics), (ngram_predictor, baseline)):
        scores.update(_keyboard_metrics(predictor, valid_text))
    suggestions = {p: Session(model_predictor, k=3).type(p) for p in PREFIXES}
    latency = keystroke_latency(model_predictor, valid_text[:3000])
    history = run.read_metrics()
    plot_history(history, run.path / "loss.png", clip_norm=cfg.train.clip_norm)
    report = write_demo_report(run.path, metrics, baseline, suggestions, latency, cfg)
    return DemoResult(run.path, metrics, baseline, suggestions, latency, report, history)


def _describe(cfg: LMRun) -> str:
    e = cfg.model.encoder
    return f"{e.num_layers}-layer {e.cell.upper()} ({e.hidden_size} units, tied {cfg.model.embed_size}-d embeddings)"


def _valid_text(spans) -> str:
    text, words = [], 0
    for span in spans:
        piece = "".join(span.pieces())
        text.append(piece)
        words += len(piece.split())
        if words > EVAL_WORDS:
            break
    return "\n\n".join(text)


def _keyboard_metrics(predictor: Predictor, text: str) -> dict[str, float]:
    accuracy = next_word_accuracy(predictor, text, k=(1, 3), max_words=EVAL_WORDS)
    savings = keystroke_savings(predictor, text, k=3, max_words=EVAL_WORDS // 3)
    return {"next_word_top1": accuracy["top1"], "next_word_top3": accuracy["top3"],
            "keystroke_savings": savings["keystroke_savings"]}


def keystroke_latency(predictor: Predictor, text: str) -> dict[str, float]:
    """Milliseconds per keystroke of a streaming session typing ``text`` (batch 1, this process)."""
    session, times = Session(predictor, k=3), []
    for c in text:
        started = time.perf_counter()
        session.type(c)
        times.append(1000 * (time.perf_counter() - started))
    times.sort()
    return {"p50": statistics.median(times), "p99": times[min(len(times) - 1, int(0.99 * len(times)))],
            "keystrokes": len(times)}


def write_demo_report(run: Path, metrics, baseline, suggestions, latency, cfg: LMRun) -> Path:
    from rnnkit.report import Section, Table, write_report

    names = ["loss", "perplexity", "accuracy", "top3", "next_word_top1", "next_word_top3", "keystroke_savings"]
    rows = [[n, metrics[n], baseline.get(n, "-")] for n in names if n in metrics]
    typed = [[p, ", ".join(f"{w} ({q:.2f})" for w, q in s)] for p, s in suggestions.items()]
    return write_report(run / "report.html", title="rnnkit demo: next-word prediction", sections=[
        Section("Model", text=f"A {_describe(cfg)} trained on Python's documentation and docstrings."),
        Section("Validation metrics", table=Table(["metric", "LSTM", "Kneser-Ney 3-gram"], rows)),
        Section("Suggestions", table=Table(["typed", "top 3 next words"], typed)),
        Section("Latency per keystroke (ms, batch 1)",
                table=Table(["p50", "p99", "keystrokes"], [[latency["p50"], latency["p99"], latency["keystrokes"]]])),
        Section("Training loss", image=run / "loss.png"),
    ])
