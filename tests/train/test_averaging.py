"""The moving average of the weights: its arithmetic, what evaluations and checkpoints read, exact resume."""

import pytest
import torch

from rnnkit import checkpoint as ckpt
from rnnkit.train.averaging import ema

from .test_resume import Stream, make


def test_the_average_follows_the_warmed_up_decay():
    model = torch.nn.Linear(3, 2)
    average = ema(model, 0.9)
    want = [p.detach().clone() for p in model.parameters()]
    for n in range(1, 30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        average.update_parameters(model)
        if n == 1:
            want = [p.detach().clone() for p in model.parameters()]  # the first update copies
        else:
            d = min(0.9, n / (9 + n))  # (1 + updates before) / (10 + updates before)
            want = [d * w + (1 - d) * p.detach() for w, p in zip(want, model.parameters())]
    for got, w in zip(average.module.parameters(), want):
        torch.testing.assert_close(got, w)


def test_a_decay_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="ema_decay"):
        ema(torch.nn.Linear(2, 2), 1.0)


def test_evaluations_and_checkpoints_read_the_average(tmp_path):
    trainer = make(tmp_path / "a", ema_decay=0.8)
    trainer.cfg.steps = 8
    trainer.fit()
    raw = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    averaged = trainer.average.module.state_dict()
    assert any(not torch.equal(raw[k], averaged[k]) for k in raw)
    saved = ckpt.load(tmp_path / "a" / "last").model
    assert all(torch.equal(saved[k], averaged[k]) for k in raw)
    scored = trainer.evaluate(Stream())["loss"]
    trainer.model.load_state_dict(averaged)
    trainer.average = None
    assert trainer.evaluate(Stream())["loss"] == scored


def test_finish_leaves_the_average_in_the_model(tmp_path):
    trainer = make(tmp_path / "f", ema_decay=0.8)
    trainer.cfg.steps = 4
    trainer.fit()
    averaged = {k: v.clone() for k, v in trainer.average.module.state_dict().items()}
    trainer.finish()
    assert trainer.average is None
    assert all(torch.equal(v, averaged[k]) for k, v in trainer.model.state_dict().items())


def test_resume_with_an_average_equals_an_uninterrupted_run(tmp_path):
    full = make(tmp_path / "a", ema_decay=0.8)
    losses = [r["loss"] for r in full.fit() if "loss" in r]
    first = make(tmp_path / "b", ema_decay=0.8)
    first.cfg.steps = 8
    first.fit()
    resumed = make(tmp_path / "b", ema_decay=0.8)
    resumed.resume(ckpt.load(tmp_path / "b" / "last"))
    rest = [r["loss"] for r in resumed.fit() if "loss" in r]
    assert rest == losses[8:]
    for a, b in zip(full.average.module.state_dict().values(), resumed.average.module.state_dict().values()):
        assert torch.equal(a, b)
