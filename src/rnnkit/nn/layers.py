"""Ready-made layers with PyTorch's argument names: ``LSTM``, ``GRU``, ``RNN``, ``MinGRU``, ``MinLSTM``.

Each is a :class:`Stacked` of ``num_layers`` layers, each a :class:`Recurrent` or a :class:`Bidirectional`
pair of them, always batch-first. ``LSTM``, ``GRU`` and ``RNN`` load from and export to their
``torch.nn`` namesakes (any number of layers, either direction) with identical outputs.

>>> lstm = LSTM(8, 32, num_layers=2, bidirectional=True, dropout=0.1)
>>> y, state = lstm(torch.randn(4, 10, 8), lengths=[10, 9, 5, 2])     # y (4, 10, 64)
>>> torch_lstm = lstm.to_torch()                                      # torch.nn.LSTM(batch_first=True)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from rnnkit.nn.cells.base import Cell
from rnnkit.nn.cells.gru import GRUCell
from rnnkit.nn.cells.lstm import LSTMCell
from rnnkit.nn.cells.mingru import MinGRUCell
from rnnkit.nn.cells.minlstm import MinLSTMCell
from rnnkit.nn.cells.rnn import RNNCell
from rnnkit.nn.recurrent import Recurrent
from rnnkit.nn.stack import Bidirectional, Stacked
from rnnkit.state import State


class _Layers(Stacked):
    """``num_layers`` layers of cells built by ``make_cell(input_size)``, optionally bidirectional."""

    def __init__(
        self,
        make_cell: Callable[[int], Cell],
        input_size: int,
        *,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        residual: bool,
        kernel: str,
        batch_first: bool,
    ):
        if not batch_first:
            raise ValueError("batch_first=False is not supported: rnnkit layers take (B, T, I) input")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers, size = [], input_size
        for _ in range(num_layers):
            if bidirectional:
                forward, backward = (Recurrent(make_cell(size), kernel=kernel) for _ in range(2))
                layer = Bidirectional(forward, backward)
            else:
                layer = Recurrent(make_cell(size), kernel=kernel)
            layers.append(layer)
            size = layer.output_size
        super().__init__(layers, dropout=dropout, residual=residual)
        self.num_layers = num_layers
        self.bidirectional = bidirectional

    def cells(self) -> list[Cell]:
        """The cells in torch's order: layer by layer, forward direction before backward."""
        out = []
        for layer in self.layers:
            pair = (layer.forward_layer, layer.backward_layer) if self.bidirectional else (layer,)
            out += [r.cell for r in pair]
        return out

    # ---- torch interop -------------------------------------------------------------------------
    def to_torch_state(self, state: State) -> Tensor | tuple[Tensor, ...]:
        """rnnkit state -> torch's ``h_n`` (or ``(h_n, c_n)``): each (num_layers * D, B, S)."""
        flat = [s for layer in state for s in (layer if self.bidirectional else (layer,))]
        parts = tuple(torch.stack(ts) for ts in zip(*flat))
        return parts if len(parts) > 1 else parts[0]

    def from_torch_state(self, hx: Tensor | tuple[Tensor, ...]) -> State:
        """torch's ``h_0`` (or ``(h_0, c_0)``), each (num_layers * D, B, S) -> rnnkit state."""
        hx = hx if isinstance(hx, tuple) else (hx,)
        per_cell = [tuple(t[k] for t in hx) for k in range(hx[0].shape[0])]
        if not self.bidirectional:
            return tuple(per_cell)
        return tuple((per_cell[2 * k], per_cell[2 * k + 1]) for k in range(self.num_layers))

    @classmethod
    def from_torch(cls, module: nn.RNNBase, *, kernel: str = "auto") -> _Layers:
        """A copy of ``module`` (``torch.nn.LSTM/GRU/RNN``) with the same weights."""
        if not isinstance(module, cls._torch_class):
            raise TypeError(f"{cls.__name__}.from_torch expects a torch.nn.{cls._torch_class.__name__}")
        layer = cls(
            module.input_size,
            module.hidden_size,
            num_layers=module.num_layers,
            bias=module.bias,
            dropout=module.dropout,
            bidirectional=module.bidirectional,
            kernel=kernel,
            **cls._options_from_torch(module),
        )
        layer.load_torch_weights(module)
        return layer.to(device=module.weight_ih_l0.device, dtype=module.weight_ih_l0.dtype)

    def to_torch(self) -> nn.RNNBase:
        """A ``torch.nn`` module (``batch_first=True``) with a copy of these weights."""
        first = self.cells()[0]
        module = self._torch_class(
            first.input_size,
            first.hidden_size,
            num_layers=self.num_layers,
            bias=first.bias,
            batch_first=True,
            dropout=float(getattr(self.dropout, "p", 0.0)),
            bidirectional=self.bidirectional,
            **self._options_to_torch(first),
        )
        with torch.no_grad():
            for ours, theirs in self._torch_named_weights(module):
                theirs.copy_(ours)
        return module.to(device=first.weight_ih.device, dtype=first.weight_ih.dtype)

    def load_torch_weights(self, module: nn.RNNBase) -> None:
        with torch.no_grad():
            for ours, theirs in self._torch_named_weights(module):
                ours.copy_(theirs)

    def _torch_named_weights(self, module: nn.RNNBase) -> list[tuple[Tensor, Tensor]]:
        """Pairs (rnnkit parameter, torch parameter) for every weight, in torch's order."""
        pairs = []
        for k, cell in enumerate(self.cells()):
            layer, suffix = divmod(k, 2) if self.bidirectional else (k, 0)
            tail = f"_l{layer}" + ("_reverse" if suffix else "")
            names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if cell.bias else [])
            names += ["weight_hr"] if getattr(cell, "proj_size", 0) else []
            pairs += [(getattr(cell, n), getattr(module, n + tail)) for n in names]
        return pairs

    @staticmethod
    def _options_from_torch(module: nn.RNNBase) -> dict:
        return {}

    @staticmethod
    def _options_to_torch(cell: Cell) -> dict:
        return {}


class LSTM(_Layers):
    """Stacked, optionally bidirectional LSTM, argument for argument like ``torch.nn.LSTM`` (batch-first).

    Extra options: ``layer_norm`` (Ba et al. 2016), ``forget_bias`` (added at initialisation; 0 gives
    torch's), ``residual`` connections, and ``kernel`` (see :class:`Recurrent`). The state is one
    ``(h, c)`` per layer (per direction: ``((h_f, c_f), (h_b, c_b))``).
    """

    _torch_class = nn.LSTM

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        layer_norm: bool = False,
        forget_bias: float = 1.0,
        residual: bool = False,
        kernel: str = "auto",
    ):
        def make_cell(size: int) -> Cell:
            return LSTMCell(
                size, hidden_size, bias=bias, proj_size=proj_size, layer_norm=layer_norm, forget_bias=forget_bias
            )

        super().__init__(
            make_cell,
            input_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            residual=residual,
            kernel=kernel,
            batch_first=batch_first,
        )

    @staticmethod
    def _options_from_torch(module: nn.RNNBase) -> dict:
        return {"proj_size": module.proj_size}

    @staticmethod
    def _options_to_torch(cell: Cell) -> dict:
        if cell.layer_norm:
            raise ValueError("a layer-norm LSTM has no torch.nn.LSTM equivalent")
        return {"proj_size": cell.proj_size}


class GRU(_Layers):
    """Stacked, optionally bidirectional GRU, like ``torch.nn.GRU`` (batch-first); state one ``(h,)`` per layer."""

    _torch_class = nn.GRU

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        residual: bool = False,
        kernel: str = "auto",
    ):
        super().__init__(
            lambda size: GRUCell(size, hidden_size, bias=bias),
            input_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            residual=residual,
            kernel=kernel,
            batch_first=batch_first,
        )


class RNN(_Layers):
    """Stacked, optionally bidirectional Elman RNN (tanh or relu), like ``torch.nn.RNN`` (batch-first)."""

    _torch_class = nn.RNN

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        residual: bool = False,
        kernel: str = "auto",
    ):
        super().__init__(
            lambda size: RNNCell(size, hidden_size, bias=bias, nonlinearity=nonlinearity),
            input_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            residual=residual,
            kernel=kernel,
            batch_first=batch_first,
        )

    @staticmethod
    def _options_from_torch(module: nn.RNNBase) -> dict:
        return {"nonlinearity": module.nonlinearity}

    @staticmethod
    def _options_to_torch(cell: Cell) -> dict:
        return {"nonlinearity": cell.nonlinearity}


class MinGRU(_Layers):
    """Stacked, optionally bidirectional minGRU (Feng et al. 2024): gates depend on the input only, so the
    whole sequence runs as a parallel scan. State one ``(h,)`` per layer."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        residual: bool = False,
        kernel: str = "auto",
    ):
        super().__init__(
            lambda size: MinGRUCell(size, hidden_size, bias=bias),
            input_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            residual=residual,
            kernel=kernel,
            batch_first=batch_first,
        )


class MinLSTM(_Layers):
    """Stacked, optionally bidirectional minLSTM (Feng et al. 2024), run as a parallel scan. State one
    ``(h,)`` per layer."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        residual: bool = False,
        kernel: str = "auto",
    ):
        super().__init__(
            lambda size: MinLSTMCell(size, hidden_size, bias=bias),
            input_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            residual=residual,
            kernel=kernel,
            batch_first=batch_first,
        )
