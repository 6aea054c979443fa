"""``EventModel``: a categorical next-event model over performance events (Performance RNN, Oore et al. 2018).

Event t goes in through an embedding, the configured encoder reads it, and a linear layer gives the logits of
event t + 1 over the V events of the vocabulary (``rnnkit.tasks.music.events``). A piece is read after a
start token, id V, which has an embedding row but no logit: it is read, never predicted. The loss is the
mean cross-entropy per event in nats.

    inputs   <start>  e1  e2  ...  e(T-1)        (B, T) ids, V the start
    targets    e1     e2  e3  ...  eT            (B, T) ids, IGNORE on padding
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.batch import IGNORE, Batch
from rnnkit.models.base import Output
from rnnkit.models.encoder import build_encoder
from rnnkit.nn.dropout import LockedDropout, weight_drop
from rnnkit.state import State
from rnnkit.tasks.music.config import MusicModelConfig


class EventModel(nn.Module):
    """``EventModel(config, events)`` over ``events`` ids (V). ``forward(Batch(inputs (B, T), targets (B, T),
    lengths))`` -> ``Output`` with logits (B, T, V) and the mean cross-entropy per scored event; ``step(ids
    (B,), state)`` -> (logits (B, V), state) for generation. ValueError for a bidirectional encoder."""

    def __init__(self, config: MusicModelConfig, events: int):
        super().__init__()
        if config.encoder.bidirectional:
            raise ValueError("an event model reads left to right: model.encoder.bidirectional must be false")
        self.config, self.events = config, events
        embed_size = config.embed_size or config.encoder.hidden_size
        self.embed = nn.Embedding(events + 1, embed_size)  # the last row: the start token
        self.input_dropout = LockedDropout(config.input_dropout)
        self.encoder = build_encoder(config.encoder, embed_size)
        if config.weight_drop:
            for cell in self.encoder.cells():
                weight_drop(cell, config.weight_drop)
        self.output_dropout = LockedDropout(config.output_dropout)
        self.out = nn.Linear(self.encoder.output_size, events)

    @property
    def start_id(self) -> int:
        """The id of the start token every piece is read after: V, one past the vocabulary."""
        return self.events

    def set_frequencies(self, p: Tensor) -> None:
        """Set the output bias to log p, p (V,) each event's training frequency clamped to at least 1e-6, so
        an untrained model predicts the unigram distribution (the baseline)."""
        if p.shape != self.out.bias.shape:
            raise ValueError(f"expected {self.events} frequencies, got shape {tuple(p.shape)}")
        with torch.no_grad():
            self.out.bias.copy_(p.to(self.out.bias).clamp_min(1e-6).log())

    def features(self, ids: Tensor, state: State | None = None, *, lengths: Tensor | None = None):
        """(B, T) ids -> ((B, T, H) vectors that predict each next event, final state)."""
        x = self.input_dropout(self.embed(ids))  # (B, T, E)
        y, state = self.encoder(x, state, lengths=lengths)
        return self.output_dropout(y), state

    def forward(self, batch: Batch, state: State | None = None) -> Output:
        h, state = self.features(batch.inputs, state, lengths=batch.lengths)
        logits = self.out(h)  # (B, T, V)
        targets = batch.targets.reshape(-1)
        loss = nn.functional.cross_entropy(logits.reshape(-1, self.events), targets, ignore_index=IGNORE)
        return Output(loss=loss, logits=logits, state=state, weight=float((targets != IGNORE).sum()))

    @torch.no_grad()
    def step(self, ids: Tensor, state: State | None) -> tuple[Tensor, State]:
        """One id (B,) read -> ((B, V) logits of the next event, the state after it)."""
        h, state = self.features(ids.unsqueeze(1), state)
        return self.out(h[:, 0]), state

    @torch.no_grad()
    def start(self, batch: Batch) -> State:
        """The state after reading all but the last id of ``batch.inputs`` (B, T), which starts with the start
        token; the caller then steps with ``batch.inputs[:, -1]`` (the generator protocol)."""
        if batch.inputs.shape[1] <= 1:
            return self.encoder.init_state(batch.size)
        return self.features(batch.inputs[:, :-1])[1]
