"""Output heads for piano-roll frames: exact normalisation by enumeration, the parallel NADE against a slow
sequential reference, sampling against the modelled distribution, shapes, gradients and the frequency bias."""

import copy
import itertools
import math

import pytest
import torch

from rnnkit.tasks.music.heads import JointHead, SigmoidHead

HEADS = [SigmoidHead, JointHead]


def all_frames(pitches: int) -> torch.Tensor:
    """(2^P, P) every frame; row k is k in binary, pitch 0 the most significant bit."""
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=pitches)), dtype=torch.float64)


def frame_codes(frames: torch.Tensor) -> torch.Tensor:
    """(..., P) frames -> (...) their row index in ``all_frames``."""
    pitches = frames.shape[-1]
    return (frames.long() * (2 ** torch.arange(pitches - 1, -1, -1))).sum(-1)


def make(kind, in_features: int, pitches: int, *, seed: int, scale: float = 0.0):
    """A float64 head, its parameters moved by ``scale`` standard normals so the distribution is not flat."""
    torch.manual_seed(seed)
    head = kind(in_features, pitches) if kind is SigmoidHead else kind(in_features, pitches, hidden=7)
    head = head.double()
    perturb(head, scale)
    return head


def perturb(head, scale: float) -> None:
    with torch.no_grad():
        for p in head.parameters():
            p.add_(scale * torch.randn_like(p))


def probabilities(head, h: torch.Tensor, pitches: int) -> torch.Tensor:
    """h (D,) -> (2^P,) exp(-nll) of every frame."""
    frames = all_frames(pitches)
    return torch.exp(-head.nll(h.expand(len(frames), -1), frames))


def reference_conditional(head: JointHead, h: torch.Tensor, v: torch.Tensor, i: int) -> torch.Tensor:
    """p(v_i = 1 | v_<i, h) straight from the NADE equations, a_i summed from scratch."""
    a = head.hidden_in.bias + head.hidden_in.weight @ h
    for j in range(i):
        a = a + head.W[:, j] * v[j]
    return torch.sigmoid(head.out.bias[i] + head.out.weight[i] @ h + head.V[i] @ torch.sigmoid(a))


@pytest.mark.parametrize("kind", HEADS)
def test_probabilities_of_all_frames_sum_to_one(kind):
    pitches, head = 6, make(kind, 5, 6, seed=0)
    for _ in range(3):
        perturb(head, 1.0)
        for h in torch.randn(3, 5, dtype=torch.float64):
            assert probabilities(head, h, pitches).sum().item() == pytest.approx(1.0, abs=1e-5)


def test_joint_nll_is_the_product_of_sequential_conditionals():
    head = make(JointHead, 5, 6, seed=1, scale=1.0)
    h = torch.randn(5, dtype=torch.float64)
    with torch.no_grad():
        for v in all_frames(6)[::5]:
            conditionals = [reference_conditional(head, h, v, i).item() for i in range(6)]
            product = math.prod(p if v_i else 1 - p for p, v_i in zip(conditionals, v, strict=True))
            assert head.nll(h, v).item() == pytest.approx(-math.log(product), rel=1e-10)


def sampled_distribution(head, h: torch.Tensor, pitches: int, *, temperature: float = 1.0) -> torch.Tensor:
    """(2^P,) frequencies of each frame among 20k samples at h (D,)."""
    generator = torch.Generator().manual_seed(7)
    samples = head.sample(h.expand(20_000, -1), temperature=temperature, generator=generator)
    return torch.bincount(frame_codes(samples), minlength=2**pitches).double() / len(samples)


@pytest.mark.parametrize("kind", HEADS)
def test_samples_follow_the_modelled_distribution(kind):
    head = make(kind, 5, 4, seed=2, scale=1.0)
    h = torch.randn(5, dtype=torch.float64)
    with torch.no_grad():
        expected = probabilities(head, h, 4)
    assert expected.max() > 2 / 16  # not close to uniform, so the check has teeth
    assert 0.5 * (sampled_distribution(head, h, 4) - expected).abs().sum() < 0.03


@pytest.mark.parametrize("kind", HEADS)
def test_temperature_divides_the_logits(kind):
    head = make(kind, 5, 4, seed=3, scale=1.0)
    sharp = copy.deepcopy(head)  # every logit is linear in out and V: doubling them doubles the logits
    with torch.no_grad():
        for p in [*sharp.out.parameters(), *([sharp.V] if kind is JointHead else [])]:
            p.mul_(2)
    h = torch.randn(5, dtype=torch.float64)
    with torch.no_grad():
        expected = probabilities(sharp, h, 4)
    assert 0.5 * (sampled_distribution(head, h, 4, temperature=0.5) - expected).abs().sum() < 0.03


@pytest.mark.parametrize("kind", HEADS)
def test_temperature_zero_is_greedy_and_deterministic(kind):
    head = make(kind, 5, 6, seed=4, scale=1.0)
    h = torch.randn(32, 5, dtype=torch.float64)
    first = head.sample(h, temperature=0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, head.sample(h, temperature=0, generator=torch.Generator().manual_seed(1)))
    assert torch.equal(first, head.sample(h, temperature=0))
    if kind is SigmoidHead:
        expected = (torch.sigmoid(head.out(h)) > 0.5).double()
    else:
        expected = torch.zeros(32, 6, dtype=torch.float64)
        with torch.no_grad():
            for row, v in zip(h, expected, strict=True):
                for i in range(6):
                    v[i] = float(reference_conditional(head, row, v, i) > 0.5)
    assert torch.equal(first, expected)


@pytest.mark.parametrize("kind", HEADS)
def test_negative_temperature_is_an_error(kind):
    with pytest.raises(ValueError, match="temperature"):
        kind(5, 4).sample(torch.zeros(5), temperature=-1.0)


@pytest.mark.parametrize("kind", HEADS)
def test_leading_dims_and_gradients(kind):
    torch.manual_seed(5)
    head = kind(5, 7)
    h = torch.randn(2, 3, 5)
    frames = torch.bernoulli(torch.full((2, 3, 7), 0.5))
    nll = head.nll(h, frames)
    assert nll.shape == (2, 3) and bool((nll > 0).all())
    nll.sum().backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    samples = head.sample(h, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (2, 3, 7) and samples.dtype == h.dtype
    assert set(samples.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("kind", HEADS)
def test_set_frequencies_sets_the_output_bias(kind):
    torch.manual_seed(6)
    head = kind(8, 6).double()
    p = torch.tensor([0.0, 0.01, 0.2, 0.5, 0.9, 1.0], dtype=torch.float64)
    head.set_frequencies(p)
    clamped = p.clamp(1e-4, 1 - 1e-4)
    assert torch.allclose(torch.sigmoid(head.out.bias), clamped, rtol=1e-9, atol=0)
    with pytest.raises(ValueError, match="frequencies"):
        head.set_frequencies(p[:5])


def test_set_frequencies_gives_an_untrained_sigmoid_head_those_mean_probabilities():
    torch.manual_seed(7)
    head = SigmoidHead(8, 6).double()
    p = torch.tensor([0.0, 0.01, 0.2, 0.5, 0.9, 1.0], dtype=torch.float64)
    head.set_frequencies(p)
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(head.out(torch.zeros(8, dtype=torch.float64))), p, atol=1e-4)
        mean = torch.sigmoid(head.out(0.05 * torch.randn(4096, 8, dtype=torch.float64))).mean(0)
    assert torch.allclose(mean, p, atol=0.01)
