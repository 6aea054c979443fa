"""``rnnkit bench quality music [--data chorales.json] --minutes M``: the negative log-likelihood per time step
on the test split (frame level, Boulanger-Lewandowski et al. 2012) of each output head after M minutes of
training, at its best validation checkpoint, beside every pitch at its training frequency.

Targets: the independent sigmoid head at most 8.5 nats a step, the joint (note-by-note) head at most 7.0,
on JSB Chorales at quarter-note steps. Each head trains for the whole budget, one after the other.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from rnnkit.tasks.base import Option

OPTIONS = [Option("--head", "music: which output head to train: sigmoid, joint or both (default both)", str, "HEAD")]
NEEDS_DATA = False  # without --data: the embedded JSB Chorales
TARGETS = {"sigmoid": 8.5, "joint": 7.0}  # nats a time step on the test split


def _heads(config) -> list[str]:
    head = config.options.get("head") or "both"
    if head not in ("sigmoid", "joint", "both"):
        raise ValueError(f"--head must be sigmoid, joint or both, got {head!r}")
    return ["sigmoid", "joint"] if head == "both" else [head]


def samples(config) -> int:
    return len(_heads(config))


def music_config(config, head: str):
    """The ``music`` defaults with ``head`` and the user's overrides on top."""
    from rnnkit.config import apply_overrides
    from rnnkit.tasks.music import MusicRun

    cfg = MusicRun()
    cfg.model.head = head
    cfg.train.progress = False
    if config.quick:
        cfg.model.encoder.hidden_size, cfg.model.encoder.num_layers, cfg.model.nade_hidden = 32, 1, 16
    return apply_overrides(cfg, list(config.overrides))


def results(config, advance: Callable[[str], None]) -> list[dict]:
    out = []
    for head in _heads(config):
        out.append(head_quality(config, head))
        advance(head)
    return out


def head_quality(config, head: str) -> dict:
    from rnnkit import checkpoint as ckpt
    from rnnkit.models.language_model import count_parameters
    from rnnkit.tasks.run import train_run

    cfg = music_config(config, head)
    with tempfile.TemporaryDirectory(prefix="rnnkit-bench-") as tmp:
        out = Path(config.out) / head if config.out else Path(tmp) / head
        trained = train_run("music", cfg, data=config.data, out=out, minutes=config.minutes)
        parts, trainer = trained.parts, trained.trainer
        best = ckpt.load(out / "best", with_trainer=False) if ckpt.exists(out / "best") else None
        if best is not None:
            parts.model.load_state_dict(best.model)
        test = trainer.evaluate(parts.test)
    return {
        "name": f"rnnkit music, {head} head",
        "task": "music",
        "head": head,
        "config": {"encoder": f"{cfg.model.encoder.num_layers}x{cfg.model.encoder.hidden_size} "
                              f"{cfg.model.encoder.cell}", "parameters": count_parameters(parts.model),
                   "updates": trainer.step, "best_step": best.run.step if best is not None else trainer.step},
        "minutes": trained.seconds / 60,
        "passes": trainer.step * cfg.data.batch_size / max(len(parts.train.pieces), 1),
        "valid": best.run.metrics if best is not None else {},
        "test": test,
        "baseline_name": parts.baseline_name,
        "baseline": parts.baseline_metrics(),
        "target_nll": TARGETS[head],
        "stopped": trainer.stopped,
    }


def missed(result: dict) -> str | None:
    nll = result["test"]["loss"]
    if nll <= result["target_nll"]:
        return None
    return f"{result['name']}: {nll:.3f} nats a step on the test split, above the target of {result['target_nll']}"


def render(data: dict) -> list:
    from rich.table import Table

    table = Table(title="rnnkit bench quality music: test NLL per time step after a fixed budget",
                  title_justify="left")
    for column in ("model", "minutes", "updates", "best at", "valid NLL", "test NLL", "target"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in data["results"]:
        verdict = f"<= {r['target_nll']} ({'fail' if missed(r) else 'pass'})"
        valid = r["valid"].get("loss")
        table.add_row(f"{r['name']} ({r['config']['encoder']})", f"{r['minutes']:.1f}", f"{r['config']['updates']:,}",
                      f"{r['config']['best_step']:,}", "-" if valid is None else f"{valid:.3f}",
                      f"{r['test']['loss']:.3f}", verdict)
    if data["results"]:
        r = data["results"][0]
        table.add_row(r["baseline_name"], "-", "-", "-", "-", f"{r['baseline']['loss']:.3f}", "")
    return [table]
