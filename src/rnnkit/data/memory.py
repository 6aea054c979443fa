"""Memory-capacity tasks as data sources: the adding problem, copy memory and sequential digits.

Each task is a config dataclass and a ``DataSource`` (``batches(epoch) -> Iterator[Batch]``, see
``rnnkit.train.trainer``). Batches are a pure function of (seed, split, epoch): every epoch draws from its own
``torch.Generator``, never from torch's global random state, so a resumed run sees the same data. The
"test" split is one fixed set, the same for every epoch, drawn from a stream no training seed reaches.

A config says which model reads it (``model_fields()``: the ``SequenceConfig`` fields) and what an input-blind
guess scores (``baseline()``), so a model can be built for any task and any cell:

>>> task = make_task("adding", length=100)
>>> model = SequenceModel(SequenceConfig(**task.config.model_fields(), encoder=EncoderConfig(cell="gru")))
>>> out = model(next(iter(task.batches(0))))        # out.loss: MSE, about 1/6 for a model that guesses
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from rnnkit.batch import IGNORE, Batch

Split = Literal["train", "test"]
_SPLITS = ("train", "test")


def generator(seed: int, split: Split, epoch: int) -> torch.Generator:
    """A generator seeded from (seed, split, epoch) through numpy's ``SeedSequence``, which mixes the three
    numbers, so no two triples share a stream (``seed + epoch`` would make (0, 1) and (1, 0) equal)."""
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be non-negative, got seed={seed}, epoch={epoch}")
    entropy = np.random.SeedSequence([seed, _SPLITS.index(split), epoch]).generate_state(1, dtype=np.uint64)
    return torch.Generator().manual_seed(int(entropy[0]))


def _check_common(length: int, batch_size: int, num_batches: int | None, min_length: int) -> None:
    if length < min_length:
        raise ValueError(f"length must be at least {min_length}, got {length}")
    if batch_size < 1 or (num_batches is not None and num_batches < 1):
        raise ValueError(f"batch_size and num_batches must be positive, got {batch_size} and {num_batches}")


# ---- the adding problem ---------------------------------------------------------------------------------
@dataclass
class AddingConfig:
    """The adding problem (Hochreiter and Schmidhuber 1997, sec. 5.4), in the variant of Le et al. (2015,
    sec. 4.1): ``length`` (T) steps of two features, a value drawn uniformly from [0, 1] and a marker that is
    1 at exactly two steps, one in each half of the sequence; the target is the sum of the two marked
    values. The sum of two U(0, 1) has variance 2/12, so always predicting the mean 1.0 scores MSE 1/6."""

    length: int = 100
    batch_size: int = 64  # sequences a batch
    num_batches: int = 100  # batches an epoch; the fixed test split has as many
    seed: int = 0  # each (seed, split, epoch) draws its own batches

    def __post_init__(self) -> None:
        _check_common(self.length, self.batch_size, self.num_batches, min_length=2)

    def model_fields(self) -> dict:
        return {"input": "features", "input_size": 2, "output_size": 1, "loss": "mse", "readout": "last"}

    def baseline(self) -> dict[str, float]:
        return {"loss": 1 / 6}


def adding_batch(cfg: AddingConfig, gen: torch.Generator) -> Batch:
    """One batch: inputs (B, T, 2) = (value, marker), targets (B, 1) = the sum of the two marked values."""
    B, T = cfg.batch_size, cfg.length
    values = torch.rand(B, T, generator=gen)
    half = T // 2
    first = torch.randint(0, half, (B,), generator=gen)  # one marker in [0, T/2) ...
    second = torch.randint(half, T, (B,), generator=gen)  # ... and one in [T/2, T)
    rows = torch.arange(B)
    markers = torch.zeros(B, T)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]
    return Batch(inputs=torch.stack([values, markers], dim=2), targets=target.unsqueeze(1))


# ---- copy memory ----------------------------------------------------------------------------------------
BLANK = 0  # token ids of copy memory: 0 blank, 1..categories the symbols, categories + 1 the delimiter


@dataclass
class CopyConfig:
    """Copy memory (Hochreiter and Schmidhuber 1997, sec. 5.2; here as in Arjovsky et al. 2016, sec. 4.1).

    A sequence of T + 2K tokens (K = ``symbols`` = 10, T = ``length``): K symbols drawn from ``categories``
    (8), T - 1 blanks, the delimiter, K blanks. At the last K steps the model must output the K symbols in
    order. As in the paper the delimiter is the T-th step after the symbols, so each symbol is recalled
    T + K steps after it was read. The targets (B, T + 2K) are the symbols at the last K steps and
    ``IGNORE`` elsewhere, so the loss is the cross-entropy per recalled symbol.

    Baseline: a model that remembers nothing guesses uniformly among the categories: cross-entropy
    log 8 = 2.08 per recalled symbol, accuracy 1/8. (Arjovsky et al. score every step, blanks included, where
    the same guess gives K log 8 / (T + 2K) per step.)
    """

    length: int = 100
    batch_size: int = 64  # sequences a batch
    num_batches: int = 100  # batches an epoch; the fixed test split has as many
    seed: int = 0  # each (seed, split, epoch) draws its own batches
    symbols: int = 10
    categories: int = 8

    def __post_init__(self) -> None:
        _check_common(self.length, self.batch_size, self.num_batches, min_length=1)
        if self.symbols < 1 or self.categories < 2:
            raise ValueError(f"need symbols >= 1 and categories >= 2, got {self.symbols} and {self.categories}")

    @property
    def delimiter(self) -> int:
        return self.categories + 1

    @property
    def steps(self) -> int:
        """Steps per sequence: T + 2K."""
        return self.length + 2 * self.symbols

    def model_fields(self) -> dict:
        vocab = self.categories + 2  # blank, symbols, delimiter
        return {
            "input": "tokens",
            "input_size": vocab,
            "output_size": vocab,
            "loss": "cross_entropy",
            "readout": "every",
        }

    def baseline(self) -> dict[str, float]:
        return {"loss": math.log(self.categories), "accuracy": 1 / self.categories}


def copy_batch(cfg: CopyConfig, gen: torch.Generator) -> Batch:
    """One batch: token inputs (B, T + 2K), targets (B, T + 2K) with the symbols at the last K steps."""
    B, K, T = cfg.batch_size, cfg.symbols, cfg.length
    symbols = torch.randint(1, cfg.categories + 1, (B, K), generator=gen)
    inputs = torch.full((B, cfg.steps), BLANK, dtype=torch.long)
    inputs[:, :K] = symbols
    inputs[:, K + T - 1] = cfg.delimiter  # after T - 1 blanks
    targets = torch.full((B, cfg.steps), IGNORE, dtype=torch.long)
    targets[:, -K:] = symbols
    return Batch(inputs=inputs, targets=targets)


# ---- the two generated tasks as data sources ------------------------------------------------------------
class _Generated:
    """A data source of ``config.num_batches`` generated batches per epoch; the test split ignores the epoch."""

    config: AddingConfig | CopyConfig

    def __init__(self, config, *, split: Split = "train"):
        if split not in _SPLITS:
            raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
        self.config, self.split = config, split

    def make_batch(self, gen: torch.Generator) -> Batch:
        raise NotImplementedError

    def batches(self, epoch: int) -> Iterator[Batch]:
        gen = generator(self.config.seed, self.split, epoch if self.split == "train" else 0)
        for _ in range(self.config.num_batches):
            yield self.make_batch(gen)

    def __len__(self) -> int:
        return self.config.num_batches


class AddingProblem(_Generated):
    """The adding problem as a data source: ``AddingProblem(AddingConfig(length=200), split="train")``."""

    def __init__(self, config: AddingConfig | None = None, *, split: Split = "train"):
        super().__init__(config or AddingConfig(), split=split)

    def make_batch(self, gen: torch.Generator) -> Batch:
        return adding_batch(self.config, gen)


class CopyMemory(_Generated):
    """Copy memory as a data source: ``CopyMemory(CopyConfig(length=100))``."""

    def __init__(self, config: CopyConfig | None = None, *, split: Split = "train"):
        super().__init__(config or CopyConfig(), split=split)

    def make_batch(self, gen: torch.Generator) -> Batch:
        return copy_batch(self.config, gen)


# ---- sequential digits ----------------------------------------------------------------------------------
@dataclass
class DigitsConfig:
    """Sequential digits: scikit-learn's 8x8 handwritten digits (1797 images, 10 classes; shipped with
    scikit-learn, no download), the small cousin of sequential MNIST (Le et al. 2015, sec. 4.2). ``length``
    8 reads one row of 8 pixels per step; 64 reads one pixel per step in row-major order. Pixels are scaled
    from 0..16 to [0, 1]. A fixed split by ``split_seed`` holds out ``test_fraction`` of the images (360 at
    0.2). Training batches are reshuffled each epoch by ``seed``; ``num_batches`` None is one pass over the
    split. Baseline: guessing scores cross-entropy log 10 and accuracy 0.1."""

    length: Literal[8, 64] = 8
    batch_size: int = 64  # images a batch
    num_batches: int | None = None  # batches an epoch, at most one pass over the split; none: one whole pass
    seed: int = 0
    split_seed: int = 0
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.length not in (8, 64):
            raise ValueError(f"length must be 8 (row by row) or 64 (pixel by pixel), got {self.length}")
        _check_common(self.length, self.batch_size, self.num_batches, min_length=8)
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")

    @property
    def features(self) -> int:
        return 64 // self.length

    def model_fields(self) -> dict:
        return {
            "input": "features",
            "input_size": self.features,
            "output_size": 10,
            "loss": "cross_entropy",
            "readout": "last",
        }

    def baseline(self) -> dict[str, float]:
        return {"loss": math.log(10), "accuracy": 0.1}


@functools.cache
def _load_digits() -> tuple[Tensor, Tensor]:
    """All 1797 images (N, 64) in [0, 1] and their labels (N,); scikit-learn is imported only here."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    return images, torch.tensor(digits.target, dtype=torch.long)


def digits_split(cfg: DigitsConfig, split: Split) -> tuple[Tensor, Tensor]:
    """The images (N, T, F) and labels (N,) of one split; the split depends on ``split_seed`` only."""
    images, labels = _load_digits()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(cfg.split_seed))
    n_test = math.ceil(cfg.test_fraction * len(labels))  # rounded up, as scikit-learn's train_test_split
    rows = order[:n_test] if split == "test" else order[n_test:]
    return images[rows].view(-1, cfg.length, cfg.features), labels[rows]  # (N, 64) -> (N, T, F)


class SequentialDigits:
    """Sequential digits as a data source: ``SequentialDigits(DigitsConfig(length=64), split="test")``.

    The training split is shuffled per epoch; the test split comes in a fixed order for every epoch.
    """

    def __init__(self, config: DigitsConfig | None = None, *, split: Split = "train"):
        if split not in _SPLITS:
            raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
        self.config, self.split = config or DigitsConfig(), split
        self.images, self.labels = digits_split(self.config, split)

    def batches(self, epoch: int) -> Iterator[Batch]:
        cfg, n = self.config, len(self.labels)
        order = torch.arange(n)
        if self.split == "train":
            order = torch.randperm(n, generator=generator(cfg.seed, self.split, epoch))
        for k in range(len(self)):
            rows = order[k * cfg.batch_size : (k + 1) * cfg.batch_size]
            yield Batch(inputs=self.images[rows], targets=self.labels[rows])

    def __len__(self) -> int:
        passes = math.ceil(len(self.labels) / self.config.batch_size)
        return passes if self.config.num_batches is None else min(passes, self.config.num_batches)


# ---- by short name --------------------------------------------------------------------------------------
TASKS = {
    "adding": (AddingConfig, AddingProblem),
    "copy": (CopyConfig, CopyMemory),
    "digits": (DigitsConfig, SequentialDigits),
}


def make_task(name: str, *, split: Split = "train", **config) -> AddingProblem | CopyMemory | SequentialDigits:
    """The data source of task ``name`` ("adding", "copy", "digits") with the given config fields.

    >>> test = make_task("copy", length=50, num_batches=4, split="test")
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}")
    config_class, source_class = TASKS[name]
    return source_class(config_class(**config), split=split)
