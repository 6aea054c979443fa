"""The memory-capacity tasks: shapes, targets, determinism per (seed, epoch), splits, and model fields."""

import math

import pytest
import torch

from rnnkit.data.memory import (
    AddingConfig,
    AddingProblem,
    CopyConfig,
    CopyMemory,
    DigitsConfig,
    SequentialDigits,
    make_task,
)
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.sequence import IGNORE, SequenceConfig, SequenceModel


def first(source, epoch=0):
    return next(iter(source.batches(epoch)))


def same_batches(a, b) -> bool:
    return all(torch.equal(x.inputs, y.inputs) and torch.equal(x.targets, y.targets) for x, y in zip(a, b))


# ---- adding problem -----------------------------------------------------------------------------------
def test_adding_shapes_markers_and_target():
    batch = first(AddingProblem(AddingConfig(length=30, batch_size=50)))
    assert batch.inputs.shape == (50, 30, 2) and batch.targets.shape == (50, 1)
    values, markers = batch.inputs[..., 0], batch.inputs[..., 1]
    assert values.min() >= 0 and values.max() <= 1
    assert torch.equal(markers.sum(1), torch.full((50,), 2.0))  # exactly two markers ...
    assert set(markers.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(markers[:, :15].sum(1), torch.ones(50))  # ... one in each half
    assert torch.equal(markers[:, 15:].sum(1), torch.ones(50))
    torch.testing.assert_close(batch.targets[:, 0], (values * markers).sum(1))


def test_adding_odd_length_halves():
    batch = first(AddingProblem(AddingConfig(length=7, batch_size=200)))
    markers = batch.inputs[..., 1]
    assert torch.equal(markers[:, :3].sum(1), torch.ones(200))  # T // 2 = 3 steps in the first half
    assert torch.equal(markers[:, 3:].sum(1), torch.ones(200))


def test_adding_mean_predictor_scores_one_sixth():
    batch = first(AddingProblem(AddingConfig(length=10, batch_size=20000)))
    mse = float(((batch.targets - 1.0) ** 2).mean())
    assert abs(mse - 1 / 6) < 0.01
    assert AddingConfig().baseline()["loss"] == pytest.approx(1 / 6)


@pytest.mark.parametrize("task", ["adding", "copy"])
def test_generated_tasks_are_deterministic_per_seed_and_epoch(task):
    source = make_task(task, length=12, batch_size=4, num_batches=3, seed=5)
    again = make_task(task, length=12, batch_size=4, num_batches=3, seed=5)
    assert len(list(source.batches(0))) == 3
    assert same_batches(source.batches(2), again.batches(2))
    assert not same_batches(source.batches(0), source.batches(1))
    other_seed = make_task(task, length=12, batch_size=4, num_batches=3, seed=6)
    assert not same_batches(source.batches(0), other_seed.batches(0))
    test = make_task(task, length=12, batch_size=4, num_batches=3, seed=5, split="test")
    assert same_batches(test.batches(0), test.batches(7))  # one fixed held-out set ...
    assert not same_batches(test.batches(0), source.batches(0))  # ... apart from the training stream


def test_generation_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    list(make_task("adding", length=10).batches(0))
    assert torch.equal(torch.rand(3), expected)


# ---- copy memory --------------------------------------------------------------------------------------
def test_copy_layout_and_targets():
    cfg = CopyConfig(length=15, batch_size=6)
    batch = first(CopyMemory(cfg))
    K, T = 10, 15
    assert batch.inputs.shape == batch.targets.shape == (6, T + 2 * K)
    symbols = batch.inputs[:, :K]
    assert symbols.min() >= 1 and symbols.max() <= 8
    assert torch.equal(batch.inputs[:, K + T - 1], torch.full((6,), 9))  # the delimiter after T - 1 blanks
    rest = torch.cat([batch.inputs[:, K : K + T - 1], batch.inputs[:, K + T :]], dim=1)
    assert torch.equal(rest, torch.zeros_like(rest))  # blanks everywhere else
    assert torch.equal(batch.targets[:, -K:], symbols)
    assert bool((batch.targets[:, :-K] == IGNORE).all())
    assert cfg.baseline() == pytest.approx({"loss": math.log(8), "accuracy": 1 / 8})


# ---- sequential digits --------------------------------------------------------------------------------
def test_digits_split_sizes_and_disjointness():
    train = SequentialDigits(DigitsConfig(), split="train")
    test = SequentialDigits(DigitsConfig(), split="test")
    assert (len(train.labels), len(test.labels)) == (1437, 360)
    flat_train = {tuple(x.flatten().tolist()) for x in train.images}
    assert not any(tuple(x.flatten().tolist()) in flat_train for x in test.images[:50])
    assert set(test.labels.tolist()) == set(range(10))
    again = SequentialDigits(DigitsConfig(seed=3), split="test")  # the split does not follow the training seed
    assert torch.equal(again.labels, test.labels)


def test_digits_rows_and_pixels():
    rows = SequentialDigits(DigitsConfig(length=8), split="test")
    pixels = SequentialDigits(DigitsConfig(length=64), split="test")
    assert rows.images.shape == (360, 8, 8) and pixels.images.shape == (360, 64, 1)
    assert torch.equal(rows.images.reshape(360, 64), pixels.images.reshape(360, 64))  # row-major pixel order
    assert rows.images.min() >= 0 and rows.images.max() <= 1
    batch = first(rows)
    assert batch.inputs.shape == (64, 8, 8) and batch.targets.dtype == torch.long


def test_digits_batches_per_epoch():
    train = SequentialDigits(DigitsConfig(batch_size=100))
    batches = list(train.batches(0))
    assert len(batches) == len(train) == 15  # ceil(1437 / 100), the last one partial
    assert sum(b.size for b in batches) == 1437
    assert same_batches(train.batches(1), SequentialDigits(DigitsConfig(batch_size=100)).batches(1))
    assert not same_batches(train.batches(0), train.batches(1))  # reshuffled per epoch
    assert len(list(SequentialDigits(DigitsConfig(num_batches=4)).batches(0))) == 4
    test = SequentialDigits(DigitsConfig(), split="test")
    assert same_batches(test.batches(0), test.batches(3))


# ---- any task, any cell -------------------------------------------------------------------------------
@pytest.mark.parametrize("task,length", [("adding", 9), ("copy", 5), ("digits", 8), ("digits", 64)])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "mingru"])
def test_model_fields_build_a_model_for_every_task_and_cell(task, length, cell):
    source = make_task(task, length=length, batch_size=3, num_batches=1)
    cfg = SequenceConfig(**source.config.model_fields(), encoder=EncoderConfig(cell=cell, hidden_size=8))
    out = SequenceModel(cfg)(first(source))
    assert out.loss.ndim == 0 and math.isfinite(float(out.loss.detach()))


def test_bad_settings_are_errors():
    with pytest.raises(ValueError, match="unknown task 'nope'; known: adding, copy, digits"):
        make_task("nope")
    with pytest.raises(ValueError, match="length"):
        AddingConfig(length=1)
    with pytest.raises(ValueError, match="8 .* or 64"):
        DigitsConfig(length=10)
    with pytest.raises(ValueError, match="split"):
        AddingProblem(split="valid")
