"""Text codecs: exact round trips (property tests), vocabulary order, special tokens, errors, serialisation."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data.text import (
    CODECS,
    MAX_VOCAB,
    BPECodec,
    CharCodec,
    CodecConfig,
    UnknownSymbolError,
    WordCodec,
    build_codec,
    codec_from_dict,
    split_words,
)

MULTILINGUAL = [
    "The quick brown fox jumps over the lazy dog. It's well-known!\n",
    "naïve café déjà vu, Straße und Größe; ça va?\n",
    "東京は日本の首都です。中文也可以。\n",
    "Привет, мир! Ελληνικά κείμενα. עברית ועוד\n",
    "नमस्ते दुनिया — สวัสดีชาวโลก 🙂🚀\n\t  indented line\r\n",
] * 3
BPE = build_codec(CodecConfig(type="bpe", max_vocab=400), MULTILINGUAL)  # fitted once: training is the slow part
WORDS_TEXT = st.lists(
    st.one_of(
        st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=8),
        st.sampled_from(list(".,;:!?()[]{}'\"-—_&<>") + ["<unk>", "don't", "well-known"]),
    ),
    max_size=30,
).flatmap(lambda parts: st.sampled_from([" ", "", "\n"]).map(lambda sep: sep.join(parts)))


def roundtrip_dict(codec):
    return codec_from_dict(json.loads(json.dumps(codec.to_dict())))


# ---- properties -----------------------------------------------------------------------------------------
@given(st.text(min_size=1))
def test_char_codec_round_trips_any_text(text):
    codec = build_codec(CodecConfig(type="char"), [text])
    ids = codec.encode(text)
    assert codec.lossless and codec.unk_id is None and codec.eos_id is None
    assert len(ids) == len(text) and codec.decode(ids) == text
    assert roundtrip_dict(codec).encode(text) == ids


@given(st.text())
@settings(max_examples=200)
def test_bpe_round_trips_any_text(text):
    assert BPE.decode(BPE.encode(text)) == text


@given(WORDS_TEXT, st.booleans(), st.sampled_from(["keep", "drop"]))
def test_word_encode_decode_encode_is_stable(text, lowercase, punctuation):
    codec = build_codec(CodecConfig(type="word", lowercase=lowercase, punctuation=punctuation), [text, "x"])
    ids = codec.encode(text)
    assert codec.encode(codec.decode(ids)) == ids


@given(WORDS_TEXT)
def test_word_round_trip_is_stable_with_unknown_words(text):
    codec = build_codec(CodecConfig(type="word", max_vocab=5), [text, "a b c"])
    ids = codec.encode(text)
    assert codec.encode(codec.decode(ids)) == ids


# ---- bpe ------------------------------------------------------------------------------------------------
def test_bpe_exact_edges_and_specials():
    for text in ["naïve café 東京\n  x", "  lead and trail  \n", "", "\x00\r\n\t", "a<eos>b<unk>c"]:
        ids = BPE.encode(text)
        assert BPE.decode(ids) == text
        assert BPE.eos_id not in ids and BPE.unk_id not in ids  # literal specials are text
    assert (BPE.unk_id, BPE.eos_id) == (0, 1)
    assert BPE.token(BPE.eos_id) == "<eos>" and BPE.token(BPE.unk_id) == "<unk>"
    assert BPE.decode(BPE.encode("a") + [BPE.eos_id] + BPE.encode("b")) == "a\nb"
    assert "".join(BPE.token(i) for i in BPE.encode(" quick brown fox")) == " quick brown fox"
    assert BPE.vocab_size == 400 and BPE.lossless


def test_bpe_training_is_deterministic_and_serialises():
    again = build_codec(CodecConfig(type="bpe", max_vocab=400), iter(MULTILINGUAL))  # a generator works too
    assert again.to_dict() == BPE.to_dict()
    loaded = roundtrip_dict(BPE)
    assert isinstance(loaded, BPECodec) and loaded.vocab_size == BPE.vocab_size
    for text in MULTILINGUAL[:5] + ["a<eos>b"]:
        assert loaded.encode(text) == BPE.encode(text)


def test_bpe_lowercase_is_not_lossless():
    codec = build_codec(CodecConfig(type="bpe", max_vocab=300, lowercase=True), ["Hello World"])
    assert not codec.lossless
    assert codec.decode(codec.encode("Hello WORLD")) == "hello world"
    assert roundtrip_dict(codec).encode("ABC") == codec.encode("abc")


# ---- char -----------------------------------------------------------------------------------------------
def test_char_vocabulary_sorted_and_unknown_error():
    codec = build_codec(CodecConfig(type="char"), (t for t in ["hello", "world"]))
    assert codec.chars == "dehlorw" and codec.vocab_size == 7
    assert [codec.token(i) for i in codec.encode("lower")] == list("lower")
    with pytest.raises(UnknownSymbolError) as err:
        codec.encode("helloé")
    message = str(err.value)
    assert "'é'" in message and "U+00E9" in message and "position 5" in message and "7 characters" in message
    assert "\n" not in message


def test_char_max_vocab_keeps_most_frequent_and_adds_unk():
    codec = build_codec(CodecConfig(type="char", max_vocab=3), ["aaabbbccd", "cz"])  # c:3 a:3 b:3 d:1 z:1
    assert codec.vocab_size == 3 and codec.unk_id == 0 and not codec.lossless
    assert codec.chars == "ab" and codec.token(0) == "<unk>"  # ties broken by code point: c loses to a and b
    assert codec.encode("abcz") == [1, 2, 0, 0]
    assert codec.decode([1, 0, 2]) == "a\ufffdb"
    assert roundtrip_dict(codec).encode("abcz") == [1, 2, 0, 0]


def test_char_no_truncation_when_max_vocab_is_enough():
    codec = build_codec(CodecConfig(type="char", max_vocab=3), ["abcabc"])
    assert codec.unk_id is None and codec.chars == "abc"


def test_decode_rejects_out_of_range_ids():
    codec = CharCodec("ab")
    with pytest.raises(ValueError, match="id 2 is out of range for a vocabulary of 2"):
        codec.decode([0, 2])
    with pytest.raises(ValueError, match="id -1"):
        BPE.decode([-1])


# ---- word -----------------------------------------------------------------------------------------------
def test_word_tokeniser():
    text = "Don't panic: it's well-known (mostly)... x_y 3.14 <unk> हिन्दी"
    assert split_words(text) == [
        "Don't", "panic", ":", "it's", "well-known", "(", "mostly", ")", ".", ".", ".",
        "x", "_", "y", "3", ".", "14", "<unk>", "हिन्दी",
    ]  # fmt: skip
    assert split_words("Hello, WORLD!", lowercase=True, punctuation="drop") == ["hello", "world"]
    assert split_words("cafe\u0301") == ["café"]  # NFC: one word, not "cafe" and a mark
    codec = WordCodec(["a"], lowercase=True, punctuation="drop")
    assert codec.words("A, b!") == ["a", "b"]


def test_word_vocabulary_order_min_freq_and_max_vocab():
    texts = ["b a c a b d", "c e a"]  # a:3 b:2 c:2 d:1 e:1
    codec = build_codec(CodecConfig(type="word"), texts)
    assert [codec.token(i) for i in range(codec.vocab_size)] == ["<unk>", "<eos>", "a", "b", "c", "d", "e"]
    codec = build_codec(CodecConfig(type="word", min_freq=2), texts)
    assert codec.to_dict()["words"] == ["a", "b", "c"]
    codec = build_codec(CodecConfig(type="word", max_vocab=4), texts)  # max_vocab counts the two specials
    assert codec.vocab_size == 4 and codec.to_dict()["words"] == ["a", "b"]
    assert codec.encode("a c zzz b") == [2, 0, 0, 3]
    assert codec.encode("<unk> a") == [0, 2]  # a literal <unk> (Penn Treebank) is the unk token


def test_word_lowercase_and_punctuation_drop():
    codec = build_codec(CodecConfig(type="word", lowercase=True, punctuation="drop"), ["The cat. THE DOG!"])
    assert codec.to_dict()["words"] == ["the", "cat", "dog"]
    assert codec.decode(codec.encode("the Cat, the dog?")) == "the cat the dog"
    assert roundtrip_dict(codec).encode("Dog cat") == codec.encode("dog CAT")


def test_word_decode_spacing_and_eos():
    text = "Hello, world! (yes) [a] {b}; ok: fine? well-known don't - x"
    codec = build_codec(CodecConfig(type="word"), [text])
    assert codec.decode(codec.encode(text)) == text
    assert codec.decode(codec.encode("a b") + [codec.eos_id] + codec.encode("( b )")) == "a b\n(b)"
    assert not codec.lossless and codec.decode(codec.encode("a   b\n\nc")) == "a b <unk>"


# ---- config, registry, guards ---------------------------------------------------------------------------
def test_codec_from_dict_errors():
    with pytest.raises(ValueError, match="unknown codec type 'morse'; known: bpe, char, word"):
        codec_from_dict({"type": "morse"})
    with pytest.raises(ValueError, match="lacks the field 'chars'"):
        codec_from_dict({"type": "char"})
    assert set(CODECS) == {"char", "word", "bpe"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"type": "char", "max_vocab": 1}, "data.codec.max_vocab must be between 2"),
        ({"type": "word", "max_vocab": 2}, "data.codec.max_vocab must be between 3"),
        ({"type": "bpe", "max_vocab": 100}, "data.codec.max_vocab must be between 258"),
        ({"type": "word", "max_vocab": MAX_VOCAB + 1}, "and 1,000,000"),
        ({"type": "word", "min_freq": 0}, "data.codec.min_freq must be at least 1"),
        ({"type": "char", "lowercase": True}, "data.codec.lowercase does not apply to a char codec"),
        ({"type": "bpe", "punctuation": "drop"}, "data.codec.punctuation does not apply"),
        ({"type": "morse"}, "unknown data.codec.type 'morse'"),
    ],
)
def test_config_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CodecConfig(**kwargs)


def test_huge_vocabulary_is_refused(monkeypatch):
    monkeypatch.setattr("rnnkit.data.text.MAX_VOCAB", 10)
    texts = [" ".join(f"w{i}" for i in range(20))]
    with pytest.raises(ValueError, match=r"the word vocabulary would hold \d+ entries \(more than 10\); set data"):
        build_codec(CodecConfig(type="word"), texts)
    with pytest.raises(ValueError, match="the character vocabulary would hold 11 entries"):
        build_codec(CodecConfig(type="char"), ["abcdefghijk"])
    assert build_codec(CodecConfig(type="word", max_vocab=5), texts).vocab_size == 5


def test_empty_texts_are_refused():
    with pytest.raises(ValueError, match="the texts are empty"):
        build_codec(CodecConfig(type="char"), ["", ""])
    with pytest.raises(ValueError, match="the texts hold no words"):
        build_codec(CodecConfig(type="word"), ["  \n"])
    with pytest.raises(ValueError, match="no word occurs data.codec.min_freq=3 times"):
        build_codec(CodecConfig(type="word", min_freq=3), ["a b a"])
