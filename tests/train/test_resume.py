"""Checkpoints written by the trainer resume exactly, and never hold a diverged model."""

import pytest
import torch

from rnnkit import checkpoint as ckpt
from rnnkit.batch import Batch
from rnnkit.checkpoint import RunMeta
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.sequence import SequenceConfig, SequenceModel
from rnnkit.rundir import RunDir
from rnnkit.train import TrainConfig, Trainer, TrainingDiverged


class Stream:
    """A deterministic stream of chunks per epoch: truncated BPTT with carried state and resets."""

    def batches(self, epoch):
        g = torch.Generator().manual_seed(epoch)
        for k in range(5):
            x = torch.randn(4, 6, 3, generator=g)
            yield Batch(inputs=x, targets=x[..., :1].cumsum(1) / 3, reset=torch.tensor([k == 0, k == 2, False, k == 0]))


def make(run_dir, **kw):
    torch.manual_seed(0)
    model = SequenceModel(SequenceConfig(input_size=3, readout="every",
                                         encoder=EncoderConfig(cell="gru", hidden_size=8, dropout=0.0,
                                                               num_layers=2)))
    cfg = TrainConfig(steps=12, eval_every=4, progress=False, log_every=1, lr=3e-3, **kw)
    run = RunDir(run_dir, task="test", config={"x": 1}, resume=True)
    return Trainer(model, cfg, train=Stream(), valid=Stream(), run=run, meta=RunMeta(task="test", config={}))


def test_resume_gives_the_losses_of_an_uninterrupted_run(tmp_path):
    full = [r["loss"] for r in make(tmp_path / "a").fit() if "loss" in r]
    # a second run stopped after 8 updates (its last checkpoint is at step 8), then resumed
    first = make(tmp_path / "b")
    first.cfg.steps = 8
    first.fit()
    resumed = make(tmp_path / "b")
    checkpoint = ckpt.load(tmp_path / "b" / "last")
    assert checkpoint.meta["step"] == 8 and checkpoint.trainer["carry"] is not None
    resumed.resume(checkpoint)
    rest = [r["loss"] for r in resumed.fit() if "loss" in r]
    assert rest == full[8:], "resumed losses must equal the uninterrupted run's, bit for bit"


def test_best_checkpoint_follows_the_validation_metric(tmp_path):
    trainer = make(tmp_path / "c")
    history = trainer.fit()
    evals = [r for r in history if "valid_loss" in r]
    best = min(evals, key=lambda r: r["valid_loss"])
    assert ckpt.load(tmp_path / "c" / "best").meta["step"] == best["step"]
    assert ckpt.load(tmp_path / "c" / "last").meta["step"] == 12


def test_a_diverged_model_is_never_saved(tmp_path):
    trainer = make(tmp_path / "d")
    trainer.cfg.steps = 4
    trainer.fit()
    before = ckpt.load(tmp_path / "d" / "last").meta
    with torch.no_grad():
        next(trainer.model.parameters())[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="nothing was saved"):
        trainer.save("last")
    assert ckpt.load(tmp_path / "d" / "last").meta == before
