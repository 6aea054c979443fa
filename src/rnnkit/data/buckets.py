"""Length-bucketed batches of whole sequences with one target each: little padding, random order.

Each epoch shuffles the examples (seeded by the epoch, so a resumed run sees the same batches), cuts them
into pools of ``pool`` batches, sorts each pool by length and cuts it into batches, then shuffles the
batches. A batch then holds sequences of nearly equal length, so the encoder pads little, while the
order of batches stays random. Evaluation batches are sorted by length and never shuffled.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from rnnkit.batch import IGNORE, Batch, pad


class BucketedBatches:
    """``BucketedBatches(sequences, targets, batch_size=32)``: ``sequences`` are (T_i,) id tensors or
    (T_i, F) float tensors (T_i >= 1), ``targets`` (N,) class ids. ``batches(epoch)`` yields ``Batch``
    with inputs (B, T) or (B, T, F) padded with ``pad_value``, ``lengths`` (B,) and ``targets`` (B,), and
    ``extras["index"]`` (B,) the examples' positions in ``sequences``. ``shuffle=False`` gives every
    example once, sorted by length (evaluation)."""

    def __init__(
        self,
        sequences: Sequence[Tensor],
        targets: Sequence[int] | Tensor,
        *,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
        pool: int = 50,
        pad_value: float = 0,
    ):
        if len(sequences) != len(targets):
            raise ValueError(f"{len(sequences)} sequences but {len(targets)} targets")
        if not sequences:
            raise ValueError("no examples to batch")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.sequences, self.targets = list(sequences), torch.as_tensor(targets, dtype=torch.long)
        self.batch_size, self.shuffle, self.seed, self.pool, self.pad_value = batch_size, shuffle, seed, pool, pad_value
        self.lengths = [len(s) for s in self.sequences]
        if min(self.lengths) < 1:
            raise ValueError("every sequence needs at least one step")

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def batches_per_epoch(self) -> int:
        """Batches in one pass (``TrainConfig.max_epochs`` counts passes in them)."""
        return math.ceil(len(self.sequences) / self.batch_size)

    def batches(self, epoch: int) -> Iterator[Batch]:
        for index in self.order(epoch):
            yield self.batch(index)

    def order(self, epoch: int) -> list[list[int]]:
        """The example indices of each batch of ``epoch``, in the order they are served."""
        by_length = lambda i: self.lengths[i]  # noqa: E731
        if not self.shuffle:
            ranked = sorted(range(len(self)), key=by_length)
            return [ranked[a : a + self.batch_size] for a in range(0, len(ranked), self.batch_size)]
        rng = random.Random(self.seed * 100_003 + epoch)
        indices = list(range(len(self)))
        rng.shuffle(indices)
        span = self.batch_size * self.pool
        out: list[list[int]] = []
        for a in range(0, len(indices), span):
            pooled = sorted(indices[a : a + span], key=by_length)
            out.extend(pooled[b : b + self.batch_size] for b in range(0, len(pooled), self.batch_size))
        rng.shuffle(out)
        return out

    def batch(self, index: Sequence[int]) -> Batch:
        """The examples at ``index`` as one padded batch."""
        inputs, lengths = pad([self.sequences[i] for i in index], value=self.pad_value)
        return Batch(inputs, self.targets[list(index)], lengths=lengths, extras={"index": torch.tensor(index)})


class PairedBatches(BucketedBatches):
    """Bucketed batches of (source, target) id sequences for an encoder-decoder. ``batches(epoch)``
    yields ``Batch`` with inputs (B, S) sources padded with 0 and ``lengths`` (B,); ``targets`` (B, T) the
    target ids followed by ``end_id``, ``IGNORE`` on padding; ``extras["target_in"]`` (B, T) ``start_id``
    followed by the target ids (the decoder's teacher-forced inputs); ``extras["index"]`` as above.
    Batches are bucketed by source length (targets follow it closely in translation)."""

    def __init__(self, sources: Sequence[Tensor], targets: Sequence[Tensor], *, start_id: int, end_id: int,
                 **kwargs):
        if len(sources) != len(targets):
            raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
        super().__init__(sources, list(range(len(sources))), **kwargs)
        self.target_sequences, self.start_id, self.end_id = list(targets), start_id, end_id

    def batch(self, index: Sequence[int]) -> Batch:
        inputs, lengths = pad([self.sequences[i] for i in index], value=self.pad_value)
        ys = [self.target_sequences[i] for i in index]
        targets, _ = pad([torch.cat([y, y.new_tensor([self.end_id])]) for y in ys], value=IGNORE)
        target_in, _ = pad([torch.cat([y.new_tensor([self.start_id]), y]) for y in ys], value=0)
        return Batch(inputs, targets, lengths=lengths,
                     extras={"target_in": target_in, "index": torch.tensor(index)})
