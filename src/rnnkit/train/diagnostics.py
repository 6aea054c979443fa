"""Gradient flow through time, made visible: how much of the loss's gradient reaches each step.

For one batch, :func:`gradient_flow` runs the model under :func:`rnnkit.nn.recurrent.record_states` and
reads, for every recurrent layer and every step t, ||dL/dh_t||: the norm of the total derivative of the loss
with respect to the state h_t, through every later step of the recurrence. Backpropagation multiplies it by
one Jacobian dh_{t+1}/dh_t per step, so over long spans it shrinks or grows geometrically (Bengio et al.
1994; Pascanu et al. 2013, sec. 2). The report compares the first step with the last:

    ratio = ||dL/dh_1|| / ||dL/dh_T||      < 1e-3: vanishing      > 1e3: exploding      else: stable

and, for gated cells, the share of sigmoid gate activations that are saturated (below 0.05 or above 0.95,
where sigmoid' < 0.05, so the gate passes almost no gradient to its inputs). Each cell names its own gates
(``cell.gates``); this module knows no gate equation.

>>> report = gradient_flow(model, batch)
>>> report["layers"][0]["verdict"]
'vanishing: gradient at t=1 is 3e-09 of that at t=100'
>>> plot_gradient_flow(report, "gradient_flow.png")

The report holds only plain floats, lists and strings (non-finite numbers become None), ready for JSON.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from rnnkit.batch import Batch
from rnnkit.nn.recurrent import Recording, record_states
from rnnkit.state import State
from rnnkit.train.plots import new_figure, save

VANISHING = 1e-3  # ratio ||dL/dh_1|| / ||dL/dh_T|| below which the gradient is said to vanish
EXPLODING = 1e3  # ... and above which it is said to explode
SATURATION = 0.05  # a sigmoid gate below this or above 1 - this counts as saturated


def gradient_flow(model: nn.Module, batch: Batch, *, state: State | None = None) -> dict:
    """||dL/dh_t|| per step and per recurrent layer, gate saturation and a verdict, for one ``batch``.

    ``model`` is a task model (``forward(batch, state) -> Output`` with a ``loss``), used in whatever mode
    (train or eval) it is in. Every ``Recurrent`` layer runs its step loop for this call; a
    ``Bidirectional`` layer appears as two layers, each direction's steps in the order it read them (the
    backward one from the end of the sequence). The parameters' ``.grad`` are left as they were.

    Returns ``{"loss", "batch_size", "steps", "thresholds", "layers": [...]}``; each layer is
    ``{"name", "cell", "steps": T, "grad_norm": [||dL/dh_t|| for t = 1..T], "ratio", "status", "verdict",
    "gate_saturation": {gate: share}}`` (norms over the whole (B, H) state; empty gates for ungated cells).
    """
    names = {module: name for name, module in model.named_modules()}
    with _keep_grads(model), record_states() as calls:
        out = model(batch, state)
        out.loss.backward()
    mask = batch.mask
    layers = [_layer_report(rec, names.get(rec.layer, f"layer {k}"), mask) for k, rec in enumerate(calls)]
    return {
        "loss": _plain(float(out.loss.detach())),
        "batch_size": batch.size,
        "steps": int(batch.inputs.shape[1]),
        "thresholds": {"vanishing": VANISHING, "exploding": EXPLODING, "saturation": SATURATION},
        "layers": layers,
    }


def _layer_report(rec: Recording, name: str, mask: Tensor) -> dict:
    norms = [_grad_norm(s[:1]) for s in rec.states[1:]]  # states[0] is the initial state: t = 1..T follow
    # The verdict reads the whole state: an LSTM carries its memory in c, and dL/dc_t is what survives
    # the lag (dL/dh_t alone drops right after t = T, where h reaches the loss only through the gates).
    state_norms = [_grad_norm(s) for s in rec.states[1:]]
    status, verdict, ratio = judge(state_norms)
    return {
        "name": name,
        "cell": type(rec.layer.cell).__name__,
        "steps": len(norms),
        "grad_norm": [_plain(n) for n in norms],
        "state_grad_norm": [_plain(n) for n in state_norms],
        "ratio": _plain(ratio),
        "status": status,
        "verdict": verdict,
        "gate_saturation": gate_saturation(rec, mask),
    }


def _grad_norm(state: State) -> float:
    """The norm of dL/d(state tensors) over all of ``state`` (h alone for ``state[:1]``)."""
    grads = [t.grad for t in state if t.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))) if grads else 0.0


def judge(norms: list[float]) -> tuple[str, str, float]:
    """(status, verdict in words, ratio) for ||dL/dh_t||, t = 1..T. Status is "vanishing", "exploding",
    "stable", "non-finite" or "no gradient"."""
    T, first, last = len(norms), norms[0], norms[-1]
    bad = next((t for t, n in enumerate(norms, 1) if not math.isfinite(n)), None)
    if bad is not None:
        return "non-finite", f"non-finite: the gradient at t={bad} is {norms[bad - 1]} (overflow or NaN)", math.nan
    if last == 0.0:
        return "no gradient", f"no gradient: dL/dh_t is zero at t={T}", math.nan
    ratio = first / last
    if ratio < VANISHING:
        return "vanishing", f"vanishing: gradient at t=1 is {ratio:.0e} of that at t={T}", ratio
    if ratio > EXPLODING:
        return "exploding", f"exploding: gradient at t=1 is {ratio:.0e} times that at t={T}", ratio
    return "stable", f"stable: gradient at t=1 is {ratio:.2g} times that at t={T}", ratio


# ---- gate saturation ------------------------------------------------------------------------------------
@torch.no_grad()
def gate_activations(cell: nn.Module, x: Tensor, states: Sequence[State]) -> dict[str, Tensor]:
    """The cell's own gates (``cell.gates``, see :mod:`rnnkit.nn.cells.base`) at every step, from inputs
    ``x`` (B, T, I) and ``states[t]``, the state before step t + 1. Each gate (B, T, H); an empty dict for
    a cell without gates, or without a ``gates`` method at all."""
    gates = getattr(cell, "gates", None)
    if gates is None:
        return {}
    per_step = [gates(x_t, state) for x_t, state in zip(x.unbind(1), states)]
    names = per_step[0] if per_step else {}
    # T x (B, H) -> (B, T, H) per gate
    return {name: torch.stack([step[name] for step in per_step], dim=1) for name in names}


def gate_saturation(rec: Recording, mask: Tensor | None = None) -> dict[str, float]:
    """Share of each sigmoid gate's activations below ``SATURATION`` or above ``1 - SATURATION`` over the
    recorded call, real steps only when ``mask`` (B, T) matches the recorded input."""
    x = rec.input.detach()
    gates = gate_activations(rec.layer.cell, x, rec.states[:-1])  # states[t]: the state before step t + 1
    real = mask if mask is not None and mask.shape == x.shape[:2] else torch.ones(x.shape[:2], dtype=torch.bool)
    shares = {}
    for name, g in gates.items():
        saturated = (g < SATURATION) | (g > 1 - SATURATION)  # (B, T, H)
        shares[name] = float(saturated[real.to(g.device)].float().mean())
    return shares


# ---- helpers ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _keep_grads(model: nn.Module) -> Iterator[None]:
    """The parameters' ``.grad`` as they were before, whatever a backward pass inside adds."""
    params = list(model.parameters())
    saved = [p.grad for p in params]
    for p in params:
        p.grad = None
    try:
        yield
    finally:
        for p, g in zip(params, saved):
            p.grad = g


def _plain(x: float) -> float | None:
    return x if math.isfinite(x) else None


# ---- output ---------------------------------------------------------------------------------------------
def write_gradient_flow(report: dict, out_dir: str | Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """``gradient_flow.json`` and ``gradient_flow.png`` of ``report`` in ``out_dir`` (created if needed).
    FileExistsError naming the file when either exists and ``overwrite`` is false; nothing is written then."""
    from rnnkit.files import write_json_atomic

    out = Path(out_dir)
    files = (out / "gradient_flow.json", out / "gradient_flow.png")
    for path in files if not overwrite else ():
        if path.exists():
            raise FileExistsError(f"{path}: already exists; pass --overwrite to replace it, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(files[0], report, indent=2)
    plot_gradient_flow(report, files[1])
    return files


def plot_gradient_flow(report: dict, path: str | Path) -> Path:
    """A PNG of ``report``: ||dL/dh_t|| over t on a log scale, one line per layer, and beside it the gate
    saturation per layer and gate. Returns ``path``."""
    fig = new_figure(2)
    flow_ax, gate_ax = fig.axes
    draw_flow(flow_ax, report)
    draw_saturation(gate_ax, report)
    return save(fig, path)


def draw_flow(ax, report: dict, *, label: str | None = None) -> None:
    """The gradient-norm curves of ``report`` on ``ax`` (log y); ``label`` prefixes each line's name."""
    for layer in report["layers"]:
        norms = [math.nan if n is None else n for n in layer["state_grad_norm"]]
        name = f"{label}: " if label else ""
        ax.plot(range(1, len(norms) + 1), norms, label=f"{name}{layer['name']} ({layer['status']})")
    ax.set_yscale("log")
    ax.set(xlabel="step t", ylabel="||dL/d state_t||", title=f"gradient flow (loss {_fmt(report['loss'])})")
    ax.legend(fontsize="small")


def draw_saturation(ax, report: dict) -> None:
    """Grouped bars: the saturated share of each sigmoid gate, per layer."""
    rows = [(layer["name"], layer["gate_saturation"]) for layer in report["layers"] if layer["gate_saturation"]]
    if not rows:
        ax.text(0.5, 0.5, "no sigmoid gates", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    width = 0.8 / max(len(gates) for _, gates in rows)
    for k, (_, gates) in enumerate(rows):
        for j, (gate, share) in enumerate(gates.items()):
            ax.bar(k + j * width, share, width, color=f"C{j}")
            ax.text(k + j * width, share, gate, ha="center", va="bottom", fontsize="small")
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(rows))], [name for name, _ in rows], fontsize="small")
    ax.set(ylim=(0, 1.05), ylabel=f"share outside [{SATURATION}, {1 - SATURATION}]", title="gate saturation")


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"
