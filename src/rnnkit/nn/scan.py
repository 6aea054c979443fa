"""The linear recurrence ``h_t = a_t * h_{t-1} + b_t`` over a whole sequence at once, in log space.

This is the parallel scan behind minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?",
appendix B), computed in log space as in Heinsen (2023, "Efficient parallelization of a ubiquitous
sequential computation", arXiv:2311.06281)::

    a*_t = sum_{s<=t} log a_s                                    # cumsum
    h_t  = exp(a*_t) * h_0 + exp(a*_t + logcumsumexp_{s<=t}(log b_s - a*_s))

Two departures from the paper, both for accuracy and robustness:

- The ``h_0`` term is kept apart, in linear space, so ``h_0`` may be zero or negative (the paper feeds
  ``log h_0`` into the scan, which needs ``h_0 > 0``).
- The scan runs in chunks of ``CHUNK`` steps, each started from a zero state, and the state is carried
  from chunk to chunk by the same ``h_0`` term. Over one long scan ``a*_t`` grows to about ``-0.7 T`` and
  ``log h`` comes out as the sum of two large numbers of opposite sign: in float32 the relative error of
  ``h`` is about 4e-4 at T = 4096 and grows with T. In chunks of 16 it stays near 3e-6 for any T (3e-5
  where gates saturate); the error grows with the chunk, the speed hardly depends on it.

Inside a chunk, ``logcumsumexp`` runs as C vectorised ``logaddexp`` steps over all chunks and channels at
once: the same sums, about 4x faster on CPU than ``torch.logcumsumexp``, whose kernel is scalar.

The backward pass is hand-written: the adjoint recurrence ``g_t = dL/dh_t + a_{t+1} g_{t+1}`` run from
right to left, then ``dL/dlog b_t = g_t b_t``, ``dL/dlog a_t = g_t a_t h_{t-1}``, ``dL/dh_0 = a_1 g_1``.
The adjoint runs in linear space, in chunks (a loop over the C steps of all chunks at once, then one over
the N chunks): in log space it would need two scans, one per sign of the gradient. In linear space it is
accurate and cannot overflow: ``0 < a <= 1`` keeps ``|g_t| <= sum_s |dL/dh_s|``. (Autograd through
``torch.logcumsumexp`` is about twice as slow and gives NaN gradients where ``log b = -inf``.)

>>> h = log_scan(log_a, log_b, h0)      # (B, T, H), (B, T, H), (B, H) -> (B, T, H)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

CHUNK = 16  # steps per chunk: bounds |a*| inside a chunk (accuracy); loops of T / CHUNK and CHUNK steps


def log_scan(log_a: Tensor, log_b: Tensor, h0: Tensor, *, mask: Tensor | None = None) -> Tensor:
    """All states of ``h_t = a_t * h_{t-1} + b_t``, t = 1..T, from ``a`` and ``b`` given as logarithms.

    Args:
        log_a: (B, T, H) log of the decay, finite; ``a <= 1`` (as for a gate) keeps ``h`` bounded.
        log_b: (B, T, H) log of the (positive) input; ``-inf`` means ``b = 0``.
        h0: (B, H) the state before the first step, any sign.
        mask: None or (B, T) bool, true at real steps. Where false the state is carried unchanged
            (``a = 1, b = 0``), so ``h`` there repeats the state after the last real step.

    Returns:
        h: (B, T, H), ``h[:, t]`` the state after step t.

    Differentiable in ``log_a``, ``log_b`` and ``h0`` (once: no gradients of gradients).
    """
    if log_a.dim() != 3 or log_a.shape != log_b.shape or h0.shape != log_a.shape[::2]:
        raise ValueError(
            f"log_a and log_b must have shape (B, T, H) and h0 (B, H), got {tuple(log_a.shape)}, "
            f"{tuple(log_b.shape)} and {tuple(h0.shape)}"
        )
    if mask is not None:
        real = mask.unsqueeze(-1)  # (B, T) -> (B, T, 1)
        log_a = log_a.masked_fill(~real, 0.0)
        log_b = log_b.masked_fill(~real, float("-inf"))
    return _LogScan.apply(log_a, log_b, h0)


def _chunk_size(steps: int) -> int:
    return max(1, min(CHUNK, steps))


def _chunked(x: Tensor, chunk: int, fill: float) -> Tensor:
    """(B, T, H) -> (B, N, C, H) with N = ceil(T / C), the end padded with ``fill``."""
    batch, steps, hidden = x.shape
    pad = -steps % chunk
    if pad:
        x = F.pad(x, (0, 0, 0, pad), value=fill)
    return x.reshape(batch, (steps + pad) // chunk, chunk, hidden)


def _scan_forward(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """The chunked Heinsen scan, without autograd: parallel inside chunks, then a carry across them."""
    steps, chunk = log_a.shape[1], _chunk_size(log_a.shape[1])
    log_a, log_b = _chunked(log_a, chunk, 0.0), _chunked(log_b, chunk, float("-inf"))  # padding: a=1, b=0
    a_star = log_a.cumsum(2)  # (B, N, C, H): log of the decay since the chunk's start
    h = log_b - a_star
    for j in range(1, chunk):  # logcumsumexp over dim 2, one step of all chunks at a time (module doc)
        torch.logaddexp(h[:, :, j - 1], h[:, :, j], out=h[:, :, j])
    h.add_(a_star).exp_()  # each chunk's states from h = 0
    decay = a_star.exp_()
    carry = h0  # (B, H): the state entering chunk k, added decayed (the h_0 term, chunk by chunk)
    for k in range(h.shape[1]):
        h[:, k].addcmul_(decay[:, k], carry.unsqueeze(1))
        carry = h[:, k, -1]
    return h.flatten(1, 2)[:, :steps]


def _adjoint(log_a: Tensor, grad_h: Tensor) -> tuple[Tensor, Tensor]:
    """``g_t = dL/dh_t + a_{t+1} g_{t+1}`` from right to left, in linear space and in chunks: a loop over
    the C steps of every chunk at once, then one over the N chunks. Returns g and a, both (B, T, H)."""
    steps, chunk = log_a.shape[1], _chunk_size(log_a.shape[1])
    a = _chunked(log_a, chunk, 0.0).exp()  # (B, N, C, H)
    g = _chunked(grad_h, chunk, 0.0).clone(memory_format=torch.contiguous_format)
    decay = torch.empty_like(a)  # a_{t+1} ... a_{end of chunk}: the decay from step t to the chunk's end
    decay[:, :, -1] = 1
    for j in range(chunk - 2, -1, -1):  # inside each chunk, as if no gradient came from later chunks
        g[:, :, j].addcmul_(a[:, :, j + 1], g[:, :, j + 1])
        torch.mul(a[:, :, j + 1], decay[:, :, j + 1], out=decay[:, :, j])
    for k in range(g.shape[1] - 2, -1, -1):  # the gradient entering chunk k from chunk k + 1
        carry = a[:, k + 1, 0] * g[:, k + 1, 0]  # (B, H)
        g[:, k].addcmul_(decay[:, k], carry.unsqueeze(1))
    return g.flatten(1, 2)[:, :steps], a.flatten(1, 2)[:, :steps]


class _LogScan(torch.autograd.Function):
    """``log_scan`` for autograd: the chunked scan forward, the adjoint recurrence backward."""

    @staticmethod
    def forward(ctx: FunctionCtx, log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
        h = _scan_forward(log_a, log_b, h0)
        ctx.save_for_backward(log_a, log_b, h0, h)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_h: Tensor) -> tuple[Tensor | None, ...]:
        log_a, log_b, h0, h = ctx.saved_tensors
        g, a = _adjoint(log_a, grad_h)
        grad_log_b = log_b.exp().mul_(g) if ctx.needs_input_grad[1] else None  # dL/dlog b_t = g_t b_t
        ga = a.mul_(g)  # dL/dlog a_t = g_t a_t h_{t-1};  dL/dh_0 = g_1 a_1
        grad_h0 = ga[:, 0].clone() if ctx.needs_input_grad[2] else None
        grad_log_a = None
        if ctx.needs_input_grad[0]:
            ga[:, 1:].mul_(h[:, :-1])
            ga[:, 0].mul_(h0)
            grad_log_a = ga
        return grad_log_a, grad_log_b, grad_h0
