"""Batched beam search and greedy search over any generator ``step(y_prev, state) -> (logits, state)``.

B source rows decode together, ``beam_size`` (K) beams each, so the generator sees N = B * K rows: beam k
of row b is row ``b * K + k``. The state is any nest of batch-first tensors (a decoder's ``(h,)`` and a
translator's encoder memory ``(B, S, H)`` with its mask ``(B, S)`` alike): expanding rows to beams,
reordering beams and dropping rows that are done are all ``rnnkit.state.select``.

Scores. A hypothesis Y with summed log-probability ``log P(Y)`` is ranked by ``log P(Y) / lp(Y)``, GNMT's
length penalty ``lp(Y) = ((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016, "Google's Neural Machine Translation
System", eq. 14, without its coverage term), ``|Y|`` counting the generated ids, eos included. ``alpha = 0``
ranks by raw log-probability; a larger alpha favours longer outputs.

Stopping. A hypothesis is finished when it chooses eos among the K best candidates of its row (the ones
that would enter the beam). A continuation of a live beam with summed log-probability L, now t ids long,
ends at some length T in (t, max_length] with log-probability <= L, so its score is at most
``max(L / lp(t + 1), L / lp(max_length))``. A row stops as soon as its ``n_best`` best finished hypotheses
score at least that bound for every live beam, so searching on could not change its result (with
``n_best = 1`` this is the standard early stop; with beam_size 1 and alpha 0 it is greedy search), or at
``max_length``, where the live beams count as hypotheses without eos. The whole batch stops when every row
has. Rows that stop leave the batch, so the generator steps only rows still searching.

>>> hyps = beam_search(model.step, first=torch.full((2,), bos), state=model.start(batch), eos_id=eos,
...                    beam_size=4, max_length=50, length_penalty=0.6)
>>> hyps[0][0].tokens                                 # row 0's best: ids after bos, ending with eos
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.state import State, batch_size, select, tensors

__all__ = ["Hypothesis", "beam_search", "beam_stream", "greedy_search"]

Step = Callable[[Tensor, State], tuple[Tensor, State]]


@dataclass
class Hypothesis:
    """One decoded sequence.

    ``tokens``: the generated ids, without ``first``, ending with eos when the hypothesis finished (one
    cut at ``max_length`` has none). ``score``: the ranking score, ``log_prob / lp(len(tokens))``.
    ``log_prob``: the summed log-probability of ``tokens`` under the generator.
    """

    tokens: list[int]
    score: float
    log_prob: float


def beam_search(
    step: Step,
    first: Tensor,
    state: State,
    *,
    beam_size: int = 5,
    max_length: int = 100,
    eos_id: int,
    min_length: int = 0,
    length_penalty: float = 1.0,
    no_repeat_ngram: int = 0,
    n_best: int = 1,
) -> list[list[Hypothesis]]:
    """Beam search for B rows at once: the ``n_best`` best hypotheses of each row, best first.

    ``first`` (B,) long is fed to ``step`` with ``state`` (B rows, e.g. from the generator's ``start``).
    ``length_penalty`` is GNMT's alpha (see the module docstring; 0 = raw log-probability). Eos is masked
    until a hypothesis has ``min_length`` ids. ``no_repeat_ngram = n > 0`` masks any id that would complete
    an n-gram already in the hypothesis (Paulus et al. 2018, "A Deep Reinforced Model for Abstractive
    Summarization", sec. 2.5). Log-softmax runs in float32. A row gets fewer than ``n_best`` hypotheses
    only if fewer sequences have a finite log-probability (after the masks). Runs under ``torch.no_grad()``;
    raises ValueError on a bad argument (beam_size >= 1, max_length >= 1, 1 <= n_best <= beam_size, ...).

    >>> step = lambda y, s: (torch.tensor([[0.0, 1.0, -9.0]]).expand(len(y), 3), s)   # eos = 2
    >>> [h.tokens for h in beam_search(step, torch.tensor([0]), (), eos_id=2, max_length=3)[0]]
    [[1, 1, 1]]
    """
    options = _Options(max_length=max_length, eos_id=eos_id, min_length=min_length, no_repeat_ngram=no_repeat_ngram,
                       beam_size=beam_size, length_penalty=length_penalty, n_best=n_best)
    _check_inputs(first, state)
    search = _BeamSearch(step, first, state, options)
    with torch.no_grad():
        while search.rows:
            search.advance()
    return [hyps[:n_best] for hyps in search.finished]


def beam_stream(
    step: Step,
    first: Tensor,
    state: State,
    *,
    beam_size: int = 5,
    max_length: int = 100,
    eos_id: int,
    min_length: int = 0,
    length_penalty: float = 1.0,
    no_repeat_ngram: int = 0,
) -> Iterator[list[int]]:
    """Beam search for ONE row (``first`` of shape (1,)), yielding its best output as soon as it is fixed.

    Each yield is a non-empty list of ids that every hypothesis still able to become the best (the best
    finished one and each live beam whose score bound reaches it) agrees on; the last yield is the rest
    of the best hypothesis. Concatenated, the yields are ``beam_search(...)[0][0].tokens`` without its
    final eos. Arguments are those of ``beam_search`` and are checked on the call, before anything is
    stepped. Runs under ``torch.no_grad()`` (only while the iterator runs, not between yields).
    """
    options = _Options(max_length=max_length, eos_id=eos_id, min_length=min_length, no_repeat_ngram=no_repeat_ngram,
                       beam_size=beam_size, length_penalty=length_penalty)
    _check_inputs(first, state)
    if first.shape[0] != 1:
        raise ValueError(f"beam_stream decodes one row: first must have shape (1,), got {tuple(first.shape)}")
    return _stream(_BeamSearch(step, first, state, options))


@torch.no_grad()
def greedy_search(
    step: Step,
    first: Tensor,
    state: State,
    *,
    max_length: int,
    eos_id: int,
    min_length: int = 0,
    no_repeat_ngram: int = 0,
) -> list[Hypothesis]:
    """The most probable next id at every step, for B rows: one Hypothesis per row.

    The same result as ``beam_search`` with ``beam_size=1, length_penalty=0`` (``score == log_prob``) and
    the same masks, without the beam bookkeeping: a row leaves the batch at its eos or at ``max_length``.
    Ties go to the lowest id. Raises ValueError on a bad argument.
    """
    options = _Options(max_length=max_length, eos_id=eos_id, min_length=min_length, no_repeat_ngram=no_repeat_ngram)
    _check_inputs(first, state)
    rows = torch.arange(first.shape[0], device=first.device)  # (A,) caller's row of each active row
    tokens = first.new_empty((first.shape[0], 0))  # (A, t)
    total = torch.zeros(first.shape[0], device=first.device)  # (A,) float32 summed log-probabilities
    results: list[Hypothesis | None] = [None] * first.shape[0]
    y = first
    for t in range(max_length):
        logits, state = step(y, state)
        logp = _log_probs(logits, tokens, options)  # (A, V)
        y = logp.argmax(dim=-1)
        total = total + logp.gather(1, y.view(-1, 1)).view(-1)
        tokens = torch.cat([tokens, y.view(-1, 1)], dim=1)
        done = (y == eos_id) | (t + 1 == max_length)
        for row, ids, log_prob in zip(rows[done].tolist(), tokens[done].tolist(), total[done].tolist()):
            results[row] = Hypothesis(ids, log_prob, log_prob)
        if bool(done.all()):
            break
        if bool(done.any()):
            keep = ~done
            rows, tokens, total, y, state = rows[keep], tokens[keep], total[keep], y[keep], select(state, keep)
    return results


@dataclass(frozen=True)
class _Options:
    """The settings of one search, checked on construction."""

    max_length: int
    eos_id: int
    min_length: int = 0
    no_repeat_ngram: int = 0
    beam_size: int = 1
    length_penalty: float = 0.0
    n_best: int = 1

    def __post_init__(self) -> None:
        for name, low in (("beam_size", 1), ("max_length", 1), ("eos_id", 0), ("min_length", 0),
                          ("no_repeat_ngram", 0), ("n_best", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if self.n_best > self.beam_size:
            raise ValueError(f"n_best must be <= beam_size ({self.beam_size}), got {self.n_best}")
        if not math.isfinite(self.length_penalty):
            raise ValueError(f"length_penalty must be finite, got {self.length_penalty!r}")

    def lp(self, length: int) -> float:
        """GNMT's length penalty ((5 + length) / 6) ** alpha (Wu et al. 2016, eq. 14)."""
        return ((5 + length) / 6) ** self.length_penalty


class _BeamSearch:
    """A batched beam search between steps; ``advance()`` decodes one more id for every active row.

    Active rows are those still searching: ``rows[a]`` is the caller's row of active row a, whose K beams
    are rows ``a * K .. a * K + K - 1`` of ``tokens``, ``y`` and ``state``. ``finished[b]`` holds row b's
    finished hypotheses, best first (at most K: only the n_best <= K best are ever returned).
    """

    def __init__(self, step: Step, first: Tensor, state: State, options: _Options) -> None:
        rows, k = first.shape[0], options.beam_size
        expand = torch.arange(rows, device=first.device).repeat_interleave(k)  # (B * K,) row of each beam
        self.step, self.options, self.t = step, options, 0
        self.state = select(state, expand)
        self.y = first.index_select(0, expand)  # (N,) the last id of each beam
        self.tokens = first.new_empty((rows * k, 0))  # (N, t) the ids each beam generated
        # (A, K) summed log-probabilities: one live beam per row at first, so copies never fill the beam
        self.scores = torch.full((rows, k), float("-inf"), device=first.device)
        self.scores[:, 0] = 0.0
        self.rows = list(range(rows))
        self.finished: list[list[Hypothesis]] = [[] for _ in range(rows)]

    def advance(self) -> None:
        """One step: extend every beam, finish the eos candidates, keep the K best others, drop settled rows."""
        (active, k), eos_id = self.scores.shape, self.options.eos_id
        logits, state = self.step(self.y, self.state)
        logp = _log_probs(logits, self.tokens, self.options)  # (N, V)
        vocab = logp.shape[1]
        candidates = (self.scores.view(-1, 1) + logp).view(active, k * vocab)  # every one-id extension
        # 2K candidates hold at least K that are not eos: a row has at most one eos candidate per beam
        top, index = candidates.topk(min(2 * k, k * vocab), dim=1)  # (A, C)
        source = index // vocab + torch.arange(active, device=index.device).view(-1, 1) * k  # (A, C) beam row
        ids = index % vocab
        is_eos = ids == eos_id
        self._finish(top, source, is_eos[:, :k] & top[:, :k].isfinite())
        keep = is_eos.to(torch.uint8).argsort(dim=1, stable=True)[:, :k]  # (A, K) the K best non-eos candidates
        self.scores = top.gather(1, keep).masked_fill(is_eos.gather(1, keep), float("-inf"))
        source, ids = source.gather(1, keep).view(-1), ids.gather(1, keep).view(-1)  # (N,)
        self.tokens = torch.cat([self.tokens.index_select(0, source), ids.view(-1, 1)], dim=1)
        self.t += 1
        live = ~torch.tensor(self._settle(), device=ids.device)  # (A,) rows still searching
        beams = live.repeat_interleave(k)  # (N,)
        self.state = select(state, source[beams])  # reorder the beams and drop settled rows in one gather
        self.tokens, self.y, self.scores = self.tokens[beams], ids[beams], self.scores[live]
        self.rows = [row for row, on in zip(self.rows, live.tolist()) if on]

    def bound(self, log_prob: Tensor) -> Tensor:
        """The best score a continuation of live beams with summed log-probabilities ``log_prob`` can reach.

        It ends at a length in (t, max_length] with a log-probability <= ``log_prob`` (<= 0); the extreme
        lengths bound ``log_prob / lp`` whatever the sign of alpha. Float64, as the finished scores.
        """
        log_prob = log_prob.double()
        first, last = self.options.lp(self.t + 1), self.options.lp(self.options.max_length)
        return torch.maximum(log_prob / first, log_prob / last)

    def _finish(self, top: Tensor, source: Tensor, final: Tensor) -> None:
        """Move the candidates marked ``final`` (A, K) (eos, finite) into the finished lists."""
        where = final.nonzero().tolist()
        if not where:
            return
        history, top, source = self.tokens.tolist(), top.tolist(), source.tolist()
        for a, j in where:
            self._add(self.rows[a], history[source[a][j]] + [self.options.eos_id], top[a][j])

    def _settle(self) -> list[bool]:
        """Per active row: whether its result is now fixed (see the module docstring)."""
        k, n_best = self.options.beam_size, self.options.n_best
        if self.t == self.options.max_length:  # the cut: live beams count as hypotheses without eos
            for a, (history, scores) in enumerate(zip(self.tokens.view(len(self.rows), k, -1).tolist(),
                                                      self.scores.tolist())):
                for ids, log_prob in zip(history, scores):
                    if log_prob > float("-inf"):
                        self._add(self.rows[a], ids, log_prob)
            return [True] * len(self.rows)
        bounds = self.bound(self.scores.max(dim=1).values).tolist()
        return [bound == float("-inf") or (len(self.finished[row]) >= n_best and
                                           self.finished[row][n_best - 1].score >= bound)
                for row, bound in zip(self.rows, bounds)]

    def _add(self, row: int, ids: list[int], log_prob: float) -> None:
        hyps = self.finished[row]
        hyps.append(Hypothesis(ids, log_prob / self.options.lp(len(ids)), log_prob))
        hyps.sort(key=lambda h: -h.score)  # stable: of equal scores the earlier hypothesis stays first
        del hyps[self.options.beam_size:]

    def contenders(self) -> list[list[int]]:
        """Row 0's hypotheses (ids without eos) that can still become its best; B = 1 and the row active.

        The best finished one can (later ones need a higher score to pass it), the others cannot; so can
        every live beam whose bound reaches the best finished score (all finite ones if none finished).
        """
        best = self.finished[0][0] if self.finished[0] else None
        bounds = self.bound(self.scores[0])  # (K,)
        able = bounds > float("-inf") if best is None else bounds >= best.score
        paths = self.tokens[able].tolist()
        return paths if best is None else [*paths, _without_eos(best.tokens, self.options.eos_id)]


def _stream(search: _BeamSearch) -> Iterator[list[int]]:
    sent = 0  # ids already yielded
    while search.rows:
        with torch.no_grad():  # not around the yield: the caller's code runs with its own grad mode
            search.advance()
        if not search.rows:
            break
        paths = search.contenders()
        fixed = _common_prefix(paths, sent)
        if fixed > sent:
            yield paths[0][sent:fixed]
            sent = fixed
    best = search.finished[0][0].tokens if search.finished[0] else []
    rest = _without_eos(best, search.options.eos_id)[sent:]
    if rest:
        yield rest


def _common_prefix(paths: list[list[int]], known: int) -> int:
    """The length of the prefix all ``paths`` share, given that they share the first ``known`` ids."""
    length = min(len(path) for path in paths)
    for i in range(known, length):
        if any(path[i] != paths[0][i] for path in paths):
            return i
    return length


def _without_eos(ids: list[int], eos_id: int) -> list[int]:
    return ids[:-1] if ids and ids[-1] == eos_id else ids


def _log_probs(logits: Tensor, tokens: Tensor, options: _Options) -> Tensor:
    """Masked float32 log-probabilities (N, V) of the next id after ``tokens`` (N, t), the ids so far."""
    if not 0 <= options.eos_id < logits.shape[-1]:
        raise ValueError(f"eos_id must be < the vocabulary size {logits.shape[-1]}, got {options.eos_id}")
    logp = logits.float().log_softmax(dim=-1)
    if tokens.shape[1] < options.min_length:
        logp[:, options.eos_id] = float("-inf")
    n = options.no_repeat_ngram
    if n and tokens.shape[1] >= n:
        rows, ids = _repeating_ids(tokens, n)
        logp[rows, ids] = float("-inf")
    return logp


def _repeating_ids(tokens: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """(rows, ids): appending ``ids[i]`` to row ``rows[i]`` of ``tokens`` (N, t >= n) repeats an n-gram."""
    grams = tokens.unfold(1, n, 1)  # (N, t - n + 1, n) every n-gram so far
    tail = tokens[:, tokens.shape[1] - n + 1:]  # (N, n - 1) what the next id would complete
    hits = (grams[:, :, :-1] == tail.unsqueeze(1)).all(dim=-1)  # (N, t - n + 1); n = 1: all true
    rows, at = hits.nonzero(as_tuple=True)
    return rows, grams[rows, at, -1]


def _check_inputs(first: Tensor, state: State) -> None:
    if first.dim() != 1:
        raise ValueError(f"first must have shape (B,), got {tuple(first.shape)}")
    if tensors(state) and batch_size(state) != first.shape[0]:
        raise ValueError(f"state has {batch_size(state)} rows but first has {first.shape[0]}")
