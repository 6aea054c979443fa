"""``Batch``: what a loader hands the trainer and a task model takes. Only torch is imported here.

Shapes are batch-first: ``inputs`` (B, T, ...) and ``targets`` (B, T, ...) or (B, ...). ``lengths`` (B,)
marks real steps of padded rows. ``reset`` (B,) is set only by stream loaders for truncated BPTT: the
batch continues the previous one row by row, and rows where ``reset`` is true start a new document, so
their carried state goes back to zero. A batch with ``reset`` None stands alone: its state starts fresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

IGNORE = -100  # target value of steps that are not scored (torch's cross_entropy ignore_index)


@dataclass
class Batch:
    inputs: Tensor
    targets: Tensor | None = None
    lengths: Tensor | None = None
    reset: Tensor | None = None
    extras: dict[str, Tensor] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.inputs.shape[0]

    @property
    def mask(self) -> Tensor:
        """(B, T) bool: true at real steps."""
        steps = self.inputs.shape[1]
        if self.lengths is None:
            return torch.ones(self.size, steps, dtype=torch.bool, device=self.inputs.device)
        return torch.arange(steps, device=self.inputs.device) < self.lengths.to(self.inputs.device).unsqueeze(1)

    @property
    def num_steps(self) -> int:
        """Real (unpadded) time steps in the batch: the "tokens" of tokens per second."""
        if self.lengths is None:
            return self.inputs.shape[0] * self.inputs.shape[1]
        return int(self.lengths.sum())

    def to(self, device: torch.device | str) -> Batch:
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return replace(
            self,
            inputs=move(self.inputs),
            targets=move(self.targets),
            lengths=self.lengths,  # lengths stay on the CPU: packing wants them there
            reset=move(self.reset),
            extras={k: move(v) for k, v in self.extras.items()},
        )


def pad(sequences: Sequence[Tensor], *, value: float = 0.0) -> tuple[Tensor, Tensor]:
    """Pad (T_i, ...) tensors to one (B, max T_i, ...) tensor; also returns the lengths (B,)."""
    if not sequences:
        raise ValueError("pad needs at least one sequence")
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    out = sequences[0].new_full((len(sequences), int(lengths.max()), *sequences[0].shape[1:]), value)
    for b, s in enumerate(sequences):
        out[b, : len(s)] = s
    return out, lengths
