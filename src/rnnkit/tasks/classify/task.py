"""Task ``classify``: a sequence of any length in, one label out (sentiment, topic, speaker, activity).

``rnnkit train classify --data PATH`` reads labelled text (CSV, TSV, JSON lines, a folder per class, or
one file of lines per label) or labelled numeric sequences (a numeric CSV, an sktime-format ``.ts``); see
``rnnkit.data.labelled``. Without ``--data`` it trains on the embedded default, the JapaneseVowels speaker
set that rnnkit ships. Unless ``data.test`` names a separate test set, the data is split into train,
validation and test, stratified by label and seeded. Scores come beside a majority-class guess and a
bag-of-words (or, for numbers, summary-statistics) logistic regression fitted on the same split.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.buckets import BucketedBatches
from rnnkit.data.labelled import LabelledData, LabelledDataError, read_labelled, stratified_split
from rnnkit.data.ts import default_labelled
from rnnkit.models.classifier import Classifier, ClassifierConfig
from rnnkit.tasks.base import Parts, Task
from rnnkit.tasks.classify.config import ClassifyRun
from rnnkit.tasks.classify.preprocess import Encoding

log = logging.getLogger(__name__)
DEFAULT_DATA = "JapaneseVowels (the UCI speaker-recognition set, shipped with rnnkit)"


# ---- the task --------------------------------------------------------------------------------------------
class ClassifyTask(Task):
    name = "classify"
    description = "sequence classification: sentiment or any label of text or numeric sequences"
    default_data = DEFAULT_DATA
    config_class = ClassifyRun
    pipeline = "rnnkit.tasks.classify.pipeline:ClassifierPipeline"
    cli = "rnnkit.tasks.classify.cli"
    router = "rnnkit.tasks.classify.serve:router"
    panel = "rnnkit.tasks.classify"
    export = "rnnkit.tasks.classify.export:graph"
    quality = "rnnkit.tasks.classify.bench"

    def build(self, cfg: ClassifyRun, data: str | None, preprocessor: Encoding | None = None) -> Parts:
        """Model, batches and baselines. A trained run's ``preprocessor`` with new data (``rnnkit eval
        --data``) makes all of that data the test split."""
        if preprocessor is not None and data is not None:
            d = cfg.data
            train = valid = test = read_labelled(data, text_column=d.text_column, label_column=d.label_column)
        else:
            train, valid, test = split_data(cfg, data)
        lm = _load_lm(cfg) if preprocessor is None else None
        enc = preprocessor or Encoding.fit(cfg, train, lm.preprocessor if lm else None)
        if enc.kind != train.kind:
            raise LabelledDataError(f"{data}: {train.kind} examples, but the run was trained on {enc.kind}")
        sources = [_source(enc, part, cfg, shuffle=part is train) for part in (train, valid, test)]
        weight = _class_weight(enc, sources[0]) if cfg.data.class_weights == "balanced" else None
        model = self.build_model(cfg, enc, class_weight=weight)
        if preprocessor is None:
            initialise(model, cfg, enc, lm)
        return Parts(
            model=model,
            train=sources[0],
            valid=sources[1],
            test=sources[2],
            preprocessor=enc,
            baseline=None if train is test else lambda: baselines(enc, train, test),  # none fitted on new data
            baseline_name="bag-of-words logistic regression" if enc.kind == "text" else "summary-feature regression",
            extra_metrics=lambda metrics, m: test_metrics(metrics, m, sources[2], enc),
            artifacts=lambda run, m: write_confusion(run, m, sources[2], enc),
        )

    def build_model(self, cfg: ClassifyRun, preprocessor: Encoding, *,
                    class_weight: Tensor | None = None) -> Classifier:
        enc, model_cfg = preprocessor, cfg.model
        if enc.kind == "numeric" and model_cfg.input != "features":
            model_cfg = ClassifierConfig(**{**vars(model_cfg), "input": "features"})
        unk = enc.text.unk_id if enc.text is not None and enc.text.unk_id is not None else 0
        return Classifier(model_cfg, len(enc.classes), input_size=enc.input_size(), class_weight=class_weight,
                          unk_id=unk)

    def load_preprocessor(self, data: dict | None) -> Encoding:
        return Encoding.from_dict(data)


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


def _load_lm(cfg: ClassifyRun):
    """The ``init.from_run`` language model run, loaded once (its codec and its weights are both used)."""
    if not cfg.init.from_run:
        return None
    from rnnkit.tasks.run import load

    loaded = load(cfg.init.from_run)
    if loaded.task != "lm":
        raise ValueError(f"{cfg.init.from_run}: init.from_run needs an lm run, not a {loaded.task} run")
    return loaded


# ---- starting weights ------------------------------------------------------------------------------------
def initialise(model: Classifier, cfg: ClassifyRun, enc: Encoding, lm=None) -> list[str]:
    """Copy the language model ``lm`` (the loaded ``init.from_run``), then ``init.vectors``, into ``model``;
    returns what was copied, which is also logged."""
    done: list[str] = []
    if lm is not None:
        done += init_from_lm(model, lm.model, cfg.init.from_run)
    if cfg.init.vectors:
        from rnnkit.data.vectors import load_vectors

        found = load_vectors(cfg.init.vectors, enc.text, model.embed.weight)
        done.append(f"{found} of {enc.text.vocab_size} embedding rows from {cfg.init.vectors}")
    for line in done:
        log.info("initialised %s", line)
    return done


@torch.no_grad()
def init_from_lm(model: Classifier, lm: nn.Module, run: str = "the language model") -> list[str]:
    """The embedding and the (forward) encoder layers of the language model ``lm`` (of the run ``run``)
    copied into ``model``. Layers whose shapes differ (the upper layers of a bidirectional classifier read
    both directions) are left as they are. Raises ValueError when the embedding widths or cells differ."""
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


TASK = ClassifyTask()
