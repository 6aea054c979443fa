"""Training to a wall-clock budget: the planned updates all run (the schedule ends), and the run ends with
an evaluation and a best checkpoint."""

import torch

from rnnkit.checkpoint import RunMeta
from rnnkit.data.memory import make_task
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.sequence import SequenceConfig, SequenceModel
from rnnkit.rundir import RunDir
from rnnkit.train import budget
from rnnkit.train.budget import fit_for
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
    assert len(plans) == budget.REPLANS + 1  # planned after calibration, after each fifth, then the last part
    assert plans == sorted(plans)
    assert t.step == t.cfg.steps or t.stopped.startswith("time budget")
    evaluations = [r for r in t.run.read_metrics() if "valid_loss" in r]
    assert len(evaluations) == 1 and evaluations[0]["step"] == t.step  # only at the end
    assert (tmp_path / "run" / "best").exists()
