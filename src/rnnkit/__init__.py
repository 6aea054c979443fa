"""rnnkit: recurrent neural networks on PyTorch, from one cell to a served model.

The public API is what ``__all__`` lists; everything else may change between versions.
"""

from rnnkit import state
from rnnkit.nn import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    Cell,
    GRUCell,
    LockedDropout,
    LSTMCell,
    MinGRU,
    MinGRUCell,
    MinLSTM,
    MinLSTMCell,
    Recurrent,
    RNNCell,
    Stacked,
    debug_checks,
    weight_drop,
)
from rnnkit.state import State

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Bidirectional",
    "Cell",
    "GRUCell",
    "LSTMCell",
    "LockedDropout",
    "MinGRU",
    "MinGRUCell",
    "MinLSTM",
    "MinLSTMCell",
    "RNNCell",
    "Recurrent",
    "Stacked",
    "State",
    "__version__",
    "debug_checks",
    "state",
    "weight_drop",
]
