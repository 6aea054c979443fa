"""Optimizers and learning-rate schedules.

The learning rate at an update is ``lr * schedule(step) * scale``: ``schedule`` is a pure function of the
step (linear warmup, then constant or cosine), and ``scale`` is the only state, lowered by the plateau
rule and by the NaN guard. Keeping the state to one float makes resuming exact and the JSON small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ScheduleState:
    scale: float = 1.0
    best: float | None = None
    bad_evals: int = 0


def build_optimizer(model: nn.Module, cfg) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (with momentum) over the trainable parameters; weight decay skips biases and
    norm gains (1-d parameters), as is usual for AdamW (Loshchilov and Hutter 2019)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() > 1]
    rest = [p for p in params if p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)


def schedule_factor(step: int, cfg) -> float:
    """The step-dependent factor of the learning rate for update ``step`` (0-based)."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule != "cosine":
        return 1.0
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def plateau_update(state: ScheduleState, value: float, cfg) -> bool:
    """After an evaluation (lower ``value`` is better): count evaluations without improvement and, with
    the "plateau" schedule, multiply the scale by ``plateau_factor`` after ``plateau_patience`` of them.
    Returns True when ``value`` is a new best."""
    if state.best is None or value < state.best:
        state.best, state.bad_evals = value, 0
        return True
    state.bad_evals += 1
    if cfg.schedule == "plateau" and state.bad_evals % cfg.plateau_patience == 0:
        state.scale *= cfg.plateau_factor
    return False
