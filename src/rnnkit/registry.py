"""Short names for the parts a config refers to, imported lazily so that an optional dependency is
imported only by the part that needs it. An unknown name lists the known ones.

``TASKS`` lists every task once; the CLI, the server, export and the benchmarks iterate over it.
"""

from __future__ import annotations

import importlib
from typing import Any

CELLS = {
    "rnn": "rnnkit.nn.layers:RNN",
    "lstm": "rnnkit.nn.layers:LSTM",
    "gru": "rnnkit.nn.layers:GRU",
    "mingru": "rnnkit.nn.layers:MinGRU",
    "minlstm": "rnnkit.nn.layers:MinLSTM",
}

# In the order the page shows their panels and the help lists them: the headline task first
TASKS = {
    "lm": "rnnkit.tasks.lm:TASK",
    "classify": "rnnkit.tasks.classify:TASK",
    "seq2seq": "rnnkit.tasks.seq2seq:TASK",
    "music": "rnnkit.tasks.music:TASK",
    "adding": "rnnkit.tasks.memory:ADDING",
    "copy": "rnnkit.tasks.memory:COPY",
    "digits": "rnnkit.tasks.memory:DIGITS",
}


def resolve(table: dict[str, str], name: str, kind: str) -> Any:
    """The object registered under ``name`` in ``table`` ("module:attribute"), imported now."""
    try:
        target = table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def cell_layer(name: str) -> Any:
    """The layer class for a cell's short name: ``cell_layer("gru")`` is ``rnnkit.GRU``."""
    return resolve(CELLS, name, "cell")


def task(name: str) -> Any:
    """The ``rnnkit.tasks.base.Task`` registered as ``name``."""
    return resolve(TASKS, name, "task")


def tasks() -> list[Any]:
    """Every registered task, in the order of ``TASKS``."""
    return [task(name) for name in TASKS]
