"""MixtureScorer: the log of the weighted sum of its components' distributions, exactly one component at weight
0 or 1, reading equals advancing, and a Predictor suggests words with it; fit_weight recovers known weights."""

import numpy as np
import pytest
import torch

from rnnkit.autocomplete import LMScorer, MixtureScorer, NGramScorer, Predictor, Scorer, Session, fit_weight
from rnnkit.autocomplete.scorers import lockstep, read
from rnnkit.data.text import CodecConfig, build_codec
from rnnkit.models.cache import CacheConfig
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.language_model import LanguageModel, LMConfig
from rnnkit.models.ngram import KneserNey

VOCAB = 12
TEXT = "the cat sat on the mat. " * 50


@pytest.fixture(scope="module")
def models(markov_docs):
    """A unigram and a trigram Kneser-Ney model of the same toy corpus."""
    train = markov_docs(0)
    return KneserNey(VOCAB, order=1).fit(train), KneserNey(VOCAB, order=3).fit(train)


def walk(scorer, ids):
    """The cursors at the start and after each id, one ``advance`` each."""
    cursors = [scorer.start(0)]
    for i in ids:
        cursors.append(scorer.advance([cursors[-1]], [i])[0])
    return cursors


def test_logp_is_the_log_of_the_weighted_sum(models, markov_docs):
    uni, tri = models
    mix = MixtureScorer(NGramScorer(uni), NGramScorer(tri), 0.3)
    assert isinstance(mix, Scorer) and mix.vocab_size == VOCAB
    ids = markov_docs(5, n=1)[0] + [0, 11]
    for t, cursor in enumerate(walk(mix, ids)):
        want = 0.3 * uni.distribution(ids[:t]) + 0.7 * tri.distribution(ids[:t])
        np.testing.assert_allclose(np.exp(cursor.logp.astype(np.float64)), want, rtol=1e-6)
        assert cursor.logp.dtype == np.float32 and not cursor.logp.flags.writeable
        first, second = cursor.state
        assert first.state == () and second.state == tuple(ids[max(0, t - 2) : t])
        assert cursor.query is None and cursor.memory is None


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_weight_zero_or_one_gives_exactly_one_component(models, weight, markov_docs):
    mix = MixtureScorer(NGramScorer(models[0]), NGramScorer(models[1]), weight)
    for cursor in walk(mix, markov_docs(6, n=1)[0]):
        one = cursor.state[0] if weight == 1.0 else cursor.state[1]
        np.testing.assert_array_equal(cursor.logp, one.logp)


def test_rejects_a_bad_weight_or_differing_vocabularies(models, markov_docs):
    uni, tri = models
    for weight in (-0.1, 1.5):
        with pytest.raises(ValueError, match="weight"):
            MixtureScorer(NGramScorer(uni), NGramScorer(tri), weight)
    other = KneserNey(VOCAB + 1, order=2).fit(markov_docs(0))
    with pytest.raises(ValueError, match=f"{VOCAB} and {VOCAB + 1}"):
        MixtureScorer(NGramScorer(uni), NGramScorer(other), 0.5)


def test_batched_advance_equals_one_at_a_time(models, markov_docs):
    mix = MixtureScorer(NGramScorer(models[0]), NGramScorer(models[1]), 0.4)
    ids = markov_docs(7, n=1)[0][:6]
    cursors = walk(mix, ids)
    batched = mix.advance(cursors[:-1], ids)
    for got, want in zip(batched, cursors[1:]):
        np.testing.assert_array_equal(got.logp, want.logp)


def test_read_uses_each_components_read_and_equals_advancing(models, monkeypatch):
    torch.manual_seed(0)
    lm = LanguageModel(LMConfig(embed_size=8, encoder=EncoderConfig(hidden_size=16)), VOCAB)
    first = LMScorer(lm, cache=CacheConfig(size=10, warmup=0))
    mix = MixtureScorer(first, NGramScorer(models[1]), 0.6)
    calls, original = [], LMScorer.read

    def counted(self, start, id_lists):
        calls.append(id_lists)
        return original(self, start, id_lists)

    monkeypatch.setattr(LMScorer, "read", counted)
    start = walk(mix, [3, 4])[-1]
    lists = [[5, 6, 7], [], [1], [2, 2, 2, 2, 9]]
    got = read(mix, start, lists)
    assert len(calls) == 1  # the language model read all the lists at once
    assert got[1] is start
    for cursor, want in zip(got, lockstep(mix, start, lists)):
        np.testing.assert_allclose(cursor.logp, want.logp, atol=1e-5)
        assert cursor.state[1].state == want.state[1].state
        assert cursor.state[0].memory is not None and cursor.memory is None  # the LM keeps its own cache


@pytest.mark.parametrize(("kind", "orders"), [("word", (3, 1)), ("char", (7, 3))])
def test_a_predictor_suggests_words_with_a_mixture(kind, orders):
    codec = build_codec(CodecConfig(type=kind), [TEXT])
    high, low = (KneserNey(codec.vocab_size, order=n).fit([codec.encode(TEXT)]) for n in orders)
    p = Predictor(MixtureScorer(NGramScorer(high), NGramScorer(low), 0.8), codec)
    assert p.next_words(p.feed(p.begin(), "the cat sat on the "))[0][0] == "mat"
    assert p.next_words(p.feed(p.begin(), "the cat "), "s", k=1)[0][0] == "sat"
    assert Session(p).type("the mat. the c")[0][0] == "cat"


def test_fit_weight_recovers_a_known_mixture():
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.full(20, 0.3)), rng.dirichlet(np.full(20, 0.3))  # two fixed, quite different models
    n, weight = 20_000, 0.3
    from_p = rng.random(n) < weight
    targets = np.where(from_p, rng.choice(20, n, p=p), rng.choice(20, n, p=q))
    a, b = np.log(p[targets]), np.log(q[targets])
    w = fit_weight(a, b)
    assert w == pytest.approx(weight, abs=0.05)
    assert fit_weight(b, a) == pytest.approx(1 - w, abs=1e-6)  # the same fit, seen from the other model

    def likelihood(v):
        return np.logaddexp(np.log(v) + a, np.log1p(-v) + b).sum()

    assert all(likelihood(w) >= likelihood(v) for v in np.linspace(0.01, 0.99, 99))  # the grid's best, or better


def test_fit_weight_on_n_gram_log_probs(models, markov_docs):
    uni, tri = models
    held_out = [i for d in markov_docs(9, n=10) for i in d]
    targets = np.arange(len(held_out)), held_out
    a, b = tri.log_probs(held_out)[targets], uni.log_probs(held_out)[targets]
    w = fit_weight(a, b)
    grid = np.linspace(0.001, 0.999, 999)
    best = grid[np.argmax([np.logaddexp(np.log(v) + a, np.log1p(-v) + b).sum() for v in grid])]
    assert w == pytest.approx(best, abs=2e-3)


def test_fit_weight_is_one_when_the_first_model_is_always_better():
    a, b = np.log(np.full(50, 0.5)), np.log(np.linspace(0.01, 0.2, 50))
    assert fit_weight(a, b) == pytest.approx(1.0, abs=1e-4)
    assert fit_weight(b, a) == pytest.approx(0.0, abs=1e-4)


def test_fit_weight_rejects_bad_input():
    for a, b in [(np.zeros(3), np.zeros(4)), (np.zeros(0), np.zeros(0)), (np.zeros((2, 2)), np.zeros((2, 2)))]:
        with pytest.raises(ValueError, match="1-D"):
            fit_weight(a, b)
