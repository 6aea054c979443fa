"""minLSTM (Feng et al. 2024, "Were RNNs All We Needed?", sec. 3.2): an LSTM whose gates read only the
input, with the forget and input gates normalised to sum to one."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnkit.nn.cells.base import Cell
from rnnkit.nn.cells.mingru import g
from rnnkit.state import State


class MinLSTMCell(Cell):
    """One minLSTM step::

        f = sigmoid(W_f x + b_f);  i = sigmoid(W_i x + b_i);  h~ = g(W_h x + b_h)
        h' = f / (f + i) * h + i / (f + i) * h~

    ``forward(x_t (B, I), (h,)) -> (h' (B, H), (h',))``. The normalisation makes the output independent of
    time scale (the paper's "time-independent" variant, sec. 3.2.3).
    """

    fused_reason = "no torch kernel for minLSTM"

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

    def step(self, gx_t: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        k_f, k_i, k_h = gx_t.chunk(3, dim=-1)
        f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
        h = (f * h + i * g(k_h)) / (f + i)
        return h, (h,)
