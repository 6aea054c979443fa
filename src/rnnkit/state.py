"""Recurrent state: a tuple of batch-first tensors, never stored on a module.

A cell's state is a flat tuple of tensors with the batch on dim 0: ``(h,)`` for an Elman RNN or a GRU,
``(h, c)`` for an LSTM. Layers that wrap several cells nest those tuples: a bidirectional layer's state
is ``(forward_state, backward_state)`` and a stack's is one entry per layer. Every helper here walks such
a nest, so the same few functions serve truncated BPTT (``detach``), beam search (``select``), padded
batches (``where``) and a server holding many sessions (``select``, ``concat``, ``scatter``).

Only torch is imported here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Union

import torch
from torch import Tensor

State = tuple[Union[Tensor, "State"], ...]

__all__ = [
    "State",
    "batch_size",
    "concat",
    "detach",
    "map_state",
    "reset",
    "scatter",
    "select",
    "tensors",
    "where",
    "zeros",
]


def map_state(fn: Callable[..., Tensor], state: State, *others: State) -> State:
    """Apply ``fn`` leaf by leaf to one state, or to several states of the same structure."""
    if isinstance(state, Tensor):
        return fn(state, *others)
    if not isinstance(state, tuple):
        raise TypeError(f"state must be a tensor or a tuple of them, got {type(state).__name__}")
    for other in others:
        if not isinstance(other, tuple) or len(other) != len(state):
            raise ValueError("states differ in structure")
    return tuple(map_state(fn, s, *(o[i] for o in others)) for i, s in enumerate(state))


def tensors(state: State) -> list[Tensor]:
    """The leaves of a state in order, flattened."""
    if isinstance(state, Tensor):
        return [state]
    return [t for s in state for t in tensors(s)]


def batch_size(state: State) -> int:
    """The number of rows (dim 0) shared by every tensor of ``state``."""
    sizes = {t.shape[0] for t in tensors(state)}
    if len(sizes) != 1:
        raise ValueError(f"state tensors disagree on the batch size: {sorted(sizes)}")
    return sizes.pop()


def zeros(
    batch: int,
    sizes: Sequence[int],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> State:
    """A flat state of zeros: one ``(batch, size)`` tensor per entry of ``sizes``.

    >>> [t.shape for t in zeros(4, (8, 8))]
    [torch.Size([4, 8]), torch.Size([4, 8])]
    """
    return tuple(torch.zeros(batch, n, device=device, dtype=dtype) for n in sizes)


def detach(state: State) -> State:
    """Cut the graph behind ``state``: the boundary of a truncated-BPTT chunk."""
    return map_state(Tensor.detach, state)


def select(state: State, rows: Tensor | Sequence[int] | slice) -> State:
    """The rows ``rows`` of every tensor (an index tensor, a boolean mask, a list or a slice).

    Beam search reorders hypotheses with it; a server gathers the sessions of one micro-batch.
    """
    if isinstance(rows, Sequence) and not isinstance(rows, Tensor):
        rows = torch.as_tensor(rows, dtype=torch.long)
    if isinstance(rows, Tensor):
        return map_state(lambda t: t.index_select(0, _long_rows(rows, t)), state)
    return map_state(lambda t: t[rows], state)


def concat(states: Sequence[State]) -> State:
    """Stack states of the same structure along the batch: rows of the first come first."""
    if not states:
        raise ValueError("concat needs at least one state")
    return map_state(lambda *ts: torch.cat(ts, dim=0), states[0], *states[1:])


def scatter(state: State, rows: Tensor | Sequence[int], values: State) -> State:
    """A copy of ``state`` whose rows ``rows`` are replaced by the rows of ``values`` (out of place)."""
    rows = torch.as_tensor(rows, dtype=torch.long)
    return map_state(lambda t, v: t.index_copy(0, rows.to(t.device), v), state, values)


def where(mask: Tensor, new: State, old: State) -> State:
    """Row-wise choice: rows where ``mask`` (shape (B,), bool) is true come from ``new``, others from ``old``."""
    if mask.dim() != 1:
        raise ValueError(f"mask must have shape (B,), got {tuple(mask.shape)}")

    def pick(n: Tensor, o: Tensor) -> Tensor:
        m = mask.to(n.device).view(-1, *([1] * (n.dim() - 1)))
        return torch.where(m, n, o)

    return map_state(pick, new, old)


def reset(state: State, rows: Tensor, init: State | None = None) -> State:
    """Set the rows where ``rows`` (shape (B,), bool) is true back to ``init`` (zeros by default).

    Used where a document ends inside a truncated-BPTT stream, and when a session restarts.
    """
    if init is None:
        init = map_state(torch.zeros_like, state)
    return where(rows, init, state)


def _long_rows(rows: Tensor, t: Tensor) -> Tensor:
    if rows.dtype == torch.bool:
        rows = rows.nonzero().flatten()
    return rows.to(device=t.device, dtype=torch.long)
