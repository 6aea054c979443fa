"""``capture_state_grads``: the per-step gradients dL/dh_t that a hand-written backward computes anyway.

Every BPTT kernel in this package forms dL/dh_t for each step on its way back through time (the gradient
of the loss with respect to the hidden state after step t, from the output and from all later steps).
Inside ``capture_state_grads`` each kernel's backward hands that tensor over instead of dropping it, so
"gradient flow over time" diagnostics (vanishing or exploding gradients) cost nothing extra::

    with capture_state_grads() as grads:
        y, state = layer(x)
        loss_fn(y).backward()
    norms = grads[0].norm(dim=-1)  # (B, T): |dL/dh_t| per row and step

The context must be open while ``backward`` runs (that is when the tensors exist). Each kernel call
appends one (B, T, O) tensor (O = the cell's output size), in backward order: for a stack of layers the
top layer comes first. At padded steps it holds the gradient of the state carried through them. The
tensors are views of the kernels' buffers, taken as they are: nothing is copied.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import Tensor

_SINKS: list[list[Tensor]] = []  # the lists of the open contexts, innermost last


@contextmanager
def capture_state_grads() -> Iterator[list[Tensor]]:
    """Collect dL/dh_t, one (B, T, O) tensor per kernel call, from the backward passes run inside."""
    sink: list[Tensor] = []
    _SINKS.append(sink)
    try:
        yield sink
    finally:
        _SINKS[:] = [s for s in _SINKS if s is not sink]


def record_state_grads(dh: Tensor) -> None:
    """Called by a kernel's backward with its time-major dL/dh_t (T, B, O)."""
    for sink in _SINKS:
        sink.append(dh.transpose(0, 1))  # (T, B, O) -> (B, T, O), a view: no copy
