"""What a task is to the runner: a run config (data + model + train) and a way to build its parts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from torch import nn

from rnnkit.train.trainer import DataSource


@dataclass
class Parts:
    """A task's model and data sources for one run config.

    ``baseline`` holds the metrics of a reference method on the same split (an input-blind guess, an
    n-gram model), or a function computing them when asked; ``baseline_name`` says what it is.
    ``extra_metrics(metrics, model)`` derives further figures from the trainer's metrics and the model
    (perplexity from a loss, next-word accuracy of the model's suggestions). ``artifacts(run_dir, model)``
    writes figures of the test split beside a run (a confusion matrix) and returns their paths.
    """

    model: nn.Module
    train: DataSource
    valid: DataSource | None
    test: DataSource | None = None
    baseline: dict[str, float] | Callable[[], dict[str, float]] | None = None
    codec: dict | None = None
    baseline_name: str = "input-blind baseline"
    extra_metrics: Callable[[dict[str, float], nn.Module], dict[str, float]] | None = None
    artifacts: Callable[[Path, nn.Module], list[Path]] | None = None

    def baseline_metrics(self) -> dict[str, float] | None:
        if callable(self.baseline):
            self.baseline = self.baseline()
        return self.baseline

    def metrics(self, raw: dict[str, float]) -> dict[str, float]:
        return self.extra_metrics(raw, self.model) if self.extra_metrics is not None else raw

    def write_artifacts(self, run_dir: Path) -> list[Path]:
        return self.artifacts(Path(run_dir), self.model) if self.artifacts is not None else []


class Task(Protocol):
    """``config_class`` is the run config dataclass (fields ``data``, ``model``, ``train``);
    ``build(cfg, data_path, codec)`` returns the parts; ``data_path`` is None for the built-in data;
    ``codec`` (a codec's ``to_dict``) is given when a trained run is evaluated on new data.
    ``build_model(cfg, codec)`` makes the model alone, to load a checkpoint's weights into."""

    name: str
    description: str
    config_class: type

    def build(self, cfg: Any, data_path: str | None, codec: dict | None = None) -> Parts: ...

    def build_model(self, cfg: Any, codec: dict | None) -> nn.Module: ...
