"""Train, resume, load and evaluate a task's run: the one recipe that ``rnnkit train``, ``rnnkit eval``, the
demo and the benchmarks call.

``train_run`` builds the task's parts, opens the run directory (when ``out`` is given), trains (to a number
of updates, or to a wall-clock budget) and returns the trained parts; ``train`` adds the test figures,
the plots and ``metrics.json``. ``load`` reads a run back with its preprocessor restored once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit import checkpoint as ckpt
from rnnkit import registry
from rnnkit.config import apply_overrides, from_dict, load_toml, to_dict
from rnnkit.files import free_path, write_json_atomic
from rnnkit.rundir import RunDir
from rnnkit.tasks.base import Parts, Task
from rnnkit.train.plots import plot_history
from rnnkit.train.trainer import Trainer

METRICS_FILE = "metrics.json"


def make_config(task_name: str, *, config_file: str | None = None, overrides: Sequence[str] = ()) -> Any:
    """The run config of ``task_name``: its defaults, then the TOML file, then ``key=value`` overrides."""
    task = registry.task(task_name)
    cfg = load_toml(task.config_class, config_file) if config_file else task.config_class()
    return task.resolve(apply_overrides(cfg, overrides))


@dataclass
class TrainedRun:
    """A run after training: its task, config, parts (model, data, preprocessor), trainer, run directory
    (None when trained without one) and the seconds the training took."""

    task: Task
    config: Any
    parts: Parts
    trainer: Trainer
    run: RunDir | None
    seconds: float
    data: str | None = None


def train_run(
    task_name: str,
    cfg: Any,
    *,
    data: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    minutes: float | None = None,
    validate: bool = True,
    say: Callable[[str], None] = lambda _: None,
) -> TrainedRun:
    """Train ``task_name`` with ``cfg`` on ``data`` (None: the task's embedded default).

    ``out``: the run directory that receives metrics, ``last`` and ``best`` (see ``RunDir`` for
    ``resume`` and ``overwrite``); without it nothing is written. ``minutes``: train to that wall-clock
    budget, the number of updates set from the measured speed so the schedule ends with it (see
    ``rnnkit.train.budget``); otherwise ``cfg.train.steps`` updates. ``validate=False`` trains without the
    validation split (no evaluations, no ``best``). ``say`` receives the task's notes on the choices it made."""
    import time

    from rnnkit.train.budget import fit_for

    task = registry.task(task_name)
    cfg = task.resolve(cfg)
    torch.manual_seed(cfg.train.seed)  # the model's initial weights repeat with the seed
    if minutes is not None:  # the budget, for a task that sizes its model to it (and in the saved config)
        cfg = replace(cfg, train=replace(cfg.train, max_minutes=minutes))
    parts = task.build(cfg, data)
    cfg = parts.config if parts.config is not None else cfg
    for note in parts.notes:
        say(note)
    prep = parts.preprocessor.to_dict() if parts.preprocessor is not None else None
    meta = ckpt.RunMeta(task=task_name, config=to_dict(cfg), preprocessor=prep, data=data)
    run = RunDir(out, task=task_name, config=meta.config, resume=resume, overwrite=overwrite) if out else None
    trainer = Trainer(parts.model, cfg.train, train=parts.train, valid=parts.valid if validate else None, run=run,
                      meta=meta)
    if run is not None and run.resumed and ckpt.exists(run.last):
        trainer.resume(ckpt.load(run.last))
        run.rewind(trainer.step)
    started = time.perf_counter()
    if minutes is not None:
        fit_for(trainer, minutes)  # finishes the trainer
    else:
        trainer.fit()
        trainer.finish()
    return TrainedRun(task, cfg, parts, trainer, run, time.perf_counter() - started, data)  # cfg as resolved


@dataclass
class TrainResult:
    run: Path
    history: list[dict]
    test: dict[str, float]
    baseline: dict[str, float] | None
    stopped: str
    baseline_name: str = "baseline"
    metrics_file: Path | None = None


def train(
    task_name: str,
    cfg: Any,
    *,
    out: str | Path,
    data: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> TrainResult:
    """Train ``task_name`` with ``cfg`` into the run directory ``out``; continue it with ``resume``. The test
    figures of the best validation checkpoint, beside the task's baseline, go to ``out/metrics.json``."""
    trained = train_run(task_name, cfg, data=data, out=out, resume=resume, overwrite=overwrite, say=say)
    run, parts, cfg = trained.run, trained.parts, trained.config
    history = run.read_metrics()
    plot_history(history, run.path / "loss.png", clip_norm=cfg.train.clip_norm)
    if ckpt.exists(run.best):  # the test figures are the best validation checkpoint's, as rnnkit eval gives them
        parts.model.load_state_dict(ckpt.load(run.best, with_trainer=False).model)
    test = parts.metrics(trained.trainer.evaluate(parts.test)) if parts.test is not None else {}
    if parts.test is not None:
        parts.write_artifacts(run.path)
    baseline = parts.baseline_metrics()
    written = write_metrics(run.path / METRICS_FILE, task_name, cfg, data, "test", test, baseline, parts.baseline_name)
    return TrainResult(run.path, history, test, baseline, trained.trainer.stopped, parts.baseline_name, written)


def write_metrics(path: Path, task: str, cfg: Any, data: str | None, split: str, metrics: dict,
                  baseline: dict | None, baseline_name: str) -> Path:
    """``metrics.json``: the figures of ``split``, the baseline's beside them, and a digest of the run config
    that produced them (SHA-256 of its canonical JSON), so a figure can be traced to its settings."""
    config = to_dict(cfg)
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return write_json_atomic(path, {
        "format": "rnnkit-metrics", "format_version": 1, "task": task, "split": split, "data": data,
        "created": datetime.now(UTC).isoformat(timespec="seconds"), "metrics": metrics,
        "baseline_name": baseline_name if baseline else None, "baseline": baseline,
        "config_digest": "sha256:" + digest,
    }, indent=2)


@dataclass
class Loaded:
    """A trained run: its task name, run config, model (with its weights, in eval mode), preprocessor,
    checkpoint and run directory."""

    task: str
    config: Any
    model: nn.Module
    checkpoint: ckpt.Checkpoint
    preprocessor: Any = None
    run: Path | None = None  # the run directory it was read from

    @property
    def meta(self) -> ckpt.RunMeta:
        return self.checkpoint.run


def load(run: str | Path, *, which: str = "best") -> Loaded:
    """The ``best`` checkpoint of a run directory (``last`` when there is no ``best``), needing no data."""
    path = Path(run)
    if not path.is_dir():
        raise ckpt.CheckpointError(f"{run}: no such run directory")
    where = path / which if ckpt.exists(path / which) else path / "last"
    checkpoint = ckpt.load(where, with_trainer=False)
    meta = checkpoint.run
    task = registry.task(meta.task)
    cfg = from_dict(task.config_class, meta.config)
    preprocessor = task.load_preprocessor(meta.preprocessor)
    model = task.build_model(cfg, preprocessor)
    model.load_state_dict(checkpoint.model)
    model.eval()
    return Loaded(meta.task, cfg, model, checkpoint, preprocessor, path)


def load_parts(loaded: Loaded, data: str | None = None) -> Parts:
    """The data of a trained run (its own, or ``data`` read with the run's preprocessor), with its model."""
    path = data if data is not None else loaded.meta.data
    parts = registry.task(loaded.task).build(loaded.config, path, preprocessor=loaded.preprocessor)
    parts.model = loaded.model
    return parts


def evaluate(run: str | Path, *, data: str | None = None, overwrite: bool = False) -> TrainResult:
    """Metrics of a run's best checkpoint on its test split (or on ``data``), beside the task's baseline;
    written to ``RUN/metrics.json`` (an earlier one is kept unless ``overwrite``: the new figures then go
    to ``metrics-2.json``, ...)."""
    loaded = load(run)
    parts = load_parts(loaded, data)
    trainer = Trainer(loaded.model, loaded.config.train, train=parts.train)
    metrics = parts.metrics(trainer.evaluate(parts.test or parts.valid))
    baseline = parts.baseline_metrics()
    target = Path(run) / METRICS_FILE
    target = target if overwrite else free_path(target)
    split = "test" if data is None else "all of the given data"
    written = write_metrics(target, loaded.task, loaded.config, data if data is not None else loaded.meta.data,
                            split, metrics, baseline, parts.baseline_name)
    return TrainResult(Path(run), [], metrics, baseline, "", parts.baseline_name, written)


def diagnose(run: str | Path, *, out_dir: str | Path | None = None, overwrite: bool = False) -> dict:
    """Gradient flow of a trained run's model on one test batch: gradient_flow.png and .json written
    beside the run (or to ``out_dir``); existing files are refused unless ``overwrite``."""
    from rnnkit.train.diagnostics import gradient_flow, write_gradient_flow

    loaded = load(run)
    parts = load_parts(loaded)
    batch = next(iter((parts.test or parts.valid or parts.train).batches(0)))
    report = gradient_flow(loaded.model, batch)
    write_gradient_flow(report, Path(out_dir or run), overwrite=overwrite)
    return report
