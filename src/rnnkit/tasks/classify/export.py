"""The ``classify`` task's ONNX export: the whole-sequence classifier, dynamic in batch and time::

    tokens (B, T) int64 (features (B, T, F) float32 for numeric runs), lengths (B,) int64  ->  logits (B, C)

Rows may be padded with anything after their length; padded steps never reach the result. The graph is
traced on a padded batch (packing becomes the ``sequence_lens`` input of ONNX's LSTM, GRU and RNN
operators), so every recurrent layer must run torch's fused kernel: a step loop would be unrolled for the
traced length alone, and such runs are refused.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from rnnkit.batch import Batch
from rnnkit.export import TRACE_SHAPE, ExportError, Graph
from rnnkit.nn.recurrent import Recurrent


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


def graph(loaded, run: str | Path) -> Graph:
    """The classifier over whole sequences as an ONNX graph (see ``rnnkit.export``)."""
    model, enc = loaded.model, loaded.preprocessor
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
            "preprocessor": enc.to_dict(),
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
        if isinstance(layer, Recurrent) and layer.kernel_path != "torch-fused":
            raise ExportError(f"{run}: {name} runs {layer.kernel!r}; a classifier exports only with torch's "
                              "fused kernel (lstm without layer norm, gru or rnn cells)")
