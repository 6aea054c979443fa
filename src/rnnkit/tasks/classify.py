"""Task ``classify``: a sequence of any length in, one label out (sentiment, topic, speaker, activity).

``rnnkit train classify --data PATH`` reads labelled text (CSV, TSV, JSON lines, a folder per class, or
one file of lines per label) or labelled numeric sequences (a numeric CSV, sktime ``.ts``); see
``rnnkit.data.labelled``. Without ``--data`` it trains on the embedded default, the JapaneseVowels speaker
set that sktime ships. Unless ``data.test`` names a separate test set, the data is split into train,
validation and test, stratified by label and seeded. Scores come beside a majority-class guess and a
bag-of-words (or, for numbers, summary-statistics) logistic regression fitted on the same split.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.buckets import BucketedBatches
from rnnkit.data.labelled import LabelledData, LabelledDataError, read_labelled, stratified_split
from rnnkit.data.text import Codec, CodecConfig, build_codec, codec_from_dict
from rnnkit.data.ts import default_labelled
from rnnkit.models.classifier import Classifier, ClassifierConfig
from rnnkit.tasks.base import Parts
from rnnkit.train.trainer import TrainConfig

log = logging.getLogger(__name__)
DEFAULT_DATA = "JapaneseVowels (sktime's copy of the UCI speaker-recognition set)"


@dataclass
class ClassifyDataConfig:
    """Where the examples and labels are, how text becomes ids, and how batches are cut.

    ``valid_fraction`` and ``test_fraction`` of the data are split off, stratified by label with ``seed``
    (only validation when ``test`` names a separate labelled test set). Examples longer than
    ``max_length`` tokens or steps keep their first ``max_length`` (a warning says how many).
    ``class_weights`` "balanced" weighs the loss of each class by N / (C * N_class)."""

    text_column: str = "text"
    label_column: str = "label"
    codec: CodecConfig = field(default_factory=lambda: CodecConfig(type="word", lowercase=True))
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    test: str = ""
    seed: int = 0
    batch_size: int = 32
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


# ---- the labels and inputs of a run --------------------------------------------------------------------
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


# ---- the task --------------------------------------------------------------------------------------------
class ClassifyTask:
    name = "classify"
    description = "sequence classification: sentiment or any label of text or numeric sequences"
    config_class = ClassifyRun

    def build(self, cfg: ClassifyRun, data_path: str | None, codec: dict | None = None) -> Parts:
        """Model, batches and baselines. A trained run's ``codec`` with new data (``rnnkit eval --data``)
        makes all of that data the test split."""
        if codec is not None and data_path is not None:
            d = cfg.data
            train = valid = test = read_labelled(data_path, text_column=d.text_column, label_column=d.label_column)
        else:
            train, valid, test = split_data(cfg, data_path)
        enc = Encoding.from_dict(codec) if codec else Encoding.fit(cfg, train, _lm_codec(cfg))
        if enc.kind != train.kind:
            raise LabelledDataError(f"{data_path}: {train.kind} examples, but the run was trained on {enc.kind}")
        sources = [_source(enc, part, cfg, shuffle=part is train) for part in (train, valid, test)]
        weight = _class_weight(enc, sources[0]) if cfg.data.class_weights == "balanced" else None
        model = self.build_model(cfg, enc.to_dict(), class_weight=weight)
        if codec is None:
            initialise(model, cfg, enc)
        return Parts(
            model=model,
            train=sources[0],
            valid=sources[1],
            test=sources[2],
            codec=enc.to_dict(),
            baseline=None if train is test else lambda: baselines(enc, train, test),  # none fitted on new data
            baseline_name="bag-of-words logistic regression" if enc.kind == "text" else "summary-feature regression",
            extra_metrics=lambda metrics, m: test_metrics(metrics, m, sources[2], enc),
            artifacts=lambda run, m: write_confusion(run, m, sources[2], enc),
        )

    def build_model(self, cfg: ClassifyRun, codec: dict | None, *, class_weight: Tensor | None = None) -> Classifier:
        enc = Encoding.from_dict(codec)
        model_cfg = cfg.model
        if enc.kind == "numeric" and model_cfg.input != "features":
            model_cfg = ClassifierConfig(**{**vars(model_cfg), "input": "features"})
        unk = enc.text.unk_id if enc.text is not None and enc.text.unk_id is not None else 0
        return Classifier(model_cfg, len(enc.classes), input_size=enc.input_size(), class_weight=class_weight,
                          unk_id=unk)


def split_data(cfg: ClassifyRun, data_path: str | None) -> tuple[LabelledData, LabelledData, LabelledData]:
    """(train, valid, test): the default's own split, or the data split by ``cfg.data``'s fractions."""
    d = cfg.data
    if data_path is None:
        train, test = default_labelled()
        return (*_split(train, (1 - d.valid_fraction, d.valid_fraction), d.seed), test)
    data = read_labelled(data_path, text_column=d.text_column, label_column=d.label_column)
    if d.test:
        test = read_labelled(d.test, text_column=d.text_column, label_column=d.label_column)
        return (*_split(data, (1 - d.valid_fraction, d.valid_fraction), d.seed), test)
    fractions = (1 - d.valid_fraction - d.test_fraction, d.valid_fraction, d.test_fraction)
    return _split(data, fractions, d.seed)


def _split(data: LabelledData, fractions, seed: int) -> tuple[LabelledData, ...]:
    parts = stratified_split(data.labels, fractions, seed=seed)
    return tuple(LabelledData([data.examples[i] for i in part], data.kind) for part in parts)


def _source(enc: Encoding, data: LabelledData, cfg: ClassifyRun, *, shuffle: bool) -> BucketedBatches:
    full = [enc.steps(e.x) for e in data.examples]
    if long := sum(len(f) > enc.max_length for f in full):
        log.warning("%d of %d examples are longer than data.max_length=%d and were cut", long, len(data),
                    enc.max_length)
    seqs = [f[: enc.max_length] for f in full]
    targets = [enc.target(e.label, e.source) for e in data.examples]
    return BucketedBatches(seqs, targets, batch_size=cfg.data.batch_size, shuffle=shuffle, seed=cfg.data.seed)


def _class_weight(enc: Encoding, train: BucketedBatches) -> Tensor:
    counts = torch.bincount(train.targets, minlength=len(enc.classes)).float()
    return len(train) / (len(enc.classes) * counts.clamp(min=1))


def _lm_codec(cfg: ClassifyRun) -> Codec | None:
    if not cfg.init.from_run:
        return None
    from rnnkit.tasks.runner import load

    return codec_from_dict(load(cfg.init.from_run).codec)


# ---- starting weights ------------------------------------------------------------------------------------
def initialise(model: Classifier, cfg: ClassifyRun, enc: Encoding) -> list[str]:
    """Copy the ``init.from_run`` language model's weights, then ``init.vectors``, into ``model``; returns
    what was copied, which is also logged."""
    done: list[str] = []
    if cfg.init.from_run:
        done += init_from_lm(model, cfg.init.from_run)
    if cfg.init.vectors:
        from rnnkit.data.vectors import load_vectors

        found = load_vectors(cfg.init.vectors, enc.text, model.embed.weight)
        done.append(f"{found} of {enc.text.vocab_size} embedding rows from {cfg.init.vectors}")
    for line in done:
        log.info("initialised %s", line)
    return done


@torch.no_grad()
def init_from_lm(model: Classifier, run: str) -> list[str]:
    """The embedding and the (forward) encoder layers of the ``lm`` run ``run`` copied into ``model``.
    Layers whose shapes differ (the upper layers of a bidirectional classifier read both directions) are
    left as they are. Raises ValueError when the embedding widths or cells differ."""
    from rnnkit.tasks.runner import load

    loaded = load(run)
    if loaded.task != "lm":
        raise ValueError(f"{run}: init.from_run needs an lm run, not a {loaded.task} run")
    lm = loaded.model
    if lm.embed.weight.shape != model.embed.weight.shape:
        raise ValueError(f"{run}: its embedding is {tuple(lm.embed.weight.shape)}, the classifier's "
                         f"{tuple(model.embed.weight.shape)}; set model.embed_size to match")
    if lm.config.encoder.cell != model.config.encoder.cell:
        raise ValueError(f"{run}: a {lm.config.encoder.cell} language model cannot start a "
                         f"{model.config.encoder.cell} classifier; set model.encoder.cell")
    model.embed.weight.copy_(lm.embed.weight)
    copied = ["the embedding"]
    two_way = model.config.encoder.bidirectional
    for k, reader in enumerate(model.readers):  # every reader of an ensemble starts from the language model
        target = reader.encoder.state_dict()
        for name, value in lm.encoder.state_dict().items():
            dest = name.replace(".cell.", ".forward_layer.cell.", 1) if two_way else name
            if dest in target and target[dest].shape == value.shape:
                target[dest].copy_(value)
                copied.append(f"reader {k} encoder {dest}")
        reader.encoder.load_state_dict(target)
    return copied


# ---- scores ---------------------------------------------------------------------------------------------
@torch.no_grad()
def predict(model: nn.Module, source: BucketedBatches) -> tuple[list[int], np.ndarray]:
    """Predicted class ids and (N, C) probabilities, in the order of ``source``'s examples."""
    model.eval()
    device = next(model.parameters()).device
    probs = np.zeros((len(source), model.num_classes), dtype=np.float32)
    for batch in source.batches(0):
        out = model(batch.to(device))
        probs[batch.extras["index"].numpy()] = torch.softmax(out.logits.float(), -1).cpu().numpy()
    return probs.argmax(1).tolist(), probs


def test_metrics(metrics: dict, model: nn.Module, test: BucketedBatches, enc: Encoding) -> dict[str, float]:
    """The trainer's loss and accuracy, plus macro F1 and per-class precision and recall."""
    from rnnkit.train.classification import classification_metrics

    pred, _ = predict(model, test)
    scores = classification_metrics(test.targets.tolist(), pred, enc.classes)
    out = {"loss": metrics["loss"], "accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}
    for c in enc.classes:
        out[f"precision/{c}"], out[f"recall/{c}"] = scores[f"precision/{c}"], scores[f"recall/{c}"]
    return out


def write_confusion(run: Path, model: nn.Module, test: BucketedBatches, enc: Encoding) -> list[Path]:
    """confusion.png of the test split, beside the run."""
    from rnnkit.train.classification import classification_metrics, plot_confusion

    pred, _ = predict(model, test)
    scores = classification_metrics(test.targets.tolist(), pred, enc.classes)
    return [plot_confusion(scores["confusion"], enc.classes, Path(run) / "confusion.png")]


def baselines(enc: Encoding, train: LabelledData, test: LabelledData) -> dict[str, float]:
    """Bag-of-words (text) or summary-feature (numbers) logistic regression on the same split, and the
    accuracy of always answering the most common training label."""
    from rnnkit.baselines import bow_baseline, majority_baseline, summary_baseline

    y_train = [enc.target(e.label, e.source) for e in train.examples]
    y_test = [enc.target(e.label, e.source) for e in test.examples]
    fit = bow_baseline if enc.kind == "text" else summary_baseline
    scores = fit([e.x for e in train.examples], y_train, [e.x for e in test.examples], y_test)
    majority = majority_baseline(y_train, y_test, len(enc.classes))
    return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"], "majority_accuracy": majority["accuracy"]}


CLASSIFY = ClassifyTask()
