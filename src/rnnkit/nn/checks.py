"""Argument checks for layers: each failure is a ValueError naming the argument, its shape and what was
expected. The finite-value check costs a device sync, so it runs only inside ``debug_checks()``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

import torch
from torch import Tensor

from rnnkit import state as st
from rnnkit.state import State

_DEBUG: ContextVar[bool] = ContextVar("rnnkit_debug_checks", default=False)


@contextlib.contextmanager
def debug_checks(enabled: bool = True) -> Iterator[None]:
    """Within this block, layers also reject inputs and states holding NaN or Inf.

    >>> with debug_checks():
    ...     y, h = layer(x)          # raises ValueError if x holds a NaN
    """
    token = _DEBUG.set(enabled)
    try:
        yield
    finally:
        _DEBUG.reset(token)


def check_input(x: Tensor, input_size: int, name: str = "input") -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a tensor of shape (B, T, {input_size}), got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(f"{name} must have shape (B, T, {input_size}), got shape {tuple(x.shape)}")
    if x.shape[-1] != input_size:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}: expected the last dim to be input_size={input_size}"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} has shape {tuple(x.shape)}: batch and time must be non-empty")
    if _DEBUG.get() and not torch.isfinite(x).all():
        raise ValueError(f"{name} of shape {tuple(x.shape)} holds NaN or Inf values")


def check_lengths(lengths: Tensor | Sequence[int] | None, batch: int, steps: int) -> Tensor | None:
    """Validate per-row lengths and return them as an int64 tensor (None stays None)."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(f"lengths must have shape ({batch},), one per row, got shape {tuple(lengths.shape)}")
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1 or hi > steps:
        raise ValueError(
            f"lengths of shape {tuple(lengths.shape)} must lie in [1, T={steps}], got min {lo} and max {hi}"
        )
    return lengths.to(torch.long)


def check_state(state: State, expected: State, name: str = "state") -> None:
    """``state`` must have the structure, shapes and dtype of ``expected`` (the layer's zero state)."""
    try:
        got, want = st.tensors(state), st.tensors(expected)
    except TypeError as err:
        raise ValueError(f"{name}: {err}") from None
    if len(got) != len(want):
        raise ValueError(f"{name} must hold {len(want)} tensors, got {len(got)}")
    for k, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape:
            raise ValueError(
                f"{name}[{k}] has shape {tuple(g.shape)}, expected {tuple(w.shape)} (batch, features)"
            )
        if _DEBUG.get() and not torch.isfinite(g).all():
            raise ValueError(f"{name}[{k}] of shape {tuple(g.shape)} holds NaN or Inf values")
