"""Beam and greedy search: pinned to greedy, to sampling at temperature 0, to brute force and to teacher forcing."""

import math

import pytest
import torch

from rnnkit.decode import Hypothesis, beam_search, beam_stream, greedy_search, sample_sequence

EOS = 0
NEG = float("-inf")


# --- generators ----------------------------------------------------------------------------------------------


def markov(table: torch.Tensor):
    """A first-order Markov chain: the logits of the next id are row ``y_prev`` of ``table`` (V, V); state ()."""
    return lambda y, state: (table[y], state)


def chain(rows: dict[int, dict[int, float]], vocab: int) -> torch.Tensor:
    """A (V, V) log-probability table from ``{prev: {next: probability}}``; missing entries are impossible."""
    table = torch.full((vocab, vocab), NEG)
    for prev, probs in rows.items():
        for nxt, p in probs.items():
            table[prev, nxt] = math.log(p)
    return table


class TinyDecoder(torch.nn.Module):
    """A GRU language model with random weights; ``memory_step`` also attends over a per-row memory."""

    def __init__(self, seed: int, *, vocab: int = 12, hidden: int = 16, eos_bias: float = 0.0) -> None:
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.embed = torch.nn.Embedding(vocab, hidden)
            self.cell = torch.nn.GRUCell(hidden, hidden)
            self.out = torch.nn.Linear(hidden, vocab)
        self.out.bias.data[EOS] += eos_bias
        self.hidden = hidden

    def lm_step(self, y, state):
        assert not torch.is_grad_enabled()
        (h,) = state
        h = self.cell(self.embed(y), h)
        return 3 * self.out(h), (h,)  # x3: peaked enough that sequences end

    def memory_step(self, y, state):
        h, memory, mask = state  # (B, H), (B, S, H), (B, S)
        weights = (memory @ h.unsqueeze(-1)).squeeze(-1).masked_fill(~mask, NEG).softmax(-1)  # (B, S)
        context = (weights.unsqueeze(-1) * memory).sum(1)  # (B, H)
        h = self.cell(self.embed(y) + context, h)
        memory = memory + 0.5 * h.unsqueeze(1)  # each beam's memory follows its own history
        return 3 * self.out(h + context), (h, memory, mask)


def teacher_forced(step, first: int, state, tokens: list[int]) -> float:
    """The summed log-probability of ``tokens`` for one row, stepping the generator on them."""
    y, total = torch.tensor([first]), 0.0
    with torch.no_grad():
        for token in tokens:
            logits, state = step(y, state)
            total += logits.float().log_softmax(-1)[0, token].item()
            y = torch.tensor([token])
    return total


def brute_force(table: torch.Tensor, first: int, *, max_length: int, alpha: float, min_length: int = 0):
    """Every possible output of the chain, as (score, tokens, log_prob), best first."""
    logp = table.log_softmax(-1).tolist()
    found = []

    def walk(prev: int, tokens: list[int], total: float) -> None:
        if len(tokens) == max_length:
            found.append((tokens, total))
            return
        for nxt, lp in enumerate(logp[prev]):
            if lp == NEG or (nxt == EOS and len(tokens) < min_length):
                continue
            if nxt == EOS:
                found.append((tokens + [EOS], total + lp))
            else:
                walk(nxt, tokens + [nxt], total + lp)

    walk(first, [], 0.0)
    scored = [(total / ((5 + len(tokens)) / 6) ** alpha, tokens, total) for tokens, total in found]
    return sorted(scored, key=lambda s: -s[0])


def repeats_ngram(tokens: list[int], n: int) -> bool:
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return len(grams) != len(set(grams))


def lm_inputs(decoder: TinyDecoder, rows: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    first = torch.randint(1, 12, (rows,), generator=g)
    return first, (torch.randn(rows, decoder.hidden, generator=g),)


# --- greedy ------------------------------------------------------------------------------------------------------


def test_beam_size_one_equals_greedy_equals_sampling_at_temperature_zero():
    decoder = TinyDecoder(0, eos_bias=0.3)
    first, state = lm_inputs(decoder, 8, seed=1)
    beams = beam_search(decoder.lm_step, first, state, beam_size=1, max_length=12, eos_id=EOS, length_penalty=0)
    greedy = greedy_search(decoder.lm_step, first, state, max_length=12, eos_id=EOS)
    steps = torch.stack(list(sample_sequence(decoder.lm_step, first, state, steps=12, temperature=0,
                                             stop=lambda ids: ids == EOS)), dim=1).tolist()  # (B, T)
    sampled = [ids[:ids.index(EOS) + 1] if EOS in ids else ids for ids in steps]
    assert [b[0].tokens for b in beams] == [g.tokens for g in greedy] == sampled
    assert len({len(ids) for ids in sampled}) > 2 and any(ids[-1] != EOS for ids in sampled)  # ends differ
    for row, (b, g) in enumerate(zip(beams, greedy)):
        assert b[0].log_prob == pytest.approx(g.log_prob, abs=1e-5)
        assert g.score == g.log_prob
        reference = teacher_forced(decoder.lm_step, first[row].item(), (state[0][row:row + 1],), g.tokens)
        assert g.log_prob == pytest.approx(reference, abs=1e-4)


# --- optimality on hand-made chains ------------------------------------------------------------------------------

BOS = 3
TRAP = chain({BOS: {1: 0.6, 2: 0.4}, 1: {EOS: 0.4, 1: 0.3, 2: 0.3}, 2: {EOS: 0.95, 1: 0.025, 2: 0.025},
              EOS: {EOS: 1.0}}, vocab=4)  # greedy takes 1 (0.6) and ends at 0.24; [2, eos] has 0.38


def test_beam_finds_what_greedy_misses():
    first = torch.tensor([BOS])
    greedy = greedy_search(markov(TRAP), first, (), max_length=4, eos_id=EOS)[0]
    best = beam_search(markov(TRAP), first, (), beam_size=2, max_length=4, eos_id=EOS, length_penalty=0)[0][0]
    optimum = brute_force(TRAP, BOS, max_length=4, alpha=0)[0]
    assert greedy.tokens == [1, EOS] and greedy.log_prob == pytest.approx(math.log(0.24))
    assert best.tokens == optimum[1] == [2, EOS]
    assert best.score == pytest.approx(optimum[0]) and best.log_prob == pytest.approx(math.log(0.38))


@pytest.mark.parametrize(("alpha", "min_length"), [(0.0, 0), (0.7, 0), (2.0, 1), (-0.5, 0), (1.0, 2)])
def test_exhaustive_beam_equals_brute_force(alpha, min_length):
    table = torch.randn(4, 4, generator=torch.Generator().manual_seed(3))
    # K = 3 ** 3 * 4 candidates at the last step: the beam never prunes, so the n best are exact
    hyps = beam_search(markov(table), torch.tensor([1]), (), beam_size=108, max_length=4, eos_id=EOS,
                       length_penalty=alpha, min_length=min_length, n_best=6)[0]
    every = brute_force(table, 1, max_length=4, alpha=alpha, min_length=min_length)
    assert [h.score for h in hyps] == pytest.approx([score for score, _, _ in every[:6]], abs=1e-5)
    # a chain gives the same probability to reorderings of the same transitions: ties are not ordered
    exact = {tuple(tokens): (score, total) for score, tokens, total in every}
    assert len({tuple(h.tokens) for h in hyps}) == 6
    for hyp in hyps:
        assert (hyp.score, hyp.log_prob) == pytest.approx(exact[tuple(hyp.tokens)], abs=1e-5)


def test_small_beam_reaches_the_optimum_of_a_random_chain():
    table = 2 * torch.randn(5, 5, generator=torch.Generator().manual_seed(4))
    optimum = brute_force(table, 1, max_length=5, alpha=0)[0]
    best = beam_search(markov(table), torch.tensor([1]), (), beam_size=4, max_length=5, eos_id=EOS,
                       length_penalty=0)[0][0]
    assert best.tokens == optimum[1] and best.score == pytest.approx(optimum[0], abs=1e-5)


# short: bos 1 eos (0.54); long: bos 2 3 4 5 eos (0.384)
LENGTHS = chain({6: {1: 0.6, 2: 0.4}, 1: {EOS: 0.9, 1: 0.1}, 2: {3: 0.99, EOS: 0.01}, 3: {4: 0.99, EOS: 0.01},
                 4: {5: 0.99, EOS: 0.01}, 5: {EOS: 0.99, 1: 0.01}, EOS: {EOS: 1.0}}, vocab=7)


@pytest.mark.parametrize(("alpha", "expected"), [(0.0, [1, EOS]), (1.0, [1, EOS]), (2.0, [2, 3, 4, 5, EOS])])
def test_length_penalty_favours_longer_outputs_as_alpha_grows(alpha, expected):
    best = beam_search(markov(LENGTHS), torch.tensor([6]), (), beam_size=3, max_length=8, eos_id=EOS,
                       length_penalty=alpha)[0][0]
    optimum = brute_force(LENGTHS, 6, max_length=8, alpha=alpha)[0]
    assert best.tokens == optimum[1] == expected
    assert best.score == pytest.approx(best.log_prob / ((5 + len(expected)) / 6) ** alpha)


# --- batching and state ------------------------------------------------------------------------------------------


def memory_inputs(decoder: TinyDecoder, lengths: list[int]):
    g = torch.Generator().manual_seed(5)
    first = torch.randint(1, 12, (len(lengths),), generator=g)
    h = torch.randn(len(lengths), decoder.hidden, generator=g)
    memory = torch.randn(len(lengths), max(lengths), decoder.hidden, generator=g)  # (B, S, H)
    mask = torch.arange(max(lengths)) < torch.tensor(lengths).unsqueeze(1)  # (B, S)
    return first, (h, memory, mask)


def test_batched_equals_one_row_at_a_time_and_state_follows_the_beams():
    decoder = TinyDecoder(6, eos_bias=1.5)
    lengths = [5, 2, 7, 3]
    first, (h, memory, mask) = memory_inputs(decoder, lengths)
    options = dict(beam_size=3, max_length=15, eos_id=EOS, length_penalty=0.6, n_best=3)
    batched = beam_search(decoder.memory_step, first, (h, memory, mask), **options)
    assert len({len(hyps[0].tokens) for hyps in batched}) > 1  # rows finish at different steps
    for row, length in enumerate(lengths):
        alone = (h[row:row + 1], memory[row:row + 1, :length], mask[row:row + 1, :length])  # unpadded
        single = beam_search(decoder.memory_step, first[row:row + 1], alone, **options)[0]
        assert [hyp.tokens for hyp in batched[row]] == [hyp.tokens for hyp in single]
        assert [hyp.score for hyp in batched[row]] == pytest.approx([hyp.score for hyp in single], abs=1e-5)
        for hyp in batched[row]:  # a state row mixed up with another beam would change these
            reference = teacher_forced(decoder.memory_step, first[row].item(), alone, hyp.tokens)
            assert hyp.log_prob == pytest.approx(reference, abs=1e-4)


def test_greedy_batched_equals_one_row_at_a_time():
    decoder = TinyDecoder(7, eos_bias=1.5)
    first, state = memory_inputs(decoder, [4, 1, 6])
    batched = greedy_search(decoder.memory_step, first, state, max_length=10, eos_id=EOS)
    for row, hyp in enumerate(batched):
        alone = tuple(t[row:row + 1] for t in state)
        (single,) = greedy_search(decoder.memory_step, first[row:row + 1], alone, max_length=10, eos_id=EOS)
        assert single.tokens == hyp.tokens and single.log_prob == pytest.approx(hyp.log_prob, abs=1e-5)


# --- constraints -------------------------------------------------------------------------------------------------


def test_min_length_keeps_eos_away():
    decoder = TinyDecoder(8, eos_bias=4.0)
    first, state = lm_inputs(decoder, 3, seed=9)
    options = dict(max_length=10, eos_id=EOS)
    free = beam_search(decoder.lm_step, first, state, beam_size=3, n_best=3, **options)
    assert min(len(hyp.tokens) for hyps in free for hyp in hyps) < 4  # eos comes early without the mask
    held = beam_search(decoder.lm_step, first, state, beam_size=3, n_best=3, min_length=4, **options)
    greedy = greedy_search(decoder.lm_step, first, state, min_length=4, **options)
    for hyp in [h for hyps in held for h in hyps] + greedy:
        assert EOS not in hyp.tokens[:4]


CYCLE = chain({4: {1: 0.9, 2: 0.1}, 1: {2: 0.9, 3: 0.05, EOS: 0.05}, 2: {3: 0.9, 1: 0.05, EOS: 0.05},
               3: {1: 0.9, 2: 0.05, EOS: 0.05}, EOS: {EOS: 1.0}}, vocab=5)  # 1 2 3 1 2 3 ...


@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_repeat_ngram(n):
    first, options = torch.tensor([4, 2]), dict(max_length=20, eos_id=EOS, length_penalty=1.0)
    free = beam_search(markov(CYCLE), first, (), beam_size=4, n_best=4, **options)
    assert all(repeats_ngram(hyps[0].tokens, n) for hyps in free)
    hyps = [h for row in beam_search(markov(CYCLE), first, (), beam_size=4, n_best=4, no_repeat_ngram=n, **options)
            for h in row]
    hyps += greedy_search(markov(CYCLE), first, (), no_repeat_ngram=n, max_length=20, eos_id=EOS)
    assert hyps and not any(repeats_ngram(h.tokens, n) for h in hyps)


def test_no_repeat_trigram_on_long_beams():
    decoder = TinyDecoder(10, vocab=40)
    first, state = lm_inputs(decoder, 2, seed=11)
    rows = beam_search(decoder.lm_step, first, state, beam_size=5, n_best=5, max_length=100, min_length=100,
                       no_repeat_ngram=3, eos_id=EOS)
    for hyp in [h for hyps in rows for h in hyps]:
        assert len(hyp.tokens) == 100 and not repeats_ngram(hyp.tokens, 3)


def test_max_length_cuts_hypotheses_without_eos():
    never_ends = chain({1: {1: 0.5, 2: 0.5}, 2: {1: 0.7, 2: 0.3}, EOS: {EOS: 1.0}}, vocab=3)
    first = torch.tensor([1, 2])
    for hyps in beam_search(markov(never_ends), first, (), beam_size=3, n_best=3, max_length=6, eos_id=EOS):
        assert len(hyps) == 3
        for hyp in hyps:
            assert len(hyp.tokens) == 6 and EOS not in hyp.tokens
            assert hyp.score == pytest.approx(hyp.log_prob / (11 / 6))
    for hyp in greedy_search(markov(never_ends), first, (), max_length=6, eos_id=EOS):
        assert len(hyp.tokens) == 6 and EOS not in hyp.tokens


def test_n_best_is_sorted_distinct_and_extends_the_best():
    decoder = TinyDecoder(12, eos_bias=1.0)
    first, state = lm_inputs(decoder, 3, seed=13)
    options = dict(beam_size=4, max_length=12, eos_id=EOS, length_penalty=0.8)
    many = beam_search(decoder.lm_step, first, state, n_best=4, **options)
    one = beam_search(decoder.lm_step, first, state, **options)
    for hyps, best in zip(many, one):
        assert len(hyps) == 4 and all(isinstance(h, Hypothesis) for h in hyps)
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in hyps}) == 4
        assert hyps[0] == best[0]


# --- streaming ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "alpha"), [(14, 0.0), (15, 0.6), (16, 1.0), (17, 2.0)])
def test_beam_stream_concatenates_to_the_best(seed, alpha):
    decoder = TinyDecoder(seed, eos_bias=0.5)
    first, state = lm_inputs(decoder, 1, seed=seed)
    options = dict(beam_size=4, max_length=25, eos_id=EOS, length_penalty=alpha)
    chunks = list(beam_stream(decoder.lm_step, first, state, **options))
    best = beam_search(decoder.lm_step, first, state, **options)[0][0].tokens
    assert all(chunks) and sum(chunks, []) == (best[:-1] if best[-1] == EOS else best)


# 1 is certain, then [1, 2, eos] (0.42) wins over [1, 3, ...] once the beam has seen it end
SURE_START = chain({4: {1: 1.0}, 1: {2: 0.7, 3: 0.3}, 2: {EOS: 0.6, 3: 0.4}, 3: {EOS: 0.5, 1: 0.5},
                    EOS: {EOS: 1.0}}, vocab=5)


def test_beam_stream_yields_before_the_search_ends():
    calls = []

    def counted(y, state):
        calls.append(len(y))
        return markov(SURE_START)(y, state)

    stream = beam_stream(counted, torch.tensor([4]), (), beam_size=3, max_length=12, eos_id=EOS, length_penalty=0)
    assert next(stream) == [1] and len(calls) == 1
    assert list(stream) == [[2]] and len(calls) == 3
    best = beam_search(markov(SURE_START), torch.tensor([4]), (), beam_size=3, max_length=12, eos_id=EOS,
                       length_penalty=0)[0][0]
    assert best.tokens == [1, 2, EOS]


# --- arguments ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [dict(beam_size=0), dict(max_length=0), dict(n_best=3, beam_size=2), dict(n_best=0),
                                 dict(min_length=-1), dict(no_repeat_ngram=-2), dict(eos_id=-1), dict(eos_id=5),
                                 dict(length_penalty=float("nan")), dict(beam_size=2.5)])
def test_bad_arguments_raise(bad):
    options = dict(beam_size=2, max_length=4, eos_id=EOS) | bad
    with pytest.raises(ValueError) as error:
        beam_search(markov(TRAP), torch.tensor([BOS]), (), **options)
    assert "\n" not in str(error.value)


def test_bad_inputs_raise():
    step, h = markov(TRAP), torch.zeros(3, 2)
    with pytest.raises(ValueError, match="first"):
        beam_search(step, torch.tensor([[BOS]]), (), eos_id=EOS)
    with pytest.raises(ValueError, match="rows"):
        beam_search(step, torch.tensor([BOS, BOS]), (h,), eos_id=EOS)
    with pytest.raises(ValueError, match="rows"):
        greedy_search(step, torch.tensor([BOS, BOS]), (h,), max_length=3, eos_id=EOS)
    with pytest.raises(ValueError, match="one row"):
        beam_stream(step, torch.tensor([BOS, BOS]), (), eos_id=EOS)
    with pytest.raises(ValueError, match="max_length"):
        greedy_search(step, torch.tensor([BOS]), (), max_length=0, eos_id=EOS)
