"""Autocomplete: tiny models overfitted on one repeated sentence give predictable words for every codec; a session
costs O(1) model steps per keystroke and agrees with computing from scratch; the metrics on known cases."""

from dataclasses import FrozenInstanceError

import pytest
import torch
from torch import nn

from rnnkit.autocomplete import LMScorer, NGramScorer, Predictor, Session, keystroke_savings, next_word_accuracy
from rnnkit.autocomplete.scorers import lockstep
from rnnkit.data.text import CharCodec, CodecConfig, UnknownSymbolError, build_codec
from rnnkit.models.cache import CacheConfig
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.language_model import LanguageModel, LMConfig
from rnnkit.models.ngram import KneserNey
from rnnkit.state import tensors
from rnnkit.tasks.lm.batching import BatchCompleter

TEXT = "the cat sat on the mat. " * 50
CODECS = {
    "word": CodecConfig(type="word"),
    "char": CodecConfig(type="char"),
    "bpe": CodecConfig(type="bpe", max_vocab=300),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models; other work shares the machine
    yield
    torch.set_num_threads(old)


class Counting(nn.Module):
    """A language model that counts its ``step`` calls."""

    def __init__(self, model: LanguageModel):
        super().__init__()
        self.model, self.vocab_size, self.calls = model, model.vocab_size, 0

    def step(self, y_prev, state):
        self.calls += 1
        return self.model.step(y_prev, state)


def overfit(codec, *, steps: int = 250, seed: int = 0) -> LanguageModel:
    """A tiny LSTM language model trained on windows of TEXT until it has the sentence by heart."""
    torch.manual_seed(seed)
    model = LanguageModel(LMConfig(embed_size=16, encoder=EncoderConfig(hidden_size=32)), codec.vocab_size)
    start = codec.eos_id if codec.eos_id is not None else codec.encode(" ")[0]
    ids = torch.tensor([start, *codec.encode(TEXT)])
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    window = 40
    for _ in range(steps):
        at = torch.randint(0, len(ids) - window - 1, (8,))
        x = torch.stack([ids[a : a + window] for a in at])
        y = torch.stack([ids[a + 1 : a + window + 1] for a in at])
        logits, _ = model.logits(x)
        loss = nn.functional.cross_entropy(logits.reshape(-1, codec.vocab_size), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained():
    """codec type -> (codec, trained model)."""
    out = {}
    for name, cfg in CODECS.items():
        codec = build_codec(cfg, [TEXT])
        out[name] = codec, overfit(codec)
    return out


def predictor(trained, name: str) -> Predictor:
    codec, model = trained[name]
    return Predictor(Counting(model), codec)


def suggest(p: Predictor, text: str, partial: str = "", k: int = 3):
    return p.next_words(p.feed(p.begin(), text), partial, k=k)


def assert_same(got, want):
    assert [w for w, _ in got] == [w for w, _ in want]
    assert [q for _, q in got] == pytest.approx([q for _, q in want], rel=1e-4)


def check_probabilities(words):
    probs = [q for _, q in words]
    assert all(0 < q <= 1 for q in probs)
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) <= 1 + 1e-6


@pytest.mark.parametrize("name", list(CODECS))
def test_completes_the_sentence(trained, name):
    p = predictor(trained, name)
    after = suggest(p, "the cat sat on the ")
    assert after[0][0] == "mat"
    check_probabilities(after)
    typed = suggest(p, "the cat sat on the m")
    assert typed[0][0] == "mat"
    check_probabilities(typed)
    assert_same(suggest(p, "the cat sat on the ", "m"), typed)  # partial or fed: the same
    assert suggest(p, "the mat. the ")[0][0] == "cat"
    assert suggest(p, "the cat ", "s", k=1)[0][0] == "sat"
    assert suggest(p, "the cat sat on the")[0][0] == "the"  # the word being typed, finished


def test_cursors_are_immutable(trained):
    p = predictor(trained, "word")
    cursor = p.begin()
    with pytest.raises(FrozenInstanceError):
        cursor.tail = "x"
    with pytest.raises(ValueError, match="read-only"):
        cursor.logp[0] = 0.0
    assert p.feed(cursor, "the cat ") is not cursor and p.begin().tail == ""


@pytest.mark.parametrize("name", list(CODECS))
def test_a_word_must_start_with_the_partial(trained, name):
    p = predictor(trained, name)
    words = suggest(p, "the cat sat on the ", "s", k=5)
    assert words and all(w.startswith("s") for w, _ in words)
    if name == "word":
        assert suggest(p, "the cat sat on the ", "zq") == []  # open vocabularies spell any word instead


def count_steps_while_typing(p: Predictor, text: str) -> list[int]:
    session, counter, steps = Session(p), p.scorer.model, []
    for c in text:
        before = counter.calls
        session.type(c)
        steps.append(counter.calls - before)
    return steps


def test_word_session_reads_each_token_once(trained):
    p = predictor(trained, "word")
    text = TEXT[:600]
    steps = count_steps_while_typing(p, text)
    assert max(steps) <= 2  # a word and a mark after it
    committed = text[: text.rindex(" ") + 1]
    assert sum(steps) == len(p.codec.encode(committed))  # never re-read; suggestions cost no step


@pytest.mark.parametrize("name", ["char", "bpe"])
def test_session_cost_per_keystroke_is_bounded_and_independent_of_the_prefix(trained, name):
    p = predictor(trained, name)
    steps = count_steps_while_typing(p, TEXT[:720])
    assert max(steps) <= 3 + 24  # the committed tokens plus one batched step per beam step
    first, last = sum(steps[24:240]), sum(steps[-216:])  # nine sentences each
    assert last <= first * 1.1 + 5


@pytest.mark.parametrize("name", list(CODECS))
def test_session_equals_scratch(trained, name):
    p = predictor(trained, name)
    session = Session(p, k=4)
    for c in "the cat sat on the mat. the cas":
        session.type(c)
    session.backspace(1)
    session.type("t set")
    session.backspace(6)  # "the cat sat on the mat. the c": across a word boundary
    session.type("at sat on  ")
    session.backspace(1)  # out of a double space
    words = session.type("the m")
    assert session.text == "the cat sat on the mat. the cat sat on the m"
    assert_same(words, suggest(p, session.text, k=4))
    assert session.suggestions(2) == words[:2]


@pytest.mark.parametrize("name", list(CODECS))
def test_a_session_with_a_cache_equals_scratch_and_still_completes(trained, name):
    codec, model = trained[name]
    p = Predictor(LMScorer(model, cache=CacheConfig(size=30, theta=0.5, lam=0.3, warmup=5)), codec)
    session = Session(p, k=3)
    session.type("the cat sat on the mat. the mot")
    session.backspace(3)
    words = session.type("cat sat on the ")
    assert_same(words, suggest(p, session.text))
    assert words[0][0] == "mat"
    assert session._cursor.memory is not None and len(session._cursor.memory) > 5


def test_backspace_across_a_word_boundary_steps_nothing(trained):
    p = predictor(trained, "word")
    session = Session(p)
    session.type("the cat sat on the m")
    before = p.scorer.model.calls
    words = session.backspace(4)  # "the cat sat on t"
    assert p.scorer.model.calls == before
    assert session.text == "the cat sat on t"
    assert words[0][0] == "the"
    assert session.type("he ")[0][0] == "mat"


def test_backspace_past_the_history_rereads(trained):
    p = predictor(trained, "char")
    session = Session(p, history=4)
    session.type("the cat sat on the ")
    assert session.backspace(11)[0][0] == "sat"  # "the cat " is older than the history holds
    assert session.text == "the cat "
    assert_same(session.suggestions(), suggest(p, "the cat "))


def test_accept_types_the_rest_and_a_space(trained):
    p = predictor(trained, "word")
    session = Session(p)
    session.type("the cat sat on the m")
    session.accept("mat")
    assert session.text == "the cat sat on the mat "
    session.type("the dog")
    session.accept("cat")  # not an extension of "dog": replaces it
    assert session.text.endswith("mat the cat ")


def test_char_codec_refuses_unknown_characters(trained):
    p = predictor(trained, "char")
    cursor = p.begin()
    with pytest.raises(UnknownSymbolError, match="'Z'"):
        p.feed(cursor, "the Zebra")
    with pytest.raises(UnknownSymbolError):
        p.next_words(cursor, "Z")


def test_char_codec_needs_a_start_character():
    codec = CharCodec("abc")
    model = LanguageModel(LMConfig(embed_size=4, encoder=EncoderConfig(hidden_size=4)), codec.vocab_size)
    with pytest.raises(ValueError, match="neither"):
        Predictor(model, codec).begin()


def test_vocabulary_sizes_must_agree(trained):
    codec, model = trained["word"]
    with pytest.raises(ValueError, match="predicts"):
        Predictor(model, build_codec(CODECS["char"], [TEXT]))


@pytest.mark.parametrize("name", ["word", "char"])
def test_keystroke_savings_on_the_training_text(trained, name):
    scores = keystroke_savings(predictor(trained, name), TEXT, max_words=30)
    assert scores["words"] == 30
    assert scores["keystroke_savings"] > 0.3


def test_no_savings_when_the_right_word_is_never_suggested(trained):
    codec = build_codec(CodecConfig(type="word"), ["dog bird fish"])  # none of the text's words
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(embed_size=8, encoder=EncoderConfig(hidden_size=8)), codec.vocab_size)
    scores = keystroke_savings(Predictor(model, codec), "the cat sat on the mat.")
    assert scores == {"keystroke_savings": 0.0, "words": 6}


def test_next_word_accuracy(trained):
    scores = next_word_accuracy(predictor(trained, "word"), TEXT, max_words=60)
    assert scores["words"] == 60
    assert scores["top1"] > 0.6
    assert scores["top3"] >= scores["top1"]


def test_ngram_baseline_suggests_too():
    word = build_codec(CODECS["word"], [TEXT])
    lm = KneserNey(word.vocab_size, order=3).fit([word.encode(TEXT)])
    p = Predictor(NGramScorer(lm), word)
    assert suggest(p, "the cat sat on the ")[0][0] == "mat"
    assert suggest(p, "the cat sat on the m")[0][0] == "mat"
    assert keystroke_savings(p, TEXT, max_words=30)["keystroke_savings"] > 0.3

    char = build_codec(CODECS["char"], [TEXT])
    lm = KneserNey(char.vocab_size, order=7).fit([char.encode(TEXT)])
    p = Predictor(NGramScorer(lm), char)  # the same beam search over an n-gram
    assert suggest(p, "the cat sat on the ")[0][0] == "mat"
    assert suggest(p, "the cat sat on the m")[0][0] == "mat"


def test_a_lowercasing_codec_matches_any_case_and_accept_keeps_what_was_typed():
    codec = build_codec(CodecConfig(type="word", lowercase=True), [TEXT])
    p = Predictor(NGramScorer(KneserNey(codec.vocab_size, order=3).fit([codec.encode(TEXT)])), codec)
    assert suggest(p, "The cat sat on the M")[0][0] == "mat"
    session = Session(p)
    session.type("The cat sat on the M")
    session.accept("mat")
    assert session.text == "The cat sat on the Mat "


# ---- reading many texts at once (the server's batched completions) ------------------------------------------
CACHES = {"no cache": CacheConfig(size=0), "cache": CacheConfig(size=40, theta=0.5, lam=0.3, warmup=5),
          "short cache": CacheConfig(size=3, theta=0.5, lam=0.3, warmup=0)}  # shorter than most texts
PREFIXES = ["", "the", "the c", "the cat sat on the ", "the cat sat on the m", "mat. the cat ", " ", "t",
            "the cat sat on the mat. the cat sat o", "the mat. the "]


def assert_close(got, want):
    assert [w for w, _ in got] == [w for w, _ in want]
    assert [q for _, q in got] == pytest.approx([q for _, q in want], rel=1e-5, abs=1e-9)


def same_cursor(a, b):
    assert a.logp == pytest.approx(b.logp, rel=1e-5, abs=1e-5)
    for x, y in zip(tensors(a.state), tensors(b.state), strict=True):
        assert x.shape == y.shape and torch.allclose(x, y, atol=1e-6)
    assert (a.memory is None) == (b.memory is None)
    if a.memory is not None:
        assert a.memory.values.tolist() == b.memory.values.tolist()
        assert torch.allclose(a.memory.keys, b.memory.keys, atol=1e-6) and torch.allclose(a.query, b.query, atol=1e-6)


@pytest.mark.parametrize("cache", list(CACHES))
def test_reading_many_id_lists_at_once_equals_advancing_one_id_at_a_time(trained, cache):
    codec, model = trained["word"]
    scorer = LMScorer(model, cache=CACHES[cache])
    start = scorer.advance([scorer.start(codec.eos_id)], codec.encode("the"))[0]  # a start with a memory
    lists = [codec.encode(t) for t in ("cat sat on the mat .", "the", "", "cat sat", "the cat", "mat")]
    read = scorer.read(start, lists)
    assert read[2] is start
    for ids, got in zip(lists, read):
        want = start
        for i in ids:
            want = scorer.advance([want], [i])[0]
        same_cursor(got, want)


def test_a_model_that_only_steps_is_read_in_lockstep(trained):
    codec, model = trained["word"]
    scorer = LMScorer(Counting(model))
    lists = [codec.encode(t) for t in ("the cat sat", "the", "", "a cat")]
    read = scorer.read(scorer.start(codec.eos_id), lists)
    assert scorer.model.calls == 1 + 3  # the start, then one batched step per position
    for got, want in zip(read, lockstep(LMScorer(model), LMScorer(model).start(codec.eos_id), lists)):
        same_cursor(got, want)


@pytest.mark.parametrize("cache", list(CACHES))
@pytest.mark.parametrize("name", list(CODECS))
def test_batched_completions_equal_typing_each_prefix(trained, name, cache):
    codec, model = trained[name]
    p = Predictor(LMScorer(model, cache=CACHES[cache]), codec)
    requests = [(text, 1 + n % 4) for n, text in enumerate(PREFIXES)]
    answers = BatchCompleter(p).complete(requests)
    assert any(len(a) > 1 for a in answers)
    for (text, k), got in zip(requests, answers):
        assert_close(got, Session(p, k=k).type(text))
