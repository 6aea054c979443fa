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
from dataclasses import dataclass, field, replace
from pathlib import Path

from rnnkit.autocomplete import LMScorer, Predictor, Session, next_word_accuracy
from rnnkit.data.text import CodecConfig
from rnnkit.models.cache import CacheConfig
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.language_model import LMConfig
from rnnkit.tasks.lm import TASK, LMRun, TextDataConfig, corpus_spans, lm_train_defaults, validation_text
from rnnkit.tasks.lm.mixture import Mixture
from rnnkit.tasks.run import METRICS_FILE, train_run, write_metrics
from rnnkit.train.plots import plot_history

PREFIXES = ("the function returns a ", "if the file does not ", "this module provides ", "raise an ",
            "the default valu")
EVAL_WORDS = 4000  # validation words for next-word accuracy and keystroke savings (each costs a model step)


STEPS = 2800  # about 110 s of training on two cores; a fixed number, so the model is the same on any machine
MAX_MINUTES = 6.0  # a guard for slow machines: the run stops there, weaker, and says so


def demo_config() -> LMRun:
    """The demo's run config: lowercased words, a one-layer LSTM with tied embeddings and a continuous
    cache of the last 500 words (``theta`` and ``lam`` chosen on the validation split: the top-3 accuracy
    varied by under 0.01 over theta 0.2 to 0.5, lam 0.15 to 0.25 and sizes 200 to 3000), cosine schedule
    over ``STEPS`` updates. AWD-LSTM's dropouts (locked on the encoder's input and output, whole words of
    the embedding): at 2,800 updates they took the validation perplexity from 100.9 to 88.8 (the trigram:
    102.8); adding weight drop 0.3 gave 90.5 and cost a quarter more time."""
    return LMRun(
        data=TextDataConfig(codec=CodecConfig(type="word", max_vocab=8000, lowercase=True), batch_size=16, bptt=35),
        model=LMConfig(embed_size=128, encoder=EncoderConfig(hidden_size=256, forget_bias=0.0), tie_weights=True,
                       input_dropout=0.2, output_dropout=0.3, embed_dropout=0.1,
                       cache=CacheConfig(size=500, theta=0.3, lam=0.25)),
        train=replace(lm_train_defaults(), lr=5e-3, steps=STEPS, max_minutes=MAX_MINUTES),
    )


@dataclass
class DemoResult:
    run: Path
    metrics: dict[str, float]
    baseline: dict[str, float]
    suggestions: dict[str, list[tuple[str, float]]]
    latency_ms: dict  # p50, p99 and keystrokes of the LSTM; under "mixture", those of the mixture
    report: Path
    history: list[dict] = field(default_factory=list)
    stopped: str = ""  # why training ended before its updates ran out (the time guard), else ""

    @property
    def wins(self) -> bool:
        """The model beats the trigram on plain perplexity and on next-word top-3 (what a keyboard shows)."""
        m, b = self.metrics, self.baseline
        return m["perplexity"] < b["perplexity"] and m["next_word_top3"] > b["next_word_top3"]

    def verdict(self) -> str:
        m, b = self.metrics, self.baseline
        figures = (f"perplexity {m['perplexity']:.1f} against {b['perplexity']:.1f}, next-word top-3 "
                   f"{m['next_word_top3']:.3f} against {b['next_word_top3']:.3f}")
        if "mixture_perplexity" in m and "mixture_next_word_top3" in m:
            figures += (f"; interpolated with it, weight {m['mixture_weight']:.2f} on the LSTM: perplexity "
                        f"{m['mixture_perplexity']:.1f}, next-word top-3 {m['mixture_next_word_top3']:.3f}")
        if self.wins:
            return f"verdict: the LSTM beats the Kneser-Ney trigram ({figures})"
        return f"verdict: the LSTM does NOT beat the Kneser-Ney trigram ({figures})"


def run_demo(
    out: str | Path,
    *,
    minutes: float | None = None,
    cfg: LMRun | None = None,
    eval_words: int = EVAL_WORDS,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Train, evaluate and report the demo model into the run directory ``out`` (which must not exist).
    ``cfg`` replaces the demo's run config (``STEPS`` updates, stopping at ``MAX_MINUTES``); ``minutes``
    replaces that time limit; ``eval_words`` validation words score the suggestions."""
    cfg = cfg or demo_config()
    cfg.data.keyboard_words = eval_words
    if minutes is not None:
        cfg.train.max_minutes = minutes
    spans = corpus_spans(None)
    say(f"the embedded corpus: {TASK.default_data}, {len(spans)} documents, {sum(s.size for s in spans):,} "
        "characters")
    say(f"training a {_describe(cfg)}: {cfg.train.steps:,} updates (at most {cfg.train.max_minutes:g} minutes)")
    trained = train_run("lm", cfg, out=out, say=say)  # ends with an evaluation and the best checkpoint
    parts, trainer, run, codec = trained.parts, trained.trainer, trained.run, trained.parts.preprocessor
    say(f"scoring the model and a Kneser-Ney trigram fitted on the same split ({eval_words:,} words for "
        "next-word accuracy and keystroke savings)")
    parts.model.eval()
    metrics = parts.metrics(trainer.evaluate(parts.valid))
    baseline = parts.baseline_metrics()
    valid_text = validation_text(parts.valid.spans, eval_words)
    plain = Predictor(LMScorer(parts.model, cache=CacheConfig(size=0)), codec)  # the same model, no cache
    metrics["next_word_top3_without_cache"] = next_word_accuracy(plain, valid_text, max_words=eval_words)["top3"]
    predictor = Predictor(parts.model, codec)
    suggestions = {p: Session(predictor, k=3).type(p) for p in PREFIXES}
    latency = keystroke_latency(predictor, valid_text[:3000])
    parts.write_artifacts(run.path)  # the n-gram and the mixture weight, for --scorer mixture (the default)
    mixture = Mixture.load(run.path)
    if mixture is not None:
        latency["mixture"] = keystroke_latency(Predictor(mixture.scorer(parts.model), codec), valid_text[:3000])
    history = run.read_metrics()
    plot_history(history, run.path / "loss.png", clip_norm=cfg.train.clip_norm)
    report = write_demo_report(run.path, metrics, baseline, suggestions, latency, cfg)
    write_metrics(run.path / METRICS_FILE, "lm", cfg, None, "validation", metrics, baseline, parts.baseline_name)
    return DemoResult(run.path, metrics, baseline, suggestions, latency, report, history, trainer.stopped)


def _describe(cfg: LMRun) -> str:
    e = cfg.model.encoder
    cache = f", a cache of {cfg.model.cache.size} words" if cfg.model.cache.size else ""
    return (f"{e.num_layers}-layer {e.cell.upper()} ({e.hidden_size} units, tied {cfg.model.embed_size}-d "
            f"embeddings{cache})")


def keystroke_latency(predictor: Predictor, text: str) -> dict:
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

    names = ["loss", "perplexity", "accuracy", "top3", "cache_perplexity", "cache_top3", "next_word_top1",
             "next_word_top3", "next_word_top3_without_cache", "keystroke_savings"]
    rows = [[n, metrics[n], metrics.get(f"mixture_{n}", "-"), baseline.get(n, "-")] for n in names if n in metrics]
    typed = [[p, ", ".join(f"{w} ({q:.2f})" for w, q in s)] for p, s in suggestions.items()]
    return write_report(run / "report.html", title="rnnkit demo: next-word prediction", sections=[
        Section("Model", text=f"A {_describe(cfg)} trained on Python's documentation and docstrings."),
        Section("Validation metrics", table=Table(["metric", "LSTM", "LSTM and trigram interpolated",
                                                   "Kneser-Ney 3-gram"], rows)),
        Section("Suggestions", table=Table(["typed", "top 3 next words"], typed)),
        Section("Latency per keystroke (ms, batch 1)",
                table=Table(["scorer", "p50", "p99", "keystrokes"],
                            [[name, lat["p50"], lat["p99"], lat["keystrokes"]]
                             for name, lat in (("LSTM", latency), ("mixture", latency.get("mixture"))) if lat])),
        Section("Training loss", image=run / "loss.png"),
    ])
