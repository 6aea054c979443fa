"""The recurrent model interpolated with the Kneser-Ney n-gram of the same training text.

``p(w) = weight * p_rnn(w) + (1 - weight) * p_ngram(w)``, the weight fitted on the validation split by EM on
the two models' probabilities of each next token (``rnnkit.autocomplete.fit_weight``). The n-gram
remembers rare phrases of the training text word for word, the recurrent model generalises; together they
often beat both (Mikolov et al. 2011, "Empirical evaluation and combination of advanced language modeling
techniques"). A run keeps its n-gram in ``ngram.safetensors`` and the fitted weight in ``mixture.json``, and
the figures are reported beside each model's own, never instead of them. The recurrent model is mixed
without its continuous cache (``model.cache``), as the weight was fitted.

The fit reads each validation document from its start (as a keyboard does, after the predictor's start
token), where the trainer's evaluation reads the split as parallel streams; ``mixture_rnn_loss`` and
``mixture_ngram_loss`` are the two components read the same way, so the three compare exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnnkit.autocomplete import LMScorer, MixtureScorer, NGramScorer, Predictor, fit_weight
from rnnkit.data.text import Codec
from rnnkit.files import read_json, write_json_atomic
from rnnkit.models.cache import CacheConfig
from rnnkit.models.language_model import LanguageModel, top_hits
from rnnkit.models.ngram import KneserNey

MIXTURE_FILE = "mixture.json"
NGRAM_FILE = "ngram.safetensors"
SEGMENT = 256  # tokens scored at a time: a (SEGMENT, V) block of each model's log-probabilities


@dataclass
class Mixture:
    """A fitted n-gram and the weight of the recurrent model beside it (None until ``fit``)."""

    ngram: KneserNey
    weight: float | None = None

    def scorer(self, model: LanguageModel) -> MixtureScorer:
        if self.weight is None:
            raise RuntimeError("Mixture: call fit before mixing")
        # the weight was fitted on the model without its continuous cache: mix it so
        return MixtureScorer(LMScorer(model, cache=CacheConfig(size=0)), NGramScorer(self.ngram), self.weight)

    @torch.no_grad()
    def fit(self, model: LanguageModel, codec: Codec, docs: list[list[int]]) -> dict[str, float]:
        """Fit the weight on ``docs`` (lists of ids) and return the mixture's figures there: ``mixture_weight``,
        ``mixture_loss`` (nats per token), ``mixture_perplexity``, ``mixture_accuracy``, ``mixture_top3``,
        and each component's loss read the same way (``mixture_rnn_loss``, ``mixture_ngram_loss``)."""
        a, b = [], []
        for rnn, ngram, targets in self._blocks(model, codec, docs):
            rows = torch.arange(len(targets))
            a.append(rnn[rows, targets].numpy())
            b.append(ngram[rows, targets].numpy())
        a, b = np.concatenate(a).astype(np.float64), np.concatenate(b).astype(np.float64)
        self.weight = fit_weight(a, b)
        w = self.weight
        mixed = np.logaddexp(_log(w) + a, _log(1 - w) + b)
        hit1 = hit3 = 0.0
        for rnn, ngram, targets in self._blocks(model, codec, docs):
            hits = top_hits(torch.logaddexp(rnn + _log(w), ngram + _log(1 - w)), targets, model.never_suggest)
            hit1, hit3 = hit1 + hits["correct"], hit3 + hits["top3"]
        loss = float(-mixed.mean())
        return {"mixture_weight": w, "mixture_loss": loss, "mixture_perplexity": math.exp(min(loss, 50.0)),
                "mixture_accuracy": hit1 / len(a), "mixture_top3": hit3 / len(a),
                "mixture_rnn_loss": float(-a.mean()), "mixture_ngram_loss": float(-b.mean())}

    def _blocks(self, model: LanguageModel, codec: Codec, docs: list[list[int]]) -> Iterator[tuple]:
        """(L, V) log-probabilities of the recurrent model and of the n-gram, and the (L,) targets, over each
        document in blocks of ``SEGMENT`` tokens."""
        model.eval()
        first = Predictor(model, codec).start_id
        for ids in docs:
            seq, state = torch.tensor([first, *ids]), None
            for a in range(0, len(ids), SEGMENT):
                end = min(a + SEGMENT, len(ids))
                h, state = model.features(seq[a:end].unsqueeze(0), state)
                rnn = torch.log_softmax(model.head(h[0]).float(), dim=-1)
                ngram = torch.from_numpy(self.ngram.log_probs(ids[:end], start=a))
                yield rnn, ngram, seq[a + 1 : end + 1]

    def save(self, run_dir: str | Path) -> list[Path]:
        """Write ``ngram.safetensors`` and ``mixture.json`` into ``run_dir``; returns their paths."""
        run_dir = Path(run_dir)
        ngram = self.ngram.save(run_dir / NGRAM_FILE)
        meta = write_json_atomic(run_dir / MIXTURE_FILE, {"format": "rnnkit-mixture", "format_version": 1,
                                                          "weight": self.weight, "ngram": NGRAM_FILE,
                                                          "order": self.ngram.order}, indent=2)
        return [ngram, meta]

    @classmethod
    def load(cls, run_dir: str | Path) -> Mixture | None:
        """The mixture a run saved, or None when it saved none. Raises ValueError naming a damaged file."""
        path = Path(run_dir) / MIXTURE_FILE
        if not path.exists():
            return None
        try:
            meta = read_json(path)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: unreadable ({e})") from None
        weight = meta.get("weight") if isinstance(meta, dict) else None
        if not isinstance(weight, int | float) or not 0.0 <= weight <= 1.0:
            raise ValueError(f"{path}: not an rnnkit mixture (no weight between 0 and 1)")
        return cls(KneserNey.load(Path(run_dir) / str(meta.get("ngram", NGRAM_FILE))), float(weight))


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf
