"""Text codecs: text to token ids and back, by characters, by words, or by byte-level BPE.

A codec is fitted once on the training texts and then travels with the model (``to_dict`` is plain JSON),
so training, sampling and serving split text the same way:

>>> codec = build_codec(CodecConfig(type="word", max_vocab=10_000), texts)
>>> ids = codec.encode("Hello, world!")          # [412, 3, 1876, 40]
>>> codec.decode(ids)                            # 'Hello, world!'
>>> same = codec_from_dict(json.loads(json.dumps(codec.to_dict())))

Special tokens are written ``<unk>`` and ``<eos>``. ``unk_id`` stands for a symbol outside the vocabulary;
``eos_id`` marks the end of a document: ``encode`` never emits it (a dataset appends it between documents)
and ``decode`` renders it as a newline. A char codec has no ``<eos>``: every one of its ids is a character,
and a newline between documents is already one. This module needs no torch.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

MAX_VOCAB = 1_000_000  # a bigger embedding table is almost surely a missing max_vocab, not a wish
UNK, EOS = "<unk>", "<eos>"
BPE_DEFAULT_VOCAB = 8000
_MIN_VOCAB = {"char": 2, "word": 3, "bpe": 258}  # the specials plus one symbol; bpe: 256 bytes + 2 specials


class UnknownSymbolError(ValueError):
    """A text holds a symbol that a codec without ``<unk>`` cannot encode."""


@dataclass
class CodecConfig:
    """How to fit a codec. ``max_vocab`` counts every id, specials included (bpe: the vocabulary size, default
    8000); char and word codecs keep the most frequent symbols and map the rest to ``<unk>``. ``min_freq``
    (word) drops words seen fewer times; ``lowercase`` (word, bpe) lowercases before encoding;
    ``punctuation`` (word) keeps each mark as its own token or drops it. A setting that the chosen type
    ignores must keep its default, so a misplaced setting is an error rather than a silent no-op."""

    # the token unit: characters, words (punctuation marks apart), or byte-level BPE subwords
    type: Literal["char", "word", "bpe"] = "char"
    max_vocab: int | None = None
    min_freq: int = 1
    lowercase: bool = False
    punctuation: Literal["keep", "drop"] = "keep"

    def __post_init__(self) -> None:
        where = "data.codec"
        if self.type not in _MIN_VOCAB:
            raise ValueError(f"unknown {where}.type {self.type!r}; known: {', '.join(sorted(_MIN_VOCAB))}")
        if self.punctuation not in ("keep", "drop"):
            raise ValueError(f"{where}.punctuation must be 'keep' or 'drop', got {self.punctuation!r}")
        low = _MIN_VOCAB[self.type]
        if self.max_vocab is not None and not low <= self.max_vocab <= MAX_VOCAB:
            raise ValueError(
                f"{where}.max_vocab must be between {low} and {MAX_VOCAB:,} for a {self.type} codec "
                f"(its special tokens plus at least one symbol), got {self.max_vocab}"
            )
        if self.min_freq < 1:
            raise ValueError(f"{where}.min_freq must be at least 1, got {self.min_freq}")
        misplaced = {
            "min_freq": self.min_freq != 1 and self.type != "word",
            "punctuation": self.punctuation != "keep" and self.type != "word",
            "lowercase": self.lowercase and self.type == "char",
        }
        for name, bad in misplaced.items():
            if bad:
                raise ValueError(f"{where}.{name} does not apply to a {self.type} codec; leave it at its default")


class Codec(ABC):
    """Text to ids and back. ``vocab_size`` ids, ``0 <= id < vocab_size``. ``lossless``: ``decode(encode(t))
    == t`` for every text made of known symbols. ``token(i)`` is the text of one id (a special's name for a
    special). ``to_dict()`` is JSON-ready, holds ``"type"`` and everything ``codec_from_dict`` needs."""

    type: ClassVar[str]
    lossless: bool
    unk_id: int | None
    eos_id: int | None

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @abstractmethod
    def encode(self, text: str) -> list[int]: ...

    @abstractmethod
    def token(self, i: int) -> str: ...

    @abstractmethod
    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    @abstractmethod
    def fit(cls, cfg: CodecConfig, texts: Iterable[str]) -> Codec: ...

    @classmethod
    @abstractmethod
    def from_dict(cls, d: dict[str, Any]) -> Codec: ...

    @abstractmethod
    def _decode(self, ids: list[int]) -> str: ...

    def decode(self, ids: Sequence[int]) -> str:
        """The text of ``ids`` (any iterable of ints: a list, a 1-D tensor); an id out of range is an error."""
        ids = [int(i) for i in ids]  # a tensor's items are 0-d tensors; ints keep the check and lookups fast
        size = self.vocab_size
        bad = next((i for i in ids if not 0 <= i < size), None)
        if bad is not None:
            raise ValueError(f"id {bad} is out of range for a vocabulary of {size}")
        return self._decode(ids)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, lossless={self.lossless})"


def _check_size(n: int, what: str) -> None:
    if n > MAX_VOCAB:
        raise ValueError(
            f"the {what} vocabulary would hold {n:,} entries (more than {MAX_VOCAB:,}); set data.codec.max_vocab"
        )


# ---- characters -----------------------------------------------------------------------------------------
class CharCodec(Codec):
    """One id per character: ``<unk>`` (id 0) only when ``max_vocab`` cut the vocabulary, then the characters
    sorted by code point. Without ``<unk>`` it is lossless and an unseen character raises
    ``UnknownSymbolError``; with it, unseen characters encode to 0, which decodes to U+FFFD."""

    type = "char"

    def __init__(self, chars: str, *, unk: bool = False):
        if len(set(chars)) != len(chars):
            raise ValueError("a char codec's characters must be distinct")
        self.chars = chars
        self.unk_id = 0 if unk else None
        self.eos_id = None
        self.lossless = not unk
        self._symbols = ["\ufffd"] * unk + list(chars)  # what each id decodes to
        self._index = {c: i for i, c in enumerate(chars, start=int(unk))}

    @property
    def vocab_size(self) -> int:
        return len(self._symbols)

    @classmethod
    def fit(cls, cfg: CodecConfig, texts: Iterable[str]) -> CharCodec:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text)  # Counter counts a string's characters in C
        if not counts:
            raise ValueError("cannot fit a char codec: the texts are empty")
        if cfg.max_vocab is not None and len(counts) > cfg.max_vocab:
            kept = sorted(counts, key=lambda c: (-counts[c], c))[: cfg.max_vocab - 1]  # one id left for <unk>
            return cls("".join(sorted(kept)), unk=True)
        _check_size(len(counts), "character")
        return cls("".join(sorted(counts)))

    def encode(self, text: str) -> list[int]:
        index = self._index
        if self.unk_id is not None:
            return [index.get(c, 0) for c in text]
        try:
            return [index[c] for c in text]
        except KeyError:
            pos, c = next((p, c) for p, c in enumerate(text) if c not in index)
            raise UnknownSymbolError(
                f"character {c!r} (U+{ord(c):04X}) at position {pos} is not in this model's vocabulary "
                f"of {len(index)} characters"
            ) from None

    def _decode(self, ids: list[int]) -> str:
        return "".join([self._symbols[i] for i in ids])

    def token(self, i: int) -> str:
        return UNK if i == self.unk_id else self._symbols[i]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "chars": self.chars, "unk": self.unk_id is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CharCodec:
        return cls(d["chars"], unk=bool(d["unk"]))


# ---- words ----------------------------------------------------------------------------------------------
@functools.cache
def _word_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The tokeniser's regexes (keep marks, drop marks). A word is letters and digits with the combining marks
    that follow them (Hindi and Thai vowel signs are marks; ``re`` has no ``\\p{M}``, so the class is built from
    ``unicodedata``: all marks lie in planes 0, 1 and 14), joined by inner apostrophes or hyphens."""
    planes = [*range(0x20000), *range(0xE0000, 0xE1000)]
    codes = [c for c in planes if unicodedata.category(chr(c))[0] == "M"]
    spans: list[list[int]] = []  # runs of consecutive code points: ranges compile faster than 2,600 single characters
    for c in codes:
        if spans and c == spans[-1][1] + 1:
            spans[-1][1] = c
        else:
            spans.append([c, c])
    marks = "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in spans)
    part = rf"[^\W_](?:[^\W_]|[{marks}])*"
    word = rf"{re.escape(UNK)}|{part}(?:['’\-]{part})*"
    return re.compile(rf"{word}|[^\w\s]|_"), re.compile(word)


def split_words(text: str, *, lowercase: bool = False, punctuation: str = "keep") -> list[str]:
    """Words and single punctuation marks of ``text``; whitespace is dropped. Lowercased first if asked, then
    NFC-normalised (so a decomposed "é" is one letter). A literal ``<unk>`` (as in Penn Treebank) stays one
    token. ``punctuation="drop"`` drops the marks."""
    if lowercase:
        text = text.lower()
    text = unicodedata.normalize("NFC", text)  # after lower(): lowercasing can decompose ("İ" -> "i" + U+0307)
    keep, drop = _word_patterns()
    return (keep if punctuation == "keep" else drop).findall(text)


_CLOSING = frozenset(".,;:!?)]}")  # no space before these when decoding
_OPENING = frozenset("([{")  # no space after these


class WordCodec(Codec):
    """One id per word or punctuation mark (see ``split_words``): ``<unk>`` (0), ``<eos>`` (1), then ``words``
    in the given order (``fit``: by descending count, ties alphabetical). Unknown words encode to 0. ``decode``
    joins with spaces, none before closing or after opening punctuation, and ``<eos>`` as a newline; it loses
    the original spacing, so the codec is not lossless, but ``encode(decode(ids)) == ids`` for encoded ids."""

    type = "word"
    lossless = False
    unk_id, eos_id = 0, 1

    def __init__(self, words: Sequence[str], *, lowercase: bool = False, punctuation: str = "keep"):
        self.lowercase = lowercase
        self.punctuation = punctuation
        self._words = [UNK, EOS, *words]
        self._index = {w: i for i, w in enumerate(self._words)}
        if len(self._index) != len(self._words):
            raise ValueError("a word codec's words must be distinct and exclude <unk> and <eos>")

    @property
    def vocab_size(self) -> int:
        return len(self._words)

    def words(self, text: str) -> list[str]:
        """``text`` split as this codec splits it, as strings (lowercased, marks dropped if so set)."""
        return split_words(text, lowercase=self.lowercase, punctuation=self.punctuation)

    @classmethod
    def fit(cls, cfg: CodecConfig, texts: Iterable[str]) -> WordCodec:
        counts: Counter[str] = Counter()
        unbounded = cfg.max_vocab is None and cfg.min_freq == 1  # then every distinct word gets an id
        for text in texts:
            counts.update(split_words(text, lowercase=cfg.lowercase, punctuation=cfg.punctuation))
            if unbounded:
                _check_size(len(counts) + 2, "word")  # fail early, before counting the rest of a big corpus
        counts.pop(UNK, None)
        if not counts:
            raise ValueError("cannot fit a word codec: the texts hold no words")
        ranked = sorted((w for w, n in counts.items() if n >= cfg.min_freq), key=lambda w: (-counts[w], w))
        if not ranked:
            raise ValueError(f"no word occurs data.codec.min_freq={cfg.min_freq} times; lower it")
        if cfg.max_vocab is not None:
            ranked = ranked[: cfg.max_vocab - 2]
        _check_size(len(ranked) + 2, "word")
        return cls(ranked, lowercase=cfg.lowercase, punctuation=cfg.punctuation)

    def encode(self, text: str) -> list[int]:
        index = self._index
        return [index.get(w, 0) for w in self.words(text)]

    def _decode(self, ids: list[int]) -> str:
        pieces: list[str] = []
        prev = None  # the previous token on this line
        for i in ids:
            if i == self.eos_id:
                pieces.append("\n")
                prev = None
                continue
            word = self._words[i]
            if prev is not None and word not in _CLOSING and prev not in _OPENING:
                pieces.append(" ")
            pieces.append(word)
            prev = word
        return "".join(pieces)

    def token(self, i: int) -> str:
        return self._words[i]

    def to_dict(self) -> dict[str, Any]:
        words = self._words[2:]
        return {"type": self.type, "words": words, "lowercase": self.lowercase, "punctuation": self.punctuation}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WordCodec:
        return cls(d["words"], lowercase=bool(d["lowercase"]), punctuation=d["punctuation"])


# ---- byte-level BPE -------------------------------------------------------------------------------------
class BPECodec(Codec):
    """Byte-level BPE (GPT-2's scheme, Radford et al. 2019, section 2.2) through Hugging Face ``tokenizers``:
    ``<unk>`` (0), ``<eos>`` (1), the 256 byte symbols, then the learned merges. Every text encodes, so it is
    lossless unless lowercasing. Training is deterministic: the trainer breaks ties between equally frequent
    pairs by token id, never by hash order. ``token(i)`` of a piece that ends inside a multi-byte character
    shows U+FFFD for the partial bytes."""

    type = "bpe"

    def __init__(self, tokenizer: Tokenizer, *, lowercase: bool = False):
        # A literal "<eos>" in a text is text, not a document boundary: only a dataset inserts eos_id.
        tokenizer.encode_special_tokens = True  # not stored by to_str(), so set on every load
        self._tokenizer = tokenizer
        self.lowercase = lowercase
        self.lossless = not lowercase
        self.unk_id = tokenizer.token_to_id(UNK)
        self.eos_id = tokenizer.token_to_id(EOS)

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @classmethod
    def fit(cls, cfg: CodecConfig, texts: Iterable[str]) -> BPECodec:
        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        if cfg.lowercase:
            tokenizer.normalizer = normalizers.Lowercase()
        # add_prefix_space=False: a prefix space would come back from decode and break the round trip.
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=cfg.max_vocab or BPE_DEFAULT_VOCAB,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, seen or not: nothing is unknown
            special_tokens=[UNK, EOS],
            show_progress=False,
        )
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls(tokenizer, lowercase=cfg.lowercase)

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def _decode(self, ids: list[int]) -> str:
        # Split at <eos> ourselves: the tokenizer would write it as the text "<eos>", which a literal one also is.
        segments: list[list[int]] = [[]]
        for i in ids:
            if i == self.eos_id:
                segments.append([])
            else:
                segments[-1].append(i)
        return "\n".join(self._tokenizer.decode(s, skip_special_tokens=False) for s in segments)

    def token(self, i: int) -> str:
        if i in (self.unk_id, self.eos_id):
            return self._tokenizer.id_to_token(i)
        return self._tokenizer.decode([i], skip_special_tokens=False)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "tokenizer": self._tokenizer.to_str(), "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BPECodec:
        return cls(Tokenizer.from_str(d["tokenizer"]), lowercase=bool(d["lowercase"]))


# ---- registry -------------------------------------------------------------------------------------------
CODECS: dict[str, type[Codec]] = {"char": CharCodec, "word": WordCodec, "bpe": BPECodec}


def build_codec(cfg: CodecConfig, texts: Iterable[str]) -> Codec:
    """A codec of type ``cfg.type`` fitted on ``texts`` (any iterable, read once: a generator over a corpus
    larger than memory works for every type)."""
    return CODECS[cfg.type].fit(cfg, texts)


def codec_from_dict(d: dict[str, Any]) -> Codec:
    """The codec that ``to_dict`` described; an unknown ``"type"`` or a missing field is a ValueError."""
    kind = d.get("type") if isinstance(d, dict) else None
    if kind not in CODECS:
        raise ValueError(f"unknown codec type {kind!r}; known: {', '.join(sorted(CODECS))}")
    try:
        return CODECS[kind].from_dict(d)
    except KeyError as err:
        raise ValueError(f"the {kind} codec description lacks the field {err.args[0]!r}") from None
