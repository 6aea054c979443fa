"""Long short-term memory (Hochreiter and Schmidhuber 1997, with the forget gate of Gers et al. 2000)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.nn.bptt import ln_lstm_sequence, lstm_sequence
from rnnkit.nn.cells.base import GatedCell
from rnnkit.state import State


class LSTMCell(GatedCell):
    """One LSTM step, equal to ``torch.nn.LSTMCell`` with the same weights (gate order i, f, g, o)::

        i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h' = sigmoid(o) * tanh(c')

    ``forward(x_t (B, I), (h (B, O), c (B, H))) -> (h' (B, O), (h', c'))``, where O is ``proj_size`` if
    set, else H.

    Options:

    - ``forget_bias``: added to the forget-gate slice of ``bias_ih`` at initialisation, so the cell starts
      out remembering (Gers et al. 2000; Jozefowicz et al. 2015, sec. 2.2, found 1.0 closes most of the gap
      to the GRU). 0 gives torch's initialisation exactly.
    - ``proj_size``: a projection ``h' = W_hr (sigmoid(o) * tanh(c'))`` of shape (P, H) as in torch's
      ``proj_size`` (Sak et al. 2014); the state becomes (h (B, P), c (B, H)).
    - ``layer_norm``: layer normalisation as in Ba et al. (2016, sec. 3.1, eq. 20-22): the input and
      recurrent pre-activations are normalised separately over the 4H gate vector, and the cell before
      the output tanh: ``h' = sigmoid(o) * tanh(LN(c'))``. The affine shifts of the two gate norms play the
      role of the biases. torch has no such layer, so it always runs the reference path.
    """

    num_chunks = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        proj_size: int = 0,
        layer_norm: bool = False,
        forget_bias: float = 1.0,
    ):
        if proj_size < 0 or proj_size >= hidden_size and proj_size != 0:
            raise ValueError(f"proj_size must be in [0, hidden_size={hidden_size}), got {proj_size}")
        super().__init__(input_size, hidden_size, bias=bias and not layer_norm, recurrent_size=proj_size)
        self.proj_size = proj_size
        self.layer_norm = layer_norm
        self.forget_bias = forget_bias
        self.output_size = proj_size or hidden_size
        self.state_sizes = (self.output_size, hidden_size)
        if proj_size:
            self.weight_hr = nn.Parameter(torch.empty(proj_size, hidden_size))
        if layer_norm:
            self.ln_ih = nn.LayerNorm(4 * hidden_size, bias=bias)
            self.ln_hh = nn.LayerNorm(4 * hidden_size, bias=False)
            self.ln_c = nn.LayerNorm(hidden_size)
            self.fused_mode, self.fused_reason = None, "layer norm"
        else:
            self.fused_mode = "LSTM"
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        H = self.hidden_size
        with torch.no_grad():
            if self.layer_norm:
                for ln in (self.ln_ih, self.ln_hh, self.ln_c):
                    ln.reset_parameters()
                if self.ln_ih.bias is not None:
                    self.ln_ih.bias[H : 2 * H] += self.forget_bias
            elif self.bias:
                self.bias_ih[H : 2 * H] += self.forget_bias

    def project_input(self, x: Tensor) -> Tensor:
        """(..., I) -> (..., 4H): the input half of the gate pre-activations, biases folded in."""
        gx = x @ self.weight_ih.t()
        if self.layer_norm:
            return self.ln_ih(gx)
        if self.bias:
            gx = gx + (self.bias_ih + self.bias_hh)
        return gx

    def gates(self, x_t: Tensor, state: State) -> dict[str, Tensor]:
        """The input, forget and output gates ``{"i", "f", "o"}`` of the step from ``x_t`` (B, I), each
        (B, H) in (0, 1): the very tensors :meth:`step` multiplies by."""
        i, f, _, o = self._activations(self.project_input(x_t), state[0])
        return {"i": i, "f": f, "o": o}

    def _activations(self, gx_t: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """sigmoid(i), sigmoid(f), tanh(g), sigmoid(o), each (B, H), from ``gx_t`` (B, 4H) and h (B, O)."""
        gh = h @ self.weight_hh.t()
        pre = gx_t + (self.ln_hh(gh) if self.layer_norm else gh)  # (B, 4H)
        i, f, g, o = pre.chunk(4, dim=-1)
        return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)

    def step(self, gx_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = self._activations(gx_t, h)
        c = f * c + i * g
        h = o * torch.tanh(self.ln_c(c) if self.layer_norm else c)
        if self.proj_size:
            h = h @ self.weight_hr.t()
        return h, (h, c)

    @property
    def sequence_kernel(self) -> str:
        if self.layer_norm:
            return "reference loop (hand-written BPTT, layer-norm kernel)"
        return "reference loop (hand-written BPTT)"

    def forward_sequence(self, x: Tensor, state: State, *, mask: Tensor | None = None) -> tuple[Tensor, State]:
        """``x`` (B, T, I) -> (y (B, T, O), (h, c)) in one call of a hand-written BPTT kernel
        (:mod:`rnnkit.nn.bptt`), equal to stepping. Where ``mask`` (B, T) is false the state is carried
        unchanged and the output is zero.
        """
        gx = self.project_input(x.transpose(0, 1))  # (T, B, 4H): all steps in one matrix product, time-major
        w_hr = self.weight_hr if self.proj_size else None
        if self.layer_norm:
            return ln_lstm_sequence(gx, state, self.weight_hh, w_hr, self.ln_hh, self.ln_c, mask)
        return lstm_sequence(gx, state, self.weight_hh, w_hr, mask)

    def fused_weights(self) -> list[Tensor]:
        ws = super().fused_weights()
        return ws + [self.weight_hr] if self.proj_size else ws

    def extra_repr(self) -> str:
        extra = f", proj_size={self.proj_size}" if self.proj_size else ""
        extra += ", layer_norm=True" if self.layer_norm else ""
        return super().extra_repr() + extra
