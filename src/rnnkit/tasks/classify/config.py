"""The run config of the ``classify`` task: where the examples are, starting weights, training defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.data.text import CodecConfig
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.train.trainer import TrainConfig


@dataclass
class ClassifyDataConfig:
    """Where the examples and labels are, how text becomes ids, and how batches are cut.

    ``valid_fraction`` and ``test_fraction`` of the data are split off, stratified by label with ``seed``
    (only validation when ``test`` names a separate labelled test set). Examples longer than
    ``max_length`` tokens or steps keep their first ``max_length`` (a warning says how many).
    ``class_weights`` "balanced" weighs the loss of each class by N / (C * N_class)."""

    text_column: str = "text"  # the text's column in a CSV/TSV header, or its field in JSON lines
    label_column: str = "label"  # the label's column in a CSV/TSV header, or its field in JSON lines
    codec: CodecConfig = field(default_factory=lambda: CodecConfig(type="word", lowercase=True))
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    test: str = ""
    seed: int = 0
    batch_size: int = 32  # examples a batch, bucketed by length
    max_length: int = 400
    class_weights: Literal["none", "balanced"] = "none"


@dataclass
class InitConfig:
    """Starting weights: ``from_run`` an ``lm`` run directory whose embedding and encoder start the
    classifier (Dai and Le 2015), sharing its vocabulary; ``vectors`` a word-vector text file (GloVe
    format: a word and its numbers a line) whose vectors start the embedding rows of known words."""

    from_run: str = ""
    vectors: str = ""


def _train_defaults() -> TrainConfig:
    return TrainConfig(steps=3000, lr=2e-3, schedule="cosine", warmup_steps=50, min_lr_ratio=0.05, eval_every=100,
                       clip_norm=5.0, weight_decay=0.0, metric="accuracy", metric_mode="max")


@dataclass
class ClassifyRun:
    data: ClassifyDataConfig = field(default_factory=ClassifyDataConfig)
    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    train: TrainConfig = field(default_factory=_train_defaults)
    init: InitConfig = field(default_factory=InitConfig)
