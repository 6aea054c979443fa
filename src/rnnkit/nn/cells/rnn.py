"""Elman RNN cell (Elman 1990): h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""

from __future__ import annotations

from torch import Tensor

from rnnkit.nn.bptt import rnn_sequence
from rnnkit.nn.cells.base import GatedCell
from rnnkit.state import State

_ACTIVATIONS = {"tanh": Tensor.tanh, "relu": Tensor.relu}


class RNNCell(GatedCell):
    """One step of an Elman network, equal to ``torch.nn.RNNCell`` with the same weights.

    ``forward(x_t (B, I), (h,)) -> (h_t (B, H), (h_t,))``; ``nonlinearity`` is "tanh" or "relu".

    >>> cell = RNNCell(3, 5)
    >>> y, (h,) = cell(torch.zeros(2, 3), cell.init_state(2))
    """

    num_chunks = 1
    sequence_kernel = "reference loop (hand-written BPTT)"

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, nonlinearity: str = "tanh"):
        if nonlinearity not in _ACTIVATIONS:
            raise ValueError(f"nonlinearity must be one of {sorted(_ACTIVATIONS)}, got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias=bias)
        self.nonlinearity = nonlinearity
        self.output_size = hidden_size
        self.state_sizes = (hidden_size,)
        self.fused_mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.reset_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        """(..., I) -> (..., H): the input half of the pre-activation, both biases folded in."""
        gx = x @ self.weight_ih.t()
        if self.bias:
            gx = gx + (self.bias_ih + self.bias_hh)
        return gx

    def step(self, gx_t: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        h = _ACTIVATIONS[self.nonlinearity](gx_t + h @ self.weight_hh.t())
        return h, (h,)

    def forward_sequence(self, x: Tensor, state: State, *, mask: Tensor | None = None) -> tuple[Tensor, State]:
        """``x`` (B, T, I) -> (y (B, T, H), (h,)) in one call of a hand-written BPTT kernel
        (:mod:`rnnkit.nn.bptt`), equal to stepping; where ``mask`` (B, T) is false the state is carried.
        """
        gx = self.project_input(x.transpose(0, 1))  # (T, B, H): all steps in one matrix product, time-major
        y, h = rnn_sequence(gx, state[0], self.weight_hh, self.nonlinearity, mask)
        return y, (h,)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"
