"""``Classifier``: a sequence of any length in, one label out (the many-to-one shape).

Tokens go through an embedding (numeric features through a linear layer), a stack of recurrent layers
(bidirectional if configured) reads the padded batch with its lengths, the outputs are pooled over the
real steps only, and a linear head gives the class logits::

    ids (B, T) -> embed (B, T, E) -> encoder (B, T, D*H) -> pool over real steps (B, D*H) -> head (B, C)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from rnnkit.batch import Batch
from rnnkit.models.base import Output
from rnnkit.models.encoder import EncoderConfig, build_encoder
from rnnkit.models.sequence import last_step
from rnnkit.nn.dropout import LockedDropout
from rnnkit.state import State


@dataclass
class ClassifierConfig:
    """A classifier's shape and regularisation.

    ``input``: "tokens" reads (B, T) ids through an embedding of ``embed_size``; "features" reads (B, T, F)
    floats through a linear layer to ``embed_size`` (0: the features as they are). ``pooling`` over the real
    steps: "last" (the last real output; the backward half of a bidirectional encoder at step 0), "mean",
    "max", or "attention" (a learned score per step, softmax over real steps; Yang et al. 2016, sec. 2.2).
    ``dropout`` applies to the embedded input (one mask per sequence) and before the head; ``word_dropout``
    replaces whole input tokens by the unknown id while training. ``label_smoothing`` as in torch's
    cross-entropy (Szegedy et al. 2016, sec. 7). ``ensemble``: how many readers share the embedding (see
    ``Classifier``). ``adversarial``: while training, also score each input moved by this L2 distance (per
    example, over all its steps) in the embedding space, in the direction that raises its loss the most
    (Miyato et al. 2017); 0 turns it off. Each update then costs about twice as much."""

    input: Literal["tokens", "features"] = "tokens"
    embed_size: int = 128
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(hidden_size=128, bidirectional=True))
    pooling: Literal["last", "mean", "max", "attention"] = "mean"
    # dropout probability on the embedded input (one mask a sequence) and before the head
    dropout: float = 0.3  # MR, with adversarial training, 3 seeds: 0.786 to 0.799; 0.5 gave 0.781 to 0.785
    word_dropout: float = 0.1
    label_smoothing: float = 0.0
    ensemble: int = 1
    # L2 size of the adversarial move of the embedded input (Miyato et al. 2017); 0: off
    adversarial: float = 2.0  # MR from a language model, dropout 0.5, 3 seeds: 0.781 to 0.785, without 0.760 to 0.776

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.word_dropout < 1.0:
            raise ValueError("model.dropout and model.word_dropout must be in [0, 1)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"model.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.ensemble < 1:
            raise ValueError(f"model.ensemble must be at least 1, got {self.ensemble}")
        if self.adversarial < 0:
            raise ValueError(f"model.adversarial must be at least 0, got {self.adversarial}")


class Classifier(nn.Module):
    """``Classifier(config, num_classes, input_size=V or F)``: ``forward(batch)`` with ``batch.inputs``
    (B, T) ids or (B, T, F) floats, ``batch.lengths`` (B,) and ``batch.targets`` (B,) class ids ->
    ``Output`` with logits (B, C), the mean (weighted, smoothed) cross-entropy and the correct count.
    ``class_weight`` (C,) weighs the loss per true class; ``unk_id`` is what word dropout writes.

    With ``config.ensemble`` K > 1, K readers (encoder, pooling, head) share the embedding; each is
    trained on its own loss from the same batches (the loss is their mean), and the logits are the log of
    their averaged probabilities (Hansen and Salamon 1990): the readers start from different random
    weights and dropout masks, and their errors partly cancel."""

    def __init__(
        self,
        config: ClassifierConfig,
        num_classes: int,
        *,
        input_size: int,
        class_weight: Tensor | None = None,
        unk_id: int = 0,
    ):
        super().__init__()
        self.config, self.num_classes, self.unk_id = config, num_classes, unk_id
        if num_classes < 2:
            raise ValueError(f"a classifier needs at least two classes, got {num_classes}")
        if config.input == "tokens":
            self.embed: nn.Module = nn.Embedding(input_size, config.embed_size)
            width = config.embed_size
        elif config.embed_size:
            self.embed = nn.Linear(input_size, config.embed_size)
            width = config.embed_size
        else:
            self.embed, width = nn.Identity(), input_size
        self.readers = nn.ModuleList(Reader(config, width, num_classes) for _ in range(config.ensemble))
        self.register_buffer("class_weight", class_weight if class_weight is not None else torch.ones(num_classes))

    @property
    def encoder(self) -> nn.Module:
        """The (first) reader's encoder."""
        return self.readers[0].encoder

    def init_state(self, batch_size: int) -> State:
        return self.encoder.init_state(batch_size)

    def embed_inputs(self, batch: Batch) -> Tensor:
        """(B, T) ids or (B, T, F) features -> (B, T, E), the vectors the encoder reads (with word dropout
        while training). Explanations take gradients with respect to these."""
        x = batch.inputs
        if self.training and self.config.word_dropout and self.config.input == "tokens":
            drop = torch.rand(x.shape, device=x.device) < self.config.word_dropout
            x = x.masked_fill(drop, self.unk_id)
        return self.embed(x)

    def classify(self, embedded: Tensor, batch: Batch) -> tuple[Tensor, Tensor | None]:
        """(B, T, E) embedded inputs -> ((B, C) logits, (B, T) attention weights or None); for an ensemble
        the log of the averaged probabilities, and the averaged weights."""
        return _combine([reader(embedded, batch) for reader in self.readers])

    def forward(self, batch: Batch, state: State | None = None) -> Output:
        embedded = [self.embed_inputs(batch) for _ in self.readers]
        outs = [reader(e, batch) for reader, e in zip(self.readers, embedded)]
        loss = self._loss(outs, batch)
        logits, _ = _combine(outs)
        correct = float((logits.argmax(-1) == batch.targets).sum())
        if self.training and self.config.adversarial and torch.is_grad_enabled():
            loss = loss + self._adversarial_loss(embedded, loss, batch)
        return Output(loss=loss, logits=logits, weight=float(batch.size), metrics={"correct": correct})

    def _loss(self, outs: list[tuple[Tensor, Tensor | None]], batch: Batch) -> Tensor:
        """The mean over readers of their (weighted, smoothed) cross-entropy."""
        return sum(
            nn.functional.cross_entropy(
                logits, batch.targets, weight=self.class_weight, label_smoothing=self.config.label_smoothing
            )
            for logits, _ in outs
        ) / len(outs)

    def _adversarial_loss(self, embedded: list[Tensor], loss: Tensor, batch: Batch) -> Tensor:
        """The loss of the inputs moved by ``config.adversarial`` along the normalised gradient of ``loss``
        with respect to them (a first-order worst case; the move itself is held constant)."""
        grads = torch.autograd.grad(loss, embedded, retain_graph=True)
        moved = []
        for e, g in zip(embedded, grads):
            norm = g.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, *[1] * (g.dim() - 1))
            moved.append(e + self.config.adversarial * g / norm)
        return self._loss([reader(e, batch) for reader, e in zip(self.readers, moved)], batch)


class Reader(nn.Module):
    """One reader of embedded inputs: locked dropout, the encoder, pooling over the real steps, dropout
    and the linear head. ``forward(embedded (B, T, E), batch) -> ((B, C) logits, (B, T) weights or None)``."""

    def __init__(self, config: ClassifierConfig, width: int, num_classes: int):
        super().__init__()
        self.config = config
        self.input_dropout = LockedDropout(config.dropout)
        self.encoder = build_encoder(config.encoder, width)
        out = self.encoder.output_size
        self.score = nn.Linear(out, 1) if config.pooling == "attention" else None
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(out, num_classes)

    def forward(self, embedded: Tensor, batch: Batch) -> tuple[Tensor, Tensor | None]:
        y, _ = self.encoder(self.input_dropout(embedded), None, lengths=batch.lengths)  # (B, T, D*H)
        pooled, weights = self.pool(y, batch)
        return self.head(self.drop(pooled)), weights

    def pool(self, y: Tensor, batch: Batch) -> tuple[Tensor, Tensor | None]:
        """(B, T, F) outputs -> ((B, F), (B, T) attention weights or None), over real steps only."""
        how = self.config.pooling
        if how == "last":
            return last_step(y, batch.lengths, bidirectional=self.config.encoder.bidirectional), None
        mask = batch.mask.unsqueeze(-1)  # (B, T, 1)
        if how == "mean":
            return (y * mask).sum(1) / mask.sum(1).clamp(min=1), None
        if how == "max":
            return y.masked_fill(~mask, float("-inf")).amax(1), None
        scores = self.score(torch.tanh(y)).masked_fill(~mask, float("-inf"))  # (B, T, 1)
        weights = torch.softmax(scores, dim=1)
        return (weights * y).sum(1), weights.squeeze(-1)


def _combine(outs: list[tuple[Tensor, Tensor | None]]) -> tuple[Tensor, Tensor | None]:
    """One reader's output as it is; several: log of the mean probability, mean attention weights."""
    if len(outs) == 1:
        return outs[0]
    logp = torch.stack([torch.log_softmax(logits, dim=-1) for logits, _ in outs])  # (K, B, C)
    weights = None if outs[0][1] is None else torch.stack([w for _, w in outs]).mean(0)
    return torch.logsumexp(logp, dim=0) - math.log(len(outs)), weights
