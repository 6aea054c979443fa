"""Attention of decoder queries over a memory of encoder vectors, for encoder-decoder models.

Scores, for a query q (the decoder's hidden vector) and a memory vector m (an encoder output):

- ``"dot"``: q . m (Luong et al. 2015, eq. 8); needs equal widths.
- ``"general"``: q . W m (Luong et al. 2015, eq. 8), the bilinear form.
- ``"additive"``: v . tanh(W m + U q) (Bahdanau et al. 2015, appendix A.1.2), a one-layer perceptron.

The memory-side part of each score (W m) does not depend on the query, so ``keys(memory)`` computes it once
per source sentence and every decoding step reuses it. Padded memory positions get no weight.

>>> att = Attention("general", query_size=512, memory_size=512)
>>> keys = att.keys(memory)                               # (B, S, 512), once per batch of sources
>>> context, weights = att(queries, memory, keys, mask)   # (B, T, 512), (B, T, S)
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

Kind = Literal["dot", "general", "additive"]
KINDS = ("dot", "general", "additive")


class Attention(nn.Module):
    """``Attention(kind, query_size, memory_size, hidden_size=None)``; ``hidden_size`` is the width of the
    additive perceptron (default ``query_size``) and is ignored by the other kinds."""

    def __init__(self, kind: Kind, query_size: int, memory_size: int, hidden_size: int | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown attention {kind!r}; known: {', '.join(KINDS)}")
        if kind == "dot" and query_size != memory_size:
            raise ValueError(f"dot attention needs equal widths, got queries of {query_size} and memory of "
                             f"{memory_size}; use 'general'")
        self.kind = kind
        if kind == "general":
            self.key = nn.Linear(memory_size, query_size, bias=False)
        elif kind == "additive":
            hidden = hidden_size or query_size
            self.key = nn.Linear(memory_size, hidden, bias=False)
            self.query = nn.Linear(query_size, hidden)
            self.v = nn.Linear(hidden, 1, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """(B, S, M) memory -> (B, S, K) the query-independent part of the scores."""
        return memory if self.kind == "dot" else self.key(memory)

    def forward(self, queries: Tensor, memory: Tensor, keys: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Queries (B, T, Q), memory (B, S, M), ``keys(memory)``, mask (B, S) true at real positions ->
        (context (B, T, M), weights (B, T, S)); each row of weights sums to one over real positions."""
        if self.kind == "additive":
            hidden = torch.tanh(keys.unsqueeze(1) + self.query(queries).unsqueeze(2))  # (B, T, S, A)
            scores = self.v(hidden).squeeze(-1)
        else:
            scores = queries @ keys.transpose(1, 2)  # (B, T, S)
        scores = scores.float().masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = scores.softmax(-1).to(memory.dtype)
        return weights @ memory, weights
