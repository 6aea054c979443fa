"""The ``classify`` pipeline: labels, probabilities and word-level explanations from a trained run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rnnkit.batch import Batch, pad
from rnnkit.tasks.base import Pipeline

DEFAULTS = {"k": 5, "method": "integrated gradients", "steps": 32}  # k: labels shown by rnnkit predict


class ClassifierPipeline(Pipeline):
    """Labels, probabilities and word-level explanations from a trained ``classify`` run. Text runs take a
    string; numeric runs take a (T, F) array, or a string of steps separated by spaces and the features of
    a step by commas ("0.1,2 0.3,1.5")."""

    task = "classify"

    def __init__(self, loaded):
        super().__init__(loaded)
        self.encoding = self.preprocessor
        self.classes = self.encoding.classes

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(DEFAULTS)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "classes": list(self.classes)}

    def predict(self, inputs: Sequence[Any]) -> list[tuple[str, dict[str, float]]]:
        """(label, probabilities) for each input, in one padded batch."""
        batches = [self._batch(x) for x in inputs]
        ids, lengths = pad([b.inputs[0] for b in batches])
        batch = Batch(inputs=ids, lengths=lengths)
        with torch.inference_mode():
            logits, _ = self.model.classify(self.model.embed_inputs(batch), batch)
        return [self._ranked(p) for p in torch.softmax(logits.float(), -1)]

    def classify(self, x) -> tuple[str, dict[str, float]]:
        """The most probable label of one example, and the probability of every label (best first)."""
        batch = self._batch(x)
        with torch.inference_mode():
            logits, _ = self.model.classify(self.model.embed_inputs(batch), batch)
        return self._ranked(torch.softmax(logits[0].float(), -1))

    def explain(self, x, *, method: str = "integrated gradients", steps: int = 32):
        """An ``rnnkit.explain.Explanation`` of the prediction for ``x``: one score per token for the
        predicted label. ``method``:

        - "integrated gradients" (Sundararajan et al. 2017): the gradient of the label's logit, averaged
          along the straight path from an all-zero input to the real one (``steps`` midpoints), times the
          input. The scores sum to the logit minus the logit of the all-zero input (completeness), so a
          positive score pushed toward the label and a negative one away, in logit units.
        - "gradient x input" (Shrikumar et al. 2016): the same at the real input alone; cheap, but near
          zero wherever the prediction is saturated.
        - "attention": the attention weights, for ``model.pooling = "attention"``; they sum to one and are
          never negative."""
        from rnnkit.explain import Explanation

        batch = self._batch(x)
        with torch.no_grad():
            embedded = self.model.embed_inputs(batch)
            logits, weights = self.model.classify(embedded, batch)
        label, probabilities = self._ranked(torch.softmax(logits[0].float(), -1))
        c = self.classes.index(label)
        if method == "attention":
            if weights is None:
                raise ValueError("attention scores need a model with model.pooling = 'attention'")
            scores = weights[0]
        elif method in ("integrated gradients", "gradient x input"):
            alphas = (torch.arange(steps) + 0.5) / steps if method == "integrated gradients" else torch.ones(1)
            path = (alphas.view(-1, 1, 1) * embedded).requires_grad_(True)  # (S, T, E): zero -> the input
            many = Batch(batch.inputs.expand(len(alphas), -1, *batch.inputs.shape[2:]),
                         lengths=batch.lengths.expand(len(alphas)))
            path_logits, _ = self.model.classify(path, many)
            (grad,) = torch.autograd.grad(path_logits[:, c].sum(), path)
            scores = (grad.mean(0) * embedded[0]).sum(-1)
        else:
            raise ValueError(f"unknown method {method!r}; known: integrated gradients, gradient x input, attention")
        return Explanation(self.tokens(x), [float(s) for s in scores], label, probabilities, method)

    def tokens(self, x) -> list[str]:
        """The units the model reads, as the user would recognise them: words, subwords, characters or
        step numbers."""
        enc = self.encoding
        if enc.text is None:
            return [f"t{i}" for i in range(len(self._batch(x).inputs[0]))]
        if enc.text.type == "word":
            return enc.text.words(x)[: enc.max_length] or ["<unk>"]
        return [enc.text.token(int(i)) for i in self._batch(x).inputs[0]]

    def _batch(self, x) -> Batch:
        if self.encoding.text is not None:
            if not isinstance(x, str) or not x.strip():
                raise ValueError("give a non-empty text to classify")
        elif isinstance(x, str):
            x = _parse_steps(x)
        inputs = self.encoding.inputs(x).unsqueeze(0)
        return Batch(inputs=inputs, lengths=torch.tensor([inputs.shape[1]]))

    def _ranked(self, probs: torch.Tensor) -> tuple[str, dict[str, float]]:
        order = probs.argsort(descending=True).tolist()
        return self.classes[order[0]], {self.classes[i]: float(probs[i]) for i in order}


def _parse_steps(text: str):
    import numpy as np

    try:
        rows = [[float(v) for v in step.split(",")] for step in text.split()]
    except ValueError:
        raise ValueError(f"not numbers: {text[:60]!r}; give steps separated by spaces, features by commas") from None
    if not rows or len({len(r) for r in rows}) != 1:
        raise ValueError("give at least one step, each with the same number of features")
    return np.asarray(rows, dtype=np.float32)
