"""KneserNey: hand-worked KN arithmetic, a slow dict-based reference, invariants, and evaluate against a loop."""

import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from rnnkit.models.ngram import KneserNey

# a = 0, b = 1, c = 2; d = 3 is never seen. Two documents, "a b c a b" and "b c".
TINY = [[0, 1, 2, 0, 1], [1, 2]]


def markov_docs(rng, *, vocab, docs, length, branching=3):
    """Documents from a sparse random Markov chain, so that contexts repeat and followers are few."""
    nxt = rng.integers(0, vocab, size=(vocab, branching))
    out = []
    for _ in range(docs):
        doc = [int(rng.integers(vocab))]
        for _ in range(int(rng.integers(1, length))):
            doc.append(int(nxt[doc[-1], rng.integers(branching)]) if rng.random() < 0.9 else int(rng.integers(vocab)))
        out.append(doc)
    return out


def reference(docs, vocab, order, discount=None):
    """Interpolated modified KN written out with dicts and recursion: the slow reference, p(w | context)."""
    raw = Counter()
    for doc in docs:
        s = ["<s>", *doc]
        for end in range(1, len(s)):
            for k in range(1, min(order, end + 1) + 1):
                raw[tuple(s[end - k + 1 : end + 1])] += 1
    left = defaultdict(set)
    for g in raw:
        if len(g) > 1:
            left[g[1:]].add(g[0])
    followers = defaultdict(dict)  # context -> {w: adjusted count}
    coc = defaultdict(Counter)  # order -> count of counts
    for g, c in raw.items():
        a = c if len(g) == order or g[0] == "<s>" else len(left[g])
        followers[g[:-1]][g[-1]] = a
        coc[len(g)][a] += 1

    def discounts(k):
        if discount is not None:
            return (0.0, discount, discount, discount)
        n = coc[k]
        if 0 in (n[1], n[2], n[3]):
            return (0.0, 0.5, 1.0, 1.5)
        y = n[1] / (n[1] + 2 * n[2])
        d = [i - (i + 1) * y * n[i + 1] / n[i] for i in (1, 2, 3)]
        return (0.0, *d) if all(0 < d[i - 1] <= i for i in (1, 2, 3)) else (0.0, 0.5, 1.0, 1.5)

    def prob(w, h):
        lower = 1.0 / vocab if h is None else prob(w, h[1:] if h else None)
        f = followers.get(h, {}) if h is not None else {}
        if not f:
            return lower
        dk = discounts(len(h) + 1)
        total = sum(f.values())
        gamma = sum(dk[min(a, 3)] for a in f.values()) / total
        a = f.get(w, 0)
        return (a - dk[min(a, 3)]) / total + gamma * lower

    def dist(context):
        h = tuple(context[-(order - 1) :]) if order > 1 and len(context) >= order - 1 else ("<s>", *context)
        return np.array([prob(w, h if order > 1 else ()) for w in range(vocab)])

    return dist


def test_hand_worked_interpolated_kn():
    d, v = 0.5, 4
    lm = KneserNey(v, order=3, discount=d).fit(TINY)
    # Read as  S a b c a b | S b c  (S = BOS). Distinct bigrams: S a, a b, b c, c a, S b.
    # Unigrams, continuation counts N1+(. w): a <- {S, c} = 2, b <- {S, a} = 2, c <- {b} = 1, d = 0; total 5.
    # gamma = 3 types * D / 5 = 0.3, spread uniformly: 0.3 / 4 = 0.075 each.
    p1 = np.array([2 - d, 2 - d, 1 - d, 0]) / 5 + (3 * d / 5) / v
    np.testing.assert_allclose(p1, [0.375, 0.375, 0.175, 0.075])
    np.testing.assert_allclose(lm.distribution([3, 3]), p1)  # (d d) and (d) were never contexts
    # Bigram context b: b c, continuation count N1+(. b c) = {a, S} = 2; total 2, one type: gamma = D / 2.
    p2_b = d / 2 * p1 + np.array([0, 0, (2 - d) / 2, 0])
    np.testing.assert_allclose(p2_b, [0.09375, 0.09375, 0.79375, 0.01875])
    np.testing.assert_allclose(lm.distribution([3, 1]), p2_b)  # (d b) unseen: the bigram level shows
    # Trigram context (a b): highest order, raw count of a b c = 1; total 1: gamma = D.
    p3_ab = d * p2_b + np.array([0, 0, 1 - d, 0])
    np.testing.assert_allclose(p3_ab, [0.046875, 0.046875, 0.896875, 0.009375])
    np.testing.assert_allclose(lm.distribution([0, 1]), p3_ab)
    np.testing.assert_allclose(lm.distribution([2, 0, 1]), p3_ab)  # only the last order - 1 ids count
    # Context (b c): raw b c a = 1. Bigram context c: c a <- {b} = 1, total 1: p2(.|c) = D p1 + (1 - D) at a.
    p2_c = d * p1 + np.array([1 - d, 0, 0, 0])
    p3_bc = d * p2_c + np.array([1 - d, 0, 0, 0])
    np.testing.assert_allclose(p3_bc, [0.84375, 0.09375, 0.04375, 0.01875])
    np.testing.assert_allclose(lm.distribution([1, 2]), p3_bc)
    # Document start, context (S): S a and S b begin with BOS so keep raw counts 1, 1; total 2, gamma = 2D/2.
    p2_s = d * p1 + np.array([(1 - d) / 2, (1 - d) / 2, 0, 0])
    np.testing.assert_allclose(p2_s, [0.4375, 0.4375, 0.0875, 0.0375])
    np.testing.assert_allclose(lm.distribution([]), p2_s)
    # Context (S b): raw S b c = 1, so p(c | S b) = (1 - D) + D p2(c | b) = 0.896875, unlike (d b) above.
    np.testing.assert_allclose(lm.distribution([1]), d * p2_b + np.array([0, 0, 1 - d, 0]))
    # Context (S a): raw S a b = 1; bigram context a: a b <- {S, c} = 2, total 2: gamma = D / 2.
    p2_a = d / 2 * p1 + np.array([0, (2 - d) / 2, 0, 0])
    np.testing.assert_allclose(lm.distribution([0]), d * p2_a + np.array([0, 1 - d, 0, 0]))
    assert lm.discounts == [(d, d, d)] * 3


def test_modified_discounts_from_count_of_counts():
    # A unigram model is its own highest order, so raw counts: ids 0, 1, 5 once, 2 twice, 3 thrice, 4 four times.
    lm = KneserNey(7, order=1).fit([[0, 1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5]])
    # n1 = 3, n2 = 1, n3 = 1, n4 = 1; Y = 3 / (3 + 2) = 0.6 (Chen and Goodman eq. 26):
    # D1 = 1 - 2 Y n2/n1 = 0.6, D2 = 2 - 3 Y n3/n2 = 0.2, D3+ = 3 - 4 Y n4/n3 = 0.6.
    np.testing.assert_allclose(lm.discounts[0], (0.6, 0.2, 0.6))
    # Total 12; gamma = (3 * 0.6 + 0.2 + 2 * 0.6) / 12 = 3.2 / 12, spread over 7 ids.
    counts = np.array([1, 1, 2, 3, 4, 1, 0])
    disc = np.array([0.6, 0.6, 0.2, 0.6, 0.6, 0.6, 0.0])
    np.testing.assert_allclose(lm.distribution([]), (counts - disc) / 12 + 3.2 / 12 / 7)
    # Without doubletons eq. 26 is undefined: KenLM's fallback discounts.
    assert KneserNey(7, order=1).fit([[0, 1, 2]]).discounts == [(0.5, 1.0, 1.5)]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("discount", [None, 0.7])
def test_matches_dict_reference(order, discount):
    rng = np.random.default_rng(order)
    vocab = 12
    docs = markov_docs(rng, vocab=vocab, docs=40, length=30)
    lm = KneserNey(vocab, order=order, discount=discount).fit(docs)
    ref = reference(docs, vocab, order, discount)
    contexts = [[], [3], [3, 5], [int(x) for x in rng.integers(0, vocab, 5)]] + [
        d[:t] for d in docs[:3] for t in range(6)
    ]
    for context in contexts:
        np.testing.assert_allclose(lm.distribution(context), ref(context), rtol=1e-12, atol=1e-15)


def test_distributions_sum_to_one_and_are_positive():
    rng = np.random.default_rng(0)
    docs = markov_docs(rng, vocab=50, docs=30, length=40)
    for order in (1, 2, 3, 5):
        lm = KneserNey(60, order=order).fit(docs)  # ids 50..59 never occur
        for context in ([], [1], docs[0][:4], [55, 56, 57, 58], [int(x) for x in rng.integers(0, 60, 7)]):
            p = lm.distribution(context)
            assert p.shape == (60,)
            assert abs(p.sum() - 1) < 1e-9
            assert (p > 0).all()


def test_deterministic_pattern_is_learned_and_higher_order_does_not_hurt():
    pattern = [0, 1, 0, 2]  # a b a c: after "a" the next id depends on the one before it
    train = [pattern * 25 for _ in range(20)]
    held_out = [pattern * 50]
    results = {order: KneserNey(4, order=order).fit(train).evaluate(held_out, topk=(1,)) for order in (2, 3, 4)}
    assert results[3]["top1"] == 1.0
    assert results[3]["loss"] < 0.01
    assert results[2]["top1"] < 0.8  # a bigram cannot tell what follows "a"
    assert results[4]["top1"] == 1.0
    assert results[4]["loss"] <= results[3]["loss"] + 1e-12
    assert results[3]["tokens"] == 200
    assert results[3]["perplexity"] == pytest.approx(math.exp(results[3]["loss"]))


def test_exclude():
    lm = KneserNey(4, order=3).fit([[0, 1, 0, 2] * 25] * 5)  # id 3 plays <unk>
    assert lm.topk([1, 0], 1)[0][0] == 2
    best = lm.topk([1, 0], 4, exclude=[2])
    assert 2 not in [i for i, _ in best] and len(best) == 3
    assert [i for i, _ in best] == [i for i, _ in lm.topk([1, 0], 4) if i != 2]
    held_out = [[0, 1, 0, 2] * 10]
    assert lm.evaluate(held_out, topk=(1,), exclude=[3])["top1"] == 1.0
    assert lm.evaluate(held_out, topk=(1,), exclude=[2])["top1"] == 0.75  # every target c is a miss
    assert lm.evaluate(held_out, topk=(3,), exclude=[2])["top3"] == 0.75


def test_topk_ties_go_to_the_smaller_id():
    lm = KneserNey(6, order=2).fit([[4]])
    assert [i for i, _ in lm.topk([], 4)] == [4, 0, 1, 2]  # 0..3 and 5 share the leftover mass
    assert [i for i, _ in lm.topk([], 2, exclude=[0, 4])] == [1, 2]


def test_contexts_do_not_cross_documents():
    split = KneserNey(5, order=2).fit([[0, 1], [2, 3]])
    joined = KneserNey(5, order=2).fit([[0, 1, 2, 3]])
    # In the split corpus 1 is never followed by anything, so its context backs off to p1, as unseen 4 does.
    np.testing.assert_array_equal(split.distribution([1]), split.distribution([4]))
    assert joined.distribution([1])[2] > 0.5 > split.distribution([1])[2]
    # The second document's first id is predicted from BOS, not from the id ending the first document.
    docs = [[0, 1], [2, 3]]
    expected = -sum(math.log(split.distribution(d[:t])[d[t]]) for d in docs for t in range(len(d))) / 4
    assert split.evaluate(docs)["loss"] == pytest.approx(expected, rel=1e-12)
    assert split.distribution([])[0] == split.distribution([])[2] > split.distribution([])[1]


def slow_evaluate(lm, docs, topk, exclude):
    """The evaluate contract, literally: a full ranking per position from ``distribution``."""
    nll, hits, n = 0.0, Counter(), 0
    for doc in docs:
        for t, y in enumerate(doc):
            p = lm.distribution(doc[:t])
            nll -= math.log(p[y])
            ranked = [w for w in sorted(range(lm.vocab_size), key=lambda w: (-p[w], w)) if w not in exclude]
            for k in topk:
                hits[k] += y in ranked[:k]
            n += 1
    return {"loss": nll / n, **{f"top{k}": hits[k] / n for k in topk}, "tokens": n}


@pytest.mark.parametrize(("vocab", "order"), [(30, 3), (200, 4), (65, 1)])
def test_evaluate_matches_a_slow_loop(vocab, order):
    rng = np.random.default_rng(vocab)
    lm = KneserNey(vocab, order=order).fit(markov_docs(rng, vocab=vocab, docs=60, length=40))
    held_out = markov_docs(rng, vocab=vocab, docs=25, length=30)
    topk, exclude = (1, 3, 5), [0, 7]
    fast = lm.evaluate(held_out, topk=topk, exclude=exclude)
    slow = slow_evaluate(lm, held_out, topk, exclude)
    assert fast["tokens"] == slow["tokens"]
    assert fast["loss"] == pytest.approx(slow["loss"], rel=1e-12)
    for k in topk:
        assert fast[f"top{k}"] == slow[f"top{k}"]
    assert set(lm.evaluate(held_out, topk=())) == {"loss", "perplexity", "tokens"}


def test_rejects_bad_input():
    with pytest.raises(RuntimeError):
        KneserNey(5).distribution([])
    lm = KneserNey(5).fit(TINY)
    with pytest.raises(ValueError):
        KneserNey(5).fit([[0, 5]])
    with pytest.raises(ValueError):
        lm.distribution([-1])
    with pytest.raises(ValueError):
        lm.topk([], 1, exclude=[9])
    with pytest.raises(ValueError):
        lm.evaluate([[]])
