"""An exponential moving average of the weights (Polyak and Juditsky 1992), kept beside the model while it
trains: evaluations and checkpoints read the average, which is smoother than the last update's weights.

The average is ``torch.optim.swa_utils.AveragedModel`` with a decay that warms up as TensorFlow's
``ExponentialMovingAverage`` does, ``min(decay, (1 + n) / (10 + n))`` after n updates, so the first weights,
far from trained, are soon forgotten. A checkpoint keeps the average as its model and the weights being
trained under ``raw.``, so training resumes exactly.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

RAW = "raw."


def ema(model: nn.Module, decay: float) -> AveragedModel:
    """An average of ``model``'s parameters that ``update_parameters(model)`` moves after each update."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"train.ema_decay must be between 0 and 1, got {decay}")

    @torch.no_grad()
    def update(average: list[Tensor], current: list[Tensor], updates: Tensor | int) -> None:
        d = min(decay, (1 + int(updates)) / (10 + int(updates)))
        torch._foreach_lerp_(average, current, 1 - d)

    return AveragedModel(model, multi_avg_fn=update)


def pack(model: nn.Module, average: AveragedModel) -> dict[str, Tensor]:
    """The weights being trained and the count of updates averaged, for a checkpoint's trainer tensors."""
    return {**{RAW + k: v for k, v in model.state_dict().items()}, RAW + "n_averaged": average.n_averaged}


def unpack(tensors: Mapping[str, Tensor], averaged: Mapping[str, Tensor], model: nn.Module,
           average: AveragedModel) -> None:
    """Restore ``model`` and ``average`` from a checkpoint: its model ``averaged`` and its trainer ``tensors``.
    A checkpoint written without an average (training had none) starts the average at its weights."""
    raw = {k[len(RAW):]: v for k, v in tensors.items() if k.startswith(RAW) and k != RAW + "n_averaged"}
    model.load_state_dict(raw or averaged)
    average.module.load_state_dict(averaged)
    average.n_averaged.fill_(int(tensors.get(RAW + "n_averaged", torch.tensor(1))))
