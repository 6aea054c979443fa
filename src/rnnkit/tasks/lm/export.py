"""The ``lm`` task's ONNX export: the language model's **step**, with the state as explicit tensors and a
dynamic batch size::

    token (B,) int64, h0 (B, H), c0 (B, H), h1, c1, ...  ->  logits (B, V), h0_out, c0_out, h1_out, ...

A client starts from zero state tensors, feeds ``start_token`` and then each token of its text, and passes
every ``*_out`` back as the input of the same name at the next step. The logits are the model's own,
without the continuous cache a run may mix into its suggestions. The step traces through any cell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit import state as st
from rnnkit.export import ExportError, Graph

LEAF_NAMES = ("h", "c")  # a cell's state tensors: (h,) for RNN and GRU cells, (h, c) for LSTM


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


def graph(loaded, run: str | Path) -> Graph:
    """The language model's step as an ONNX graph (see ``rnnkit.export``)."""
    from rnnkit.autocomplete import Predictor

    model, codec = loaded.model, loaded.preprocessor
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
            "preprocessor": codec.to_dict(),
            "usage": "start from zero states and feed start_token, then one token a step; pass each *_out "
            "back as the input of the same name; softmax(logits) is the next token's distribution",
        },
    )
