"""``MusicModel``: a recurrent network over piano-roll frames that predicts each next frame.

The frame of step t (multi-hot over P pitches) goes in; the vector after it predicts the frame of step
t + 1 through the head (``rnnkit.tasks.music.heads``). A piece of T frames is read after an all-silent
start frame, so all T frames are scored: the loss is the negative log-likelihood per time step in nats,
the frame-level figure of Boulanger-Lewandowski et al. (2012).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.batch import Batch
from rnnkit.models.base import Output
from rnnkit.models.encoder import build_encoder
from rnnkit.nn.dropout import LockedDropout, weight_drop
from rnnkit.state import State
from rnnkit.tasks.music.config import MusicModelConfig
from rnnkit.tasks.music.heads import JointHead, SigmoidHead


class MusicModel(nn.Module):
    """``forward(Batch(inputs (B, T, P), targets (B, T, P), lengths))`` -> mean NLL per real step;
    ``step(frame (B, P), state)`` -> (vectors (B, D), state) and ``sample(vectors)`` for generation."""

    def __init__(self, config: MusicModelConfig, pitches: int):
        super().__init__()
        self.config, self.pitches = config, pitches
        self.input_dropout = LockedDropout(config.input_dropout)
        self.encoder = build_encoder(config.encoder, pitches)
        if config.weight_drop:
            for cell in self.encoder.cells():
                weight_drop(cell, config.weight_drop)
        self.output_dropout = LockedDropout(config.output_dropout)
        width = config.encoder.hidden_size * (2 if config.encoder.bidirectional else 1)
        self.head = SigmoidHead(width, pitches) if config.head == "sigmoid" else JointHead(
            width, pitches, hidden=config.nade_hidden)

    def features(self, frames: Tensor, state: State | None = None, *, lengths: Tensor | None = None):
        """(B, T, P) frames -> ((B, T, D) vectors that predict each next frame, final state)."""
        y, state = self.encoder(self.input_dropout(frames), state, lengths=lengths)
        return self.output_dropout(y), state

    def forward(self, batch: Batch, state: State | None = None) -> Output:
        h, state = self.features(batch.inputs, state, lengths=batch.lengths)
        nll = self.head.nll(h, batch.targets)  # (B, T)
        mask = batch.mask
        steps = float(mask.sum())
        return Output(loss=(nll * mask).sum() / max(steps, 1.0), state=state, weight=steps)

    @torch.no_grad()
    def step(self, frame: Tensor, state: State | None) -> tuple[Tensor, State]:
        """One frame (B, P) read -> ((B, D) vectors predicting the next frame, the state after it)."""
        h, state = self.features(frame.unsqueeze(1), state)
        return h[:, 0], state

    def start_frame(self, batch_size: int = 1) -> Tensor:
        """The all-silent frame every piece is read after."""
        return torch.zeros(batch_size, self.pitches, device=next(self.parameters()).device)
