"""ONNX export of a trained run, for clients that run the model without Python or PyTorch.

``export_onnx(run)`` writes ``model.onnx`` and ``export.json`` (input and output names, shapes and
dtypes, the state layout, the vocabulary or scaler) into ``RUN/export/``:

- ``lm``: the language model's **step**, with the state as explicit tensors and a dynamic batch size::

      token (B,) int64, h0 (B, H), c0 (B, H), h1, c1, ...  ->  logits (B, V), h0_out, c0_out, h1_out, ...

  A client starts from zero state tensors, feeds ``start_token`` and then each token of its text, and
  passes every ``*_out`` back as the input of the same name at the next step. The logits are the model's
  own, without the continuous cache a run may mix into its suggestions.
- ``classify``: the whole-sequence classifier, dynamic in batch and time::

      tokens (B, T) int64 (features (B, T, F) float32 for numeric runs), lengths (B,) int64  ->  logits (B, C)

  Rows may be padded with anything after their length; padded steps never reach the result.

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

from rnnkit import state as st
from rnnkit.batch import Batch
from rnnkit.nn.recurrent import Recurrent
from rnnkit.tasks.runner import Loaded, load

__all__ = ["ExportError", "export_onnx"]

MODEL_FILE, META_FILE = "model.onnx", "export.json"
DEFAULT_OPSET, MIN_OPSET, MAX_OPSET = 17, 9, 20  # 20: the newest opset torch's TorchScript exporter writes
ATOL = 1e-4  # onnxruntime against PyTorch, float32
TRACE_SHAPE = (2, 6)  # (B, T) of the traced example; the checks use other sizes, so a baked-in size shows
CHECK_SHAPES = ((1, 4), (3, 9))
LEAF_NAMES = ("h", "c")  # a cell's state tensors: (h,) for RNN and GRU cells, (h, c) for LSTM


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
    meta = {"format": "rnnkit-onnx", "format_version": 1, "task": loaded.task, "opset": opset,
            "exporter": f"torch.onnx.export(dynamo=False), torch {torch.__version__}",
            "inputs": graph.inputs, "outputs": graph.outputs, **graph.info}
    meta_path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return model_path


def build_graph(loaded: Loaded, run: str | Path) -> Graph:
    """The graph of ``loaded``'s task; ExportError for a task without one."""
    builders = {"lm": lm_graph, "classify": classify_graph}
    if loaded.task not in builders:
        raise ExportError(f"{run}: task {loaded.task!r} has no ONNX export (exported tasks: {', '.join(builders)})")
    freeze_parametrizations(loaded.model.eval())
    return builders[loaded.task](loaded, run)


def freeze_parametrizations(model: nn.Module) -> None:
    """Replace parametrized weights (weight drop) by their eval-mode values, in place: a parametrization
    cache cannot be traced, and in eval mode weight drop uses the weights as they are."""
    for module in list(model.modules()):
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)


# ---- lm: one step -------------------------------------------------------------------------------------------
class LMStep(nn.Module):
    """``forward(token (B,), *leaves) -> (logits (B, V), *next leaves)``: ``LanguageModel.step`` with its
    nested state as flat (B, S) tensors in ``rnnkit.state.tensors`` order."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.template = model.init_state(1)  # the nesting of the state; its values are never read

    def forward(self, token: Tensor, *leaves: Tensor) -> tuple[Tensor, ...]:
        flat = iter(leaves)
        state = st.map_state(lambda _: next(flat), self.template)
        logits, state = self.model.step(token, state)
        return (logits, *st.tensors(state))


def state_layout(model: nn.Module, run: str | Path) -> list[dict[str, Any]]:
    """One entry per state tensor, in order: ``{"input": "h0", "output": "h0_out", "layer": 0, "role": "h",
    "size": H}``; "h" is a layer's output state, "c" an LSTM's cell state."""
    cells = model.encoder.cells()
    if sum(len(c.state_sizes) for c in cells) != len(st.tensors(model.init_state(1))) or any(
        len(c.state_sizes) > len(LEAF_NAMES) for c in cells
    ):
        raise ExportError(f"{run}: the state of {type(model.encoder).__name__} is not one (h,) or (h, c) per layer")
    layout = [
        {"input": f"{LEAF_NAMES[j]}{k}", "output": f"{LEAF_NAMES[j]}{k}_out", "layer": k, "role": LEAF_NAMES[j],
         "size": size}
        for k, cell in enumerate(cells)
        for j, size in enumerate(cell.state_sizes)
    ]
    return layout


def lm_graph(loaded: Loaded, run: str | Path) -> Graph:
    from rnnkit.autocomplete import Predictor
    from rnnkit.data.text import codec_from_dict

    model, codec = loaded.model, codec_from_dict(loaded.codec)
    layout = state_layout(model, run)
    vocab = model.vocab_size

    def sample(batch: int, steps: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        token = torch.randint(0, vocab, (batch,), generator=generator)
        return token, *(torch.randn(batch, s["size"], generator=generator) for s in layout)

    def tensor(name: str, size: int) -> dict[str, Any]:
        return {"name": name, "shape": ["batch", size], "dtype": "float32"}

    return Graph(
        module=LMStep(model),
        sample=sample,
        inputs=[{"name": "token", "shape": ["batch"], "dtype": "int64"},
                *(tensor(s["input"], s["size"]) for s in layout)],
        outputs=[tensor("logits", vocab), *(tensor(s["output"], s["size"]) for s in layout)],
        info={
            "graph": "step",
            "state": layout,
            "initial_state": "zeros",
            "start_token": Predictor(model, codec).start_id,
            "vocab_size": vocab,
            "tokens": [codec.token(i) for i in range(vocab)],
            "codec": loaded.codec,
            "usage": "start from zero states and feed start_token, then one token a step; pass each *_out "
            "back as the input of the same name; softmax(logits) is the next token's distribution",
        },
    )


# ---- classify: the whole sequence ---------------------------------------------------------------------------
class WholeSequence(nn.Module):
    """``forward(inputs (B, T) or (B, T, F), lengths (B,)) -> (logits (B, C),)``: ``Classifier.classify``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor]:
        batch = Batch(inputs, lengths=lengths)
        logits, _ = self.model.classify(self.model.embed_inputs(batch), batch)
        return (logits,)


def padded_lengths(batch: int, steps: int, generator: torch.Generator) -> Tensor:
    """(B,) lengths in [1, T], the first row full and, when B > 1, the last one short: a padded batch."""
    lengths = torch.randint(1, steps + 1, (batch,), generator=generator)
    lengths[0] = steps
    if batch > 1:
        lengths[-1] = max(1, steps // 2)
    return lengths


def classify_graph(loaded: Loaded, run: str | Path) -> Graph:
    from rnnkit.tasks.classify import Encoding

    model, enc = loaded.model, Encoding.from_dict(loaded.codec)
    text = enc.text is not None
    features = enc.input_size()

    def sample(batch: int, steps: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        if text:
            x = torch.randint(0, features, (batch, steps), generator=generator)
        else:
            x = torch.randn(batch, steps, features, generator=generator)
        return x, padded_lengths(batch, steps, generator)

    graph = Graph(
        module=WholeSequence(model),
        sample=sample,
        inputs=[
            {"name": "tokens", "shape": ["batch", "time"], "dtype": "int64"} if text
            else {"name": "features", "shape": ["batch", "time", features], "dtype": "float32"},
            {"name": "lengths", "shape": ["batch"], "dtype": "int64"},
        ],
        outputs=[{"name": "logits", "shape": ["batch", len(enc.classes)], "dtype": "float32"}],
        info={
            "graph": "sequence",
            "classes": enc.classes,
            "max_length": enc.max_length,
            "codec": loaded.codec,
            "usage": ("encode the text with the codec" if text else "standardise each step as (x - mean) / std "
                      "per feature, missing values 0")
            + ", keep at most max_length steps, pad rows to one length T; lengths in [1, T]; "
            "softmax(logits) gives the probability of each class",
        },
    )
    check_fused(graph, run)
    return graph


@torch.no_grad()
def check_fused(graph: Graph, run: str | Path) -> None:
    """ExportError unless every recurrent layer runs torch's fused kernel on a padded batch."""
    graph.module(*graph.sample(*TRACE_SHAPE, torch.Generator().manual_seed(0)))
    for name, layer in graph.module.named_modules():
        if isinstance(layer, Recurrent) and not layer.kernel.startswith("torch-fused"):
            raise ExportError(f"{run}: {name} runs {layer.kernel!r}; a classifier exports only with torch's "
                              "fused kernel (lstm without layer norm, gru or rnn cells)")


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
