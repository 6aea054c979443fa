"""Bucketed batches: every example once an epoch, little padding, the same batches for the same epoch."""

import pytest
import torch

from rnnkit.data.buckets import BucketedBatches


def data(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 60, (n,), generator=g).tolist()
    return [torch.full((t,), i + 1) for i, t in enumerate(lengths)], [i % 3 for i in range(n)]


def test_every_example_once_per_epoch_with_its_target():
    seqs, targets = data()
    source = BucketedBatches(seqs, targets, batch_size=16, pool=4)
    seen = []
    for batch in source.batches(3):
        for row, (i, t, n) in enumerate(zip(batch.extras["index"], batch.targets, batch.lengths)):
            assert int(t) == targets[int(i)] and int(n) == len(seqs[int(i)])
            assert (batch.inputs[row, : int(n)] == int(i) + 1).all()
        seen += batch.extras["index"].tolist()
    assert sorted(seen) == list(range(200))


def test_buckets_pad_less_than_random_batches():
    seqs, targets = data()
    source = BucketedBatches(seqs, targets, batch_size=16, pool=50)
    padded = sum(b.inputs.numel() for b in source.batches(0))
    random_order = BucketedBatches(seqs, targets, batch_size=16, pool=1)  # a pool of one batch: no sorting
    assert padded < 0.75 * sum(b.inputs.numel() for b in random_order.batches(0))


def test_the_same_epoch_gives_the_same_batches_and_another_epoch_others():
    seqs, targets = data()
    a = BucketedBatches(seqs, targets, batch_size=8, seed=5)
    assert a.order(2) == BucketedBatches(seqs, targets, batch_size=8, seed=5).order(2)
    assert a.order(2) != a.order(3)
    assert a.order(2) != BucketedBatches(seqs, targets, batch_size=8, seed=6).order(2)


def test_evaluation_order_is_sorted_by_length_and_complete():
    seqs, targets = data(50)
    order = BucketedBatches(seqs, targets, batch_size=7, shuffle=False).order(0)
    flat = [i for b in order for i in b]
    assert sorted(flat) == list(range(50))
    assert [len(seqs[i]) for i in flat] == sorted(len(s) for s in seqs)


def test_bad_arguments():
    with pytest.raises(ValueError, match="targets"):
        BucketedBatches([torch.ones(2)], [0, 1])
    with pytest.raises(ValueError, match="no examples"):
        BucketedBatches([], [])
    with pytest.raises(ValueError, match="at least one step"):
        BucketedBatches([torch.ones(0)], [0])
