"""Output layers over a vocabulary: the exact softmax, and the adaptive softmax for large vocabularies.

The adaptive softmax (Grave, Joulin, Cissé, Grangier and Jégou 2017, "Efficient softmax approximation for
GPUs") splits the vocabulary by frequency: a head holds the ``cutoffs[0]`` most frequent words and one
entry per tail cluster; each tail cluster scores its words through a projection ``div_value`` times
narrower than the last. A training step computes only the head and the clusters its targets fall in, so
the cost grows with the frequent words, not with the whole vocabulary. It needs the vocabulary sorted by
frequency, which the word and BPE codecs give (ids after the specials, most frequent first).

``AdaptiveHead`` is a drop-in head: ``head(h)`` gives the full (..., V) log-probabilities (for scoring,
suggestions, sessions, the server and ONNX export, all of which take a log-softmax of what the head
gives, and log-softmax leaves log-probabilities unchanged), and ``head.loss(h, targets)`` the fast training
loss.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

ADAPTIVE_FROM = 10_000  # "auto" picks the adaptive softmax from this vocabulary size on
DIV_VALUE = 4.0  # each tail cluster's projection this many times narrower than the one before (the paper's 4)


def default_cutoffs(vocab_size: int) -> tuple[int, ...]:
    """Cluster boundaries for ``vocab_size`` ids: a head of 2,000 (the paper's shortlist for text8-sized
    vocabularies), then 10,000 and 50,000 where the vocabulary reaches past them."""
    return tuple(c for c in (2_000, 10_000, 50_000) if c < vocab_size - 1)


class AdaptiveHead(nn.Module):
    """``forward(h (..., D)) -> (..., V)`` log-probabilities; ``loss(h (N, D), targets (N,))`` -> mean
    negative log-likelihood in nats, computed on the targets' clusters alone. ``cutoffs`` are increasing
    ids in (0, V - 1)."""

    def __init__(self, in_features: int, vocab_size: int, cutoffs: Sequence[int], div_value: float = DIV_VALUE):
        super().__init__()
        if not cutoffs or list(cutoffs) != sorted(set(cutoffs)) or cutoffs[0] <= 0 or cutoffs[-1] >= vocab_size - 1:
            raise ValueError(f"model.cutoffs must be increasing ids between 0 and {vocab_size - 1} (the "
                             f"vocabulary size less one), got {list(cutoffs)}")
        self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(in_features, vocab_size, list(cutoffs), div_value=div_value,
                                                      head_bias=True)

    def forward(self, h: Tensor) -> Tensor:
        flat = self.adaptive.log_prob(h.reshape(-1, h.shape[-1]))  # (N, V)
        return flat.reshape(*h.shape[:-1], flat.shape[-1])

    def loss(self, h: Tensor, targets: Tensor) -> Tensor:
        if targets.numel() == 0:
            return h.sum() * 0.0  # nothing scored: a zero that still reaches the graph
        return self.adaptive(h, targets).loss


def build_head(in_features: int, vocab_size: int, *, output: str, cutoffs: Sequence[int] = ()) -> nn.Module:
    """The head that ``output`` ("softmax" or "adaptive") names; an adaptive head's ``cutoffs`` default to
    ``default_cutoffs(vocab_size)``."""
    if output == "softmax":
        return nn.Linear(in_features, vocab_size)
    if output == "adaptive":
        return AdaptiveHead(in_features, vocab_size, tuple(cutoffs) or default_cutoffs(vocab_size))
    raise ValueError(f"unknown output layer {output!r}; known: softmax, adaptive")


def choose_output(output: str, vocab_size: int, *, tied: bool, cutoffs: Sequence[int] = ()) -> str:
    """What "auto" means for a vocabulary: the adaptive softmax from ``ADAPTIVE_FROM`` ids on (unless the
    embedding is tied to the output, which needs one full matrix), the exact softmax below. A request for
    "adaptive" with tied weights, or over too small a vocabulary, is refused."""
    if output == "auto":
        return "adaptive" if vocab_size >= ADAPTIVE_FROM and not tied else "softmax"
    if output == "adaptive" and tied:
        raise ValueError("model.output=adaptive cannot share its weights with the embedding; set "
                         "model.tie_weights=false or model.output=softmax")
    if output == "adaptive" and not (cutoffs or default_cutoffs(vocab_size)):
        raise ValueError(f"model.output=adaptive needs a vocabulary of more than 2,001 ids, got {vocab_size}; "
                         "use model.output=softmax")
    return output
