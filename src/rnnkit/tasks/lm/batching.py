"""Next-word completion of many prefixes at once, with the answers of ``LanguageModelPipeline.complete``.

A completion reads its prefix from a document start, then searches for the next word. Reading is where the
model works, so the prefixes of one micro-batch are read together by ``scorers.read``: an ``LMScorer`` reads
all prefixes of one length in one model call and computes the next-token distribution (and the cache mix)
only after the last token; another scorer steps them in lockstep, one batched ``advance`` per position::

    "the cat sat "   the  cat  sat       <- one call for the prefixes of 3 tokens
    "a dog "         a    dog            <- one for those of 2
    "on the m"       on   the            (tail "m": the word being typed, never read)

Which tokens a prefix commits to the model, and which text waits in the cursor's tail, is decided by the
predictor's own ``feed``: a ``_Recorder`` scorer that computes nothing lets ``feed`` run on a twin predictor
and note the ids it would read. So the batched path cannot drift from the unbatched one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from rnnkit.autocomplete import Cursor, Predictor
from rnnkit.autocomplete.scorers import read
from rnnkit.autocomplete.search import Suggestions

_NO_LOGP = np.zeros(0, dtype=np.float32)


class _Recorder:
    """A ``Scorer`` that reads nothing: it records the ids a predictor would feed the model."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size
        self.ids: list[int] = []

    def start(self, first: int) -> Cursor:
        return Cursor(None, _NO_LOGP)

    def advance(self, cursors: Sequence[Cursor], ids: Sequence[int]) -> list[Cursor]:
        self.ids.extend(int(i) for i in ids)
        return list(cursors)


@dataclass(frozen=True)
class Plan:
    """How a prefix reads: the token ids the model steps through, then the cursor's ``tail`` and ``word``."""

    ids: list[int]
    tail: str
    word: str


class BatchCompleter:
    """``complete([(prefix, k), ...])`` for one ``Predictor``: one list of (word, probability) per prefix,
    best first, equal to ``Session(predictor, k=k).type(prefix)``, or the ValueError that prefix raised."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor
        self._recorder = _Recorder(predictor.codec.vocab_size)
        self._planner = Predictor(self._recorder, predictor.codec)
        self._start: Cursor | None = None

    def plan(self, prefix: str) -> Plan:
        """The ids ``prefix`` commits from a document start and what stays in the tail. May raise ValueError
        (a character the codec cannot encode)."""
        self._recorder.ids.clear()
        cursor = self._planner.feed(self._planner.begin(), prefix)
        return Plan(list(self._recorder.ids), cursor.tail, cursor.word)

    def complete(self, requests: Sequence[tuple[str, int]]) -> list[Suggestions | ValueError]:
        plans: list[Plan | ValueError] = []
        for prefix, _ in requests:
            try:
                plans.append(self.plan(prefix))
            except ValueError as exc:
                plans.append(exc)
        ok = [i for i, p in enumerate(plans) if isinstance(p, Plan)]
        cursors = dict(zip(ok, self.read([plans[i] for i in ok])))
        out: list[Suggestions | ValueError] = []
        for i, (plan, (_, k)) in enumerate(zip(plans, requests)):
            out.append(plan if isinstance(plan, ValueError) else self._suggest(cursors[i], k))
        return out

    def read(self, plans: Sequence[Plan]) -> list[Cursor]:
        """The cursor after each plan, all read together from the document start."""
        if self._start is None:
            self._start = self.predictor.begin()  # a cursor is immutable, so every prefix may start from it
        cursors = read(self.predictor.scorer, self._start, [p.ids for p in plans])
        return [replace(c, tail=p.tail, word=p.word) for c, p in zip(cursors, plans)]

    def _suggest(self, cursor: Cursor, k: int) -> Suggestions | ValueError:
        try:
            return self.predictor.next_words(cursor, k=k)
        except ValueError as exc:
            return exc
