"""Training with the Trainer on a memory task, and the history plot it leaves."""

import torch

from rnnkit.batch import Batch
from rnnkit.data.memory import AddingConfig, AddingProblem
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.sequence import SequenceConfig, SequenceModel
from rnnkit.train.plots import plot_history
from rnnkit.train.trainer import TrainConfig, Trainer

PNG = b"\x89PNG\r\n\x1a\n"


class OneBatch:
    """A data source that yields the same batch every epoch."""

    def __init__(self, batch: Batch):
        self.batch = batch

    def batches(self, epoch: int):
        yield self.batch


def test_lstm_overfits_one_batch_of_the_adding_problem(tmp_path):
    torch.manual_seed(0)
    task = AddingConfig(length=10, batch_size=8, num_batches=1)
    batch = next(iter(AddingProblem(task).batches(0)))
    model = SequenceModel(SequenceConfig(**task.model_fields(), encoder=EncoderConfig(cell="lstm", hidden_size=32)))
    cfg = TrainConfig(steps=200, lr=1e-2, clip_norm=1.0, eval_every=50, log_every=1, progress=False)
    trainer = Trainer(model, cfg, train=OneBatch(batch), valid=OneBatch(batch))
    before = trainer.evaluate()["loss"]
    history = trainer.fit()
    evals = [r["valid_loss"] for r in history if "valid_loss" in r]
    assert len(evals) == 4 and len([r for r in history if "grad_norm" in r]) == 200
    assert before > 0.05 and evals[-1] < 0.005  # memorised the 8 sums
    assert any(r["clipped"] for r in history if "clipped" in r)  # early updates hit the clip norm
    path = plot_history(history, tmp_path / "history.png", clip_norm=cfg.clip_norm)
    assert path.read_bytes().startswith(PNG)


def test_plot_history_copes_with_gaps(tmp_path):
    history = [
        {"step": 1, "loss": 1.0, "grad_norm": 3.0, "clipped": True},
        {"step": 2, "loss": float("nan"), "grad_norm": float("inf"), "clipped": True, "skipped": True},
        {"step": 2, "valid_loss": 0.5, "best": True},
    ]
    assert plot_history(history, tmp_path / "h.png").read_bytes().startswith(PNG)
    assert plot_history([], tmp_path / "empty.png").read_bytes().startswith(PNG)
