"""minLSTM (Feng et al. 2024, "Were RNNs All We Needed?", sec. 3.2): an LSTM whose gates read only the
input, with the forget and input gates normalised to sum to one."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

from rnnkit.nn.cells.base import Cell
from rnnkit.nn.cells.mingru import d_log_g, g, log_g
from rnnkit.nn.scan import log_scan
from rnnkit.state import State


class _MinLSTMGates(torch.autograd.Function):
    """(B, T, 3H) pre-activations ``(k_f, k_i, k_h)`` -> ``log a = log f'`` and ``log b = log i' + log h~``,
    each (B, T, H), with the normalised gates ``f' = f / (f + i)``, ``i' = i / (f + i)``, in the log-space
    form of Feng et al. (2024, appendix B.3). The backward pass is written out, as for minGRU's gates.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, gx: Tensor) -> tuple[Tensor, Tensor]:
        k_f, k_i, k_h = gx.chunk(3, dim=-1)
        # diff = log i - log f = softplus(-k_f) - softplus(-k_i), with softplus(-k) = softplus(k) - k
        diff = F.softplus(k_f).sub_(k_f).sub_(F.softplus(k_i)).add_(k_i)
        log_a = F.softplus(diff).neg_()  # log f' = -log(1 + i / f)
        log_b = log_g(k_h).add_(diff).add_(log_a)  # log h~ + log i';  log i' = -softplus(-diff) = log f' + diff
        ctx.save_for_backward(gx, log_a)
        return log_a, log_b

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, d_a: Tensor, d_b: Tensor) -> Tensor:
        gx, log_a = ctx.saved_tensors
        k_f, k_i, k_h = gx.chunk(3, dim=-1)
        grad = torch.empty_like(gx)
        d_f, d_i, d_h = grad.chunk(3, dim=-1)
        # d log a / d diff = -i' and d log b / d diff = 1 - i', with i' = sigmoid(diff) = -expm1(log a)
        d_diff = torch.expm1(log_a).mul_(d_a + d_b).add_(d_b)
        torch.sigmoid(k_f, out=d_f).sub_(1).mul_(d_diff)  # d diff / d k_f = -sigmoid(-k_f)
        torch.sigmoid(k_i, out=d_i).neg_().add_(1).mul_(d_diff)  # d diff / d k_i = sigmoid(-k_i)
        d_log_g(k_h, out=d_h).mul_(d_b)
        return grad


class MinLSTMCell(Cell):
    """One minLSTM step::

        f = sigmoid(W_f x + b_f);  i = sigmoid(W_i x + b_i);  h~ = g(W_h x + b_h)
        h' = f / (f + i) * h + i / (f + i) * h~

    ``forward(x_t (B, I), (h,)) -> (h' (B, H), (h',))``. The normalisation makes the output independent of
    time scale (the paper's "time-independent" variant, sec. 3.2.3). ``forward_sequence`` runs the whole
    sequence as one parallel scan (:func:`rnnkit.nn.scan.log_scan`).
    """

    fused_reason = "no torch kernel for minLSTM"
    sequence_kernel = "parallel scan (log-space)"

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.state_sizes = (hidden_size,)
        self.bias = bias
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))  # rows: f, i, h~
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.input_size)
        for p in self.parameters(recurse=False):
            nn.init.uniform_(p, -bound, bound)

    def project_input(self, x: Tensor) -> Tensor:
        """(..., I) -> (..., 3H): forget, input and candidate pre-activations."""
        return nn.functional.linear(x, self.weight_ih, self.bias_ih)

    def gates(self, x_t: Tensor, state: State) -> dict[str, Tensor]:
        """The forget and input gates ``{"f", "i"}`` of the step from ``x_t`` (B, I), each (B, H) in (0, 1),
        before normalisation; they read x_t only. :meth:`step` and the scan use ``f / (f + i)`` in log
        space, for stability; tests hold it equal to these."""
        k_f, k_i, _ = self.project_input(x_t).chunk(3, dim=-1)
        return {"f": torch.sigmoid(k_f), "i": torch.sigmoid(k_i)}

    def step(self, gx_t: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        k_f, k_i, k_h = gx_t.chunk(3, dim=-1)
        # f / (f + i) = sigmoid(log f - log i): no 0 / 0 when both gates saturate at 0
        f_norm = torch.sigmoid(nn.functional.logsigmoid(k_f) - nn.functional.logsigmoid(k_i))
        h = g(k_h) + f_norm * (h - g(k_h))  # == f' h + (1 - f') h~, with i' = 1 - f'
        return h, (h,)

    def forward_sequence(self, x: Tensor, state: State, *, mask: Tensor | None = None) -> tuple[Tensor, State]:
        """All steps at once: x (B, T, I), state ``(h (B, H),)`` -> y (B, T, H), ``(h_T,)``.

        ``h_t = f'_t * h_{t-1} + i'_t * h~_t`` with the normalised gates ``f' = f / (f + i)``,
        ``i' = i / (f + i)`` is a linear recurrence in h, scanned in log space (Feng et al. 2024, sec. 3.2.3;
        the log-space form of appendix B.3). Where ``mask`` (B, T) is false the state is carried and the
        output is zero; ``h_T`` is each row's state after its last real step. Equals stepping.
        """
        (h0,) = state
        log_a, log_b = _MinLSTMGates.apply(self.project_input(x))  # (B, T, 3H) -> 2 x (B, T, H)
        h = log_scan(log_a, log_b, h0, mask=mask)  # (B, T, H)
        y = h if mask is None else h * mask.unsqueeze(-1)
        return y, (h[:, -1].clone(),)  # a copy, so a carried state does not hold on to all of h
