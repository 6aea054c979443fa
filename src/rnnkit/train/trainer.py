"""The training loop: batches in, state carried or reset, forward, loss, backward, clip, step.

Backpropagation through time is what ``loss.backward()`` does on an unrolled recurrence. Two regimes:

- full BPTT: every batch holds whole sequences (``batch.reset`` is None) and starts from a zero state;
- truncated BPTT: a stream loader cuts long sequences into chunks of k steps; row b of one chunk
  continues row b of the previous one. The final state of a chunk is carried into the next and detached
  there, so gradients flow back at most k steps while the memory runs on::

      chunk 1          chunk 2          chunk 3
      x1 x2 x3 x4 | x5 x6 x7 x8 | x9 ...      state ->|detach|-> state ->|detach|-> ...
                                              rows with batch.reset set start again from zero

The trainer knows a model only through ``forward(batch, state) -> Output`` (``rnnkit.models.base``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Literal, Protocol

import torch
from torch import nn

from rnnkit import checkpoint as ckpt
from rnnkit import state as st
from rnnkit.batch import Batch
from rnnkit.models.base import Output
from rnnkit.rundir import RunDir
from rnnkit.state import State
from rnnkit.train import averaging, optim
from rnnkit.train.progress import Progress


@dataclass
class TrainConfig:
    """Settings of the training loop. ``steps`` counts optimizer updates; each update accumulates the
    gradients of ``accumulate`` batches. ``metric`` names the validation figure that picks the best
    checkpoint and drives early stopping and the plateau schedule ("loss", or a metric such as
    "accuracy"), with ``metric_mode`` saying whether lower or higher is better. ``max_minutes`` stops
    training after that much wall time in one ``fit`` call (the schedule still runs on ``steps``).
    ``ema_decay`` keeps an exponential moving average of the weights (``rnnkit.train.averaging``), which
    evaluations and checkpoints then use."""

    steps: int = 1000
    # "adam", "adamw" (weight decay decoupled from the gradient), or "sgd" with ``momentum``
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3  # the learning rate after warmup, before the schedule scales it down
    # on matrices only (biases and norm gains skip it): L2 for adam and sgd, decoupled for adamw
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    # after warmup: "constant", "cosine" (down to min_lr_ratio * lr at ``steps``), or "plateau" (cut by plateau_factor
    # when the metric stalls)
    schedule: Literal["constant", "cosine", "plateau"] = "constant"
    warmup_steps: int = 0  # updates over which the rate rises linearly to lr; 0: none
    min_lr_ratio: float = 0.0  # cosine schedule: the rate at the last update, as a fraction of lr
    plateau_factor: float = 0.5  # plateau schedule: multiplies the rate after each plateau_patience evaluations
    plateau_patience: int = 2  # plateau schedule: evaluations without a better metric before each cut
    clip_norm: float | None = 1.0  # rescale gradients whose global L2 norm is above this; none: no clipping
    clip_value: float | None = None  # first clamp each gradient element to [-clip_value, clip_value]; none: off
    accumulate: int = 1
    eval_every: int = 200  # updates between evaluations (each writes checkpoints); the last update is evaluated too
    eval_batches: int | None = None  # validation batches an evaluation reads; none: the whole split
    metric: str = "loss"
    metric_mode: Literal["min", "max"] = "min"
    early_stop_patience: int | None = None  # stop after this many evaluations without a better metric; none: never
    seed: int = 0  # torch's random seed, set before the model is built: initial weights, dropout masks
    # "fp32", or autocast to "bf16" or "fp16" (CUDA only; fp16 with a gradient scaler)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    device: str = "cpu"  # the torch device to train on: "cpu", "cuda", "cuda:1", ...
    nan_patience: int = 3  # NaN guard: skipped updates in a row before the rate is multiplied by nan_lr_factor
    nan_lr_factor: float = 0.5  # NaN guard: what the rate is multiplied by after nan_patience skipped updates
    max_nan_steps: int = 20  # NaN guard: skipped updates in all before training stops as diverged
    log_every: int = 10  # updates between logged training records (loss, rate, gradient norm, speed)
    # also write the ``last`` checkpoint every this many updates; none or 0: at evaluations only
    checkpoint_every: int | None = None
    max_minutes: float | None = None
    # stop after this many passes over the training data, ``steps`` cut to fit them (so the schedule ends there,
    # and a time budget that allows more ends early); none: no limit. Needs a training source with a length.
    max_epochs: float | None = None
    ema_decay: float | None = None
    progress: bool = True  # show a progress bar on the terminal
    tensorboard: bool = False  # also log to TensorBoard in the run directory (needs the tensorboard package)


class DataSource(Protocol):
    """Batches for one pass over the data; the same ``epoch`` must give the same batches (resume). A source
    that knows how many batches a pass gives says so with ``__len__``, or with ``batches_per_epoch`` where
    its length counts examples (``TrainConfig.max_epochs`` needs one of them)."""

    def batches(self, epoch: int) -> Iterable[Batch]: ...


class TrainingDiverged(RuntimeError):
    """Raised when the NaN/Inf guard gives up; no checkpoint of the diverged state is written."""


StepHook = Callable[["Trainer", dict], None]


class Trainer:
    """Trains ``model`` on ``train`` batches, evaluating on ``valid`` every ``cfg.eval_every`` updates.

    ``run`` (a ``rnnkit.rundir.RunDir``) receives metrics lines and the ``last`` and ``best``
    checkpoints; ``meta`` (a ``checkpoint.RunMeta``: task, config, preprocessor, data) is stored with each.
    ``on_step`` and ``on_eval`` are plain callables given the trainer and the record just logged.
    """

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainConfig,
        *,
        train: DataSource,
        valid: DataSource | None = None,
        run: RunDir | None = None,
        meta: ckpt.RunMeta | None = None,
        on_step: Iterable[StepHook] = (),
        on_eval: Iterable[StepHook] = (),
    ):
        self.train_data, self.valid_data = train, valid
        self.capped = False  # whether ``max_epochs`` cut ``cfg.steps``
        self.cfg = cfg
        self.device = torch.device(cfg.device)
        if cfg.precision != "fp32" and self.device.type != "cuda":
            # CPU autocast hands oneDNN's fused RNN kernels mixed bf16/fp32 operands, which they refuse
            raise ValueError(f"precision={cfg.precision!r} needs a CUDA device; train in 'fp32' on the CPU")
        torch.manual_seed(cfg.seed)
        self.model = model.to(self.device)
        self.optimizer = optim.build_optimizer(model, cfg)
        self.schedule = optim.ScheduleState()
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.precision == "fp16")
        self.run, self.meta = run, meta
        self.on_step, self.on_eval = list(on_step), list(on_eval)
        self.step = 0  # optimizer updates done
        self.epoch, self.position = 0, 0  # batches consumed in the current epoch
        self.carry: State | None = None  # state carried between chunks of a stream
        self.nan_steps = self.nan_streak = 0
        self.history: list[dict] = []
        self.stopped = ""
        self.tensorboard = _tensorboard(run) if cfg.tensorboard else None
        self.average = None if cfg.ema_decay is None else averaging.ema(self.model, cfg.ema_decay)

    @property
    def cfg(self) -> TrainConfig:
        return self._cfg

    @cfg.setter
    def cfg(self, cfg: TrainConfig) -> None:
        """Every config the trainer takes (a budget sets ``steps`` again and again) has its ``steps`` cut to
        ``max_epochs`` passes over the training data; ``capped`` says whether the cut bound."""
        cap = self.epoch_steps(cfg.max_epochs, cfg)
        self.capped = cap is not None and cfg.steps > cap
        self._cfg = replace(cfg, steps=cap) if self.capped else cfg

    def epoch_steps(self, epochs: float | None, cfg: TrainConfig | None = None) -> int | None:
        """The updates in ``epochs`` passes over the training data, or None when either is unknown."""
        cfg, data = cfg or self.cfg, self.train_data
        batches = getattr(data, "batches_per_epoch", None) or (len(data) if hasattr(data, "__len__") else None)
        if epochs is None or batches is None:
            return None
        return max(1, math.ceil(epochs * batches / cfg.accumulate))

    # ---- the loop --------------------------------------------------------------------------------
    def fit(self) -> list[dict]:
        """Train until ``cfg.steps`` updates, early stopping, or divergence; return the logged records."""
        cfg = self.cfg
        batches = self._stream()
        deadline = None if cfg.max_minutes is None else time.perf_counter() + 60 * cfg.max_minutes
        with Progress(total=cfg.steps, start=self.step, enabled=cfg.progress) as bar:
            while self.step < cfg.steps and not self.stopped:
                if deadline is not None and time.perf_counter() > deadline:
                    self.stopped = f"time budget of {cfg.max_minutes:g} minutes reached at step {self.step}"
                    if self.valid_data is not None:
                        self.evaluate_and_checkpoint()
                    break
                record = self.train_step([next(batches) for _ in range(cfg.accumulate)])
                bar.update(self.step, record)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    self._log(record, self.on_step)
                if self.valid_data is not None and (self.step % cfg.eval_every == 0 or self.step == cfg.steps):
                    self.evaluate_and_checkpoint()
                elif cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save("last")
        if self.capped and self.step >= cfg.steps and not self.stopped:
            self.stopped = (f"stopped after {cfg.max_epochs:g} passes over the training data (train.max_epochs) "
                            f"at update {self.step:,}")
        if self.valid_data is None:
            self.save("last")
        return self.history

    def train_step(self, micro_batches: list[Batch]) -> dict:
        """One optimizer update over ``micro_batches`` (gradient accumulation); returns its record."""
        started = time.perf_counter()
        self.model.train()
        lr = self.cfg.lr * optim.schedule_factor(self.step, self.cfg) * self.schedule.scale
        optim.set_lr(self.optimizer, lr)
        loss_sum, weight, tokens = 0.0, 0.0, 0
        for batch in micro_batches:
            batch = batch.to(self.device)
            with self._autocast():
                out: Output = self.model(batch, self._carry_in(batch))
            self.carry = out.state if batch.reset is not None else None
            self.scaler.scale(out.loss / len(micro_batches)).backward()
            loss_sum += float(out.loss.detach()) * out.weight
            weight, tokens = weight + out.weight, tokens + batch.num_steps
        self.scaler.unscale_(self.optimizer)
        norm = self._clip()
        record = {"step": self.step + 1, "loss": loss_sum / max(weight, 1e-12), "lr": lr, "grad_norm": norm}
        if not (math.isfinite(norm) and math.isfinite(record["loss"])):
            self._skip_step(record)
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.nan_streak = 0
            if self.average is not None:
                self.average.update_parameters(self.model)
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        record["tokens_per_s"] = tokens / max(time.perf_counter() - started, 1e-9)
        record["clipped"] = self.cfg.clip_norm is not None and norm > self.cfg.clip_norm
        return record

    def _carry_in(self, batch: Batch) -> State | None:
        """The state a batch starts from: none for whole sequences; for a stream, the previous chunk's
        final state, detached (the truncation), with rows that start a new document set to zero."""
        if batch.reset is None or self.carry is None:
            return None
        if st.batch_size(self.carry) != batch.size:
            return None
        return st.reset(st.detach(self.carry), batch.reset)

    def _clip(self) -> float:
        params = [p for p in self.model.parameters() if p.grad is not None]
        if self.cfg.clip_value is not None:
            nn.utils.clip_grad_value_(params, self.cfg.clip_value)
        max_norm = self.cfg.clip_norm if self.cfg.clip_norm is not None else float("inf")
        return float(nn.utils.clip_grad_norm_(params, max_norm))

    def _skip_step(self, record: dict) -> None:
        """The NaN/Inf guard: skip the update, count it, lower the rate after a streak, stop if hopeless."""
        self.nan_steps += 1
        self.nan_streak += 1
        self.carry = None  # a poisoned state must not flow on
        record["skipped"] = True
        if self.nan_streak % self.cfg.nan_patience == 0:
            self.schedule.scale *= self.cfg.nan_lr_factor
        if self.nan_steps >= self.cfg.max_nan_steps:
            raise TrainingDiverged(
                f"training diverged: {self.nan_steps} updates had NaN or Inf loss or gradients "
                f"(last at step {self.step + 1}); lower the learning rate or clip harder"
            )

    # ---- evaluation ------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, data: DataSource | None = None) -> dict:
        """Mean loss and metrics over ``data`` (default: the validation source), weighted exactly."""
        data = data if data is not None else self.valid_data
        model = self.evaluated_model.eval()
        sums: dict[str, float] = {}
        weight, carry = 0.0, None
        for k, batch in enumerate(data.batches(0)):
            if self.cfg.eval_batches is not None and k >= self.cfg.eval_batches:
                break
            batch = batch.to(self.device)
            state = None if batch.reset is None or carry is None else st.reset(carry, batch.reset)
            with self._autocast():
                out = model(batch, state)
            carry = out.state if batch.reset is not None else None
            sums["loss"] = sums.get("loss", 0.0) + float(out.loss) * out.weight
            for name, value in out.metrics.items():
                sums[name] = sums.get(name, 0.0) + float(value)
            weight += out.weight
        rename = {"correct": "accuracy"}
        return {rename.get(name, name): value / max(weight, 1e-12) for name, value in sums.items()}

    @property
    def evaluated_model(self) -> nn.Module:
        """The weights that evaluations score and checkpoints keep: the moving average when there is one."""
        return self.model if self.average is None else self.average.module

    def finish(self) -> None:
        """Training is over: the model takes the averaged weights, if any, for whatever comes next (decoding,
        saving). A finished trainer no longer averages."""
        if self.average is not None:
            self.model.load_state_dict(self.average.module.state_dict())
            self.average = None

    def evaluate_and_checkpoint(self) -> dict:
        metrics = self.evaluate()
        record = {"step": self.step, **{f"valid_{k}": v for k, v in metrics.items()}}
        if self.cfg.metric not in metrics:
            raise ValueError(f"metric {self.cfg.metric!r} is not reported; known: {', '.join(sorted(metrics))}")
        value = metrics[self.cfg.metric] * (1 if self.cfg.metric_mode == "min" else -1)
        improved = optim.plateau_update(self.schedule, value, self.cfg)
        record["best"] = improved
        self._log(record, self.on_eval)
        if improved:
            self.save("best", metrics)
        self.save("last", metrics)
        patience = self.cfg.early_stop_patience
        if patience is not None and self.schedule.bad_evals >= patience:
            self.stopped = f"early stop: no better valid_{self.cfg.metric} in {patience} evaluations"
        return metrics

    # ---- data position, logging, checkpoints -----------------------------------------------------
    def _stream(self) -> Iterator[Batch]:
        """Endless batches, epoch after epoch, resuming at ``(epoch, position)``."""
        while True:
            produced = False
            for k, batch in enumerate(self.train_data.batches(self.epoch)):
                produced = True
                if k < self.position:
                    continue  # already consumed before a resume
                self.position = k + 1
                yield batch
            if not produced:
                raise ValueError("the training data gave no batches")
            self.epoch, self.position = self.epoch + 1, 0

    def _log(self, record: dict, hooks: list[StepHook]) -> None:
        self.history.append(record)
        if self.run is not None:
            self.run.log(record)
        if self.tensorboard is not None:
            for name, value in record.items():
                if isinstance(value, (int, float)) and name != "step":
                    self.tensorboard.add_scalar(name, value, record["step"])
        for hook in hooks:
            hook(self, record)

    def _autocast(self):
        if self.cfg.precision == "fp32":
            return torch.autocast(self.device.type, enabled=False)
        dtype = torch.bfloat16 if self.cfg.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def save(self, which: str, metrics: dict | None = None) -> None:
        """Write the ``last`` or ``best`` checkpoint; never a model holding NaN or Inf."""
        if self.run is None:
            return
        model = self.evaluated_model
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            raise TrainingDiverged(f"parameters hold NaN or Inf at step {self.step}; nothing was saved")
        tensors, opt_data = ckpt.pack_optimizer(self.optimizer.state_dict())
        if self.average is not None:  # the checkpoint's model is the average; training resumes from these
            tensors.update(averaging.pack(self.model, self.average))
        rng_tensors, rng_data = ckpt.rng_state()
        carry_tensors, carry_data = ckpt.pack(self.carry, prefix="carry")
        trainer = {
            "optimizer": opt_data,
            "rng": rng_data,
            "carry": carry_data,
            "loop": {"step": self.step, "epoch": self.epoch, "position": self.position,
                     "nan_steps": self.nan_steps, "nan_streak": self.nan_streak},
            "schedule": asdict(self.schedule),
        }
        if self.meta is None:
            raise ValueError("a trainer with a run directory needs meta (a RunMeta) to write checkpoints")
        meta = replace(self.meta, step=self.step, metrics=metrics or {}, train=asdict(self.cfg))
        ckpt.save(self.run.path / which, model_state=model.state_dict(), meta=meta.to_dict(),
                  trainer_tensors={**tensors, **rng_tensors, **carry_tensors}, trainer=trainer)

    def resume(self, checkpoint: ckpt.Checkpoint) -> None:
        """Continue from ``checkpoint`` exactly where it was written."""
        tensors, data = checkpoint.trainer_tensors, checkpoint.trainer
        if self.average is not None:
            averaging.unpack(tensors, checkpoint.model, self.model, self.average)
        else:
            self.model.load_state_dict(checkpoint.model)
        self.optimizer.load_state_dict(ckpt.unpack_optimizer(tensors, data["optimizer"]))
        ckpt.set_rng_state(tensors, data["rng"])
        carry = ckpt.unpack(tensors, data["carry"])
        self.carry = None if carry is None else st.map_state(lambda t: t.to(self.device), carry)
        loop = data["loop"]
        self.step, self.epoch, self.position = loop["step"], loop["epoch"], loop["position"]
        self.nan_steps, self.nan_streak = loop["nan_steps"], loop["nan_streak"]
        self.schedule = optim.ScheduleState(**data["schedule"])


def _tensorboard(run: RunDir | None):
    """A TensorBoard writer logging into the run directory, if the tensorboard package is installed."""
    if run is None:
        raise ValueError("tensorboard=true needs a run directory to write into")
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError("tensorboard=true needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter(log_dir=str(run.path / "tensorboard"))
