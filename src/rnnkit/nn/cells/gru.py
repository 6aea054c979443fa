"""Gated recurrent unit (Cho et al. 2014), in the variant that torch and cuDNN compute."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.nn.bptt import gru_sequence
from rnnkit.nn.cells.base import GatedCell
from rnnkit.state import State


class GRUCell(GatedCell):
    """One GRU step, equal to ``torch.nn.GRUCell`` with the same weights (gate order r, z, n)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    This is torch's (and cuDNN's) variant: the reset gate multiplies ``W_hn h + b_hn`` after the matrix
    product, whereas Cho et al. (2014, eq. 7) apply it to h before: ``tanh(W x + U (r * h))``. The torch
    form lets all three recurrent products run as one matrix product per step, and it is the one whose
    weights load from and into ``torch.nn.GRU``.

    ``forward(x_t (B, I), (h,)) -> (h' (B, H), (h',))``.
    """

    num_chunks = 3
    fused_mode = "GRU"
    sequence_kernel = "reference loop (hand-written BPTT)"

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True):
        super().__init__(input_size, hidden_size, bias=bias)
        self.output_size = hidden_size
        self.state_sizes = (hidden_size,)
        self.reset_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        """(..., I) -> (..., 3H): input products; b_hr and b_hz fold in here, b_hn must stay inside r*(.)."""
        gx = x @ self.weight_ih.t()
        if self.bias:
            H = self.hidden_size
            b_hh = torch.cat([self.bias_hh[: 2 * H], self.bias_hh.new_zeros(H)])
            gx = gx + (self.bias_ih + b_hh)
        return gx

    def gates(self, x_t: Tensor, state: State) -> dict[str, Tensor]:
        """The reset and update gates ``{"r", "z"}`` of the step from ``x_t`` (B, I), each (B, H) in (0, 1):
        the very tensors :meth:`step` multiplies by."""
        r, z, _ = self._activations(self.project_input(x_t), state[0])
        return {"r": r, "z": z}

    def _activations(self, gx_t: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """r, z and the candidate n, each (B, H), from ``gx_t`` (B, 3H) and h (B, H)."""
        H = self.hidden_size
        gh = h @ self.weight_hh.t()  # (B, 3H)
        if self.bias:
            gh = torch.cat([gh[:, : 2 * H], gh[:, 2 * H :] + self.bias_hh[2 * H :]], dim=1)
        rz = torch.sigmoid(gx_t[:, : 2 * H] + gh[:, : 2 * H])
        r, z = rz.chunk(2, dim=1)
        n = torch.tanh(gx_t[:, 2 * H :] + r * gh[:, 2 * H :])
        return r, z, n

    def step(self, gx_t: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        _, z, n = self._activations(gx_t, h)
        h = n + z * (h - n)  # == (1 - z) * n + z * h
        return h, (h,)

    def forward_sequence(self, x: Tensor, state: State, *, mask: Tensor | None = None) -> tuple[Tensor, State]:
        """``x`` (B, T, I) -> (y (B, T, H), (h,)) in one call of a hand-written BPTT kernel
        (:mod:`rnnkit.nn.bptt`), equal to stepping; where ``mask`` (B, T) is false the state is carried.
        """
        gx = self.project_input(x.transpose(0, 1))  # (T, B, 3H): all steps in one matrix product, time-major
        b_hn = self.bias_hh[2 * self.hidden_size :] if self.bias else None
        y, h = gru_sequence(gx, state[0], self.weight_hh, b_hn, mask)
        return y, (h,)
