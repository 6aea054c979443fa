"""``Kernel``: which implementation a layer ran, and why, as data rather than a sentence to parse.

A :class:`rnnkit.nn.Recurrent` layer keeps the one it ran last in ``layer.kernel_info``, with two views:
``layer.kernel_path``, the field to branch on, and ``layer.kernel``, the readable sentence::

    layer.kernel_info   Kernel(path='torch-fused', name='torch-fused (oneDNN)', reason='standard LSTM',
                               backend='oneDNN')
    layer.kernel_path   'torch-fused'
    layer.kernel        'torch-fused (oneDNN): standard LSTM'

The wrappers (``Stacked``, ``Bidirectional``) have ``kernel`` and ``kernel_path`` too: the path all their
layers took (:func:`common_path`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PATHS = ("torch-fused", "sequence", "step")


@dataclass(frozen=True)
class Kernel:
    """One layer call's implementation.

    - ``path``: "torch-fused" (torch's own RNN kernel), "sequence" (the cell's ``forward_sequence``: a
      hand-written BPTT kernel, a parallel scan) or "step" (the reference loop, one cell step per time step).
    - ``name``: what ran, in words, e.g. "parallel scan (log-space)".
    - ``reason``: why this one, e.g. "standard LSTM", "layer norm", "kernel='step' requested".
    - ``backend``: the library behind a torch-fused kernel ("oneDNN", "cuDNN", "CUDA", "ATen"), else None.

    ``str(kernel)`` is ``"name: reason"``, the sentence ``layer.kernel`` has always held.
    """

    path: str
    name: str
    reason: str
    backend: str | None = None

    def __post_init__(self) -> None:
        if self.path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {self.path!r}")

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


def common_path(layers: Iterable[object]) -> str | None:
    """The ``kernel_path`` that all ``layers`` report; "mixed" when they differ; None when any has none."""
    paths = {getattr(layer, "kernel_path", None) for layer in layers}
    if None in paths:
        return None
    return paths.pop() if len(paths) == 1 else "mixed"
