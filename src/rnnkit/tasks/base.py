"""What a task is to the runner: a run config (data + model + train) and a way to build its parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from torch import nn

from rnnkit.train.trainer import DataSource


@dataclass
class Parts:
    """A task's model and data sources for one run config; ``baseline`` scores an input-blind guess."""

    model: nn.Module
    train: DataSource
    valid: DataSource | None
    test: DataSource | None = None
    baseline: dict[str, float] | None = None
    codec: dict | None = None


class Task(Protocol):
    """``config_class`` is the run config dataclass (fields ``data``, ``model``, ``train``);
    ``build(cfg, data_path)`` returns the parts; ``data_path`` is None where the task has built-in data."""

    name: str
    description: str
    config_class: type

    def build(self, cfg: Any, data_path: str | None) -> Parts: ...
