"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?", sec. 3.1): a GRU whose gates read only the input."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnkit.nn.cells.base import Cell
from rnnkit.state import State


def g(x: Tensor) -> Tensor:
    """The positive activation of Feng et al. (2024, appendix B.3): x + 0.5 for x >= 0, else sigmoid(x)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


class MinGRUCell(Cell):
    """One minGRU step::

        z = sigmoid(W_z x + b_z);  h~ = g(W_h x + b_h);  h' = (1 - z) * h + z * h~

    ``forward(x_t (B, I), (h,)) -> (h' (B, H), (h',))``. Neither gate reads h, so every step's gates come
    from one matrix product over the sequence.
    """

    fused_reason = "no torch kernel for minGRU"

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

    def step(self, gx_t: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        k_z, k_h = gx_t.chunk(2, dim=-1)
        z = torch.sigmoid(k_z)
        h = h + z * (g(k_h) - h)  # == (1 - z) * h + z * h~
        return h, (h,)
