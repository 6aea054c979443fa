"""Recurrent building blocks: cells, the layers that unroll them, wrappers and dropout."""

from rnnkit.nn.cells import Cell, GRUCell, LSTMCell, MinGRUCell, MinLSTMCell, RNNCell
from rnnkit.nn.checks import debug_checks
from rnnkit.nn.dropout import DropConnect, LockedDropout, weight_drop
from rnnkit.nn.kernel import Kernel
from rnnkit.nn.layers import GRU, LSTM, RNN, MinGRU, MinLSTM
from rnnkit.nn.recurrent import Recurrent, length_mask, unroll
from rnnkit.nn.stack import Bidirectional, Stacked, reverse_padded

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Bidirectional",
    "Cell",
    "DropConnect",
    "GRUCell",
    "Kernel",
    "LSTMCell",
    "LockedDropout",
    "MinGRU",
    "MinGRUCell",
    "MinLSTM",
    "MinLSTMCell",
    "RNNCell",
    "Recurrent",
    "Stacked",
    "debug_checks",
    "length_mask",
    "reverse_padded",
    "unroll",
    "weight_drop",
]
