"""``rnnkit bench quality classify --data PATH --minutes M``: held-out test accuracy of the ``classify``
defaults within M minutes, beside a bag-of-words logistic regression and the majority class on the same
split.

The split is stratified and seeded: ``test_fraction`` (10%) held out, 10% of the rest for validation.
Unless ``--no-pretrain``, the first ``pretrain_share`` of the budget trains a word-level ``lm`` on the
training split's own text (Dai and Le 2015: the unlabelled text of the task itself), whose embedding and
encoder then start the classifier; the rest trains the classifier, keeping its best validation
checkpoint. The figure is that checkpoint's accuracy on the test split.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rnnkit.tasks.base import Option

PRETRAIN_SHARE = 0.4  # of the budget, when pretraining
TARGET_ACCURACY = 0.78
OPTIONS = [Option("--no-pretrain", "train from scratch, without the language-model pretraining", bool)]
NEEDS_DATA = True


def samples(config) -> int:
    return 2


def results(config, advance: Callable[[str], None]) -> list[dict]:
    return [classify_quality(config, advance)]


def classify_config(config, *, init_from: str = ""):
    """The ``classify`` defaults, with the user's overrides on top."""
    from rnnkit.config import apply_overrides
    from rnnkit.tasks.classify import ClassifyRun

    cfg = ClassifyRun()
    cfg.train.progress = False
    cfg.init.from_run = init_from
    if config.quick:
        cfg.model.encoder.hidden_size, cfg.model.embed_size = 16, 16
    return apply_overrides(cfg, [o for o in config.overrides if not o.startswith("lm.")])


def lm_config(config, classify_cfg):
    """A word-level language model shaped as the classifier's forward encoder."""
    from rnnkit.config import apply_overrides
    from rnnkit.models.language_model import LMConfig
    from rnnkit.tasks.lm import LMRun, TextDataConfig

    enc = replace(classify_cfg.model.encoder, bidirectional=False, dropout=0.0)
    cfg = LMRun(data=TextDataConfig(codec=classify_cfg.data.codec, batch_size=32, bptt=35, keyboard_words=0),
                model=LMConfig(embed_size=classify_cfg.model.embed_size, encoder=enc, input_dropout=0.2,
                               output_dropout=0.3))
    cfg.train = replace(cfg.train, lr=3e-3, eval_every=10**9, progress=False)
    return apply_overrides(cfg, [o[3:] for o in config.overrides if o.startswith("lm.")])


def classify_quality(config, advance: Callable[[str], None]) -> dict:
    from rnnkit.tasks import run as runner
    from rnnkit.tasks.classify import split_data

    started = time.perf_counter()
    probe = classify_config(config)
    probe.data.test_fraction = 0.1
    train, _, _ = split_data(probe, config.data)
    with tempfile.TemporaryDirectory(prefix="rnnkit-bench-") as tmp:
        lm_run, lm_minutes = "", 0.0
        if not config.options.get("no_pretrain"):
            lm_minutes = config.minutes * PRETRAIN_SHARE
            lm_run = _pretrain(config, probe, train, Path(tmp), lm_minutes)
        advance("pretrain")
        cfg = classify_config(config, init_from=lm_run)
        left = config.minutes - (time.perf_counter() - started) / 60
        cfg.train = replace(cfg.train, max_minutes=max(left, 0.1))
        result = runner.train("classify", cfg, out=Path(tmp) / "classify", data=config.data)
        advance("train")
    return {
        "name": "rnnkit classify",
        "task": "classify",
        "config": {"model": _describe(cfg), "pretrained_lm_minutes": round(lm_minutes, 2),
                   "steps": result.history[-1]["step"] if result.history else 0, "stopped": result.stopped},
        "minutes": (time.perf_counter() - started) / 60,
        "test": result.test,
        "baseline_name": result.baseline_name,
        "baseline": result.baseline,
        "target_accuracy": TARGET_ACCURACY,
    }


def _pretrain(config, probe, train, tmp: Path, minutes: float) -> str:
    """Train the language model on the training split's text for ``minutes``; returns its run dir."""
    from rnnkit.tasks.run import train_run

    text = tmp / "train.txt"
    text.write_text("".join(e.x.strip() + "\n" for e in train.examples), encoding="utf-8")
    train_run("lm", lm_config(config, probe), data=str(text), out=tmp / "lm", minutes=minutes)
    return str(tmp / "lm")


def _describe(cfg) -> str:
    e = cfg.model.encoder
    way = "bi" if e.bidirectional else ""
    pooling, embed = cfg.model.pooling, cfg.model.embed_size
    return f"{e.num_layers}x{e.hidden_size} {way}{e.cell}, {pooling} pooling, embedding {embed}"


def render(data: dict) -> list:
    from rich.table import Table

    table = Table(title="rnnkit bench quality classify: held-out test accuracy", title_justify="left")
    for column in ("model", "minutes", "accuracy", "macro F1", "target"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in data["results"]:
        render_rows(table, r)
    return [table]


def missed(result: dict) -> str | None:
    """A line naming the missed target, or None when the result meets it."""
    if meets_target(result):
        return None
    baseline = (result.get("baseline") or {}).get("accuracy")
    beside = f" (bag of words {baseline:.4f})" if baseline is not None else ""
    return (f"{result['name']}: test accuracy {result['test']['accuracy']:.4f}{beside}; the target is at least "
            f"{result['target_accuracy']:.2f} and above the bag of words")


def render_rows(table, r: dict) -> None:
    """The classifier's row and its baselines' rows in the quality table."""
    t, b = r["test"], r.get("baseline") or {}
    verdict = f">= {r['target_accuracy']:.2f}" + (" and > bag of words" if b else "")
    verdict += f" ({'pass' if meets_target(r) else 'fail'})"
    table.add_row(f"{r['name']} ({r['config']['model']})", f"{r['minutes']:.1f}", f"{t['accuracy']:.4f}",
                  f"{t['macro_f1']:.4f}", verdict)
    if b:
        table.add_row(r["baseline_name"], "-", f"{b['accuracy']:.4f}", f"{b['macro_f1']:.4f}", "")
        table.add_row("majority class", "-", f"{b['majority_accuracy']:.4f}", "-", "")


def meets_target(r: dict) -> bool:
    """At least the target accuracy, and above the bag of words of the same run when there is one."""
    accuracy, baseline = r["test"]["accuracy"], (r.get("baseline") or {}).get("accuracy")
    return accuracy >= r["target_accuracy"] and (baseline is None or accuracy > baseline)
