"""``LanguageModel``: embedding -> recurrent stack -> softmax over the vocabulary, one token at a time.

It predicts token t+1 from tokens 1..t. Trained on streams of text cut into truncated-BPTT chunks, it
carries its state from one chunk to the next; at use time ``start`` reads a prime and ``step`` advances
one token, so a keyboard's suggestions cost one step per typed token, never a re-read of the prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from rnnkit.batch import IGNORE, Batch
from rnnkit.models.base import Output
from rnnkit.models.cache import CacheConfig
from rnnkit.models.encoder import EncoderConfig, build_encoder
from rnnkit.models.softmax import build_head, choose_output
from rnnkit.nn.dropout import LockedDropout, weight_drop
from rnnkit.state import State


@dataclass
class LMConfig:
    """A language model's shape and regularisation.

    ``embed_size`` 0 means the encoder's output width (the ``lm`` task resolves 0 by codec first: 64 for
    characters; see ``rnnkit.tasks.lm.embed_size``). ``tie_weights`` shares the embedding matrix with
    the softmax layer (Press and Wolf 2017; Inan et al. 2017); when the widths differ a linear projection
    maps the encoder output to ``embed_size`` first. The dropouts follow AWD-LSTM (Merity et al. 2017):
    ``embed_dropout`` drops whole words from the embedding matrix (sec. 4.3), ``input_dropout`` and
    ``output_dropout`` are locked (one mask a sequence) on the encoder's input and output, and
    ``weight_drop`` is DropConnect on every hidden-to-hidden matrix (sec. 2). ``cache`` adds a continuous
    cache at use time (not in training): recent words of the same text become more likely. ``output`` is
    the output layer: "softmax" (exact), "adaptive" (Grave et al. 2017, ``rnnkit.models.softmax``; clusters
    at ``cutoffs``, empty for the default) or "auto" (adaptive from 10,000 ids on, unless tied).
    """

    embed_size: int = 0
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(hidden_size=512, num_layers=2))
    tie_weights: bool = False
    embed_dropout: float = 0.0
    input_dropout: float = 0.0
    output_dropout: float = 0.0
    weight_drop: float = 0.0
    cache: CacheConfig = field(default_factory=CacheConfig)
    output: Literal["auto", "softmax", "adaptive"] = "auto"  # the output layer; auto: adaptive for large vocabularies
    cutoffs: tuple[int, ...] = ()  # adaptive softmax cluster boundaries (ids); empty: 2,000, 10,000, 50,000 as fit


class LanguageModel(nn.Module):
    """Next-token model over ``vocab_size`` ids. ``forward(batch, state)``: ``batch.inputs`` (B, T) ids,
    ``batch.targets`` (B, T) next ids (``IGNORE`` where not scored) -> ``Output`` with logits (B, T, V),
    the mean cross-entropy in nats and, outside training, the top-1 and top-3 hit counts. Ids in
    ``never_suggest`` (such as ``<unk>``) are never counted as a prediction (a target among them is a miss),
    as a keyboard would never offer them."""

    def __init__(self, config: LMConfig, vocab_size: int, *, never_suggest: tuple[int, ...] = ()):
        super().__init__()
        self.never_suggest = tuple(never_suggest)
        if config.encoder.bidirectional:
            raise ValueError("a language model reads left to right: model.encoder.bidirectional must be false")
        self.config, self.vocab_size = config, vocab_size
        embed_size = config.embed_size or config.encoder.hidden_size
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.input_dropout = LockedDropout(config.input_dropout)
        self.encoder = build_encoder(config.encoder, embed_size)
        if config.weight_drop:
            for cell in self.encoder.cells():
                weight_drop(cell, config.weight_drop)
        self.output_dropout = LockedDropout(config.output_dropout)
        width = self.encoder.output_size
        needs_proj = config.tie_weights and width != embed_size
        self.proj = nn.Linear(width, embed_size) if needs_proj else None
        self.output = choose_output(config.output, vocab_size, tied=config.tie_weights, cutoffs=config.cutoffs)
        self.head = build_head(embed_size if needs_proj else width, vocab_size, output=self.output,
                               cutoffs=config.cutoffs)
        if config.tie_weights:
            self.head.weight = self.embed.weight  # (V, E): one matrix reads and writes words
            # a shared matrix also makes the logits: start it small (AWD-LSTM's U(-0.1, 0.1)), not N(0, 1)
            nn.init.uniform_(self.embed.weight, -0.1, 0.1)

    def init_state(self, batch_size: int) -> State:
        return self.encoder.init_state(batch_size)

    def features(
        self, ids: Tensor, state: State | None = None, *, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        """(B, T) ids -> ((B, T, D) vectors the softmax layer reads, final state). They are the keys and
        queries of the continuous cache (``rnnkit.models.cache``). With ``lengths`` (B,), row b holds
        ``lengths[b]`` real ids followed by padding: its final state is the one after its last real id."""
        x = self.input_dropout(self._embed(ids))  # (B, T, E)
        y, state = self.encoder(x, state, lengths=lengths)  # (B, T, H)
        y = self.output_dropout(y)
        if self.proj is not None:
            y = self.proj(y)
        return y, state

    def logits(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """(B, T) ids -> ((B, T, V) logits, final state)."""
        y, state = self.features(ids, state)
        return self.head(y), state

    def forward(self, batch: Batch, state: State | None = None) -> Output:
        y, state = self.features(batch.inputs, state)
        targets = batch.targets.reshape(-1)
        scored = targets != IGNORE
        if self.output == "adaptive" and self.training:
            # only the head and the clusters the targets fall in: the point of the adaptive softmax
            loss = self.head.loss(y.reshape(-1, y.shape[-1])[scored], targets[scored])
            return Output(loss=loss, state=state, weight=float(scored.sum()))
        logits = self.head(y)
        flat = logits.reshape(-1, self.vocab_size)
        loss = nn.functional.cross_entropy(flat, targets, ignore_index=IGNORE)  # log-probs pass through as they are
        metrics = {} if self.training else top_hits(flat[scored], targets[scored], self.never_suggest)
        return Output(loss=loss, logits=logits, state=state, weight=float(scored.sum()), metrics=metrics)

    # ---- the generator protocol (rnnkit.models.base.Generator) --------------------------------------
    def start(self, batch: Batch) -> State:
        """The state after reading all but the last id of ``batch.inputs`` (B, T); the caller then
        steps with ``batch.inputs[:, -1]``. A one-token prime starts from the zero state."""
        if batch.inputs.shape[1] <= 1:
            return self.init_state(batch.size)
        _, state = self.logits(batch.inputs[:, :-1])
        return state

    def step(self, y_prev: Tensor, state: State | None) -> tuple[Tensor, State]:
        """One token (B,) -> ((B, V) logits for the next one, the state after it)."""
        logits, state = self.logits(y_prev.unsqueeze(1), state)
        return logits[:, 0], state

    def _embed(self, ids: Tensor) -> Tensor:
        p = self.config.embed_dropout
        if not self.training or p == 0.0:
            return self.embed(ids)
        # drop whole rows of the embedding matrix: a dropped word is dropped at every position (sec. 4.3)
        keep = self.embed.weight.new_empty(self.vocab_size, 1).bernoulli_(1 - p) / (1 - p)
        return nn.functional.embedding(ids, self.embed.weight * keep)


def top_hits(logits: Tensor, targets: Tensor, never: tuple[int, ...] = ()) -> dict[str, float]:
    """Top-1 and top-3 hits of (N, V) logits on (N,) targets, as sums (the trainer divides by weight)."""
    if targets.numel() == 0:
        return {"correct": 0.0, "top3": 0.0}
    if never:
        logits = logits.index_fill(1, torch.tensor(never, device=logits.device), float("-inf"))
    top = logits.topk(min(3, logits.shape[1]), dim=1).indices  # (N, 3)
    hit = (top == targets.unsqueeze(1)) & ~_isin(targets, never).unsqueeze(1)
    return {"correct": float(hit[:, 0].sum()), "top3": float(hit.any(dim=1).sum())}


def _isin(ids: Tensor, never: tuple[int, ...]) -> Tensor:
    return torch.isin(ids, torch.tensor(never, dtype=ids.dtype, device=ids.device))


@torch.no_grad()
def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, counting a tied matrix once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters() if p.requires_grad}.values())
