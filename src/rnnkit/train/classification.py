"""Figures of a sequence classifier on a test split: accuracy, macro F1, per-class precision, recall, F1 and
support, the confusion matrix, and a PNG of that matrix.

The numbers come from ``sklearn.metrics``; this module fixes the label order (the order of ``classes``), keeps
every class in the confusion matrix even when it is never predicted, and returns plain Python numbers so the
dict goes straight into JSON. matplotlib is imported only when a plot is drawn.

>>> m = classification_metrics([0, 0, 1, 2], [0, 1, 1, 1], ["neg", "neu", "pos"])
>>> m["accuracy"], m["recall/neg"], m["precision/pos"], m["confusion"]
(0.5, 0.5, 0.0, [[1, 1, 0], [0, 1, 0], [0, 1, 0]])
>>> plot_confusion(m["confusion"], ["neg", "neu", "pos"], "runs/sst/confusion.png")
PosixPath('runs/sst/confusion.png')
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from rnnkit.files import write_atomic

__all__ = ["classification_metrics", "plot_confusion"]


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> dict:
    """Accuracy, macro F1, per-class figures and the confusion matrix of predicted label ids.

    ``y_true`` and ``y_pred`` are label ids (ints in ``[0, len(classes))``), one per example; ``classes`` names
    the ids in order. Returns a flat dict of Python numbers:

    - ``accuracy`` and ``macro_f1`` (floats). Macro F1 is the unweighted mean of the per-class F1 over the
      classes that occur in ``y_true`` or ``y_pred`` (sklearn's default): a class absent from both has no F1
      to speak of and would otherwise pull the mean down by an arbitrary amount.
    - for each class name ``c``: ``precision/c``, ``recall/c``, ``f1/c`` (floats; 0 where undefined, e.g. the
      precision of a class never predicted, without a warning) and ``support/c`` (int, its count in ``y_true``).
    - ``confusion``: a (C, C) list of lists of ints; row i counts the examples of true class i, column j those
      predicted as class j, in the order of ``classes``.

    Raises ValueError when the lengths differ, there are no examples, a label id is not an int in range, or
    class names repeat (their keys would collide).
    """
    n = len(classes)
    if len(set(classes)) != n:
        raise ValueError(f"class names repeat: {list(classes)}")
    true, pred = _label_ids(y_true, n, "y_true"), _label_ids(y_pred, n, "y_pred")
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} labels but y_pred has {len(pred)}")
    if len(true) == 0:
        raise ValueError("no examples: y_true and y_pred are empty")
    labels = list(range(n))
    precision, recall, f1, support = precision_recall_fscore_support(
        true, pred, labels=labels, zero_division=0
    )
    out: dict[str, Any] = {
        "accuracy": float(accuracy_score(true, pred)),
        "macro_f1": float(f1_score(true, pred, average="macro", zero_division=0)),  # classes present only
    }
    for i, c in enumerate(classes):
        out[f"precision/{c}"], out[f"recall/{c}"] = float(precision[i]), float(recall[i])
        out[f"f1/{c}"], out[f"support/{c}"] = float(f1[i]), int(support[i])
    out["confusion"] = confusion_matrix(true, pred, labels=labels).tolist()  # (C, C): rows true, columns predicted
    return out


def _label_ids(y: Sequence[int], num_classes: int, name: str) -> np.ndarray:
    """``y`` as an int array, checked to hold ids in ``[0, num_classes)``."""
    y = np.asarray(y)
    if y.size == 0:
        return y.astype(np.int64).reshape(0)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be a flat sequence of int label ids, got dtype {y.dtype} and shape {y.shape}")
    bad = (y < 0) | (y >= num_classes)
    if bad.any():
        raise ValueError(f"{name} holds label id {int(y[bad][0])}, outside [0, {num_classes}) (the classes)")
    return y


def plot_confusion(
    confusion: Sequence[Sequence[int]], classes: Sequence[str], path: str | Path, *, title: str = "Confusion matrix"
) -> Path:
    """Draw ``confusion`` (C, C; rows true class, columns predicted) as a PNG at ``path`` and return the path.

    Each cell is coloured by its share of its row (the recall spread of that true class, so rare and common
    classes read on one scale) and annotated with its count. The figure grows with C and the tick labels turn
    when there are many classes, so it stays readable up to about 30 classes. The parent directory is created
    if needed; the file is written with ``rnnkit.files.write_atomic``, so a reader never sees half an image.
    Raises ValueError when the matrix is not (C, C) for C = len(classes).
    """
    counts = np.asarray(confusion, dtype=np.int64)
    n = len(classes)
    if counts.shape != (n, n):
        raise ValueError(f"confusion has shape {counts.shape}, expected ({n}, {n}) for {n} classes")
    rows = counts.sum(axis=1, keepdims=True)
    share = counts / np.maximum(rows, 1)  # (C, C); a class absent from the test split gets an empty row
    fig = _draw(counts, share, [str(c) for c in classes], title)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)  # into memory first: a drawing error writes nothing
    return write_atomic(path, png.getvalue())


def _draw(counts: np.ndarray, share: np.ndarray, classes: list[str], title: str) -> Any:
    """The matplotlib Figure (Agg canvas, no pyplot) of the matrix, its counts and a colour bar."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(classes)
    side = min(4.0 + 0.4 * n, 16.0)  # about 0.4 inch per class: room for a 4-digit count at 30 classes
    fig = Figure(figsize=(side + 1.5, side), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    fontsize = max(6.0, 11.0 - 0.15 * n)
    for i in range(n):
        for j in range(n):
            colour = "white" if share[i, j] > 0.6 else "black"  # dark cells need light text
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", color=colour, fontsize=fontsize)
    many = n > 8 or max((len(c) for c in classes), default=0) > 8  # long or many names would overlap flat
    ax.set_xticks(range(n), classes, rotation=45 if many else 0, ha="right" if many else "center",
                  rotation_mode="anchor", fontsize=fontsize)
    ax.set_yticks(range(n), classes, fontsize=fontsize)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return fig
