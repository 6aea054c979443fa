"""Task ``seq2seq``: a sequence in, another out: translation, and chat as replies to a dialogue's context.

``rnnkit train seq2seq --data PATH`` reads pairs (see ``rnnkit.data.pairs``): a TSV of pairs, two
line-aligned files (``--data.src de --data.tgt en`` with a folder of ``{train,val,test}.{de,en}``), or
dialogue transcripts (the Cornell Movie-Dialogs line format), which become (context, reply) pairs.
Without ``--data`` it trains a chat model on the English ChatterBot corpus, which rnnkit ships. Data
without its own validation and test splits is split, seeded. Figures on the test split: BLEU (cased and
lowercased) and chrF by sacrebleu, of greedy and beam decoding; ``attention.png`` shows where the model
looked for one test sentence.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import torch
from torch import nn

from rnnkit.data.buckets import PairedBatches
from rnnkit.data.chatterbot import default_dialogue
from rnnkit.data.pairs import Pair, PairsDataError, detect_format, pair_splits
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.tasks.base import Parts, Task
from rnnkit.tasks.seq2seq.config import DecodeConfig, Seq2SeqDataConfig, Seq2SeqRun
from rnnkit.tasks.seq2seq.preprocess import PairEncoding

log = logging.getLogger(__name__)
DEFAULT_DATA = "the English ChatterBot dialogue corpus (shipped with rnnkit)"


# ---- the data ---------------------------------------------------------------------------------------------
def load_splits(cfg: Seq2SeqRun, data_path: str | None) -> tuple[dict[str, list[Pair]], str]:
    """{"train", "val", "test"} pairs and the kind of model they make ("translate" or "chat")."""
    d = cfg.data
    if data_path is None:
        pairs, kind = default_dialogue(d.context_turns), "chat"
        splits = {"train": pairs}
    else:
        splits = pair_splits(data_path, src=d.src or None, tgt=d.tgt or None, fmt=d.format,
                             context_turns=d.context_turns)
        fmt = d.format if d.format != "auto" else detect_format(data_path)
        kind = "chat" if fmt in ("cornell", "dialogue") else "translate"
    if "train" not in splits:
        raise PairsDataError(f"{data_path}: no training pairs found")
    if "val" not in splits or "test" not in splits:
        splits = _split(splits, d)
    return splits, kind


def _split(splits: dict[str, list[Pair]], d: Seq2SeqDataConfig) -> dict[str, list[Pair]]:
    order = list(range(len(splits["train"])))
    random.Random(d.seed).shuffle(order)
    n = len(order)
    n_valid = 0 if "val" in splits else max(1, round(n * d.valid_fraction))
    n_test = 0 if "test" in splits else max(1, round(n * d.test_fraction))
    if n - n_valid - n_test < 1:
        raise PairsDataError(f"{splits['train'][0].where.rsplit(':', 1)[0]}: {n} pairs are too few to split")
    pick = lambda idx: [splits["train"][i] for i in idx]  # noqa: E731
    out = {"train": pick(order[n_valid + n_test:])}
    out["val"] = splits.get("val") or pick(order[:n_valid])
    out["test"] = splits.get("test") or pick(order[n_valid:n_valid + n_test])
    return out


def batches(enc: PairEncoding, pairs: list[Pair], cfg: Seq2SeqRun, *, shuffle: bool) -> PairedBatches:
    """Encoded, cut and bucketed pairs."""
    sources = [enc.source.encode(p.source) or [enc.source.eos_id] for p in pairs]
    targets = [enc.target.encode(p.target) for p in pairs]
    cut = [p.where for p, s, t in zip(pairs, sources, targets) if max(len(s), len(t)) > enc.max_length]
    if cut:
        log.warning("%d of %d pairs are longer than data.max_length=%d tokens and were cut (first: %s)", len(cut),
                    len(pairs), enc.max_length, cut[0])
    return PairedBatches([torch.tensor(s[: enc.max_length]) for s in sources],
                         [torch.tensor(t[: enc.max_length], dtype=torch.long) for t in targets],
                         start_id=enc.start_id, end_id=enc.target.eos_id, batch_size=cfg.data.batch_size,
                         shuffle=shuffle, seed=cfg.data.seed)


# ---- the task ---------------------------------------------------------------------------------------------
class Seq2SeqTask(Task):
    name = "seq2seq"
    description = "sequence to sequence: translation, or chat replies to a dialogue's context"
    default_data = DEFAULT_DATA
    config_class = Seq2SeqRun
    pipeline = "rnnkit.tasks.seq2seq.pipeline:Seq2SeqPipeline"
    cli = "rnnkit.tasks.seq2seq.cli"
    router = "rnnkit.tasks.seq2seq.serve:router"
    panel = "rnnkit.tasks.seq2seq"
    quality = "rnnkit.tasks.seq2seq.bench"

    def build(self, cfg: Seq2SeqRun, data: str | None, preprocessor: PairEncoding | None = None) -> Parts:
        if preprocessor is not None and data is not None:  # rnnkit eval RUN --data FILE: all of it is the test
            d = cfg.data
            pairs = [p for split in pair_splits(data, src=d.src or None, tgt=d.tgt or None, fmt=d.format,
                                                context_turns=d.context_turns).values() for p in split]
            splits, enc = {"train": pairs, "val": pairs, "test": pairs}, preprocessor
        else:
            splits, kind = load_splits(cfg, data)
            enc = preprocessor or PairEncoding.fit(cfg, splits["train"], kind)
        train, valid, test = (batches(enc, splits[s], cfg, shuffle=s == "train") for s in ("train", "val", "test"))
        return Parts(
            model=self.build_model(cfg, enc), train=train, valid=valid, test=test, preprocessor=enc,
            extra_metrics=lambda metrics, m: test_metrics(metrics, m, splits["test"], enc, cfg),
            artifacts=lambda run, m: write_attention(run, m, splits["test"], enc),
        )

    def build_model(self, cfg: Seq2SeqRun, preprocessor: PairEncoding) -> Seq2Seq:
        enc = preprocessor
        return Seq2Seq(cfg.model, enc.source.vocab_size, enc.target.vocab_size, bos_id=enc.start_id)

    def load_preprocessor(self, data: dict | None) -> PairEncoding:
        return PairEncoding.from_dict(data)


# ---- decoding and scores ------------------------------------------------------------------------------------
@torch.no_grad()
def translate(model: Seq2Seq, enc: PairEncoding, texts: list[str], decode: DecodeConfig, *, beam: int | None = None,
              batch_size: int = 64) -> list[str]:
    """Decoded outputs for ``texts``, in order, by beam search (``beam`` 1: greedy)."""
    from rnnkit.batch import Batch, pad
    from rnnkit.decode.beam import beam_search, greedy_search

    beam = decode.beam if beam is None else beam
    model.eval()
    encoded = [enc.encode_source(t) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    out: list[str] = [""] * len(texts)
    for a in range(0, len(order), batch_size):
        idx = order[a:a + batch_size]
        inputs, lengths = pad([encoded[i] for i in idx])
        state = model.start(Batch(inputs, lengths=lengths))
        first = torch.full((len(idx),), enc.start_id, dtype=torch.long)
        options = dict(max_length=decode.limit(int(lengths.max())), eos_id=enc.target.eos_id,
                       no_repeat_ngram=decode.no_repeat_ngram)
        if beam == 1:
            best = greedy_search(model.step, first, state, **options)
        else:
            best = [h[0] for h in beam_search(model.step, first, state, beam_size=beam,
                                              length_penalty=decode.length_penalty, **options)]
        for i, hyp in zip(idx, best):
            tokens = hyp.tokens[:-1] if hyp.tokens and hyp.tokens[-1] == enc.target.eos_id else hyp.tokens
            out[i] = enc.target.decode(tokens).strip()
    return out


def test_beams(decode: DecodeConfig) -> list[int]:
    beams = [decode.test_beams] if isinstance(decode.test_beams, int) else list(decode.test_beams)
    if any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in beams):
        raise ValueError(f"decode.test_beams must be beam sizes of at least 1, e.g. [1, 5]; got {decode.test_beams!r}")
    return beams


def test_metrics(metrics: dict, model: nn.Module, pairs: list[Pair], enc: PairEncoding, cfg: Seq2SeqRun) -> dict:
    """The trainer's figures (perplexity from the plain cross-entropy), and BLEU and chrF of each beam size
    in ``decode.test_beams`` ("bleu" for greedy, "bleu_beam5" for a beam of five)."""
    import math

    from rnnkit.train.translation import text_scores

    out = {"loss": metrics["loss"], "nll": metrics["nll"], "perplexity": math.exp(min(metrics["nll"], 50.0)),
           "accuracy": metrics.get("accuracy", 0.0)}
    refs = [p.target for p in pairs]
    for beam in test_beams(cfg.decode):
        scores = text_scores(translate(model, enc, [p.source for p in pairs], cfg.decode, beam=beam), refs)
        suffix = "" if beam == 1 else f"_beam{beam}"
        for name in ("bleu", "bleu_lc", "chrf"):
            out[name + suffix] = scores[name]
        log.info("sacrebleu signatures: %s", scores["signatures"])
    return out


def write_attention(run: Path, model: Seq2Seq, pairs: list[Pair], enc: PairEncoding) -> list[Path]:
    """attention.png beside the run: the model's attention while it decodes the first test source."""
    if model.attention is None or not pairs:
        return []
    return [attention_figure(model, enc, pairs[0].source, Path(run) / "attention.png")]


def attention_figure(model: Seq2Seq, enc: PairEncoding, text: str, path: Path, *, decode: DecodeConfig | None = None,
                     output: str | None = None) -> Path:
    """The attention heat map of ``text`` and its greedy output (or the given ``output``) written to ``path``."""
    from rnnkit.train.translation import plot_attention

    output = translate(model, enc, [text], decode or DecodeConfig(), beam=1)[0] if output is None else output
    source, target = enc.encode_source(text), torch.tensor(enc.target.encode(output) + [enc.target.eos_id])
    weights = model.attention_map(source, target)
    tokens = lambda codec, ids: [codec.token(int(i)) for i in ids]  # noqa: E731
    return plot_attention(weights, tokens(enc.source, source), tokens(enc.target, target[:-1]) + ["</s>"], path)


TASK = Seq2SeqTask()
