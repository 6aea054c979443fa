"""Pieces shared by the BPTT kernels: time-major layout, masks, outputs.

The kernels keep every per-step buffer time-major, (T, B, ...), so the slice for one step is one
contiguous (B, ...) block and the per-step products and elementwise ops run on dense memory. The cells
hand them x transposed, so gx comes out of ``project_input`` time-major at the cost of copying x::

    x (B, T, I) --transpose--> project_input --> gx (T, B, G) --loop over t--> states (T+1, B, O)
                                                                                     |
    y (B, T, O) <--------------------- one (masked) transposing copy ----------------+

Row 0 of a state buffer holds the initial state, row t+1 the state after step t, so ``buf[:-1]`` is every
step's previous state and ``buf[1:]`` every step's new one (the Elman kernel keeps h_t in gx itself and
h0 apart).

The kernels consume ``gx``: they overwrite it in place with what the backward needs (gate activations,
states), which saves allocating and copying the largest buffer. ``autograd.Function.mark_dirty`` tells
autograd, so a ``gx`` that something else had saved for its backward raises an error instead of giving
wrong gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor


def step_masks(mask: Tensor | None, dtype) -> tuple[Tensor | None, Tensor | None]:
    """(B, T) bool, true at real steps -> (m (T, B, 1) bool, pad (T, B, 1) float: 1 at padded steps)."""
    if mask is None:
        return None, None
    m = mask.t().unsqueeze(2).contiguous()
    return m, (~m).to(dtype)


def outputs(states: Tensor, m: Tensor | None) -> Tensor:
    """(T, B, O) new states -> outputs y (B, T, O), zero at padded steps."""
    y = states.transpose(0, 1)
    return y.contiguous() if m is None else y * m.transpose(0, 1)


def grad_outputs(dy: Tensor | None, m: Tensor | None, states: Tensor) -> Tensor:
    """dL/dy (B, T, O) -> time-major (T, B, O); padded outputs are constant zero, so their gradient is too.

    The kernels turn off autograd's materialising of unused gradients (it would zero-fill a gx-sized
    tensor for the consumed ``gx`` output every call), so ``dy`` may be None: a zero view is returned then.
    """
    if dy is None:
        return zeros_like(states)
    dy = dy.transpose(0, 1)
    return dy if m is None else dy * m


def zeros_like(t: Tensor) -> Tensor:
    """A read-only zero tensor shaped like ``t`` that takes no memory (one element, expanded)."""
    return t.new_zeros(()).expand(t.shape)


def consumable(gx: Tensor) -> Tensor:
    """``gx`` itself if a kernel may overwrite it in place (a temporary), else a copy (a leaf or a view)."""
    if (gx.requires_grad and gx.is_leaf) or gx._is_view():
        return gx.clone()
    return gx


def sigmoid_to_tanh_(s: Tensor, minus_one: Tensor) -> Tensor:
    """s = sigmoid(2x) -> tanh(x) = 2 s - 1, in place.

    The kernels compute tanh as 2 sigmoid(2x) - 1 (exact algebra) because torch's CPU tanh is about three
    times slower than its sigmoid (9 vs 3 ns per float32 on this project's AVX2 machines), and a sigmoid
    can then cover several gates at once.
    """
    return torch.add(minus_one, s, alpha=2, out=s)
