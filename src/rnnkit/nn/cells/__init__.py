"""Cells: one time step each. See :mod:`rnnkit.nn.cells.base` for the contract."""

from rnnkit.nn.cells.base import Cell
from rnnkit.nn.cells.gru import GRUCell
from rnnkit.nn.cells.lstm import LSTMCell
from rnnkit.nn.cells.mingru import MinGRUCell
from rnnkit.nn.cells.minlstm import MinLSTMCell
from rnnkit.nn.cells.rnn import RNNCell

__all__ = ["Cell", "GRUCell", "LSTMCell", "MinGRUCell", "MinLSTMCell", "RNNCell"]
