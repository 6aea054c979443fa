"""Training: the loop, optimizers and schedules, diagnostics of gradient flow."""

from rnnkit.train.trainer import DataSource, TrainConfig, Trainer, TrainingDiverged

__all__ = ["DataSource", "TrainConfig", "Trainer", "TrainingDiverged"]
