"""Sampling: filters keep the documented sets, draws follow the distribution, sequences follow ``step``."""

import math

import pytest
import torch

from rnnkit.decode import filter_logits, sample, sample_sequence

V = 7


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def kept(logits: torch.Tensor) -> list[set[int]]:
    """The ids that survived filtering, per row."""
    return [set(torch.isfinite(row).nonzero().flatten().tolist()) for row in logits]


def successor_step(y: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
    """Toy generator: the next id is (prev + 1) mod V with probability 1; state counts the calls."""
    logits = torch.full((y.shape[0], V), float("-inf"))
    logits[torch.arange(y.shape[0]), (y + 1) % V] = 0.0
    (calls,) = state
    return logits, (calls + 1,)


# --- filter_logits -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 10, 50])
def test_top_k_keeps_exactly_the_k_largest(k):
    logits = torch.randn(4, 50, generator=seeded())  # continuous: no ties
    out = filter_logits(logits, top_k=k)
    for row, ids in zip(logits, kept(out)):
        assert ids == set(row.topk(k).indices.tolist())
    assert torch.equal(out[torch.isfinite(out)], logits[torch.isfinite(out)])


def test_top_k_keeps_ties_with_the_kth():
    out = filter_logits(torch.tensor([[1.0, 2.0, 2.0, 0.0]]), top_k=2)
    assert kept(out) == [{1, 2}]
    out = filter_logits(torch.tensor([[2.0, 1.0, 1.0, 0.0]]), top_k=2)
    assert kept(out) == [{0, 1, 2}]


@pytest.mark.parametrize(
    ("top_p", "expected"),
    [(0.01, {"a"}), (0.4, {"a"}), (0.7, {"a", "b"}), (0.81, {"a", "b", "c"}), (0.99, {"a", "b", "c", "d"}),
     (1.0, {"a", "b", "c", "d"})],
)
def test_top_p_keeps_the_smallest_set_reaching_the_mass(top_p, expected):
    probs = {"a": 0.5, "b": 0.3, "c": 0.15, "d": 0.05}
    orders = [["c", "a", "d", "b"], ["d", "c", "b", "a"]]  # two rows, two id layouts
    logits = torch.tensor([[math.log(probs[name]) for name in order] for order in orders])
    out = filter_logits(logits, top_p=top_p)
    assert [{order[i] for i in ids} for order, ids in zip(orders, kept(out))] == [expected, expected]


def test_top_p_applies_to_the_top_k_distribution():
    logits = torch.tensor([[math.log(0.5), math.log(0.3), math.log(0.2)]])
    # after top_k=2 the mass is 0.625 / 0.375: the first id alone reaches 0.6
    assert kept(filter_logits(logits, top_k=2, top_p=0.6)) == [{0}]
    assert kept(filter_logits(logits, top_p=0.6)) == [{0, 1}]


def test_temperature_divides_the_logits():
    logits = torch.randn(3, V, generator=seeded())
    torch.testing.assert_close(filter_logits(logits, temperature=2.0), logits / 2.0)
    assert torch.equal(filter_logits(logits), logits)


# --- sample --------------------------------------------------------------------------------------------------


def test_temperature_zero_is_greedy():
    logits = torch.randn(64, V, generator=seeded())
    assert torch.equal(sample(logits, temperature=0), logits.argmax(-1))
    assert sample(logits, temperature=0).dtype == torch.long


def test_small_temperature_approaches_greedy():
    # logits a permutation of 0..V-1: the gap to the runner-up is 1, so at T=1e-3 the odds are exp(-1000)
    logits = torch.stack([torch.randperm(V, generator=seeded(i)).float() for i in range(200)])
    assert torch.equal(sample(logits, temperature=1e-3, generator=seeded()), logits.argmax(-1))


def chi_square(counts: torch.Tensor, probs: torch.Tensor) -> float:
    expected = probs * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def test_frequencies_match_the_distribution():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    ids = sample(probs.log().expand(100_000, -1), generator=seeded())
    assert ids.shape == (100_000,)
    counts = torch.bincount(ids, minlength=4).float()
    assert chi_square(counts, probs) < 16.27  # chi-square, 3 degrees of freedom, 99.9% quantile


def test_frequencies_after_filtering_match_the_renormalized_distribution():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    ids = sample(probs.log().expand(100_000, -1), temperature=2.0, top_k=2, generator=seeded(1))
    counts = torch.bincount(ids, minlength=4).float()
    assert counts[:2].sum() == 0
    tempered = probs[2:].sqrt() / probs[2:].sqrt().sum()  # p^(1/T), T = 2, renormalized over the top 2
    assert chi_square(counts[2:], tempered) < 10.83  # 1 degree of freedom, 99.9% quantile


def test_same_seed_same_ids():
    logits = torch.randn(1000, V, generator=seeded())
    a = sample(logits, top_p=0.9, generator=seeded(5))
    assert torch.equal(a, sample(logits, top_p=0.9, generator=seeded(5)))
    assert not torch.equal(a, sample(logits, top_p=0.9, generator=seeded(6)))


# --- sample_sequence -----------------------------------------------------------------------------------------


def test_sequence_follows_step_and_respects_steps():
    calls = []

    def step(y, state):
        calls.append(int(state[0][0]))
        return successor_step(y, state)

    out = sample_sequence(step, torch.tensor([0, 5]), (torch.zeros(2),), steps=4, generator=seeded())
    assert calls == []  # lazy: nothing is stepped until the caller asks
    ids = [t.tolist() for t in out]
    assert ids == [[1, 6], [2, 0], [3, 1], [4, 2]]
    assert calls == [0, 1, 2, 3]  # state threaded through, no step beyond the last yield


def test_zero_steps_yields_nothing():
    assert list(sample_sequence(successor_step, torch.tensor([0]), (torch.zeros(1),), steps=0)) == []


def test_stop_ends_when_every_row_stopped_and_stopped_rows_repeat_their_id():
    stop = lambda ids: ids == 3
    out = sample_sequence(successor_step, torch.tensor([0, 1]), (torch.zeros(2),), steps=10, stop=stop)
    assert [t.tolist() for t in out] == [[1, 2], [2, 3], [3, 3]]


def test_steps_cut_before_every_row_stopped():
    out = sample_sequence(successor_step, torch.tensor([0, 1]), (torch.zeros(2),), steps=2,
                          stop=lambda ids: ids == 5)
    assert [t.tolist() for t in out] == [[1, 2], [2, 3]]


def test_sequence_is_seeded():
    table = torch.randn(V, V, generator=seeded())  # logits of the next id given the previous one
    step = lambda y, state: (table[y], state)
    run = lambda seed: torch.stack(list(sample_sequence(step, torch.zeros(8, dtype=torch.long), (), steps=20,
                                                        generator=seeded(seed))))
    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))
    greedy = torch.stack(list(sample_sequence(step, torch.zeros(8, dtype=torch.long), (), steps=5, temperature=0)))
    assert torch.equal(greedy[1], table[greedy[0]].argmax(-1))


def test_sequence_runs_without_grad_only_inside():
    seen = []

    def step(y, state):
        seen.append(torch.is_grad_enabled())
        return successor_step(y, state)

    for _ in sample_sequence(step, torch.tensor([0]), (torch.zeros(1),), steps=3):
        assert torch.is_grad_enabled()
    assert seen == [False, False, False]


# --- argument validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"temperature": 0.0}, r"temperature must be > 0, got 0\.0"),
     ({"temperature": -1.0}, r"temperature must be > 0, got -1\.0"),
     ({"top_k": 0}, r"top_k must be an int >= 1 or None, got 0"),
     ({"top_k": 2.5}, r"top_k .* got 2\.5"),
     ({"top_p": 0.0}, r"top_p must be in \(0, 1\] or None, got 0\.0"),
     ({"top_p": 1.5}, r"top_p .* got 1\.5")],
)
def test_filter_logits_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        filter_logits(torch.zeros(1, V), **kwargs)


def test_sample_allows_only_zero_temperature_specially():
    with pytest.raises(ValueError, match=r"temperature must be > 0, got -0\.5"):
        sample(torch.zeros(1, V), temperature=-0.5)
    with pytest.raises(ValueError, match="top_p"):
        sample(torch.zeros(1, V), temperature=0, top_p=2.0)


def test_sample_sequence_checks_arguments_on_the_call():
    first, state = torch.tensor([0]), (torch.zeros(1),)
    with pytest.raises(ValueError, match="steps must be >= 0, got -1"):
        sample_sequence(successor_step, first, state, steps=-1)
    with pytest.raises(ValueError, match=r"first must have shape \(B,\), got \(1, 1\)"):
        sample_sequence(successor_step, first[None], state, steps=1)
    with pytest.raises(ValueError, match="top_k"):
        sample_sequence(successor_step, first, state, steps=1, top_k=0)
