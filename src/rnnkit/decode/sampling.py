"""Ancestral sampling from any generator: temperature, top-k and nucleus (top-p) filtering.

A generator is anything with ``start(batch) -> State`` and ``step(y_prev, state) -> (logits, state)``,
``y_prev`` a ``(B,)`` long tensor and ``logits`` ``(B, V)``. Only the ``step`` callable is needed here, so a
language model, a music model or a conditioned decoder all sample the same way. Randomness comes from an
explicit ``torch.Generator``: the same seed gives the same ids.

>>> g = torch.Generator().manual_seed(0)
>>> state = model.start(2)
>>> for ids in sample_sequence(model.step, first=torch.tensor([bos, bos]), state=state, steps=50,
...                            top_p=0.9, generator=g, stop=lambda ids: ids == eos):
...     print(ids)                                   # (2,) per step, streamable
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from rnnkit.state import State

__all__ = ["filter_logits", "sample", "sample_sequence"]

Step = Callable[[Tensor, State], tuple[Tensor, State]]


def filter_logits(
    logits: Tensor, *, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """Scale by temperature and mask unlikely ids with ``-inf``: ``(B, V) -> (B, V)`` (any ``(..., V)`` works).

    In order: divide by ``temperature`` (> 0); keep the ``top_k`` (>= 1) largest logits of each row, ids tied
    with the k-th largest included; then nucleus filtering (Holtzman et al. 2020, "The Curious Case of
    Neural Text Degeneration", sec. 3.1): keep the smallest set of most probable ids whose probability mass
    reaches ``top_p`` (0 < top_p <= 1), always at least the most probable one. ``None`` disables a filter.
    Kept entries equal ``logits / temperature``; the rest are ``-inf``. Raises ValueError on a bad argument.

    >>> filter_logits(torch.tensor([[1.0, 3.0, 2.0]]), top_k=2)
    tensor([[-inf, 3., 2.]])
    """
    _check(temperature=temperature, top_k=top_k, top_p=top_p)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]  # (B, 1): the k-th largest of each row
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:  # top_p == 1 keeps everything; skipping avoids rounding in cumsum
        logits = logits.masked_fill(_outside_nucleus(logits, top_p), float("-inf"))
    return logits


def sample(
    logits: Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One id per row drawn from ``softmax(filter_logits(logits, ...))``: ``(B, V) -> (B,)`` long.

    ``temperature=0`` (allowed here, unlike in ``filter_logits``) means greedy decoding: the argmax of each
    row, ties to the lowest id, with ``top_k``/``top_p`` checked but irrelevant and no randomness drawn.
    ``generator`` must live on the device of ``logits``; ``None`` uses torch's global generator.

    >>> sample(torch.tensor([[0.0, 5.0, 1.0]]), temperature=0)
    tensor([1])
    """
    if temperature == 0:
        _check(top_k=top_k, top_p=top_p)
        return logits.argmax(dim=-1)
    filtered = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p)
    probs = filtered.softmax(dim=-1, dtype=torch.float32)  # float32: half precision skews small probabilities
    flat = probs.reshape(-1, probs.shape[-1])  # multinomial wants (N, V)
    return torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])


def sample_sequence(
    step: Step,
    first: Tensor,
    state: State,
    *,
    steps: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    stop: Callable[[Tensor], Tensor] | None = None,
) -> Iterator[Tensor]:
    """Sample up to ``steps`` ids per row, yielding each ``(B,)`` long tensor as soon as it is drawn.

    ``first`` (B,) is fed to ``step`` with ``state`` (from the generator's ``start``); each sampled id is fed
    back on the next step. Filtering and ``temperature`` (0 = greedy) are those of ``sample``.
    ``stop(ids) -> (B,) bool`` marks rows that are done after this step's ids; once every row is done the
    iteration ends (after yielding that step). Until then the batch keeps its shape: a row that has stopped
    is still stepped but keeps yielding the id that stopped it (e.g. EOS), so a caller cuts each row at its
    first stop id. Runs under ``torch.no_grad()`` (only while the iterator runs, not between yields).
    Arguments are checked on the call, before anything is stepped; ``steps=0`` yields nothing.

    >>> step = lambda y, s: (torch.nn.functional.one_hot((y + 1) % 5, 5).float() * 100, s)
    >>> [ids.tolist() for ids in sample_sequence(step, torch.tensor([0]), (), steps=3)]
    [[1], [2], [3]]
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if first.dim() != 1:
        raise ValueError(f"first must have shape (B,), got {tuple(first.shape)}")
    if temperature != 0:  # 0 means greedy, as in sample
        _check(temperature=temperature)
    _check(top_k=top_k, top_p=top_p)
    return _sample_steps(step, first, state, steps=steps, stop=stop, generator=generator,
                         options=dict(temperature=temperature, top_k=top_k, top_p=top_p))


@torch.no_grad()  # on a generator function torch restores grad mode at each yield
def _sample_steps(step: Step, y: Tensor, state: State, *, steps: int, stop: Callable[[Tensor], Tensor] | None,
                  generator: torch.Generator | None, options: dict) -> Iterator[Tensor]:
    done: Tensor | None = None  # (B,) bool once stop is given
    for _ in range(steps):
        logits, state = step(y, state)  # (B,) -> (B, V)
        ids = sample(logits, generator=generator, **options)
        if stop is not None:
            if done is not None:
                ids = torch.where(done, y, ids)  # stopped rows repeat their stop id
            done = stop(ids).bool() if done is None else done | stop(ids).bool()
        yield ids
        if done is not None and bool(done.all()):
            return
        y = ids


def _outside_nucleus(logits: Tensor, top_p: float) -> Tensor:
    """(B, V) bool: true for ids outside the nucleus of mass ``top_p``."""
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1, dtype=torch.float32)
    mass_before = probs.cumsum(dim=-1) - probs  # mass of the strictly more probable ids; 0 for the first
    # An id is needed while the ids before it fall short of top_p; the first always is (mass_before = 0).
    drop_sorted = mass_before >= top_p
    return drop_sorted.scatter(-1, order, drop_sorted)  # back from sorted positions to ids


def _check(*, temperature: float | None = None, top_k: int | None = None, top_p: float | None = None) -> None:
    if temperature is not None and not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be an int >= 1 or None, got {top_k!r}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}")
