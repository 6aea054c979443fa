"""Task ``seq2seq``: a sequence in, another out: translation, and chat as replies to a dialogue's context.

``rnnkit train seq2seq --data PATH`` reads pairs (see ``rnnkit.data.pairs``): a TSV of pairs, two
line-aligned files (``--data.src de --data.tgt en`` with a folder of ``{train,val,test}.{de,en}``), or
dialogue transcripts (the Cornell Movie-Dialogs line format), which become (context, reply) pairs.
Without ``--data`` it trains a chat model on the English ChatterBot corpus that the ``chatterbot-corpus``
package ships. Data without its own validation and test splits is split, seeded. Figures on the test
split: BLEU (cased and lowercased) and chrF by sacrebleu, of greedy and beam decoding; ``attention.png``
shows where the model looked for one test sentence.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from rnnkit.data.buckets import PairedBatches
from rnnkit.data.pairs import Pair, PairsDataError, detect_format, dialogue_pairs, pair_splits
from rnnkit.data.text import Codec, CodecConfig, build_codec, codec_from_dict
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.base import Parts
from rnnkit.train.trainer import TrainConfig

log = logging.getLogger(__name__)
DEFAULT_DATA = "the English ChatterBot dialogue corpus (package chatterbot-corpus)"


@dataclass
class Seq2SeqDataConfig:
    """Where the pairs are and how text becomes ids.

    ``src``/``tgt`` name the two sides of line-aligned files (``train.de``/``train.en``: "de", "en") or
    the columns of a TSV ("0", "1"). ``codec`` is fitted per side on the training split, or once on both
    sides with ``shared_codec``. Sides longer than ``max_length`` tokens keep their first ``max_length``
    (a warning says how many were cut). ``context_turns`` earlier turns form a chat model's input.
    Without given splits, ``valid_fraction`` and ``test_fraction`` of the pairs are held out (seeded)."""

    src: str = ""
    tgt: str = ""
    format: str = "auto"
    # 4,000 subwords a side: on Multi30k (29,000 pairs) 4,000 trained faster than 8,000 (3.0 against 3.3
    # minutes an epoch) and reached 36.4 lowercased BLEU on the validation split against 32.9 (beam 5)
    codec: CodecConfig = field(default_factory=lambda: CodecConfig(type="bpe", max_vocab=4000))
    shared_codec: bool = False
    max_length: int = 100
    batch_size: int = 64
    context_turns: int = 2
    valid_fraction: float = 0.05
    test_fraction: float = 0.05
    seed: int = 0


@dataclass
class DecodeConfig:
    """How outputs are decoded at test and use time: beam search of ``beam`` hypotheses (1: greedy), GNMT's
    ``length_penalty`` alpha (0.6, Wu et al.'s choice, was also the best of 0.6, 1.0 and 1.5 on Multi30k's
    validation split), a ban on repeating any ``no_repeat_ngram``-gram (0: none), and outputs of at
    most ``max_length`` tokens (0: twice the source length plus 10). ``test_beams`` lists the beam sizes
    the test split is scored with at the end of training (1 = greedy)."""

    beam: int = 5
    length_penalty: float = 0.6
    no_repeat_ngram: int = 0
    max_length: int = 0
    test_beams: tuple[int, ...] = (1, 5)

    def limit(self, source_length: int) -> int:
        """The most tokens to decode for a source of ``source_length`` tokens."""
        return self.max_length or 2 * source_length + 10


def _train_defaults() -> TrainConfig:
    # the moving average of the weights (decay 0.999) decoded 0.3 BLEU above the trained weights on
    # Multi30k's validation split (36.7 against 36.4, lowercased, beam 5)
    return TrainConfig(steps=4000, lr=2e-3, schedule="cosine", warmup_steps=100, min_lr_ratio=0.05, eval_every=250,
                       clip_norm=1.0, metric="nll", metric_mode="min", ema_decay=0.999)


@dataclass
class Seq2SeqRun:
    data: Seq2SeqDataConfig = field(default_factory=Seq2SeqDataConfig)
    model: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)
    train: TrainConfig = field(default_factory=_train_defaults)
    decode: DecodeConfig = field(default_factory=DecodeConfig)


# ---- how text becomes ids -------------------------------------------------------------------------------
class PairEncoding:
    """The codecs of both sides (one object when shared), the kind of model ("translate" or "chat"), and
    how a chat context is built. Saved in the checkpoint."""

    def __init__(self, source: Codec, target: Codec, *, kind: str = "translate", max_length: int = 100,
                 context_turns: int = 2, separator: str = "\n"):
        for side, codec in (("source", source), ("target", target)):
            if codec.eos_id is None:
                raise ValueError(f"the {side} codec has no end token: use a word or bpe codec for seq2seq")
        self.source, self.target, self.kind = source, target, kind
        self.max_length, self.context_turns, self.separator = max_length, context_turns, separator

    @property
    def shared(self) -> bool:
        return self.source is self.target

    @property
    def start_id(self) -> int:
        return self.target.eos_id  # the end token doubles as the decoder's start token

    def encode_source(self, text: str) -> Tensor:
        return torch.tensor((self.source.encode(text) or [self.source.eos_id])[: self.max_length])

    def context(self, history: list[str]) -> str:
        """A chat model's input: the last ``context_turns`` turns of ``history``."""
        return self.separator.join(history[-self.context_turns:])

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "max_length": self.max_length, "context_turns": self.context_turns,
             "separator": self.separator, "source": self.source.to_dict()}
        return d if self.shared else {**d, "target": self.target.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> PairEncoding:
        source = codec_from_dict(d["source"])
        target = codec_from_dict(d["target"]) if "target" in d else source
        return cls(source, target, kind=d["kind"], max_length=d["max_length"], context_turns=d["context_turns"],
                   separator=d["separator"])

    @classmethod
    def fit(cls, cfg: Seq2SeqRun, train: list[Pair], kind: str) -> PairEncoding:
        d = cfg.data
        if d.shared_codec:
            codec = build_codec(d.codec, (t for p in train for t in (p.source, p.target)))
            return cls(codec, codec, kind=kind, max_length=d.max_length, context_turns=d.context_turns)
        source = build_codec(d.codec, (p.source for p in train))
        target = build_codec(d.codec, (p.target for p in train))
        return cls(source, target, kind=kind, max_length=d.max_length, context_turns=d.context_turns)


# ---- the data ---------------------------------------------------------------------------------------------
def default_dialogue(context_turns: int = 2) -> list[Pair]:
    """(context, reply) pairs of the English ChatterBot corpus, read from the package's YAML files."""
    from importlib.resources import files

    import yaml

    root = files("chatterbot_corpus") / "data" / "english"
    pairs: list[Pair] = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yml"):
            continue
        for k, talk in enumerate(yaml.safe_load(entry.read_text(encoding="utf-8"))["conversations"]):
            turns = [str(t).strip() for t in talk if str(t).strip()]
            for source, target in dialogue_pairs([turns], context_turns, "\n"):
                pairs.append(Pair(source, target, f"{entry.name}:conversation {k + 1}"))
    return pairs


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
class Seq2SeqTask:
    name = "seq2seq"
    description = "sequence to sequence: translation, or chat replies to a dialogue's context"
    config_class = Seq2SeqRun

    def build(self, cfg: Seq2SeqRun, data_path: str | None, codec: dict | None = None) -> Parts:
        if codec is not None and data_path is not None:  # rnnkit eval RUN --data FILE: all of it is the test
            enc = PairEncoding.from_dict(codec)
            pairs = [p for split in pair_splits(data_path, src=cfg.data.src or None, tgt=cfg.data.tgt or None,
                                                fmt=cfg.data.format, context_turns=cfg.data.context_turns).values()
                     for p in split]
            splits = {"train": pairs, "val": pairs, "test": pairs}
        else:
            splits, kind = load_splits(cfg, data_path)
            enc = PairEncoding.from_dict(codec) if codec else PairEncoding.fit(cfg, splits["train"], kind)
        train, valid, test = (batches(enc, splits[s], cfg, shuffle=s == "train") for s in ("train", "val", "test"))
        model = self.build_model(cfg, enc.to_dict())
        return Parts(
            model=model, train=train, valid=valid, test=test, codec=enc.to_dict(),
            extra_metrics=lambda metrics, m: test_metrics(metrics, m, splits["test"], enc, cfg),
            artifacts=lambda run, m: write_attention(run, m, splits["test"], enc),
        )

    def build_model(self, cfg: Seq2SeqRun, codec: dict | None) -> Seq2Seq:
        enc = PairEncoding.from_dict(codec)
        return Seq2Seq(cfg.model, enc.source.vocab_size, enc.target.vocab_size, bos_id=enc.start_id)


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


SEQ2SEQ = Seq2SeqTask()
