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
    baseline_name: str = "baseline"


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
    trainer.finish()
    history = run.read_metrics()
    plot_history(history, run.path / "loss.png", clip_norm=cfg.train.clip_norm)
    if ckpt.exists(run.best):  # the test figures are the best validation checkpoint's, as rnnkit eval gives them
        parts.model.load_state_dict(ckpt.load(run.best, with_trainer=False).model)
    test = parts.metrics(trainer.evaluate(parts.test)) if parts.test is not None else {}
    if parts.test is not None:
        parts.write_artifacts(run.path)
    return TrainResult(run.path, history, test, parts.baseline_metrics(), trainer.stopped, parts.baseline_name)


@dataclass
class Loaded:
    """A trained run: its task name, run config, model (with its weights, in eval mode) and checkpoint."""

    task: str
    config: Any
    model: nn.Module
    checkpoint: ckpt.Checkpoint

    @property
    def codec(self) -> dict | None:
        return self.checkpoint.meta.get("codec")


def load(run: str | Path, *, which: str = "best") -> Loaded:
    """The ``best`` checkpoint of a run directory (``last`` when there is no ``best``), needing no data."""
    path = Path(run)
    if not path.is_dir():
        raise ckpt.CheckpointError(f"{run}: no such run directory")
    where = path / which if ckpt.exists(path / which) else path / "last"
    checkpoint = ckpt.load(where, with_trainer=False)
    task_name = checkpoint.meta["task"]
    task = registry.task(task_name)
    cfg = from_dict(task.config_class, checkpoint.meta["config"])
    model = task.build_model(cfg, checkpoint.meta.get("codec"))
    model.load_state_dict(checkpoint.model)
    model.eval()
    return Loaded(task_name, cfg, model, checkpoint)


def load_parts(loaded: Loaded, data: str | None = None) -> Parts:
    """The data of a trained run (its own, or ``data`` read with the run's codec), with its model."""
    path = data if data is not None else loaded.checkpoint.meta.get("data")
    parts = registry.task(loaded.task).build(loaded.config, path, codec=loaded.codec)
    parts.model = loaded.model
    return parts


def evaluate(run: str | Path, *, data: str | None = None) -> TrainResult:
    """Metrics of a run's best checkpoint on its test split (or on ``data``), beside the task's baseline."""
    loaded = load(run)
    parts = load_parts(loaded, data)
    trainer = Trainer(loaded.model, loaded.config.train, train=parts.train)
    metrics = parts.metrics(trainer.evaluate(parts.test or parts.valid))
    return TrainResult(Path(run), [], metrics, parts.baseline_metrics(), "", parts.baseline_name)


def diagnose(run: str | Path, *, out_dir: str | Path | None = None) -> dict:
    """Gradient flow of a trained run's model on one test batch: gradient_flow.png and .json written
    beside the run (or to ``out_dir``)."""
    from rnnkit.train.diagnostics import gradient_flow, plot_gradient_flow

    loaded = load(run)
    parts = load_parts(loaded)
    batch = next(iter((parts.test or parts.valid or parts.train).batches(0)))
    report = gradient_flow(loaded.model, batch)
    out = Path(out_dir or run)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gradient_flow.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    plot_gradient_flow(report, out / "gradient_flow.png")
    return report
