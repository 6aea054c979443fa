"""Training curves as PNG: the loss per step and per evaluation, the gradient norm per update with clip events.

matplotlib is an optional dependency, imported only when a plot is drawn. Figures are built with
``matplotlib.figure.Figure`` and its Agg canvas, never through ``pyplot``, so drawing touches no global
backend or figure registry and works in any process (a server, a test, a thread).

>>> trainer.fit()
>>> plot_history(trainer.history, "runs/adding/history.png", clip_norm=trainer.cfg.clip_norm)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def new_figure(panels: int, *, width: float = 6.0, height: float = 4.0) -> Any:
    """A matplotlib ``Figure`` with ``panels`` axes side by side, drawn by the Agg backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * panels, height), layout="constrained")
    FigureCanvasAgg(fig)
    fig.subplots(1, panels, squeeze=False)
    return fig


def save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG to ``path`` (its directory must exist) and return the path."""
    path = Path(path)
    fig.savefig(path, format="png", dpi=100)
    return path


def _finite(records: Sequence[dict], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of the records that hold a finite ``key``."""
    rows = [(r["step"], float(r[key])) for r in records if key in r and math.isfinite(float(r[key]))]
    return [s for s, _ in rows], [v for _, v in rows]


def draw_loss(ax: Any, history: Sequence[dict]) -> None:
    """Training loss at each logged update and validation loss at each evaluation, log scale."""
    steps, loss = _finite(history, "loss")
    ax.plot(steps, loss, label="train loss", linewidth=1)
    steps, valid = _finite(history, "valid_loss")
    if valid:
        ax.plot(steps, valid, "o-", label="valid loss", markersize=4)
    ax.set(xlabel="update", ylabel="loss", title="loss")
    if any(v > 0 for v in loss + valid):
        ax.set_yscale("log")
    ax.legend()


def draw_grad_norms(ax: Any, history: Sequence[dict], *, clip_norm: float | None = None) -> None:
    """Gradient norm (before clipping) at each logged update, log scale; clipped updates marked with a
    red x, updates skipped by the NaN guard with a dotted vertical line, ``clip_norm`` as a dashed line."""
    steps, norms = _finite(history, "grad_norm")
    ax.plot(steps, norms, label="gradient norm", linewidth=1)
    clipped = [(r["step"], float(r["grad_norm"])) for r in history if r.get("clipped") and "grad_norm" in r]
    clipped = [(s, v) for s, v in clipped if math.isfinite(v)]
    if clipped:
        ax.plot(*zip(*clipped), "rx", label=f"clipped ({len(clipped)} logged)", markersize=5)
    for r in history:
        if r.get("skipped"):
            ax.axvline(r["step"], color="grey", linestyle=":", linewidth=1)
    if clip_norm is not None:
        ax.axhline(clip_norm, color="red", linestyle="--", linewidth=1, label=f"clip norm {clip_norm:g}")
    ax.set(xlabel="update", ylabel="||grad|| before clipping", title="gradient norm")
    if any(v > 0 for v in norms):
        ax.set_yscale("log")
    ax.legend()


def plot_history(history: Sequence[dict], path: str | Path, *, clip_norm: float | None = None) -> Path:
    """Two panels from ``Trainer.history``: the loss curves and the gradient norms. Returns ``path``.

    The trainer keeps a record every ``log_every`` updates, so both curves (and the clip marks) are
    sampled at those updates; evaluations are all there.
    """
    fig = new_figure(2)
    loss_ax, norm_ax = fig.axes
    draw_loss(loss_ax, history)
    draw_grad_norms(norm_ax, history, clip_norm=clip_norm)
    return save(fig, path)
