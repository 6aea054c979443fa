"""``KneserNey``: an interpolated modified Kneser-Ney n-gram language model over token ids (numpy only).

The count-based baseline every rnnkit language model is reported beside. The model, for a context ``h``
of k-1 ids (interpolated modified KN, Chen and Goodman 1998, "An empirical study of smoothing techniques")::

    p_k(w | h) = (a(hw) - D_k(a(hw))) / a(h.)  +  gamma(h) p_{k-1}(w | h'),   gamma(h) = sum_w D_k(a(hw)) / a(h.)
    p_0(w)     = 1 / V

``h'`` drops the oldest id of ``h``; ``a(h.) = sum_w a(hw)``; a context never followed by anything in the
training data (``a(h.) = 0``) gives ``p_k = p_{k-1}``. The adjusted count ``a`` is the raw count at the
highest order and for n-grams that begin at a document start, and otherwise the continuation count
``N1+(. hw)``, the number of distinct ids seen right before ``hw`` (Kneser and Ney 1995; the rule for
document starts is KenLM's adjusted counts, Heafield et al. 2013). ``D_k(c)`` is ``D1``, ``D2`` or ``D3+`` for
c = 1, 2, >= 3, estimated per order from the count-of-counts n1..n4 of the adjusted counts (Chen and
Goodman eq. 26): ``Y = n1 / (n1 + 2 n2)``, ``D_i = i - (i + 1) Y n_{i+1} / n_i``. With ``discount=D`` every
count of every order is discounted by the one ``D`` instead: plain interpolated KN.

Document starts: a document is read as ``[BOS] + ids`` with ``BOS = vocab_size``, a context symbol that is
never predicted, so every distribution is over exactly ``vocab_size`` ids. There is one BOS, as KenLM's
``<s>``: the t-th id of a document (t < order - 1) is predicted from ``(BOS, x_0 .. x_{t-1})``.

Storage: the k-grams of order k >= 2 sit in one array sorted by ``key = ctx * B + w`` (``B = V + 1``), where
``ctx`` is the id of the (k-1)-gram context: its token when k = 2, its row in the order k-1 array above
that. Sorting by key makes the followers of a context contiguous::

    keys     [ c0 w3 | c0 w7 | c2 w1 | c5 w0 | c5 w3 | ... ]
    offsets  c0 -> [0, 2)   c1 -> [2, 2) (no followers)   c2 -> [2, 3)   ...
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file
from safetensors.numpy import save as save_tensors

from rnnkit.files import write_atomic

_FALLBACK = (0.5, 1.0, 1.5)
_FORMAT, _FORMAT_VERSION = "rnnkit-kneser-ney", "1"
_SETTINGS = ("vocab_size", "order", "discount", "discounts")  # JSON values in the file's metadata


@dataclass
class _Level:
    """The k-grams of one order k >= 2: ``p_k = scale[c] * p_{k-1}``, plus ``values`` added at ``words``."""

    keys: np.ndarray  # (G,) int64, sorted: ctx * B + w
    offsets: np.ndarray  # (C + 1,) the followers of context c are rows offsets[c]:offsets[c + 1]
    words: np.ndarray  # (G,) the follower w of each row
    values: np.ndarray  # (G,) (a(hw) - D(a(hw))) / a(h.)
    scale: np.ndarray  # (C,) gamma(h); 1 for a context without followers


class KneserNey:
    """Interpolated modified Kneser-Ney n-gram model over ids ``0 .. vocab_size - 1`` (see the module docstring).

    ``order`` is n (3: trigram). ``discount=None`` estimates three discounts per order from count-of-counts
    (modified KN); a float in (0, 1] uses that one discount everywhere (interpolated KN). After ``fit``,
    ``discounts[k - 1]`` holds ``(D1, D2, D3+)`` of order k.

    Example::

        lm = KneserNey(65, order=3).fit([[7, 3, 3, 9], [3, 9]])
        lm.distribution([3, 3])         # (65,) next-id probabilities, summing to 1, all > 0
        lm.evaluate([[7, 3, 9]])        # {"loss": ..., "perplexity": ..., "top1": ..., "top3": ..., "tokens": 3}
    """

    def __init__(self, vocab_size: int, *, order: int = 3, discount: float | None = None):
        if vocab_size < 1 or order < 1:
            raise ValueError(f"vocab_size and order must be >= 1, got {vocab_size} and {order}")
        if discount is not None and not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        self.vocab_size = vocab_size
        self.order = order
        self.discount = discount
        self.discounts: list[tuple[float, float, float]] = []
        self._levels: list[_Level] = []
        self._unigram: np.ndarray | None = None
        # Dense p_k of recently used contexts, keyed (k, ctx), least recently used first. Consecutive positions
        # share lower-order contexts often; ~32 MiB at most.
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._cache_size = max(64, 2**22 // vocab_size)

    def fit(self, sequences: Iterable[Sequence[int]]) -> KneserNey:
        """Count ``sequences`` (each one document of ids) and replace any earlier fit. Returns ``self``."""
        stream, depth = self._pad(sequences)
        n, base = self.order, self.vocab_size + 1
        grams, tables = [stream], []  # grams[j - 1]: the j-gram id ending at each position; tables[j - 2]: order j
        for j in range(2, n + 1):
            gram, table = _count(grams[-1], stream, depth, j, base)
            grams.append(gram)
            tables.append(table)
        # Adjusted counts (Heafield et al. 2013, as KenLM's lmplz): raw at the highest order and for n-grams beginning
        # with BOS, which have no left extension; otherwise N1+(. g), the number of distinct (j+1)-grams
        # ending in g (Kneser and Ney 1995), read off each (j+1)-gram's first occurrence.
        raws = [np.bincount(stream[depth > 0], minlength=base)] + [t.raw for t in tables]
        adjusted = []
        for j, raw in enumerate(raws, start=1):
            a = raw
            if j < n:
                a = np.bincount(grams[j - 1][tables[j - 1].first], minlength=len(raw))
                a = np.where(tables[j - 2].at_start, raw, a) if j > 1 else a
            adjusted.append(a.astype(np.float64))
        adjusted[0] = adjusted[0][: self.vocab_size]  # BOS is a context only, never an outcome
        self.discounts = [self._estimate_discounts(a) for a in adjusted]
        self._unigram = self._build_unigram(adjusted[0], self.discounts[0])
        contexts = [base] + [len(t.keys) for t in tables[:-1]]  # order j's contexts: tokens, then (j-1)-gram rows
        self._levels = [
            _build_level(t.keys, a, d, c, base=base)
            for t, a, d, c in zip(tables, adjusted[1:], self.discounts[1:], contexts)
        ]
        self._cache.clear()
        return self

    def _pad(self, sequences: Iterable[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(M,) the documents joined as ``BOS x.. BOS x..``, and (M,) each position's offset from its BOS."""
        docs = [np.asarray(seq, dtype=np.int64).reshape(-1) for seq in sequences]
        ids = np.concatenate(docs) if docs else np.zeros(0, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"ids must lie in [0, {self.vocab_size}), got {ids.min()} .. {ids.max()}")
        lengths = np.array([len(d) + 1 for d in docs], dtype=np.int64)
        starts = np.cumsum(lengths) - lengths  # where each BOS goes
        stream = np.full(int(lengths.sum()), self.vocab_size, dtype=np.int64)
        is_id = np.ones(len(stream), dtype=bool)
        is_id[starts] = False
        stream[is_id] = ids
        return stream, np.arange(len(stream)) - np.repeat(starts, lengths)

    def _estimate_discounts(self, adjusted: np.ndarray) -> tuple[float, float, float]:
        """(D1, D2, D3+) from the count-of-counts of one order (Chen and Goodman 1998, eq. 26).

        Where the estimate fails (some n_i = 0 for i <= 3, or a D_i outside (0, i]: small or artificial data),
        the order falls back to (0.5, 1.0, 1.5), the discounts of KenLM's ``lmplz --discount_fallback``; KenLM
        otherwise refuses to build. D_i > 0 keeps every probability positive."""
        if self.discount is not None:
            return (self.discount,) * 3
        n = [int(np.count_nonzero(adjusted == i)) for i in range(5)]  # n[0] unused
        if 0 in n[1:4]:
            return _FALLBACK
        y = n[1] / (n[1] + 2 * n[2])
        d = tuple(i - (i + 1) * y * n[i + 1] / n[i] for i in (1, 2, 3))
        return d if all(0 < d[i - 1] <= i for i in (1, 2, 3)) else _FALLBACK

    def _build_unigram(self, adjusted: np.ndarray, discounts: tuple[float, float, float]) -> np.ndarray:
        """(V,) p_1: discounted continuation counts interpolated with the uniform distribution."""
        total = adjusted.sum()
        if total == 0:  # nothing fitted: the uniform distribution
            return np.full(self.vocab_size, 1.0 / self.vocab_size)
        d = _discount_of(adjusted, discounts)
        return (adjusted - d) / total + d.sum() / total / self.vocab_size

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """(V,) probabilities of the next id after ``context``: positive, summing to 1.

        Only the last ``order - 1`` ids matter; a shorter context is read as the start of a document."""
        stream, depth = self._context_stream(context)
        chain = [g[-1] for g in self._grams(stream, depth)]
        return self._dense(chain).copy()

    def topk(self, context: Sequence[int], k: int, *, exclude: Sequence[int] = ()) -> list[tuple[int, float]]:
        """The ``k`` most probable next ids after ``context`` with their probabilities, best first.

        Ties go to the smaller id; ids in ``exclude`` are never returned (fewer than k come back if too few
        ids remain)."""
        p = self.distribution(context)
        masked = p.copy()
        masked[self._exclude_ids(exclude)] = -np.inf
        order = np.argsort(-masked, kind="stable")[:k]
        return [(int(i), float(p[i])) for i in order if masked[i] > -np.inf]

    def evaluate(
        self, sequences: Iterable[Sequence[int]], *, topk: Sequence[int] = (1, 3), exclude: Sequence[int] = ()
    ) -> dict[str, float]:
        """Score every id of every document, predicted from the ids before it in the same document.

        Returns ``loss`` (mean negative log probability, nats), ``perplexity`` (``exp(loss)``), ``tokens``
        (positions scored) and, for each k in ``topk``, ``top{k}``: the fraction of positions whose target is
        among the k most probable ids once the ids in ``exclude`` are removed (ties to the smaller id); an
        excluded target is a miss. Equal to looping over ``distribution`` (tested), but each distinct
        context's distribution is built once."""
        stream, depth = self._pad(sequences)
        positions = np.flatnonzero(depth > 0)
        if positions.size == 0:
            raise ValueError("evaluate needs at least one token")
        grams = self._grams(stream, depth)
        chains = np.stack([g[positions - 1] for g in grams]) if grams else np.zeros((0, len(positions)), np.int64)
        excluded = self._exclude_ids(exclude)
        targets = stream[positions]
        nll, ranks = 0.0, np.empty(len(positions), dtype=np.int64)
        for group in _groups(chains):
            p = self._dense(chains[:, group[0]])
            t = targets[group]
            nll -= float(np.log(p[t]).sum())
            if len(topk):
                ranks[group] = _ranks(p, t, excluded)
        loss = nll / len(positions)
        out = {"loss": loss, "perplexity": math.exp(loss)}
        out.update({f"top{k}": float(np.mean(ranks < k)) for k in topk})
        out["tokens"] = len(positions)
        return out

    def log_probs(self, ids: Sequence[int], start: int = 0) -> np.ndarray:
        """(T - start, V) float32: row t - start is ``np.log(distribution(ids[:t]))``, the log-distribution of
        the t-th of the T ids of the document ``ids`` (t >= ``start``), read as ``evaluate`` reads it."""
        stream, depth = self._pad([ids])
        grams = self._grams(stream, depth)
        out = np.empty((max(len(stream) - 1 - start, 0), self.vocab_size), dtype=np.float32)
        for t in range(start, start + len(out)):
            out[t - start] = np.log(self._dense([g[t] for g in grams]))  # ids[t] sits at stream[t + 1]
        return out

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to the safetensors file ``path`` atomically (``write_atomic``); returns it.

        Tensors ``unigram`` and ``level{k}.{keys,offsets,words,values,scale}`` for k = 2 .. order; metadata
        ``format``, ``format_version`` and the settings, as JSON. Raises RuntimeError if not fitted."""
        if self._unigram is None:
            raise RuntimeError("KneserNey: call fit before save")
        tensors = {"unigram": self._unigram}
        for k, level in enumerate(self._levels, start=2):
            tensors.update({f"level{k}.{f.name}": getattr(level, f.name) for f in fields(_Level)})
        meta = {"format": _FORMAT, "format_version": _FORMAT_VERSION}
        meta.update({name: json.dumps(getattr(self, name)) for name in _SETTINGS})
        return write_atomic(path, save_tensors(tensors, metadata=meta))

    @classmethod
    def load(cls, path: str | Path) -> KneserNey:
        """The model ``save`` wrote to ``path``. Raises ValueError naming ``path`` for a file that is not one
        (not safetensors, truncated, another format or version, missing or inconsistent arrays), and
        FileNotFoundError if there is no file."""
        try:
            with safe_open(path, framework="numpy") as f:
                meta = f.metadata() or {}
            if (meta.get("format"), meta.get("format_version")) != (_FORMAT, _FORMAT_VERSION):
                found = f"{meta.get('format')!r} version {meta.get('format_version')!r}"
                raise ValueError(f"format {found}; expected {_FORMAT!r} version {_FORMAT_VERSION!r}")
            arrays, settings = load_file(path), {name: json.loads(meta[name]) for name in _SETTINGS}
            lm = cls(settings["vocab_size"], order=settings["order"], discount=settings["discount"])
            lm.discounts = [tuple(float(d) for d in ds) for ds in settings["discounts"]]
            lm._unigram, names = arrays["unigram"], [f.name for f in fields(_Level)]
            lm._levels = [_Level(*(arrays[f"level{k}.{n}"] for n in names)) for k in range(2, lm.order + 1)]
            lm._check()
        except FileNotFoundError:
            raise
        except (SafetensorError, OSError, KeyError, TypeError, ValueError) as err:
            why = f"no {err}" if isinstance(err, KeyError) else str(err)
            raise ValueError(f"{path}: not an rnnkit Kneser-Ney model: {why}") from None
        return lm

    def _check(self) -> None:
        """Raise ValueError unless a loaded model's array shapes fit together, as ``fit`` makes them."""
        contexts = [self.vocab_size + 1] + [len(lv.keys) for lv in self._levels[:-1]]
        shapes = [(lv.offsets.shape, lv.scale.shape, lv.words.shape, lv.values.shape) for lv in self._levels]
        want = [((c + 1,), (c,), lv.keys.shape, lv.keys.shape) for lv, c in zip(self._levels, contexts)]
        if self._unigram.shape != (self.vocab_size,) or len(self.discounts) != self.order or shapes != want:
            raise ValueError("arrays of inconsistent shapes")

    def _context_stream(self, context: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The last order - 1 ids of ``context`` as a stream, BOS-prefixed when shorter (a document start)."""
        ids = np.asarray(context, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"context ids must lie in [0, {self.vocab_size})")
        if len(ids) >= self.order - 1:
            ids = ids[len(ids) - (self.order - 1) :]
            return ids, np.arange(len(ids)) + self.order  # far from any document start
        return np.concatenate([[self.vocab_size], ids]), np.arange(len(ids) + 1)

    def _grams(self, stream: np.ndarray, depth: np.ndarray) -> list[np.ndarray]:
        """[g_1 .. g_{n-1}]: g_j[q] is the training id of the j-gram ending at q, -1 where unseen or crossing BOS.

        g_{k-1}[q - 1] is the order-k context of the id at q."""
        if self._unigram is None:
            raise RuntimeError("KneserNey: call fit before asking for probabilities")
        grams = [stream][: self.order - 1]
        for j in range(2, self.order):
            key, valid = _extend(grams[-1], stream, depth, j, self.vocab_size + 1)
            keys = self._levels[j - 2].keys
            idx = np.minimum(np.searchsorted(keys, key), max(len(keys) - 1, 0))
            found = valid & (keys[idx] == key) if len(keys) else np.zeros_like(valid)
            grams.append(np.where(found, idx, -1))
        return grams

    def _dense(self, chain: Sequence[int]) -> np.ndarray:
        """(V,) p_n for the contexts ``chain`` (order 2 .. n), built up from p_1; shared, do not modify."""
        p = self._unigram
        for k, (level, c) in enumerate(zip(self._levels, chain), start=2):
            if c < 0:
                break  # unseen, so is every longer context
            lo, hi = level.offsets[c], level.offsets[c + 1]
            if lo == hi:
                continue  # never followed by anything: p_k = p_{k-1}
            key = (k, int(c))
            q = self._cache.pop(key, None)
            if q is None:
                q = p * level.scale[c]
                q[level.words[lo:hi]] += level.values[lo:hi]  # followers are distinct, so += is a scatter
            self._cache[key] = q  # reinserted: now the most recently used
            if len(self._cache) > self._cache_size:
                del self._cache[next(iter(self._cache))]
            p = q
        return p

    def _exclude_ids(self, exclude: Sequence[int]) -> np.ndarray:
        ids = np.unique(np.asarray(exclude, dtype=np.int64).reshape(-1))
        if ids.size and (ids[0] < 0 or ids[-1] >= self.vocab_size):
            raise ValueError(f"excluded ids must lie in [0, {self.vocab_size})")
        return ids


class _Table(NamedTuple):
    """The distinct j-grams of one order, as counted: sorted keys, raw counts, the position of each one's first
    occurrence, and whether it begins with BOS."""

    keys: np.ndarray
    raw: np.ndarray
    first: np.ndarray
    at_start: np.ndarray


def _count(prev: np.ndarray, stream: np.ndarray, depth: np.ndarray, j: int, base: int) -> tuple[np.ndarray, _Table]:
    """(M,) the id of the j-gram ending at each position (-1: none), and the table of distinct j-grams.

    A j-gram is the pair (the (j-1)-gram ending one step earlier, token), packed as one int64 key."""
    key, valid = _extend(prev, stream, depth, j, base)
    keys, first, inverse, raw = np.unique(key[valid], return_index=True, return_inverse=True, return_counts=True)
    gram = np.full(len(stream), -1, dtype=np.int64)
    gram[valid] = inverse
    at_start = np.zeros(len(keys), dtype=bool)
    at_start[inverse] = depth[valid] == j - 1
    return gram, _Table(keys, raw, np.flatnonzero(valid)[first], at_start)


def _extend(prev: np.ndarray, stream: np.ndarray, depth: np.ndarray, j: int, base: int):
    """Keys ``prev[q - 1] * base + stream[q]`` of the j-grams ending at each q, and where they are valid
    (inside one document, with a known (j-1)-gram prefix)."""
    key = np.zeros(len(stream), dtype=np.int64)
    key[1:] = prev[:-1] * base + stream[1:]
    valid = depth >= j - 1
    valid[1:] &= prev[:-1] >= 0
    return key, valid


def _build_level(keys: np.ndarray, adjusted: np.ndarray, discounts, contexts: int, *, base: int) -> _Level:
    """One order's rows: per-context gamma(h) and per-row discounted shares, both over a(h.)."""
    ctx, words = np.divmod(keys, base)
    d = _discount_of(adjusted, discounts)
    total = np.bincount(ctx, weights=adjusted, minlength=contexts)
    gamma = np.bincount(ctx, weights=d, minlength=contexts)
    scale = np.divide(gamma, total, out=np.ones(contexts), where=total > 0)
    offsets = np.searchsorted(ctx, np.arange(contexts + 1))
    return _Level(keys, offsets, words, (adjusted - d) / total[ctx], scale)


def _discount_of(adjusted: np.ndarray, discounts: tuple[float, float, float]) -> np.ndarray:
    """D(a) for each adjusted count a: 0, D1, D2, D3+ for a = 0, 1, 2, >= 3."""
    table = np.array((0.0, *discounts))
    return table[np.minimum(adjusted, 3).astype(np.int64)]


def _groups(chains: np.ndarray) -> list[np.ndarray]:
    """Positions grouped by context: chains (n-1, P) of context ids, the deepest seen one fixes the rest."""
    if len(chains) == 0:  # a unigram model: one distribution for all
        return [np.arange(chains.shape[1])]
    depth = (chains >= 0).sum(axis=0)  # seen contexts are suffix-closed: orders 2 .. depth + 1
    deepest = np.take_along_axis(chains, np.maximum(depth - 1, 0)[None], axis=0)[0]
    key = np.where(depth > 0, deepest, 0) * (len(chains) + 1) + depth
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    return np.split(order, bounds)


def _ranks(p: np.ndarray, targets: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of each target in p, ties to the smaller id, excluded ids removed; an excluded
    target gets rank V (a miss at every k)."""
    if excluded.size:
        p = p.copy()
        p[excluded] = -1.0  # below every probability
    out = np.empty(len(targets), dtype=np.int64)
    if len(targets) < 4:  # the common case: a context seen once; scalar counts skip (rows, V) temporaries
        for i, t in enumerate(targets):
            out[i] = np.count_nonzero(p > p[t]) + np.count_nonzero(p[:t] == p[t])
    else:
        ids = np.arange(len(p))
        step = max(1, 2**20 // len(p))  # (rows, V) comparisons in chunks of ~1M entries
        for s in range(0, len(targets), step):
            t = targets[s : s + step, None]
            pt = p[t]
            out[s : s + step] = np.count_nonzero(p > pt, axis=1) + np.count_nonzero((p == pt) & (ids < t), axis=1)
    if excluded.size:
        out[p[targets] < 0] = len(p)
    return out
