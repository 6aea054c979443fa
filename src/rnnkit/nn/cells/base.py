"""The cell contract: one time step of a recurrent network.

A cell maps one input step and the previous state to one output step and the next state::

    y_t, state = cell(x_t, state)        # x_t (B, I) -> y_t (B, O); state a tuple of (B, S_k)

The same weights serve every step; the state is passed in and returned, never kept on the module.
A layer (:class:`rnnkit.nn.Recurrent`) unrolls a cell over time.

Two optional hooks let a layer run a cell faster than one ``forward`` call per step:

- ``project_input(x) -> gx`` and ``step(gx_t, state)``: the part of a step that does not depend on the
  state (the input projection, usually most of the FLOPs) done once for all steps as one large matrix
  product; ``forward(x_t, state) == step(project_input(x_t), state)``.
- ``forward_sequence(x, state, *, mask) -> (y, state)``: a whole-sequence path (a hand-written BPTT
  kernel, a parallel scan). ``sequence_kernel`` names it. Tests hold it equal to stepping.

A cell whose configuration one of torch's fused RNN kernels computes (oneDNN on CPU, cuDNN on GPU) says
so with ``fused_mode`` ("LSTM", "GRU", "RNN_TANH", "RNN_RELU") and hands its weights over in torch's order
with ``fused_weights()``; otherwise ``fused_mode`` is None and ``fused_reason`` says why.

A cell names its own gates, so that tools (gate saturation in :mod:`rnnkit.train.diagnostics`) never
re-derive its equations::

    gates = cell.gates(x_t, state)       # {"i": (B, H), "f": (B, H), "o": (B, H)} for an LSTM

``gates`` gives the sigmoid gates of the step ``forward(x_t, state)`` would take, each in (0, 1), named as
in the cell's paper, in a fixed order; candidates such as the LSTM's tanh(g) are not gates. The step
computes its gates through the same code, or a test holds the two equal. A cell without gates (the
default) returns an empty dict.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnkit import state as st
from rnnkit.state import State


class Cell(nn.Module):
    """Base class of every cell. Subclasses set the sizes and implement ``forward``."""

    input_size: int
    hidden_size: int
    output_size: int
    state_sizes: tuple[int, ...]
    fused_mode: str | None = None
    fused_reason: str = "no fused kernel for this cell"
    sequence_kernel: str | None = None

    def init_state(
        self, batch_size: int, *, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> State:
        """The zero state for ``batch_size`` rows, on the cell's device and dtype unless given."""
        p = next(self.parameters(), None)
        if p is not None:
            device = device or p.device
            dtype = dtype or p.dtype
        return st.zeros(batch_size, self.state_sizes, device=device, dtype=dtype)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        if hasattr(self, "step"):
            return self.step(self.project_input(x_t), state)
        raise NotImplementedError

    def gates(self, x_t: Tensor, state: State) -> dict[str, Tensor]:
        """The sigmoid gates of one step from ``x_t`` (B, I) and ``state``, by name, each (B, H) in (0, 1);
        empty for a cell without gates."""
        return {}

    def fused_weights(self) -> list[Tensor]:
        raise NotImplementedError(f"{type(self).__name__}: {self.fused_reason}")

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class GatedCell(Cell):
    """Shared parameters of the torch-compatible cells: ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)``
    and the two biases, named as in ``torch.nn.LSTMCell`` so state dicts load both ways.

    Initialisation is torch's: every weight uniform in (-1/sqrt(H), 1/sqrt(H)).
    """

    num_chunks: int

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, recurrent_size: int = 0):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(
                f"input_size and hidden_size must be positive, got input_size={input_size}, "
                f"hidden_size={hidden_size}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gates = self.num_chunks * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gates, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gates, recurrent_size or hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gates))
            self.bias_hh = nn.Parameter(torch.empty(gates))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters(recurse=False):
            nn.init.uniform_(p, -bound, bound)

    def fused_weights(self) -> list[Tensor]:
        if self.fused_mode is None:
            raise NotImplementedError(f"{type(self).__name__}: {self.fused_reason}")
        ws = [self.weight_ih, self.weight_hh]
        if self.bias:
            ws += [self.bias_ih, self.bias_hh]
        return ws

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")
