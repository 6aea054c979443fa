"""The preprocessor of the ``classify`` task: class names, and a text codec or a per-feature scaler."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.labelled import LabelledData, LabelledDataError
from rnnkit.data.text import Codec, build_codec, codec_from_dict
from rnnkit.tasks.classify.config import ClassifyRun


class Encoding:
    """How a run turns raw examples into model inputs: the class names, and the text codec (text) or the
    per-feature mean and standard deviation of the training split (numbers). Saved in the checkpoint."""

    def __init__(self, classes: list[str], *, text: Codec | None = None, mean=None, std=None, max_length: int = 400):
        self.classes, self.text, self.max_length = list(classes), text, max_length
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.std = None if std is None else np.asarray(std, dtype=np.float32)
        self.index = {c: i for i, c in enumerate(self.classes)}

    @property
    def kind(self) -> str:
        return "text" if self.text is not None else "numeric"

    def input_size(self) -> int:
        return self.text.vocab_size if self.text is not None else len(self.mean)

    def inputs(self, x: str | np.ndarray) -> Tensor:
        """One example -> (T,) ids or (T, F) standardised floats (missing values 0), at most max_length."""
        return self.steps(x)[: self.max_length]

    def steps(self, x: str | np.ndarray) -> Tensor:
        """``inputs`` before the cut to max_length."""
        if self.text is not None:
            return torch.tensor(self.text.encode(x) or [self.text.unk_id or 0], dtype=torch.long)
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(self.mean) or not len(x):
            raise ValueError(f"a sequence of {len(self.mean)} features a step is needed, got shape {x.shape}")
        return torch.from_numpy(np.nan_to_num((x - self.mean) / self.std, nan=0.0)).float()

    def target(self, label: str, source: str) -> int:
        if label not in self.index:
            known = ", ".join(map(repr, self.classes))
            raise LabelledDataError(f"{source}: label {label!r} was never seen in training (known: {known})")
        return self.index[label]

    def to_dict(self) -> dict:
        d = {"classes": self.classes, "max_length": self.max_length}
        if self.text is not None:
            return {**d, "text": self.text.to_dict()}
        return {**d, "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Encoding:
        text = codec_from_dict(d["text"]) if d.get("text") else None
        return cls(d["classes"], text=text, mean=d.get("mean"), std=d.get("std"), max_length=d["max_length"])

    @classmethod
    def fit(cls, cfg: ClassifyRun, train: LabelledData, text: Codec | None = None) -> Encoding:
        """Classes, and the codec (unless given) or the scaler, from the training split alone."""
        d = cfg.data
        if train.kind == "text":
            text = text or build_codec(d.codec, (e.x for e in train.examples))
            return cls(train.classes, text=text, max_length=d.max_length)
        steps = np.concatenate([np.asarray(e.x, dtype=np.float32) for e in train.examples])  # (sum T, F)
        mean, std = np.nanmean(steps, axis=0), np.nanstd(steps, axis=0)
        return cls(train.classes, mean=np.nan_to_num(mean), std=np.where(std > 0, std, 1.0), max_length=d.max_length)
