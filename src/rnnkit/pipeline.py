"""From a run directory to predictions on raw input: what the CLI and the server share.

``from_checkpoint(run)`` loads the model, its codec and its settings from a run directory and returns
the task's pipeline; the caller hands it text and gets text back, so preprocessing lives in one place
and training and serving cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from rnnkit.autocomplete import Predictor, Session
from rnnkit.batch import Batch
from rnnkit.data.text import codec_from_dict
from rnnkit.decode import sample_sequence
from rnnkit.tasks.runner import Loaded, load


class LanguageModelPipeline:
    """Next-word suggestions, streaming sessions and text generation from a trained ``lm`` run."""

    task = "lm"

    def __init__(self, loaded: Loaded):
        self.loaded = loaded
        self.model = loaded.model
        self.codec = codec_from_dict(loaded.codec)
        self.predictor = Predictor(self.model, self.codec)

    def complete(self, prefix: str, *, k: int = 3) -> list[tuple[str, float]]:
        """The k most probable next words after ``prefix``; a partly typed last word ("the m") is completed
        to whole words. Returns (word, probability) pairs, most probable first."""
        return self.session(k=k).type(prefix)

    def session(self, *, k: int = 3) -> Session:
        """A streaming session: type and backspace one character at a time at O(1) model cost."""
        return Session(self.predictor, k=k)

    @torch.inference_mode()
    def generate(
        self,
        prime: str = "",
        *,
        length: int = 200,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> Iterator[str]:
        """Sample ``length`` tokens after ``prime``, yielding the new text piece by piece as it is decoded.
        The same seed gives the same text."""
        if length < 0:
            raise ValueError(f"length must be at least 0, got {length}")
        ids = self.codec.encode(prime) if prime else []
        ids = [self.predictor.start_id, *ids]
        prime_ids = torch.tensor([ids])
        state = self.model.start(Batch(inputs=prime_ids))
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        out: list[int] = ids[1:]
        shown = self.codec.decode(out)  # the prime as the model reads it (a word codec may lowercase it)
        stream = sample_sequence(self.model.step, prime_ids[:, -1], state, steps=length, temperature=temperature,
                                 top_k=top_k, top_p=top_p, generator=generator)
        for token in stream:
            out.append(int(token[0]))
            text = self.codec.decode(out)
            if text.endswith("\ufffd"):
                continue  # a character split across byte-level tokens: wait for its other bytes
            yield text[len(shown):]
            shown = text


class ClassifierPipeline:
    """Labels, probabilities and word-level explanations from a trained ``classify`` run. Text runs take a
    string; numeric runs take a (T, F) array, or a string of steps separated by spaces and the features of
    a step by commas ("0.1,2 0.3,1.5")."""

    task = "classify"

    def __init__(self, loaded: Loaded):
        from rnnkit.tasks.classify import Encoding

        self.loaded, self.model = loaded, loaded.model.eval()
        self.encoding = Encoding.from_dict(loaded.codec)
        self.classes = self.encoding.classes

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


class Seq2SeqPipeline:
    """Translations or chat replies from a trained ``seq2seq`` run; ``kind`` says which ("translate" or
    "chat"). Decoding follows the run's ``decode`` settings (beam search of ``decode.beam``)."""

    task = "seq2seq"

    def __init__(self, loaded: Loaded):
        from rnnkit.tasks.seq2seq import PairEncoding

        self.loaded, self.model = loaded, loaded.model.eval()
        self.encoding = PairEncoding.from_dict(loaded.codec)
        self.kind = self.encoding.kind
        self.decode = loaded.config.decode

    def translate(self, text: str, *, beam: int | None = None) -> str:
        """The model's output for ``text``: beam search of ``beam`` hypotheses (default the run's; 1 greedy)."""
        from rnnkit.tasks.seq2seq import translate

        return translate(self.model, self.encoding, [self._check(text)], self.decode, beam=beam)[0]

    def translate_stream(self, text: str, *, beam: int | None = None) -> Iterator[str]:
        """The output of ``translate`` piece by piece, each piece as soon as the search has fixed it (with a
        beam, once every hypothesis that can still win agrees on it)."""
        from rnnkit.decode.beam import beam_stream

        enc, beam = self.encoding, beam or self.decode.beam
        source = enc.encode_source(self._check(text)).unsqueeze(0)
        with torch.inference_mode():
            state = self.model.start(Batch(source, lengths=torch.tensor([source.shape[1]])))
            first = torch.tensor([enc.start_id])
            out: list[int] = []
            shown = ""
            limit = self.decode.limit(source.shape[1])
            for ids in beam_stream(self.model.step, first, state, beam_size=beam, max_length=limit,
                                   eos_id=enc.target.eos_id, length_penalty=self.decode.length_penalty,
                                   no_repeat_ngram=self.decode.no_repeat_ngram):
                out.extend(i for i in ids if i != enc.target.eos_id)
                text_now = enc.target.decode(out)
                if text_now.endswith("\ufffd"):
                    continue  # a character split across byte-level tokens: wait for its other bytes
                if len(text_now) > len(shown):
                    yield text_now[len(shown):]
                    shown = text_now

    def reply(self, message: str, history: list[str] | None = None, *, beam: int | None = None) -> str:
        """A chat model's reply to ``message`` after the earlier turns ``history`` (oldest first)."""
        return self.translate(self.encoding.context([*(history or []), self._check(message)]), beam=beam)

    def attention_figure(self, text: str, path: str | Path, *, output: str | None = None) -> Path:
        """A heat map of where the model looked for each output token of ``text`` (its greedy output, or
        the given ``output``), written to ``path`` (PNG); an existing file is never overwritten."""
        from rnnkit.tasks.seq2seq import attention_figure

        path = Path(path)
        if path.exists():
            raise ValueError(f"{path}: already exists; choose another file")
        return attention_figure(self.model, self.encoding, self._check(text), path, decode=self.decode, output=output)

    def unknown(self, text: str) -> list[str]:
        """The words of ``text`` that the source codec maps to its unknown token (a byte-level codec has none)."""
        codec = self.encoding.source
        if codec.unk_id is None or codec.type == "bpe":
            return []
        words = codec.words(text) if hasattr(codec, "words") else list(text)
        return [w for w in words if codec.encode(w) == [codec.unk_id]]

    @staticmethod
    def _check(text: str) -> str:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("give a non-empty text")
        return text


PIPELINES = {"lm": LanguageModelPipeline, "classify": ClassifierPipeline, "seq2seq": Seq2SeqPipeline}


def from_checkpoint(run: str | Path) -> LanguageModelPipeline | ClassifierPipeline | Seq2SeqPipeline:
    """The pipeline of a trained run directory (its ``best`` checkpoint, else ``last``)."""
    loaded = load(run)
    if loaded.task not in PIPELINES:
        raise ValueError(f"{run}: task {loaded.task!r} has no prediction pipeline; known: {', '.join(PIPELINES)}")
    return PIPELINES[loaded.task](loaded)
