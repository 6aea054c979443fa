"""Train, resume and evaluate a task's run directory: what ``rnnkit train`` and ``rnnkit eval`` call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit import checkpoint as ckpt
from rnnkit import registry
from rnnkit.config import apply_overrides, from_dict, load_toml, to_dict
from rnnkit.rundir import RunDir
from rnnkit.tasks.base import Parts
from rnnkit.train.plots import plot_history
from rnnkit.train.trainer import Trainer


def make_config(task_name: str, *, config_file: str | None = None, overrides: Sequence[str] = ()) -> Any:
    """The run config of ``task_name``: its defaults, then the TOML file, then ``key=value`` overrides."""
    task = registry.task(task_name)
    cfg = load_toml(task.config_class, config_file) if config_file else task.config_class()
    return apply_overrides(cfg, overrides)


@dataclass
class TrainResult:
    run: Path
    history: list[dict]
    test: dict[str, float]
    baseline: dict[str, float] | None
    stopped: str


def train(
    task_name: str,
    cfg: Any,
    *,
    out: str | Path,
    data: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> TrainResult:
    """Train ``task_name`` with ``cfg`` into the run directory ``out``; continue it with ``resume``."""
    task = registry.task(task_name)
    torch.manual_seed(cfg.train.seed)  # the model's initial weights repeat with the seed
    parts = task.build(cfg, data)
    run = RunDir(out, task=task_name, config=to_dict(cfg), resume=resume, overwrite=overwrite)
    meta = {"task": task_name, "config": to_dict(cfg), "codec": parts.codec, "data": data}
    trainer = Trainer(parts.model, cfg.train, train=parts.train, valid=parts.valid, run=run, meta=meta)
    if run.resumed and ckpt.exists(run.last):
        trainer.resume(ckpt.load(run.last))
        run.rewind(trainer.step)
    trainer.fit()
    history = run.read_metrics()
    plot_history(history, run.path / "loss.png", clip_norm=cfg.train.clip_norm)
    test = trainer.evaluate(parts.test) if parts.test is not None else {}
    return TrainResult(run.path, history, test, parts.baseline, trainer.stopped)


def load(run: str | Path, *, which: str = "best") -> tuple[str, Any, nn.Module, Parts | None, ckpt.Checkpoint]:
    """A trained run: (task name, run config, model with its weights, parts, checkpoint). Falls back to
    ``last`` when there is no ``best`` checkpoint."""
    path = Path(run)
    where = path / which if ckpt.exists(path / which) else path / "last"
    checkpoint = ckpt.load(where, with_trainer=False)
    task_name = checkpoint.meta["task"]
    task = registry.task(task_name)
    cfg = from_dict(task.config_class, checkpoint.meta["config"])
    parts = task.build(cfg, checkpoint.meta.get("data"))
    parts.model.load_state_dict(checkpoint.model)
    parts.model.eval()
    return task_name, cfg, parts.model, parts, checkpoint


def evaluate(run: str | Path) -> tuple[dict[str, float], dict[str, float] | None]:
    """Test metrics of a run's best checkpoint, with the task's baseline beside them."""
    _, cfg, model, parts, _ = load(run)
    trainer = Trainer(model, cfg.train, train=parts.train)
    return trainer.evaluate(parts.test or parts.valid), parts.baseline


def diagnose(run: str | Path, *, out_dir: str | Path | None = None) -> dict:
    """Gradient flow of a trained run's model on one test batch: gradient_flow.png and .json written
    beside the run (or to ``out_dir``)."""
    from rnnkit.train.diagnostics import gradient_flow, plot_gradient_flow

    _, _, model, parts, _ = load(run)
    batch = next(iter((parts.test or parts.valid or parts.train).batches(0)))
    report = gradient_flow(model, batch)
    out = Path(out_dir or run)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gradient_flow.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    plot_gradient_flow(report, out / "gradient_flow.png")
    return report
