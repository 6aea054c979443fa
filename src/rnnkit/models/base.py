"""The task-model protocol the trainer, the decoders and the pipeline rely on.

A task model is an ``nn.Module`` with a config dataclass (``model.config``) and::

    forward(batch: Batch, state: State | None = None) -> Output

``state`` is the recurrent state carried in from the previous chunk of a stream (truncated BPTT) or
None for a fresh start; ``Output.state`` is the state to carry on. A generator (language model, decoder)
adds ``start(batch) -> State`` and ``step(y_prev, state) -> (logits, state)``; decoding knows nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from rnnkit.batch import Batch
from rnnkit.state import State


@dataclass
class Output:
    """What a task model returns.

    ``loss`` is the mean over ``weight`` targets (a scalar); ``weight`` lets a caller average exactly
    over batches of different sizes. ``metrics`` holds sums over the batch (e.g. correct predictions),
    to be divided by ``weight`` after aggregation.
    """

    loss: Tensor
    logits: Tensor | None = None
    state: State | None = None
    weight: float = 1.0
    metrics: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class TaskModel(Protocol):
    config: Any

    def forward(self, batch: Batch, state: State | None = None) -> Output: ...


@runtime_checkable
class Generator(Protocol):
    def start(self, batch: Batch) -> State: ...

    def step(self, y_prev: Tensor, state: State) -> tuple[Tensor, State]: ...
