"""Wrappers that make one layer out of several: ``Bidirectional`` and ``Stacked``.

Both keep the layer contract ``forward(x (B, T, I), state=None, *, lengths=None) -> (y (B, T, O), state)``.
A bidirectional layer's state is ``(forward_state, backward_state)``; a stack's is one state per layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnkit.nn.checks import check_input, check_lengths, check_state
from rnnkit.nn.fused import run_fused
from rnnkit.nn.kernel import common_path
from rnnkit.nn.recurrent import Recurrent, length_mask
from rnnkit.state import State


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each row's first ``lengths[b]`` steps in time, leaving its padding where it is.

    (B, T, F) -> (B, T, F); with ``lengths`` None it is ``x.flip(1)``. Applying it twice gives ``x`` back.
    """
    if lengths is None:
        return x.flip(1)
    steps = x.shape[1]
    t = torch.arange(steps, device=x.device).unsqueeze(0)  # (1, T)
    n = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    index = torch.where(t < n, n - 1 - t, t)  # (B, T): position read for each output step
    return x.gather(1, index.unsqueeze(2).expand_as(x))


class Bidirectional(nn.Module):
    """Runs ``forward_layer`` over the sequence and ``backward_layer`` over it reversed, row by row within
    each row's length, and concatenates their outputs on the last dim: (B, T, O_f + O_b).

    When both layers are fused-capable cells of one kind, both directions run in one fused call, the way
    ``torch.nn.LSTM(bidirectional=True)`` does.
    """

    def __init__(self, forward_layer: nn.Module, backward_layer: nn.Module):
        super().__init__()
        if forward_layer.input_size != backward_layer.input_size:
            raise ValueError(
                f"directions disagree on input_size: {forward_layer.input_size} vs {backward_layer.input_size}"
            )
        self.forward_layer = forward_layer
        self.backward_layer = backward_layer
        self.kernel = self._describe(torch.empty(0))

    @property
    def kernel_path(self) -> str | None:
        """The path both directions took ("torch-fused", "sequence", "step"), or "mixed"."""
        return common_path((self.forward_layer, self.backward_layer))

    @property
    def input_size(self) -> int:
        return self.forward_layer.input_size

    @property
    def output_size(self) -> int:
        return self.forward_layer.output_size + self.backward_layer.output_size

    def init_state(self, batch_size: int, **kwargs) -> State:
        return tuple(layer.init_state(batch_size, **kwargs) for layer in (self.forward_layer, self.backward_layer))

    def _fused_together(self, x: Tensor) -> bool:
        f, b = self.forward_layer, self.backward_layer
        return (
            isinstance(f, Recurrent)
            and isinstance(b, Recurrent)
            and f.plan(x) == b.plan(x) == "torch-fused"
            and f.cell.fused_mode == b.cell.fused_mode
            and f.cell.bias == b.cell.bias
        )

    def _describe(self, x: Tensor) -> str:
        if self._fused_together(x):
            return f"{self.forward_layer.describe('torch-fused', x)}, both directions in one call"
        return f"forward: {self.forward_layer.kernel}; backward: {self.backward_layer.kernel}"

    def forward(
        self, x: Tensor, state: State | None = None, *, lengths: Tensor | Sequence[int] | None = None
    ) -> tuple[Tensor, State]:
        check_input(x, self.input_size)
        lengths = check_lengths(lengths, x.shape[0], x.shape[1])
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        elif not isinstance(state, tuple) or len(state) != 2:
            raise ValueError("state of a Bidirectional layer must be (forward_state, backward_state)")
        if self._fused_together(x):
            out, final = self._forward_fused(x, state, lengths)
        else:
            out_f, state_f = self.forward_layer(x, state[0], lengths=lengths)
            out_b, state_b = self.backward_layer(reverse_padded(x, lengths), state[1], lengths=lengths)
            out, final = torch.cat([out_f, reverse_padded(out_b, lengths)], dim=2), (state_f, state_b)
        self.kernel = self._describe(x)
        return out, final

    def _forward_fused(self, x: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        for layer, s in zip((self.forward_layer, self.backward_layer), state):
            check_state(s, layer.init_state(x.shape[0], device=x.device, dtype=x.dtype))
            layer.kernel_info = layer.describe("torch-fused", x)
        cells = [self.forward_layer.cell, self.backward_layer.cell]
        out, finals = run_fused(
            cells[0].fused_mode, [c.fused_weights() for c in cells], x, list(state), lengths, has_bias=cells[0].bias
        )
        return out, tuple(finals)


class Stacked(nn.Module):
    """Layers applied one after another: ``layers[k+1]`` reads the outputs of ``layers[k]``.

    ``dropout`` applies between layers (not after the last), as in ``torch.nn.LSTM``: a probability for
    ordinary dropout, or a module such as :class:`rnnkit.nn.LockedDropout`. ``residual=True`` adds each
    layer's input to its output wherever the widths match (Wu et al. 2016, sec. 3.1: from the third layer on).
    """

    def __init__(self, layers: Sequence[nn.Module], *, dropout: float | nn.Module = 0.0, residual: bool = False):
        super().__init__()
        if not layers:
            raise ValueError("Stacked needs at least one layer")
        for k in range(1, len(layers)):
            if layers[k].input_size != layers[k - 1].output_size:
                raise ValueError(
                    f"layer {k} has input_size={layers[k].input_size}, but layer {k - 1} outputs "
                    f"{layers[k - 1].output_size} features"
                )
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout) if isinstance(dropout, (int, float)) else dropout
        self.residual = residual

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_size

    @property
    def kernel(self) -> str:
        if len(self.layers) == 1:
            return self.layers[0].kernel
        return "; ".join(f"layer {k}: {layer.kernel}" for k, layer in enumerate(self.layers))

    @property
    def kernel_path(self) -> str | None:
        """The path every layer took ("torch-fused", "sequence", "step"), or "mixed"."""
        return common_path(self.layers)

    def init_state(self, batch_size: int, **kwargs) -> State:
        return tuple(layer.init_state(batch_size, **kwargs) for layer in self.layers)

    def forward(
        self, x: Tensor, state: State | None = None, *, lengths: Tensor | Sequence[int] | None = None
    ) -> tuple[Tensor, State]:
        check_input(x, self.input_size)
        lengths = check_lengths(lengths, x.shape[0], x.shape[1])
        if state is None:
            state = (None,) * len(self.layers)
        elif not isinstance(state, tuple) or len(state) != len(self.layers):
            raise ValueError(f"state of a Stacked layer must be a tuple of {len(self.layers)} layer states")
        finals = []
        for k, (layer, s) in enumerate(zip(self.layers, state)):
            if k > 0:
                x = self.dropout(x)
            out, final = layer(x, s, lengths=lengths)
            if self.residual and out.shape == x.shape:
                out = out + x
                if lengths is not None:  # keep padded steps at zero
                    out = out * length_mask(lengths.to(x.device), x.shape[1]).unsqueeze(2).to(out.dtype)
            x = out
            finals.append(final)
        return x, tuple(finals)
