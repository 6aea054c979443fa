"""Training to a wall-clock budget: time the first updates, then set the number of updates so that the
learning-rate schedule (cosine) ends when the budget does.

Warmup does not depend on the total number of updates, so the updates timed during warmup follow the
same schedule they would have followed had the total been known from the start.
"""

from __future__ import annotations

import time
from dataclasses import replace

from rnnkit.train.trainer import Trainer

WARM_STEPS = 5
REPLANS = 4  # times the speed is measured again and the number of updates set anew


def fit_for(trainer: Trainer, minutes: float, *, calibration_steps: int = 20) -> float:
    """Train ``trainer`` for about ``minutes`` of wall time; returns the seconds it took. The trainer is
    finished then: its model holds the averaged weights when it averages (``TrainConfig.ema_decay``).

    After ``WARM_STEPS`` untimed updates, ``calibration_steps`` updates measure the speed (no evaluation
    runs among them); ``trainer.cfg.steps`` is then set to the updates that fit, planned again after each of
    ``REPLANS`` fifths of the time left (evaluating only in the last part), and ``max_minutes`` guards the
    rest (evaluations included). ``TrainConfig.max_epochs`` cuts each plan, so a budget that allows more
    passes than that ends early, its schedule complete, with ``trainer.stopped`` saying so. The schedule
    is exact when ``warmup_steps`` covers these first updates; otherwise they ran on the schedule of a
    shorter run.
    """
    if minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    budget, cfg, valid = 60 * minutes, trainer.cfg, trainer.valid_data
    started = time.perf_counter()
    trainer.valid_data = None  # no evaluation inside the timed updates
    trainer.cfg = replace(cfg, steps=trainer.step + WARM_STEPS)
    trainer.fit()  # the first calls are slow (kernel selection, allocation): leave them out of the timing
    timed = time.perf_counter()
    trainer.cfg = replace(cfg, steps=trainer.step + calibration_steps)
    trainer.fit()
    per_step = (time.perf_counter() - timed) / calibration_steps
    # The early timing runs slow (caches, allocator) and a machine's speed drifts: plan with the speed
    # seen so far, train a fifth of the time left without evaluating (an evaluation would count as slow
    # updates), and plan again; each time the cosine shifts a little, less and less. Then the last part.
    finished = False
    for _ in range(REPLANS):
        first, left = trainer.step, budget - (time.perf_counter() - started)
        trainer.cfg = replace(_plan(cfg, first, per_step, left), max_minutes=left / 5 / 60)
        timed = time.perf_counter()
        trainer.fit()  # stops on the deadline, a fifth of the way
        if not trainer.stopped.startswith("time budget"):
            finished = True  # the planned updates (or train.max_epochs) ran out before the deadline
            break
        trainer.stopped = ""
        if trainer.step > first:
            per_step = (time.perf_counter() - timed) / (trainer.step - first)
    trainer.valid_data = valid
    if not finished:
        trainer.cfg = _plan(cfg, trainer.step, per_step, budget - (time.perf_counter() - started))
        trainer.fit()  # ends with an evaluation and the best checkpoint
        if trainer.stopped.startswith("time budget"):  # the machine slowed down: the schedule did not end
            trainer.stopped = (f"the {minutes:g}-minute budget ran out at update {trainer.step:,} of the "
                               f"{trainer.cfg.steps:,} planned")
    elif valid is not None:
        trainer.evaluate_and_checkpoint()
    trainer.finish()
    return time.perf_counter() - started


def _plan(cfg, step: int, per_step: float, left: float):
    """``cfg`` with the updates that fit ``left`` seconds at ``per_step`` each, and a deadline."""
    steps = step + max(1, int(left / per_step * 0.97))  # a little room for evaluations
    return replace(cfg, steps=steps, max_minutes=max(left, 1.0) / 60)
