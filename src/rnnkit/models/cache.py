"""The continuous cache of Grave, Joulin and Usunier (2017, "Improving Neural Language Models with a
Continuous Cache"): at use time, a word that followed an earlier position of the same text whose vector
matches the current one becomes more probable,

    p(w) = (1 - lam) p_model(w) + lam * sum_i softmax_i(theta * h_t . h_i) [x_(i+1) = w],

over the last ``size`` positions i < t, where h is the vector the softmax layer reads. It needs no
training and no gradient: a keyboard picks up the names and phrases of the text being typed as it goes.
One change to the paper: while the cache holds fewer than ``warmup`` positions its share is ``lam`` scaled
down in proportion, so the first words of a text do not push themselves as the next ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence


@dataclass
class CacheConfig:
    """The continuous cache's settings (Grave et al. 2017).

    ``size``: positions remembered (0: no cache); ``theta``: how sharply the current vector must match a
    remembered one; ``lam``: the share of probability the cache takes. Grave et al. choose ``theta`` and
    ``lam`` on held-out text; they depend on the model (the scale of its vectors), not on the data.
    ``warmup``: how many positions the cache must hold before it takes its full share."""

    size: int = 0
    theta: float = 0.3
    lam: float = 0.2
    warmup: int = 50

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"model.cache.size must be 0 (off) or more, got {self.size}")
        if self.theta <= 0:
            raise ValueError(f"model.cache.theta must be positive, got {self.theta}")
        if not 0.0 <= self.lam < 1.0:
            raise ValueError(f"model.cache.lam must be in [0, 1), got {self.lam}")
        if self.warmup < 0:
            raise ValueError(f"model.cache.warmup must be 0 or more, got {self.warmup}")

    def share(self, remembered: Tensor) -> Tensor:
        """The cache's share of probability when it holds ``remembered`` positions (a tensor of counts):
        ``lam``, scaled down in proportion below ``warmup`` positions, and 0 when empty."""
        full = remembered.float() / max(self.warmup, 1)
        return self.lam * full.clamp(max=1.0) * (remembered > 0)


def attend(query: Tensor, keys: Tensor, theta: float, mask: Tensor | None = None) -> Tensor:
    """(N, D) queries and (M, D) keys -> (N, M) weights: a softmax of ``theta * q . k`` over the keys that
    ``mask`` (N, M) allows. A row that allows none is all zero."""
    scores = theta * (query @ keys.T)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)


def mix(logp: Tensor, weights: Tensor, values: Tensor, share: Tensor) -> Tensor:
    """``log((1 - share) p + share c)`` for (N, V) model log-probabilities ``logp``, (N, M) cache weights
    (rows summing to one, or all zero where nothing is remembered), the ids (M,) or (N, M) that followed
    the remembered positions, and the cache's (N, 1) ``share`` (``CacheConfig.share``)."""
    values = values.expand_as(weights)
    share = share.to(logp.dtype)
    cache = torch.zeros_like(logp).scatter_add_(1, values, weights.to(logp.dtype))  # (N, V)
    out = logp + torch.log1p(-share)  # where c is 0
    # only the ids the cache holds change, so the log and logaddexp run on (N, M), not (N, V): the log of
    # the many zeros of a dense c is slow on CPU. Repeated ids compute and write the same value.
    held = torch.logaddexp(out.gather(1, values), torch.log(share * cache.gather(1, values)))
    return out.scatter(1, values, held)


def document_log_probs(
    features: Tensor, logp: Tensor, targets: Tensor, cfg: CacheConfig, *, start: int = 0, chunk: int = 512
) -> Iterator[tuple[int, Tensor]]:
    """A text read from its start, with the cache: ``features`` (L, D) the vectors at its positions,
    ``targets`` (L,) the tokens that follow them, and ``logp`` (L - start, V) the model's log-probabilities
    of those tokens at positions ``start`` .. L - 1 (earlier positions only fill the cache). Yields
    ``(a, (C, V) log-probabilities at positions a .. a + C - 1)`` for chunks of ``chunk`` positions in
    order; position t remembers positions ``t - size .. t - 1``. Memory is O(chunk * (chunk + size + V))."""
    length = features.shape[0]
    for a in range(start, length, chunk):
        b = min(a + chunk, length)
        lo = max(0, a - cfg.size)
        t = torch.arange(a, b).unsqueeze(1)
        i = torch.arange(lo, b).unsqueeze(0)
        mask = (i < t) & (i >= t - cfg.size)
        weights = attend(features[a:b], features[lo:b], cfg.theta, mask)
        share = cfg.share(mask.sum(dim=1, keepdim=True))
        yield a, mix(logp[a - start : b - start], weights, targets[lo:b], share)


@dataclass(frozen=True, eq=False)
class Memory:
    """The cache of one text being typed: (m, D) ``keys`` and the (m,) ``values`` that followed them, the
    latest last. Immutable: ``add`` returns a new one, so a typing session's history of cursors can share
    them."""

    keys: Tensor
    values: Tensor

    @classmethod
    def empty(cls, dim: int, device: torch.device | str = "cpu") -> Memory:
        return cls(torch.zeros(0, dim, device=device), torch.zeros(0, dtype=torch.long, device=device))

    def add(self, key: Tensor, value: int, size: int) -> Memory:
        """Remember ``key`` (D,) followed by ``value``, keeping the last ``size`` entries."""
        keys = torch.cat([self.keys[-(size - 1) :] if size > 1 else self.keys[:0], key.unsqueeze(0)])
        values = torch.cat([self.values[-(size - 1) :] if size > 1 else self.values[:0],
                            torch.tensor([value], device=self.values.device)])
        return Memory(keys, values)

    def __len__(self) -> int:
        return self.values.shape[0]

    def log_probs(self, query: Tensor, logp: Tensor, cfg: CacheConfig) -> Tensor:
        """The (V,) model log-probabilities ``logp`` at ``query`` (D,), mixed with this cache."""
        if not len(self):
            return logp
        weights = attend(query.unsqueeze(0), self.keys, cfg.theta)
        share = cfg.share(torch.tensor([[len(self)]], device=logp.device))
        return mix(logp.unsqueeze(0), weights, self.values, share)[0]


def stack_memories(memories: Sequence[Memory]) -> tuple[Tensor, Tensor, Tensor]:
    """N memories -> their (N, M, D) keys and (N, M) values, zero-padded at the end to the longest M, and the
    (N,) count of real entries of each."""
    counts = torch.tensor([len(m) for m in memories], device=memories[0].values.device)
    keys = pad_sequence([m.keys for m in memories], batch_first=True)
    return keys, pad_sequence([m.values for m in memories], batch_first=True), counts


def batch_log_probs(keys: Tensor, values: Tensor, counts: Tensor, query: Tensor, logp: Tensor,
                    cfg: CacheConfig) -> Tensor:
    """The (N, V) model log-probabilities ``logp`` at (N, D) ``query``, row n mixed with its own cache: the
    first ``counts[n]`` of (N, M, D) ``keys`` and (N, M) ``values`` (the rest is padding). One batched op for
    all rows; row n equals ``Memory(keys[n, :c], values[n, :c]).log_probs(query[n], logp[n], cfg)``."""
    if keys.shape[1] == 0:
        return logp
    allowed = torch.arange(keys.shape[1], device=keys.device) < counts.unsqueeze(1)  # (N, M)
    scores = cfg.theta * torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # (N, M, D) x (N, D) -> (N, M)
    weights = torch.nan_to_num(torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1), nan=0.0)
    return mix(logp, weights, values, cfg.share(counts.unsqueeze(1)))
