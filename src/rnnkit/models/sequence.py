"""``SequenceModel``: a recurrent encoder with a linear head, read at the last step or at every step.

The plain many-to-one and many-to-many model: the memory-capacity tasks (adding problem, copy memory,
sequential digits) and any numeric or token sequence with a regression or class target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from rnnkit.batch import IGNORE, Batch
from rnnkit.models.base import Output
from rnnkit.models.encoder import EncoderConfig, build_encoder
from rnnkit.state import State


@dataclass
class SequenceConfig:
    """``input``: "features" reads (B, T, input_size) floats; "tokens" reads (B, T) ids < input_size
    through an embedding of ``embed_size``. ``loss`` "mse" regresses ``output_size`` numbers,
    "cross_entropy" classifies into ``output_size`` classes. ``readout`` "last" scores the output at each
    row's last real step (targets (B, ...)); "every" scores every step (targets (B, T, ...), ``IGNORE``
    where a step is not scored)."""

    input: Literal["features", "tokens"] = "features"
    input_size: int = 1
    embed_size: int = 32
    output_size: int = 1
    loss: Literal["mse", "cross_entropy"] = "mse"
    readout: Literal["last", "every"] = "last"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


class SequenceModel(nn.Module):
    def __init__(self, config: SequenceConfig):
        super().__init__()
        self.config = config
        if config.input == "tokens":
            self.embed = nn.Embedding(config.input_size, config.embed_size)
            width = config.embed_size
        else:
            self.embed = None
            width = config.input_size
        self.encoder = build_encoder(config.encoder, width)
        self.head = nn.Linear(self.encoder.output_size, config.output_size)

    def init_state(self, batch_size: int) -> State:
        return self.encoder.init_state(batch_size)

    def forward(self, batch: Batch, state: State | None = None) -> Output:
        x = self.embed(batch.inputs) if self.embed is not None else batch.inputs
        y, state = self.encoder(x, state, lengths=batch.lengths)  # (B, T, D*H)
        if self.config.readout == "last":
            y = last_step(y, batch.lengths, bidirectional=self.config.encoder.bidirectional)  # (B, D*H)
        logits = self.head(y)
        loss, weight, metrics = self._score(logits, batch)
        return Output(loss=loss, logits=logits, state=state, weight=weight, metrics=metrics)

    def _score(self, logits: Tensor, batch: Batch) -> tuple[Tensor, float, dict[str, float]]:
        targets = batch.targets
        if self.config.loss == "mse":
            mask = batch.mask.unsqueeze(-1) if self.config.readout == "every" else torch.ones_like(logits[..., :1])
            mask = mask.expand_as(logits).to(logits.dtype)
            weight = mask.sum()
            loss = (((logits - targets.view_as(logits)) ** 2) * mask).sum() / weight
            return loss, float(weight), {}
        flat, flat_targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
        loss = nn.functional.cross_entropy(flat, flat_targets, ignore_index=IGNORE)
        scored = flat_targets != IGNORE
        correct = (flat.argmax(-1) == flat_targets)[scored].sum()
        return loss, float(scored.sum()), {"correct": float(correct)}


def last_step(y: Tensor, lengths: Tensor | None, *, bidirectional: bool = False) -> Tensor:
    """(B, T, F) -> (B, F): each row's output at its last real step. For a bidirectional encoder the
    backward half is read at step 0, where it has seen the whole row."""
    batch, steps, width = y.shape
    last = torch.full((batch,), steps - 1, device=y.device) if lengths is None else lengths.to(y.device) - 1
    picked = y[torch.arange(batch, device=y.device), last]
    if not bidirectional:
        return picked
    half = width // 2
    return torch.cat([picked[:, :half], y[:, 0, half:]], dim=1)
