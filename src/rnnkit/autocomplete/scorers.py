"""The ``Scorer`` interface the searches are written against, its ``Cursor``, and its implementations: an
RNN language model (``LMScorer``), the Kneser-Ney baseline (``NGramScorer``) and a mixture of two scorers
(``MixtureScorer``, its weight fitted by ``fit_weight``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from rnnkit.models.cache import CacheConfig, Memory, batch_log_probs, stack_memories
from rnnkit.models.ngram import KneserNey
from rnnkit.state import concat, map_state


@dataclass(frozen=True, eq=False)  # eq=False: compared and hashed by identity (an array has no truth value)
class Cursor:
    """The state after some text. ``state``: the model's (a recurrent state of batch 1, an n-gram context);
    ``logp``: (V,) read-only float log-probabilities of the next token; ``tail``: text fed but not yet read
    by the model (the current word, for word and BPE codecs); ``word``: the trailing word characters of the
    text the model has read; ``query`` and ``memory``: the model's vector here and the continuous cache of
    the text read (``rnnkit.models.cache``), when the scorer has one. Immutable, so a session keeps a
    history of them by reference."""

    state: Any
    logp: np.ndarray
    tail: str = ""
    word: str = ""
    query: Any = None
    memory: Any = None


@runtime_checkable
class Scorer(Protocol):
    """What the search needs from a model: ``start(first)``, the cursor at a document start (an RNN steps the
    token ``first``; an n-gram uses its own start context), and ``advance(cursors, ids)``, one token read
    after each cursor (one batched step for an RNN). ``vocab_size`` is V."""

    vocab_size: int

    def start(self, first: int) -> Cursor: ...

    def advance(self, cursors: Sequence[Cursor], ids: Sequence[int]) -> list[Cursor]: ...


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class LMScorer:
    """A generator (``step(y_prev (B,), state) -> ((B, V) logits, state)``, ``state=None`` at a start, e.g.
    ``LanguageModel``) as a ``Scorer``. Puts the model in eval mode; runs under ``torch.inference_mode``.

    ``cache`` (default: the model's ``config.cache``, if it has one) mixes a continuous cache of the text
    read into every prediction; that needs ``model.features`` and ``model.head``, as ``LanguageModel`` has.
    ``CacheConfig(size=0)`` turns the model's cache off. Besides the ``Scorer`` methods, ``read`` reads many
    texts from one cursor at once (a server's batch of completions)."""

    def __init__(self, model: torch.nn.Module, *, cache: CacheConfig | None = None):
        self.model = model.eval()
        self.vocab_size = model.vocab_size
        self._device = next(model.parameters()).device
        if cache is None:
            cache = getattr(getattr(model, "config", None), "cache", None)
        self.cache = cache if cache is not None and cache.size > 0 else None

    def start(self, first: int) -> Cursor:
        return self._step(None, [first], [None])[0]

    def advance(self, cursors: Sequence[Cursor], ids: Sequence[int]) -> list[Cursor]:
        states = [c.state for c in cursors]
        return self._step(states[0] if len(states) == 1 else concat(states), ids, cursors)

    @torch.inference_mode()
    def read(self, start: Cursor, id_lists: Sequence[Sequence[int]]) -> list[Cursor]:
        """The cursor after each list of ids, read from ``start``: what ``advance`` gives one id at a time
        (``tail`` and ``word`` stay ``start``'s), but one ``features`` call reads all the lists at once,
        padded to the longest with per-row lengths (the kernel never steps over padding), and the head,
        softmax and cache run once, for all lists, at their last positions. An empty list gives ``start``.
        ``start`` is a cursor of this scorer. A model with ``step`` alone is stepped in lockstep."""
        if not (hasattr(self.model, "features") and hasattr(self.model, "head")):
            return lockstep(self, start, id_lists)
        rows = [n for n, ids in enumerate(id_lists) if len(ids)]
        out = [start] * len(id_lists)
        if not rows:
            return out
        lengths = torch.tensor([len(id_lists[n]) for n in rows])
        x = pad_sequence([torch.as_tensor(id_lists[n], dtype=torch.long) for n in rows], batch_first=True)
        x = x.to(self._device)
        h, state = self._features(start, x, lengths)  # (B, L, D) vectors, the state after each row's last id
        last = h[torch.arange(len(rows), device=h.device), lengths.to(h.device) - 1]  # (B, D)
        logp = torch.log_softmax(self.model.head(last).float(), dim=-1)
        if self.cache is None:
            cursors = self._cursors(state, logp)
        else:
            memories = self._remembered(start, h.float(), x, lengths)
            logp = batch_log_probs(*stack_memories(memories), last.float(), logp, self.cache)
            cursors = self._cursors(state, logp, last.float(), memories)
        for n, cursor in zip(rows, cursors):
            out[n] = cursor
        return out

    def _features(self, start: Cursor, x: Tensor, lengths: Tensor) -> tuple[Tensor, Any]:
        """Every row of ``x`` (b, L), ``lengths`` real ids each, read from ``start`` -> ((b, L, D) vectors,
        the (b, ...) state after each row's last real id)."""
        b = x.shape[0]
        state = map_state(lambda t: t.expand(b, *t.shape[1:]).contiguous(), start.state)  # (1, ...) -> (b, ...)
        return self.model.features(x, state, lengths=None if bool((lengths == x.shape[1]).all()) else lengths)

    def _remembered(self, start: Cursor, h: Tensor, x: Tensor, lengths: Tensor) -> list[Memory]:
        """The cache of each row after reading its ``lengths[b]`` ids of ``x`` (b, L) from ``start`` with
        vectors ``h`` (b, L, D): the vector before each id is remembered with it, ``start``'s own first; the
        last ``size`` are kept."""
        b, size = x.shape[0], self.cache.size
        keys = torch.cat([start.memory.keys.expand(b, -1, -1), start.query.expand(b, 1, -1), h[:, :-1]], dim=1)
        values = torch.cat([start.memory.values.expand(b, -1), x], dim=1)
        pad = x.shape[1] - lengths  # each row's padding sits at its end: drop it, then keep the last ``size``
        return [Memory(k[: len(k) - p][-size:], v[: len(v) - p][-size:])
                for k, v, p in zip(keys, values, pad.tolist())]

    @torch.inference_mode()
    def _step(self, state: Any, ids: Sequence[int], parents: Sequence[Cursor | None]) -> list[Cursor]:
        x = torch.tensor(ids, device=self._device)
        if self.cache is None:
            logits, state = self.model.step(x, state)  # (B, V)
            return self._cursors(state, torch.log_softmax(logits.float(), dim=-1))
        h, state = self.model.features(x.unsqueeze(1), state)
        queries = h[:, 0].float()  # (B, D): the vectors that predict the next tokens
        logp = torch.log_softmax(self.model.head(h[:, 0]).float(), dim=-1)
        memories = [
            Memory.empty(queries.shape[1], self._device) if p is None
            else p.memory.add(p.query, int(i), self.cache.size)  # the parent's vector was followed by i
            for p, i in zip(parents, ids)
        ]
        logp = batch_log_probs(*stack_memories(memories), queries, logp, self.cache)
        return self._cursors(state, logp, queries, memories)

    @staticmethod
    def _cursors(state: Any, logp: Tensor, queries: Tensor | None = None,
                 memories: Sequence[Memory] | None = None) -> list[Cursor]:
        """One cursor per row of the batched ``state`` and (B, V) ``logp`` (and (B, D) ``queries``)."""
        rows = logp.cpu().numpy()
        return [
            Cursor(map_state(lambda t, i=i: t[i : i + 1], state), _frozen(rows[i]),
                   query=None if queries is None else queries[i], memory=None if memories is None else memories[i])
            for i in range(len(rows))
        ]


def read(scorer: Scorer, start: Cursor, id_lists: Sequence[Sequence[int]]) -> list[Cursor]:
    """The cursor after each list of ids, read from ``start``: ``scorer.read`` where the scorer has one (as
    ``LMScorer`` does), else ``lockstep``."""
    reader = getattr(scorer, "read", None)
    return reader(start, id_lists) if reader is not None else lockstep(scorer, start, id_lists)


def lockstep(scorer: Scorer, start: Cursor, id_lists: Sequence[Sequence[int]]) -> list[Cursor]:
    """The cursor after each list of ids, read from ``start`` in lockstep: position t is one batched
    ``advance`` of the lists that have a t-th id."""
    cursors = [start] * len(id_lists)
    for t in range(max((len(ids) for ids in id_lists), default=0)):
        rows = [n for n, ids in enumerate(id_lists) if t < len(ids)]
        for n, cursor in zip(rows, scorer.advance([cursors[n] for n in rows], [id_lists[n][t] for n in rows])):
            cursors[n] = cursor
    return cursors


class NGramScorer:
    """A fitted ``KneserNey`` as a ``Scorer``: the state is the tuple of the last ``order - 1`` ids, and a
    document starts at the model's own start context (its BOS), so ``start`` ignores ``first``."""

    def __init__(self, lm: KneserNey):
        self.lm, self.vocab_size = lm, lm.vocab_size

    def start(self, first: int) -> Cursor:
        return self._at(())

    def advance(self, cursors: Sequence[Cursor], ids: Sequence[int]) -> list[Cursor]:
        keep = self.lm.order - 1
        return [self._at((*c.state, int(i))[-keep:] if keep else ()) for c, i in zip(cursors, ids)]

    def _at(self, context: tuple[int, ...]) -> Cursor:
        with np.errstate(divide="ignore"):
            return Cursor(context, _frozen(np.log(self.lm.distribution(context)).astype(np.float32)))


class MixtureScorer:
    """The linear interpolation of two scorers over one vocabulary, ``p = weight p_first + (1 - weight)
    p_second``: ``MixtureScorer(LMScorer(model), NGramScorer(kn), 0.7)``. A cursor's ``state`` is the pair
    of the components' cursors, which keep their own ``query`` and ``memory``; weight 0 or 1 gives exactly
    the one component's ``logp``. Raises ValueError for a weight outside [0, 1] or differing vocabularies."""

    def __init__(self, first: Scorer, second: Scorer, weight: float):
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must lie in [0, 1], got {weight}")
        if first.vocab_size != second.vocab_size:
            raise ValueError(f"the scorers predict {first.vocab_size} and {second.vocab_size} ids")
        self.first, self.second, self.weight = first, second, float(weight)
        self.vocab_size = first.vocab_size

    def start(self, first: int) -> Cursor:
        return self._mix(self.first.start(first), self.second.start(first))

    def advance(self, cursors: Sequence[Cursor], ids: Sequence[int]) -> list[Cursor]:
        a = self.first.advance([c.state[0] for c in cursors], ids)
        b = self.second.advance([c.state[1] for c in cursors], ids)
        return [self._mix(x, y) for x, y in zip(a, b)]

    def read(self, start: Cursor, id_lists: Sequence[Sequence[int]]) -> list[Cursor]:
        """The cursor after each list of ids, read from ``start`` by each component's ``read`` (so the
        language model's batched one); an empty list gives ``start``."""
        a = read(self.first, start.state[0], id_lists)
        b = read(self.second, start.state[1], id_lists)
        return [self._mix(x, y) if len(ids) else start for ids, x, y in zip(id_lists, a, b)]

    def _mix(self, a: Cursor, b: Cursor) -> Cursor:
        """The cursor of the pair ``(a, b)``: log(w p_a + (1 - w) p_b), summed in log space (no underflow)."""
        w = self.weight
        if w in (0.0, 1.0):
            return Cursor((a, b), a.logp if w == 1.0 else b.logp)
        la, lb = math.log(w) + a.logp.astype(np.float64), math.log1p(-w) + b.logp.astype(np.float64)
        return Cursor((a, b), _frozen(np.logaddexp(la, lb).astype(np.float32)))


def fit_weight(first: np.ndarray, second: np.ndarray, *, iterations: int = 100, tol: float = 1e-7) -> float:
    """The ``MixtureScorer`` weight of ``first`` that maximises the likelihood of N targets, given ``first``
    and ``second``: (N,) the targets' log-probabilities under each model (held-out text, so that neither
    model has seen it).

    EM for interpolation weights (Jelinek and Mercer 1980), from 0.5: the new weight is the mean over the
    targets of ``first``'s share ``w p_first / (w p_first + (1 - w) p_second)``, in log space; it stops after
    ``iterations`` steps or once the weight moves less than ``tol``. Raises ValueError unless both are 1-D
    of one length N >= 1."""
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(f"need two 1-D arrays of one length >= 1, got shapes {a.shape} and {b.shape}")
    w = 0.5
    with np.errstate(divide="ignore"):  # log(0) = -inf once w reaches 0 or 1
        for _ in range(iterations):
            la, lb = np.log(w) + a, np.log1p(-w) + b
            new = float(np.exp(la - np.logaddexp(la, lb)).mean())
            if abs(new - w) < tol:
                return new
            w = new
    return w
