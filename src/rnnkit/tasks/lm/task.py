"""Task ``lm``: next-token language models on any UTF-8 text, beside a Kneser-Ney n-gram baseline.

``rnnkit train lm --data PATH`` reads a file, a folder of files or a glob (the embedded default corpus,
Python's own documentation, without ``--data``), fits the codec on the training split, and streams the
text into truncated-BPTT batches (``rnnkit.data.streams``).
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import time
from collections.abc import Callable
from dataclasses import replace

import torch

from rnnkit.autocomplete import NGramScorer, Predictor, keystroke_savings, next_word_accuracy
from rnnkit.data.corpus import default_corpus, find_documents
from rnnkit.data.streams import CACHE_LIMIT, Span, TextStream, encode_spans, file_span, split_valid, text_span
from rnnkit.data.text import Codec, CodecConfig, build_codec, codec_from_dict
from rnnkit.models.cache import CacheConfig, document_log_probs
from rnnkit.models.language_model import LanguageModel, top_hits
from rnnkit.models.ngram import KneserNey
from rnnkit.tasks.base import Parts, Task
from rnnkit.tasks.lm.config import (
    WIDE_AFTER,
    LMRun,
    TextDataConfig,
    embed_size,
    resolve,
    wide_word_model,
    word_model_defaults,
)
from rnnkit.tasks.lm.mixture import Mixture

CACHE_SEGMENT = 2048  # tokens read at a time when scoring with the cache
WORDS_PER_ID = 50  # an automatic word vocabulary: one id per this many running words of training text
MIN_VOCAB, MAX_AUTO_VOCAB = 2_000, 30_000
DEFAULT_DATA = "Python's documentation topics and standard-library docstrings"


def corpus_spans(data_path: str | None) -> list[Span]:
    """The documents of ``data_path`` (a file, folder or glob), or of the embedded default corpus."""
    if data_path is None:
        return [text_span(name, text) for name, text in default_corpus()]
    return [file_span(path) for path in find_documents(data_path)]


class LanguageModelTask(Task):
    name = "lm"
    description = "next-word or next-character prediction on any text (default: Python's documentation)"
    default_data = DEFAULT_DATA
    config_class = LMRun
    pipeline = "rnnkit.tasks.lm.pipeline:LanguageModelPipeline"
    cli = "rnnkit.tasks.lm.cli"
    router = "rnnkit.tasks.lm.serve:router"
    panel = "rnnkit.tasks.lm"
    export = "rnnkit.tasks.lm.export:graph"
    quality = "rnnkit.tasks.lm.bench"

    def build(self, cfg: LMRun, data: str | None, preprocessor: Codec | None = None) -> Parts:
        """Model, streams and n-gram baseline; the codec is fitted on the training split unless given, and
        then a word model may be sized to the time budget (``size_for_budget``)."""
        source = data or "the embedded corpus"
        train_spans, valid_spans = split_valid(corpus_spans(data), cfg.data.valid_fraction)
        if not train_spans or not valid_spans:
            size = sum(s.size for s in train_spans + valid_spans)
            raise ValueError(f"{source}: {size:,} characters are too few to split into training and validation "
                             "text (the split falls at line starts); give more text")
        notes: list[str] = []
        if preprocessor is None:
            codec_cfg = vocabulary_cap(cfg.data.codec, train_spans, notes)
            codec = build_codec(codec_cfg, _texts(train_spans))
        else:
            codec = preprocessor
        d = cfg.data
        train = TextStream(train_spans, codec, batch_size=d.batch_size, bptt=d.bptt)
        valid = TextStream(valid_spans, codec, batch_size=min(d.batch_size, 16), bptt=d.bptt)
        for name, stream in (("training", train), ("validation", valid)):
            check_stream(stream, f"{source}: the {name} split")
        if preprocessor is None:  # a new run: its model may be sized to the budget (a trained run keeps its own)
            cfg = size_for_budget(self, cfg, codec, train, notes)
        model = self.build_model(cfg, codec)
        ngram = functools.cache(lambda: fit_ngram(codec, train_spans, d))  # the baseline's, and the mixture's
        mixture = functools.cache(lambda: Mixture(ngram())) if d.mixture else None
        if cfg.data.codec.type != "char" and cfg.model == word_model_defaults():
            notes.append("model: the word model, one 256-unit LSTM layer with a tied 128-wide embedding and "
                         "AWD-LSTM's dropouts (set model.* to choose another)")
        elif cfg.data.codec.type != "char" and cfg.model == wide_word_model():
            notes.append("model: the wide word model, one 512-unit LSTM layer with a tied 128-wide embedding, "
                         "AWD-LSTM's dropouts and weight drop 0.3 (set model.* to choose another)")
        if cfg.train.max_epochs is not None:
            notes.append(f"training: at most {cfg.train.max_epochs:g} passes over the training split, "
                         f"{len(train):,} updates each (train.max_epochs; more passes overfit)")
        notes.append(output_note(model))
        return Parts(
            model=model,
            notes=notes,
            train=train,
            valid=valid,
            test=valid,
            preprocessor=codec,
            baseline=lambda: self.baseline(ngram(), codec, valid, d),
            baseline_name=f"Kneser-Ney {cfg.data.ngram_order}-gram",
            extra_metrics=lambda metrics, model: self.metrics(metrics, Predictor(model, codec), valid, d, model,
                                                              mixture),
            artifacts=lambda run_dir, _: mixture().save(run_dir) if mixture and mixture().weight is not None else [],
            config=cfg,
        )

    def build_model(self, cfg: LMRun, preprocessor: Codec) -> LanguageModel:
        unk = () if preprocessor.unk_id is None else (preprocessor.unk_id,)
        model_cfg = replace(cfg.model, embed_size=embed_size(cfg))
        return LanguageModel(model_cfg, preprocessor.vocab_size, never_suggest=unk)

    def resolve(self, cfg: LMRun) -> LMRun:
        return resolve(cfg)

    def load_preprocessor(self, data: dict | None) -> Codec:
        return codec_from_dict(data)

    @staticmethod
    def metrics(
        metrics: dict, predictor: Predictor, valid: TextStream, d: TextDataConfig, model: LanguageModel | None = None,
        mixture: Callable[[], Mixture] | None = None,
    ) -> dict[str, float]:
        """The evaluation's loss and hits, plus perplexity, bits per character, the scores with the model's
        continuous cache if it has one, and the keyboard metrics (with the cache); with a ``mixture``, its
        weight fitted on ``valid`` and its figures there, prefixed ``mixture_`` (``rnnkit.tasks.lm.mixture``)."""
        codec = predictor.codec
        out = text_metrics(metrics, codec, valid)
        if model is not None and model.config.cache.size:
            out.update(cache_metrics(model, codec, valid.spans, model.config.cache))
        if d.keyboard_words:
            out.update(keyboard_metrics(predictor, valid.spans, d.keyboard_words))
        if model is not None and mixture is not None:
            out.update(mixture().fit(model, codec, _documents(codec, valid.spans, None)))
            if d.keyboard_words:
                keyboard = keyboard_metrics(Predictor(mixture().scorer(model), codec), valid.spans, d.keyboard_words)
                out.update({f"mixture_{name}": value for name, value in keyboard.items()})
        return out

    def baseline(self, ngram: KneserNey, codec: Codec, valid: TextStream, d: TextDataConfig) -> dict[str, float]:
        return self.metrics(score_ngram(ngram, codec, valid.spans), Predictor(NGramScorer(ngram), codec), valid, d)


def size_for_budget(task: LanguageModelTask, cfg: LMRun, codec: Codec, train: TextStream, notes: list[str]) -> LMRun:
    """``cfg`` with the wide word model when a time budget (``train.max_minutes``) would take the word model
    over the training text more than ``WIDE_AFTER`` times its ``max_epochs``, at the speed measured here
    (``training_speed``): the budget then goes into a bigger, more regularised model rather than into
    passes that overfit. Any other config as it is; the choice is added to ``notes``."""
    t = cfg.train
    if cfg.data.codec.type == "char" or cfg.model != word_model_defaults() or not (t.max_minutes and t.max_epochs):
        return cfg
    tokens = len(train) * train.batch_size * train.bptt
    with torch.random.fork_rng(devices=[]):  # the run's model starts as it would without the measurement
        speed = training_speed(task.build_model(cfg, codec), train)
    passes = 60 * t.max_minutes * speed / tokens
    if passes <= WIDE_AFTER * t.max_epochs:
        return cfg
    notes.append(f"model size: at {speed:,.0f} tokens/s, {t.max_minutes:g} minutes would take the word model over "
                 f"the {tokens:,} training tokens {passes:.0f} times, more than {WIDE_AFTER:g} x {t.max_epochs:g}: "
                 "the wide word model instead")
    return replace(cfg, model=wide_word_model())


def training_speed(model: LanguageModel, train: TextStream, steps: int = 3) -> float:
    """Tokens a second of ``model``'s training updates (forward, backward, Adam) on ``train``'s batches,
    after two untimed ones; ``model`` is trained by them."""
    batches = itertools.chain.from_iterable(train.batches(0) for _ in itertools.count())
    optimizer, model = torch.optim.Adam(model.parameters()), model.train()

    def update() -> None:
        model(next(batches), None).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(2):
        update()
    started = time.perf_counter()
    for _ in range(steps):
        update()
    return steps * train.batch_size * train.bptt / max(time.perf_counter() - started, 1e-9)


def vocabulary_cap(codec: CodecConfig, train: list[Span], notes: list[str]) -> CodecConfig:
    """``codec`` with a vocabulary cap chosen from the corpus when a word codec has none: about one id per
    ``WORDS_PER_ID`` running words of the training split, between ``MIN_VOCAB`` and ``MAX_AUTO_VOCAB``. A
    word seen once or twice teaches a model almost nothing and costs a row of the embedding and softmax;
    a smaller table trains faster per minute on a CPU. The choice is added to ``notes``."""
    if codec.type != "word" or codec.max_vocab is not None:
        return codec
    words = sum(len(piece.split()) for piece in _texts(train))
    cap = min(max(words // WORDS_PER_ID, MIN_VOCAB), MAX_AUTO_VOCAB)
    notes.append(f"vocabulary: at most {cap:,} words, chosen for {words:,} training words (one id per "
                 f"{WORDS_PER_ID} words, {MIN_VOCAB:,} to {MAX_AUTO_VOCAB:,}); set data.codec.max_vocab to choose")
    return replace(codec, max_vocab=cap)


def output_note(model: LanguageModel) -> str:
    """One line naming the output layer the model got, and why."""
    v = model.vocab_size
    if model.output == "adaptive":
        cutoffs = ", ".join(f"{c:,}" for c in model.head.adaptive.cutoffs[:-1])
        return f"output layer: adaptive softmax over {v:,} ids (clusters from {cutoffs}; model.output to choose)"
    return f"output layer: exact softmax over {v:,} ids (model.output=adaptive for a large vocabulary)"


def check_stream(stream: TextStream, what: str) -> None:
    """ValueError naming ``what`` when a stream held in memory has fewer tokens than one batch of its rows
    needs: found now, before anything is written, not at the first update."""
    if stream.size > CACHE_LIMIT:
        return  # streamed lazily: a corpus this large fills any batch
    try:
        next(stream.batches(0))
    except (ValueError, StopIteration):
        raise ValueError(f"{what} holds too few tokens for one batch of {stream.batch_size} rows of at least 2 tokens "
                         "(data.batch_size); give more text or a smaller batch") from None


def _texts(spans: list[Span]):
    for span in spans:
        yield from span.pieces()


def fit_ngram(codec: Codec, train: list[Span], cfg: TextDataConfig) -> KneserNey:
    """Interpolated Kneser-Ney of ``cfg.ngram_order`` on (at most ``cfg.baseline_tokens`` of) the training split."""
    return KneserNey(codec.vocab_size, order=cfg.ngram_order).fit(_documents(codec, train, cfg.baseline_tokens))


def score_ngram(model: KneserNey, codec: Codec, valid: list[Span]) -> dict[str, float]:
    """Loss (nats per token) and top-1, top-3 accuracy of ``model`` on ``valid``, never predicting <unk>."""
    exclude = [i for i in (codec.unk_id,) if i is not None]
    scores = model.evaluate(_documents(codec, valid, None), exclude=exclude)
    metrics = {"loss": scores["loss"], "accuracy": scores["top1"], "top3": scores["top3"]}
    return metrics


def _documents(codec: Codec, spans: list[Span], limit: int | None) -> list[list[int]]:
    docs, total = [], 0
    for span in spans:
        ids = [i for block in encode_spans([span], codec) for i in block]
        docs.append(ids[: None if limit is None else limit - total])
        total += len(docs[-1])
        if limit is not None and total >= limit:
            break
    return docs


@torch.no_grad()
def cache_metrics(model: LanguageModel, codec: Codec, spans: list[Span], cache: CacheConfig) -> dict[str, float]:
    """``cache_loss`` (nats per token), ``cache_perplexity``, ``cache_accuracy`` and ``cache_top3`` of
    ``model`` with the continuous cache ``cache``, each document of ``spans`` read from its start as a
    keyboard reads it (after the predictor's start token), in segments of ``CACHE_SEGMENT`` tokens."""
    model.eval()
    device = next(model.parameters()).device
    first = Predictor(model, codec).start_id
    nll = hit1 = hit3 = count = 0.0
    for ids in _documents(codec, spans, None):
        seq = torch.tensor([first, *ids], device=device)
        state, keys, values = None, None, None
        for a in range(0, len(ids), CACHE_SEGMENT):
            end = min(a + CACHE_SEGMENT, len(ids))
            inputs, targets = seq[a:end], seq[a + 1 : end + 1]
            h, state = model.features(inputs.unsqueeze(0), state)
            h = h[0].float()
            logp = torch.log_softmax(model.head(h).float(), dim=-1)
            keys = h if keys is None else torch.cat([keys[-cache.size :], h])
            values = targets if values is None else torch.cat([values[-cache.size :], targets])
            offset = len(keys) - len(h)
            for b, lp in document_log_probs(keys, logp, values, cache, start=offset):
                t = values[b : b + len(lp)]
                nll -= float(lp.gather(1, t.unsqueeze(1)).sum())
                hits = top_hits(lp, t, model.never_suggest)
                hit1, hit3, count = hit1 + hits["correct"], hit3 + hits["top3"], count + len(t)
    count = max(count, 1.0)
    return {"cache_loss": nll / count, "cache_perplexity": math.exp(min(nll / count, 50.0)),
            "cache_accuracy": hit1 / count, "cache_top3": hit3 / count}


def keyboard_metrics(predictor: Predictor, spans: list[Span], words: int) -> dict[str, float]:
    """Top-1 and top-3 accuracy of whole next words on about ``words`` words of ``spans`` (whole documents,
    see ``validation_text``), and the keystroke savings of a 3-suggestion keyboard on the first third."""
    text = validation_text(spans, words)
    accuracy = next_word_accuracy(predictor, text, k=(1, 3), max_words=words)
    savings = keystroke_savings(predictor, text, k=3, max_words=max(1, words // 3))
    return {"next_word_top1": accuracy["top1"], "next_word_top3": accuracy["top3"],
            "keystroke_savings": savings["keystroke_savings"]}


def validation_text(spans: list[Span], words: int) -> str:
    """Whole documents of ``spans``, a little over ``words`` words: all of them when they hold fewer,
    else documents drawn in a fixed pseudo-random order (spread over the split, not only its first ones),
    joined in their own order."""
    order = list(range(len(spans)))
    random.Random(0).shuffle(order)
    texts, chosen, count = {}, [], 0
    for i in order:
        texts[i] = "".join(spans[i].pieces())
        chosen.append(i)
        count += len(texts[i].split())
        if count > words:
            break
    return "\n\n".join(texts[i] for i in sorted(chosen))


def text_metrics(metrics: dict[str, float], codec: Codec, data: TextStream) -> dict[str, float]:
    """Add perplexity and bits per character to a loss in nats per token."""
    out = dict(metrics)
    out["perplexity"] = math.exp(min(metrics["loss"], 50.0))
    out["bits_per_char"] = metrics["loss"] / data.chars_per_token / math.log(2)
    return out


TASK = LanguageModelTask()

