"""The ``Scorer`` interface the searches are written against, its ``Cursor``, and its two implementations:
an RNN language model (``LMScorer``) and the Kneser-Ney baseline (``NGramScorer``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from rnnkit.models.cache import CacheConfig, Memory
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
    ``CacheConfig(size=0)`` turns the model's cache off."""

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
    def _step(self, state: Any, ids: Sequence[int], parents: Sequence[Cursor | None]) -> list[Cursor]:
        x = torch.tensor(ids, device=self._device)
        if self.cache is None:
            logits, state = self.model.step(x, state)  # (B, V)
            logp = torch.log_softmax(logits.float(), dim=-1)
            queries, memories = [None] * len(ids), [None] * len(ids)
        else:
            h, state = self.model.features(x.unsqueeze(1), state)
            queries = list(h[:, 0].float())  # (D,) each: the vector that predicts the next token
            logp = torch.log_softmax(self.model.head(h[:, 0]).float(), dim=-1)
            memories = [
                Memory.empty(queries[0].shape[0], self._device) if p is None
                else p.memory.add(p.query, int(i), self.cache.size)  # the parent's vector was followed by i
                for p, i in zip(parents, ids)
            ]
            logp = torch.stack([m.log_probs(q, lp, self.cache) for m, q, lp in zip(memories, queries, logp)])
        logp = logp.cpu().numpy()
        return [
            Cursor(map_state(lambda t, i=i: t[i : i + 1], state), _frozen(logp[i]), query=queries[i],
                   memory=memories[i])
            for i in range(len(ids))
        ]


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
