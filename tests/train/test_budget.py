"""Training to a wall-clock budget: the planned updates all run (the schedule ends), and the run ends with
an evaluation and a best checkpoint."""

from dataclasses import replace

import torch

from rnnkit.checkpoint import RunMeta
from rnnkit.data.memory import make_task
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.sequence import SequenceConfig, SequenceModel
from rnnkit.rundir import RunDir
from rnnkit.train import budget
from rnnkit.train.budget import fit_for
from rnnkit.train.optim import schedule_factor
from rnnkit.train.trainer import TrainConfig, Trainer


def trainer(tmp_path) -> Trainer:
    torch.manual_seed(0)
    train, test = make_task("adding", length=10, num_batches=4), make_task("adding", length=10, split="test")
    model = SequenceModel(SequenceConfig(**train.config.model_fields(), encoder=EncoderConfig(hidden_size=8)))
    cfg = TrainConfig(steps=10**6, lr=1e-2, schedule="cosine", eval_every=10**9, progress=False)
    run = RunDir(tmp_path / "run", task="adding", config={}, resume=False, overwrite=False)
    return Trainer(model, cfg, train=train, valid=test, run=run, meta=RunMeta(task="adding", config={}))


def test_the_schedule_ends_and_the_run_is_evaluated(tmp_path, monkeypatch):
    plans = []
    real_plan = budget._plan
    monkeypatch.setattr(budget, "_plan", lambda *a: plans.append(a[1]) or real_plan(*a))
    t = trainer(tmp_path)
    torch.set_num_threads(1)
    fit_for(t, 0.05)  # three seconds
    # planned after calibration, again after each fifth that the deadline cut (a fifth whose planned updates
    # ran out first ends the planning: the machine got faster), then for the last part
    assert 1 <= len(plans) <= budget.REPLANS + 1
    assert plans == sorted(plans)
    assert t.step == t.cfg.steps or t.stopped.startswith("the 0.05-minute budget ran out")
    evaluations = [r for r in t.run.read_metrics() if "valid_loss" in r]
    assert len(evaluations) == 1 and evaluations[0]["step"] == t.step  # only at the end
    assert (tmp_path / "run" / "best").exists()


def test_max_epochs_ends_a_budget_early_with_its_schedule_complete(tmp_path):
    t = trainer(tmp_path)
    t.cfg = replace(t.cfg, max_epochs=2.5)  # the source gives 4 batches a pass: 10 updates
    assert t.capped and t.cfg.steps == 10
    fit_for(t, 0.5)  # thirty seconds would allow thousands
    assert t.step == 10
    assert t.stopped == "stopped after 2.5 passes over the training data (train.max_epochs) at update 10"
    evaluations = [r for r in t.run.read_metrics() if "valid_loss" in r]
    assert evaluations and evaluations[-1]["step"] == 10
    assert schedule_factor(t.step, t.cfg) == t.cfg.min_lr_ratio  # the cosine reached its end at the cap


def test_max_epochs_caps_a_fixed_run_and_needs_a_length(tmp_path):
    t = trainer(tmp_path)
    t.cfg = replace(t.cfg, steps=6, max_epochs=3)
    assert not t.capped and t.cfg.steps == 6  # 12 updates allowed: the run's own 6 stand
    t.train_data = Unsized(t.train_data)
    t.cfg = replace(t.cfg, steps=100)
    assert not t.capped and t.cfg.steps == 100  # a source without a length is never cut


class Unsized:
    """A training source that does not know its length."""

    def __init__(self, source):
        self.source = source

    def batches(self, epoch):
        return self.source.batches(epoch)
