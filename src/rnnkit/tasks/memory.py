"""The memory-capacity tasks as trainable tasks: ``rnnkit train adding|copy|digits``.

Their data is built in (generated, or scikit-learn's digits), so they need no ``--data``. They show what
the recurrence remembers: the adding problem and copy memory set the lag T; sequential digits reads an
image row by row (T=8) or pixel by pixel (T=64).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rnnkit.data.memory import AddingConfig, CopyConfig, DigitsConfig, make_task
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.sequence import SequenceConfig, SequenceModel
from rnnkit.tasks.base import Parts, Task
from rnnkit.train.trainer import TrainConfig


def _train_defaults(**kw) -> TrainConfig:
    return TrainConfig(**{"steps": 2000, "lr": 2e-3, "eval_every": 250, "clip_norm": 1.0, **kw})


@dataclass
class AddingRun:
    data: AddingConfig = field(default_factory=AddingConfig)
    model: EncoderConfig = field(default_factory=EncoderConfig)
    train: TrainConfig = field(default_factory=_train_defaults)


@dataclass
class CopyRun:
    data: CopyConfig = field(default_factory=CopyConfig)
    model: EncoderConfig = field(default_factory=EncoderConfig)
    train: TrainConfig = field(default_factory=lambda: _train_defaults(metric="accuracy", metric_mode="max"))


@dataclass
class DigitsRun:
    data: DigitsConfig = field(default_factory=DigitsConfig)
    model: EncoderConfig = field(default_factory=EncoderConfig)
    train: TrainConfig = field(default_factory=lambda: _train_defaults(metric="accuracy", metric_mode="max"))


class MemoryTask(Task):
    """A memory-capacity task: generated data, no preprocessor, no prediction pipeline."""

    def __init__(self, name: str, config_class: type, description: str):
        self.name, self.config_class, self.description = name, config_class, description
        self.default_data = "generated" if name != "digits" else "scikit-learn's 8x8 handwritten digits"

    def build(self, cfg: Any, data: str | None, preprocessor: Any = None) -> Parts:
        if data is not None:
            raise ValueError(f"task {self.name!r} has built-in data; drop --data")
        fields = asdict(cfg.data)
        train = make_task(self.name, split="train", **fields)
        test = make_task(self.name, split="test", **fields)
        model = self.build_model(cfg, None)
        return Parts(model=model, train=train, valid=test, test=test, baseline=cfg.data.baseline())

    def build_model(self, cfg: Any, preprocessor: Any = None) -> SequenceModel:
        return SequenceModel(SequenceConfig(**cfg.data.model_fields(), encoder=cfg.model))


ADDING = MemoryTask("adding", AddingRun, "the adding problem: sum the two marked values of a long sequence")
COPY = MemoryTask("copy", CopyRun, "copy memory: repeat 10 symbols after a gap of T blanks")
DIGITS = MemoryTask("digits", DigitsRun, "sequential digits: 8x8 digit images read row by row or pixel by pixel")
