"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?", sec. 3.1): a GRU whose gates read only the input."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

from rnnkit.nn.cells.base import Cell
from rnnkit.nn.scan import log_scan
from rnnkit.state import State


def g(x: Tensor) -> Tensor:
    """The positive activation of Feng et al. (2024, appendix B.3): x + 0.5 for x >= 0, else sigmoid(x)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """log g(x), without forming g (Feng et al. 2024, appendix B.3): log(x + 0.5) for x >= 0, else
    log sigmoid(x) = -softplus(-x); finite for every finite x.

    Forward only: it works in place on its own temporaries, for speed. :func:`d_log_g` is its derivative.
    """
    # Both branches at once, without torch.where:
    #   x >= 0:  log sigmoid(0) + log1p(2x) = log(1/2) + log(1 + 2x) = log(x + 0.5)
    #   x <  0:  log sigmoid(x) + log1p(0)  = log sigmoid(x)
    # and log sigmoid(m) = m - log1p(exp(m)), exact in floating point for m = min(x, 0) <= 0.
    out = x.clamp(max=0)  # m = min(x, 0)
    tmp = out.exp().log1p_()
    out.sub_(tmp)  # log sigmoid(m)
    torch.clamp(x, min=0, out=tmp)  # tmp reused: max(x, 0)
    return out.add_(tmp.mul_(2).log1p_())


def d_log_g(x: Tensor, *, out: Tensor | None = None) -> Tensor:
    """d log g(x) / dx = g'(x) / g(x): 1 / (x + 0.5) for x >= 0 (at 0 the branch g takes), else sigmoid(-x).
    Written into ``out`` when given."""
    out = torch.sigmoid(x, out=out).neg_().add_(1)  # sigmoid(-x)
    return torch.where(x >= 0, x.clamp(min=0).add_(0.5).reciprocal_(), out, out=out)


class _MinGRUGates(torch.autograd.Function):
    """(B, T, 2H) pre-activations ``(k_z, k_h)`` -> ``log a = log(1 - z)`` and ``log b = log z + log h~``,
    each (B, T, H), in the log-space form of Feng et al. (2024, appendix B.3).

    The backward pass is written out: autograd through the same dozen elementwise steps would keep about
    three times as many (B, T, H) temporaries, and on CPU allocating a large tensor costs more than the
    arithmetic on it.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, gx: Tensor) -> tuple[Tensor, Tensor]:
        k_z, k_h = gx.chunk(2, dim=-1)
        log_a = F.softplus(k_z).neg_()  # log(1 - z) = -softplus(k_z)
        log_b = log_g(k_h).add_(k_z).add_(log_a)  # log h~ + log z;  log z = -softplus(-k_z) = log(1 - z) + k_z
        ctx.save_for_backward(gx)
        return log_a, log_b

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, d_a: Tensor, d_b: Tensor) -> Tensor:
        (gx,) = ctx.saved_tensors
        k_z, k_h = gx.chunk(2, dim=-1)
        grad = torch.empty_like(gx)
        d_z, d_h = grad.chunk(2, dim=-1)
        # d log a / d k_z = -z and d log b / d k_z = 1 - z, so d k_z = d_b - z * (d_a + d_b)
        torch.sigmoid(k_z, out=d_z).mul_(d_a + d_b).neg_().add_(d_b)
        d_log_g(k_h, out=d_h).mul_(d_b)
        return grad


class MinGRUCell(Cell):
    """One minGRU step::

        z = sigmoid(W_z x + b_z);  h~ = g(W_h x + b_h);  h' = (1 - z) * h + z * h~

    ``forward(x_t (B, I), (h,)) -> (h' (B, H), (h',))``. Neither gate reads h, so every step's gates come
    from one matrix product over the sequence, and ``forward_sequence`` runs the whole sequence as one
    parallel scan (:func:`rnnkit.nn.scan.log_scan`).
    """

    fused_reason = "no torch kernel for minGRU"
    sequence_kernel = "parallel scan (log-space)"

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.state_sizes = (hidden_size,)
        self.bias = bias
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size))  # rows: z, h~
        self.bias_ih = nn.Parameter(torch.empty(2 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.input_size)
        for p in self.parameters(recurse=False):
            nn.init.uniform_(p, -bound, bound)

    def project_input(self, x: Tensor) -> Tensor:
        """(..., I) -> (..., 2H): gate and candidate pre-activations."""
        return nn.functional.linear(x, self.weight_ih, self.bias_ih)

    def gates(self, x_t: Tensor, state: State) -> dict[str, Tensor]:
        """The update gate ``{"z"}`` of the step from ``x_t`` (B, I), (B, H) in (0, 1); it reads x_t only.
        :meth:`step` multiplies by this very tensor; the scan uses its log-space form, held equal by tests."""
        z, _ = self._activations(self.project_input(x_t))
        return {"z": z}

    def _activations(self, gx_t: Tensor) -> tuple[Tensor, Tensor]:
        """z and the candidate h~, each (B, H), from ``gx_t`` (B, 2H)."""
        k_z, k_h = gx_t.chunk(2, dim=-1)
        return torch.sigmoid(k_z), g(k_h)

    def step(self, gx_t: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        z, h_new = self._activations(gx_t)
        h = h + z * (h_new - h)  # == (1 - z) * h + z * h~
        return h, (h,)

    def forward_sequence(self, x: Tensor, state: State, *, mask: Tensor | None = None) -> tuple[Tensor, State]:
        """All steps at once: x (B, T, I), state ``(h (B, H),)`` -> y (B, T, H), ``(h_T,)``.

        ``h_t = (1 - z_t) * h_{t-1} + z_t * h~_t`` is a linear recurrence in h, scanned in log space (Feng
        et al. 2024, sec. 3.1; the log-space form of appendix B.3). Where ``mask`` (B, T) is false the state
        is carried and the output is zero; ``h_T`` is each row's state after its last real step. Equals
        stepping.
        """
        (h0,) = state
        log_a, log_b = _MinGRUGates.apply(self.project_input(x))  # (B, T, 2H) -> 2 x (B, T, H)
        h = log_scan(log_a, log_b, h0, mask=mask)  # (B, T, H)
        y = h if mask is None else h * mask.unsqueeze(-1)
        return y, (h[:, -1].clone(),)  # a copy, so a carried state does not hold on to all of h
