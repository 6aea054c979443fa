"""The recurrent core every task model shares: a config and a builder over ``rnnkit.nn`` layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from rnnkit.registry import cell_layer


@dataclass
class EncoderConfig:
    """Settings of a stack of recurrent layers (PyTorch's names where they exist).

    ``init`` chooses the starting weights of gated cells: "default" (torch's uniform, plus
    ``forget_bias`` for LSTM), or "chrono" (Tallec and Ollivier 2018, sec. 3: forget-gate biases drawn as
    log(U(1, max_lag - 1)) and input-gate biases their negation, so memories start out lasting up to
    ``max_lag`` steps); ``max_lag`` is the longest dependency the task is expected to need.
    """

    # "rnn" (Elman), "lstm", "gru"; "mingru", "minlstm": gates read the input only (Feng et al. 2024)
    cell: Literal["rnn", "lstm", "gru", "mingru", "minlstm"] = "lstm"
    hidden_size: int = 128  # H: units a layer, in each direction
    num_layers: int = 1  # layers stacked, each reading the outputs of the one below
    bidirectional: bool = False  # each layer also reads right to left; both directions' outputs side by side, 2H wide
    dropout: float = 0.0  # dropout probability between layers (not after the last), as in torch.nn.LSTM
    nonlinearity: Literal["tanh", "relu"] = "tanh"  # the activation of the "rnn" cell; the other cells ignore it
    layer_norm: bool = False  # lstm only: layer normalisation in the cell (Ba et al. 2016); never the fused kernel
    proj_size: int = 0  # lstm only: project h to P < H units (Sak et al. 2014, torch's proj_size); 0: none
    # lstm, init "default": added to the forget-gate bias at initialisation (0: torch's init exactly)
    forget_bias: float = 1.0
    residual: bool = False  # add each layer's input to its output where the widths match (Wu et al. 2016, sec. 3.1)
    init: Literal["default", "chrono"] = "default"
    max_lag: int = 100
    # "auto": fused when the cell allows, else the cell's sequence path, else the step loop; "fused" (an error if
    # unavailable), "reference" (never fused), "step" (the step loop the others are tested against)
    kernel: Literal["auto", "fused", "reference", "step"] = "auto"


def build_encoder(cfg: EncoderConfig, input_size: int) -> nn.Module:
    """The layer stack for ``cfg`` reading ``input_size`` features: (B, T, I) -> (B, T, D*H)."""
    kwargs = dict(
        num_layers=cfg.num_layers,
        bidirectional=cfg.bidirectional,
        dropout=cfg.dropout,
        residual=cfg.residual,
        kernel=cfg.kernel,
    )
    if cfg.cell == "lstm":
        kwargs.update(layer_norm=cfg.layer_norm, proj_size=cfg.proj_size, forget_bias=cfg.forget_bias)
    elif cfg.layer_norm or cfg.proj_size:
        raise ValueError(f"layer_norm and proj_size apply to the lstm cell only, not {cfg.cell!r}")
    if cfg.cell == "rnn":
        kwargs.update(nonlinearity=cfg.nonlinearity)
    layer = cell_layer(cfg.cell)(input_size, cfg.hidden_size, **kwargs)
    if cfg.init == "chrono":
        chrono_init(layer, cfg.max_lag)
    return layer


def chrono_init(layer: nn.Module, max_lag: int) -> None:
    """Chrono initialisation (Tallec and Ollivier 2018, eq. 16) of every LSTM or GRU cell in ``layer``.

    LSTM: b_f ~ log(U(1, max_lag - 1)), b_i = -b_f. GRU: the update gate z plays 1 - f (h' = (1-z) n + z h),
    so b_z ~ log(U(1, max_lag - 1)). The bias lives in ``bias_ih``; ``bias_hh`` of the gate is zeroed.
    Cells without gates are left as they are.
    """
    import torch

    from rnnkit.nn.cells import GRUCell, LSTMCell

    if max_lag < 3:
        raise ValueError(f"max_lag must be at least 3 for chrono initialisation, got {max_lag}")
    for cell in layer.modules():
        if isinstance(cell, LSTMCell) and cell.bias:
            slices = {"f": slice(cell.hidden_size, 2 * cell.hidden_size), "i": slice(0, cell.hidden_size)}
        elif isinstance(cell, GRUCell) and cell.bias:
            slices = {"f": slice(cell.hidden_size, 2 * cell.hidden_size)}
        else:
            continue
        with torch.no_grad():
            b = torch.log(torch.empty(cell.hidden_size).uniform_(1, max_lag - 1))
            cell.bias_ih[slices["f"]] = b
            cell.bias_hh[slices["f"]] = 0.0
            if "i" in slices:
                cell.bias_ih[slices["i"]] = -b
                cell.bias_hh[slices["i"]] = 0.0
