"""ONNX export of a trained run, for clients that run the model without Python or PyTorch.

``export_onnx(run)`` writes ``model.onnx`` and ``export.json`` (input and output names, shapes and
dtypes, the state layout, the preprocessor) into ``RUN/export/``. What the graph is belongs to the task:
its ``Task.export`` builder returns a ``Graph`` (``rnnkit.tasks.lm.export``: the language model's step with
the state as explicit tensors; ``rnnkit.tasks.classify.export``: the whole-sequence classifier). This
module traces it, checks it against PyTorch with onnxruntime, and writes it.

The exporter is torch's TorchScript-based one (``dynamo=False``; torch 2.13 calls it legacy but ships
it). The ``torch.export``-based one (``dynamo=True``) stops at the classifier's data-dependent length
checks (``int(lengths.min())``) and packing, and for the same language-model step, with the same
numbers, it takes seconds where tracing takes a fraction of one. Tracing records the path each layer
takes, so the classifier is traced on a padded batch (packing becomes the ``sequence_lens`` input of
ONNX's LSTM, GRU and RNN operators) and every one of its layers must run torch's fused kernel: a step
loop would be unrolled for the traced length alone, so such runs are refused. The language model's
step traces through any cell. Weight drop is frozen at its eval-mode weights, the stored ones.

>>> export_onnx("runs/lm")                      # -> runs/lm/export/model.onnx, checked with onnxruntime
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from rnnkit.files import write_atomic
from rnnkit.tasks.run import Loaded, load

__all__ = ["ExportError", "export_onnx"]

MODEL_FILE, META_FILE = "model.onnx", "export.json"
DEFAULT_OPSET, MIN_OPSET, MAX_OPSET = 17, 9, 20  # 20: the newest opset torch's TorchScript exporter writes
ATOL = 1e-4  # onnxruntime against PyTorch, float32
TRACE_SHAPE = (2, 6)  # (B, T) of the traced example; the checks use other sizes, so a baked-in size shows
CHECK_SHAPES = ((1, 4), (3, 9))


class ExportError(ValueError):
    """A run that cannot be exported, or an export that would overwrite a file or does not match PyTorch.
    The message is one line naming the path or argument."""


@dataclass
class Graph:
    """What to export: ``module.forward(*inputs) -> tuple of outputs``, flat tensors only.

    ``sample(batch, steps, generator)`` makes random valid inputs (``steps`` is ignored by a step graph);
    ``inputs`` and ``outputs`` describe each tensor as ``{"name", "shape", "dtype"}``, with "batch" and
    "time" as the names of dynamic dims; ``info`` is the rest of ``export.json``."""

    module: nn.Module
    sample: Callable[[int, int, torch.Generator], tuple[Tensor, ...]]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    info: dict[str, Any]

    def names(self, which: str) -> list[str]:
        return [t["name"] for t in getattr(self, which)]


def export_onnx(
    run: str | Path,
    out: str | Path | None = None,
    *,
    opset: int | None = None,
    check: bool = True,
    overwrite: bool = False,
) -> Path:
    """Export the run directory ``run`` to ``out/model.onnx`` plus ``out/export.json`` (``out`` defaults
    to ``RUN/export``) and return the path of ``model.onnx``.

    ``opset``: the ONNX opset, ``MIN_OPSET`` to ``MAX_OPSET`` (default ``DEFAULT_OPSET``). ``check``:
    run onnxruntime on random inputs at two batch sizes (and, for a classifier, two lengths other than
    the traced one) and compare every output with PyTorch's (``ATOL``). Raises ExportError when a file
    exists and ``overwrite`` is false, for a task or layer without an export, on a failed export or a
    mismatch; no file is written then."""
    opset = DEFAULT_OPSET if opset is None else opset
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportError(f"opset must be in [{MIN_OPSET}, {MAX_OPSET}], got {opset}")
    loaded = load(run)
    out_dir = Path(run) / "export" if out is None else Path(out)
    model_path, meta_path = out_dir / MODEL_FILE, out_dir / META_FILE
    for path in (model_path, meta_path):
        if path.exists() and not overwrite:
            raise ExportError(f"{path}: already exists; pass overwrite=True to replace it")
    graph = build_graph(loaded, run)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{MODEL_FILE}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        trace(graph, tmp, opset)
        if check:
            compare(graph, tmp)
        os.replace(tmp, model_path)
    finally:
        tmp.unlink(missing_ok=True)
    meta = {"format": "rnnkit-onnx", "format_version": 2, "task": loaded.task, "opset": opset,
            "exporter": f"torch.onnx.export(dynamo=False), torch {torch.__version__}",
            "inputs": graph.inputs, "outputs": graph.outputs, **graph.info}
    write_atomic(meta_path, json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    return model_path


def build_graph(loaded: Loaded, run: str | Path) -> Graph:
    """The graph of ``loaded``'s task (its ``Task.export`` builder); ExportError for a task without one."""
    from rnnkit import registry

    builder = registry.task(loaded.task).part("export")
    if builder is None:
        exported = ", ".join(t.name for t in registry.tasks() if t.export)
        raise ExportError(f"{run}: task {loaded.task!r} has no ONNX export (exported tasks: {exported})")
    freeze_parametrizations(loaded.model.eval())
    return builder(loaded, run)


def freeze_parametrizations(model: nn.Module) -> None:
    """Replace parametrized weights (weight drop) by their eval-mode values, in place: a parametrization
    cache cannot be traced, and in eval mode weight drop uses the weights as they are."""
    for module in list(model.modules()):
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)


# ---- export and compare -------------------------------------------------------------------------------------
@torch.no_grad()
def trace(graph: Graph, path: Path, opset: int) -> None:
    """Trace ``graph`` on a padded example and write it to ``path``, batch (and time) dims dynamic."""
    example = graph.sample(*TRACE_SHAPE, torch.Generator().manual_seed(0))
    axes = {t["name"]: {i: d for i, d in enumerate(t["shape"]) if isinstance(d, str)}
            for t in graph.inputs + graph.outputs}
    with warnings.catch_warnings():
        # tracing turns the layers' shape checks and kernel choice into constants: expected, and
        # compare() shows that the graph holds at other sizes; the TorchScript exporter is chosen on purpose
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", "Exporting a model to ONNX with a batch_size other than 1")
        try:
            torch.onnx.export(graph.module.eval(), example, str(path), input_names=graph.names("inputs"),
                              output_names=graph.names("outputs"), dynamic_axes=axes, opset_version=opset,
                              dynamo=False)
        except Exception as err:  # any exporter failure becomes one line
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ExportError(f"{path.parent}: torch.onnx.export failed: {first}") from err


@torch.no_grad()
def compare(graph: Graph, path: Path) -> None:
    """ExportError unless onnxruntime's outputs of ``path`` match PyTorch's within ``ATOL`` at each of
    ``CHECK_SHAPES``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(1)
    for batch, steps in CHECK_SHAPES:
        inputs = graph.sample(batch, steps, generator)
        expected = graph.module(*inputs)
        got = session.run(graph.names("outputs"), {n: t.numpy() for n, t in zip(graph.names("inputs"), inputs)})
        for name, want, have in zip(graph.names("outputs"), expected, got):
            diff = float(np.abs(want.numpy() - have).max()) if want.shape == have.shape else float("inf")
            if not diff <= ATOL:
                raise ExportError(f"{path.parent}: onnxruntime's {name} differs from PyTorch's by {diff:.3g} at "
                                  f"batch {batch}, {steps} steps (atol {ATOL})")
