"""``rnnkit bench memory``: how far back can each cell remember? The adding problem at growing lengths.

Every cell trains on the adding problem (``rnnkit.data.memory``) for each length T with the same number of
updates, batch size and hidden size, each with its own recipe (learning rate, initialisation: see
``RECIPES``), and is scored by its MSE on a fixed held-out set: solved below 0.01, against 1/6 for always
predicting the mean. Beside the scores, the gradient flow at initialisation (``rnnkit.train.diagnostics``)
shows why: how much of the loss's gradient reaches the first step.

>>> report = run_memory_benchmark(steps=1500, json_path="memory.json", plot_path="memory.png")

The module also offers the five functions of a benchmark module (see ``rnnkit.bench``) and ``diagnose``,
the library side of ``rnnkit diagnose --cell C --task T``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from rnnkit.bench.common import check_writable, machine_info, progress_bar, report, write_report
from rnnkit.data.memory import AddingConfig, AddingProblem, make_task
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.sequence import SequenceConfig, SequenceModel
from rnnkit.nn.cells import MinGRUCell, RNNCell
from rnnkit.train.diagnostics import gradient_flow, write_gradient_flow
from rnnkit.train.plots import new_figure, save
from rnnkit.train.trainer import TrainConfig, Trainer, TrainingDiverged

SOLVED = 0.01  # test MSE below which the adding problem counts as solved
MEAN_MSE = 1 / 6  # MSE of always predicting the mean sum, 1.0


# ---- recipes --------------------------------------------------------------------------------------------
def _orthogonal_hh(model: nn.Module, T: int) -> None:
    """Orthogonal recurrent weights (Saxe et al. 2014): every singular value 1, so at init the linear part
    of the recurrence neither shrinks nor grows the gradient; tanh' <= 1 still lets it decay."""
    for cell in model.modules():
        if isinstance(cell, RNNCell):
            nn.init.orthogonal_(cell.weight_hh)


def _irnn(model: nn.Module, T: int) -> None:
    """IRNN (Le et al. 2015, sec. 3): relu units, recurrent weights the identity, biases zero, input
    weights N(0, 0.001^2)."""
    for cell in model.modules():
        if isinstance(cell, RNNCell):
            with torch.no_grad():
                cell.weight_hh.copy_(torch.eye(cell.hidden_size))
                cell.weight_ih.normal_(0.0, 0.001)
                cell.bias_ih.zero_()
                cell.bias_hh.zero_()


def _chrono_mingru(model: nn.Module, T: int) -> None:
    """Chrono initialisation (Tallec and Ollivier 2018, eq. 16) carried over to minGRU: in
    h' = (1 - z) h + z h~ the keep gate 1 - z plays the forget gate, so b_z = -log(U(1, T - 1)). The paper
    covers LSTM and GRU only; this is our adaptation."""
    for cell in model.modules():
        if isinstance(cell, MinGRUCell) and cell.bias_ih is not None:
            with torch.no_grad():
                cell.bias_ih[: cell.hidden_size] = -torch.log(torch.empty(cell.hidden_size).uniform_(1, T - 1))


@dataclass(frozen=True)
class Recipe:
    """How one cell is trained: Adam's learning rate, ``init`` (a short name of the initialisation:
    ``encoder`` settings and an optional ``extra_init(model, T)``, whose docstring cites the source), and
    ``LR_NOTES[name]`` saying how the learning rate was chosen."""

    name: str
    cell: str
    lr: float
    init: str
    encoder: dict = field(default_factory=dict)
    extra_init: Callable[[nn.Module, int], None] | None = None

    def describe(self, steps: int, clip_norm: float) -> dict:
        return {
            "cell": self.cell,
            "optimizer": "adam",
            "lr": self.lr,
            "clip_norm": clip_norm,
            "init": self.init,
            "encoder": dict(self.encoder),
            "lr_note": LR_NOTES.get(self.name, ""),
            "steps": steps,
        }


# Learning rates: a short measurement, 400 updates at T=50 (batch 32, hidden 128, seed 0), Adam at 3e-4, 1e-3,
# 3e-3 for every cell, and 1e-2 for the gated ones once 3e-3 proved best; the tanh RNN and the IRNN again at
# T=25. The lowest held-out MSE was kept (figures in each note). The adding problem has a long plateau at 1/6
# before the memory is found, so 400 updates mostly tell which rate leaves it first.
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("rnn", "rnn", 1e-3, "orthogonal W_hh", extra_init=_orthogonal_hh),
        Recipe("lstm", "lstm", 1e-2, "chrono, max_lag=T", {"init": "chrono"}),
        Recipe("gru", "gru", 1e-2, "chrono, max_lag=T", {"init": "chrono"}),
        Recipe("mingru", "mingru", 1e-2, "chrono-style b_z", extra_init=_chrono_mingru),
        Recipe("irnn", "rnn", 1e-3, "IRNN (relu, W_hh = I)", {"nonlinearity": "relu"}, extra_init=_irnn),
    )
}
LR_NOTES = {
    "rnn": "tried 3e-4, 1e-3, 3e-3 at T=25 and T=50: none left the 1/6 plateau; kept 1e-3",
    "lstm": "tried 3e-4, 1e-3, 3e-3, 1e-2 at T=50: only 1e-2 left the plateau (MSE 0.003); forget bias 1 "
    "without chrono stayed on it at 3e-3",
    "gru": "tried 3e-4, 1e-3, 3e-3, 1e-2 at T=50: 1e-2 best (MSE 0.0005; 3e-3: 0.067)",
    "mingru": "tried 3e-4, 1e-3, 3e-3, 1e-2 at T=50: 1e-2 best (MSE 0.009; 3e-3: 0.052)",
    "irnn": "tried 1e-4, 3e-4, 1e-3 at T=25 and T=50: none solved; 1e-3 lowest at T=25 (0.154)",
}


def build_model(recipe: Recipe, T: int, hidden_size: int) -> SequenceModel:
    """A fresh model for the adding problem at length ``T``, initialised by ``recipe`` (global torch RNG)."""
    encoder = EncoderConfig(cell=recipe.cell, hidden_size=hidden_size, max_lag=max(T, 3), **recipe.encoder)
    model = SequenceModel(SequenceConfig(**AddingConfig(length=T).model_fields(), encoder=encoder))
    if recipe.extra_init is not None:
        recipe.extra_init(model, T)
    return model


# ---- the benchmark --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemoryConfig:
    """``steps`` updates for every (cell, T); the held-out set has ``test_size`` sequences per T.

    ``threads``: torch's intra-op threads while the benchmark runs (None leaves torch's setting). One by
    default: the matrix products of a (32, 128) recurrent step are too small to gain from a second thread,
    and on a shared two-core machine OpenMP's barriers made two threads up to ten times slower (measured).
    ``steps`` = 1000 keeps the default run (5 cells x 4 lengths) under 30 minutes: 500 updates took 6 minutes
    on an otherwise idle two-core machine (11 and 13 at load averages 3.5 and 6.5).
    """

    steps: int = 1000
    lengths: tuple[int, ...] = (25, 50, 100, 200)
    cells: tuple[str, ...] = ("rnn", "lstm", "gru", "mingru", "irnn")
    hidden_size: int = 128
    batch_size: int = 32
    test_size: int = 1000
    evals: int = 4  # evaluations on the held-out set during training (the last one is the score)
    clip_norm: float = 1.0
    threads: int | None = 1
    seed: int = 0
    plot_path: str | None = None

    def __post_init__(self) -> None:
        unknown = [c for c in self.cells if c not in RECIPES]
        if unknown:
            raise ValueError(f"unknown cell recipe {unknown[0]!r}; known: {', '.join(RECIPES)}")
        if self.steps < 1 or self.evals < 1 or min(self.lengths, default=0) < 3:
            raise ValueError("steps and evals must be positive and every length at least 3")


QUICK = MemoryConfig(steps=10, lengths=(6, 12), cells=("rnn", "lstm"), hidden_size=8, batch_size=8, test_size=16)


def total_samples(config: MemoryConfig) -> int:
    return len(config.cells) * len(config.lengths)


def run(config: MemoryConfig = MemoryConfig(), *, on_sample: Callable[[str], None] | None = None) -> dict:
    """Train every cell at every length; the report holds one result per (cell, T). Writes the plot to
    ``config.plot_path`` if set."""
    if config.plot_path:
        check_writable(config.plot_path)
    with _threads(config.threads):
        machine = machine_info()
        results = []
        for name in config.cells:
            for T in config.lengths:
                results.append(train_one(RECIPES[name], T, config))
                if on_sample is not None:
                    on_sample(f"{name} T={T}: test MSE {_fmt(results[-1]['test_mse'])}")
    data = report("memory", machine, results)
    if config.plot_path:
        plot_memory(data, config.plot_path)
    return data


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_one(recipe: Recipe, T: int, config: MemoryConfig) -> dict:
    """Train ``recipe``'s cell on the adding problem at length ``T``; its result row."""
    began = time.perf_counter()
    torch.manual_seed(config.seed)
    model = build_model(recipe, T, config.hidden_size)
    train = AddingProblem(AddingConfig(length=T, batch_size=config.batch_size, num_batches=100, seed=config.seed))
    rows = min(config.test_size, 100)
    test_cfg = AddingConfig(length=T, batch_size=rows, num_batches=math.ceil(config.test_size / rows), seed=config.seed)
    test = AddingProblem(test_cfg, split="test")
    probe = next(iter(test.batches(0)))
    flow_init = gradient_flow(model, probe)["layers"][0]
    cfg = TrainConfig(
        steps=config.steps,
        lr=recipe.lr,
        clip_norm=config.clip_norm,
        seed=config.seed,
        eval_every=max(1, config.steps // config.evals),
        log_every=1,
        progress=False,
    )
    trainer = Trainer(model, cfg, train=train, valid=test)
    started = time.perf_counter()
    try:
        trainer.fit()
        stopped = trainer.stopped
    except TrainingDiverged as e:  # the NaN guard gave up: score what is left
        stopped = str(e)
    seconds = time.perf_counter() - started
    kernel = model.encoder.kernel  # what training ran: gradient_flow below runs the step loop
    curve = [[r["step"], r["valid_loss"]] for r in trainer.history if "valid_loss" in r]
    if not curve or curve[-1][0] != trainer.step:
        curve.append([trainer.step, trainer.evaluate(test)["loss"]])
    mse = curve[-1][1] if math.isfinite(curve[-1][1]) else None
    flow_trained = gradient_flow(model, probe)["layers"][0]
    steps_done = [r for r in trainer.history if "grad_norm" in r]
    return {
        "cell": recipe.name,
        "T": T,
        "steps": trainer.step,
        "batch_size": config.batch_size,
        "hidden_size": config.hidden_size,
        "test_sequences": test_cfg.batch_size * test_cfg.num_batches,
        "recipe": recipe.describe(config.steps, config.clip_norm),
        "test_mse": mse,
        "baseline_mse": MEAN_MSE,
        "solved": mse is not None and mse < SOLVED,
        "curve": curve,
        "stopped": stopped,
        "clipped_fraction": sum(bool(r["clipped"]) for r in steps_done) / max(len(steps_done), 1),
        "seconds": seconds,  # training, evaluations during it included
        "seconds_per_step": seconds / max(trainer.step, 1),
        "wall_seconds": time.perf_counter() - began,  # everything for this (cell, T): build, flows, training
        "kernel": kernel,
        "flow_init": {"ratio": flow_init["ratio"], "status": flow_init["status"]},
        "flow_trained": {"ratio": flow_trained["ratio"], "status": flow_trained["status"]},
        "grad_norm_init": flow_init["grad_norm"],
    }


def run_memory_benchmark(
    *,
    steps: int = MemoryConfig.steps,
    lengths: tuple[int, ...] | None = None,
    cells: tuple[str, ...] | None = None,
    long: bool = False,
    json_path: str | Path | None = None,
    plot_path: str | Path | None = None,
    progress: bool = True,
    **options,
) -> dict:
    """Run the benchmark and return its report; ``long`` adds T=400 to the default lengths. ``options``
    are further ``MemoryConfig`` fields (``hidden_size``, ``batch_size``, ``seed``, ...)."""
    lengths = tuple(lengths or MemoryConfig.lengths + ((400,) if long else ()))
    config = MemoryConfig(
        steps=steps,
        lengths=lengths,
        cells=tuple(cells or MemoryConfig.cells),
        plot_path=None if plot_path is None else str(plot_path),
        **options,
    )
    if json_path is not None:
        check_writable(json_path)
    if progress:
        with progress_bar(total_samples(config), "bench memory") as advance:
            data = run(config, on_sample=advance)
    else:
        data = run(config)
    if json_path is not None:
        write_report(json_path, data)
    return data


# ---- output ---------------------------------------------------------------------------------------------
def plot_memory(data: dict, path: str | Path) -> Path:
    """Two panels: final test MSE against T per cell (log y, lines at 0.01 and 1/6), and ||dL/dh_t|| at
    initialisation over t at the largest T, one line per cell."""
    fig = new_figure(2)
    mse_ax, flow_ax = fig.axes
    results = data["results"]
    cells = list(dict.fromkeys(r["cell"] for r in results))
    longest = max(r["T"] for r in results)
    for k, cell in enumerate(cells):
        rows = sorted((r for r in results if r["cell"] == cell), key=lambda r: r["T"])
        mse = [math.nan if r["test_mse"] is None else r["test_mse"] for r in rows]
        mse_ax.plot([r["T"] for r in rows], mse, "o-", color=f"C{k}", label=cell)
        for r in rows:
            if r["T"] == longest:
                norms = [math.nan if n is None else n for n in r["grad_norm_init"]]
                flow_ax.plot(
                    range(1, len(norms) + 1), norms, color=f"C{k}", label=f"{cell} ({r['flow_init']['status']})"
                )
    mse_ax.axhline(SOLVED, color="green", linestyle="--", linewidth=1, label=f"solved ({SOLVED})")
    mse_ax.axhline(MEAN_MSE, color="grey", linestyle="--", linewidth=1, label="predict the mean (1/6)")
    mse_ax.set(xscale="log", yscale="log", xlabel="sequence length T", ylabel="test MSE")
    mse_ax.set_title(f"adding problem after {results[0]['steps']} updates")
    mse_ax.set_xticks([r["T"] for r in results], [str(r["T"]) for r in results])
    mse_ax.tick_params(axis="x", which="minor", bottom=False, labelbottom=False)
    mse_ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    flow_ax.set(yscale="log", xlabel="step t", ylabel="||dL/dh_t||")
    flow_ax.set_title(f"gradient flow at initialisation, T={longest}")
    flow_ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return save(fig, path)


_COLUMNS = ["cell", "T", "test MSE", "solved", "grad t=1/t=T at init", "clipped", "s/update", "lr", "init"]


def render(data: dict) -> list:
    """The results table and a line on the machine."""
    from rich.table import Table

    table = Table(title="rnnkit bench memory: adding problem, test MSE (mean predictor 0.167)", title_justify="left")
    for column in _COLUMNS:
        table.add_column(column, justify="left" if column in ("cell", "solved", "init") else "right")
    for r in data["results"]:
        ratio, recipe = r["flow_init"]["ratio"], r["recipe"]
        solved, ratio = "yes" if r["solved"] else "no", "n/a" if ratio is None else f"{ratio:.0e}"
        times = (f"{100 * r['clipped_fraction']:.0f}%", f"{r['seconds_per_step']:.3f}")
        table.add_row(
            r["cell"], str(r["T"]), _fmt(r["test_mse"]), solved, ratio, *times, f"{recipe['lr']:g}", recipe["init"]
        )
    m, results = data["machine"], data["results"]
    minutes = sum(r["wall_seconds"] for r in results) / 60
    steps = results[0]["steps"] if results else 0
    where = f"{m['cpu']}, {m['cores']} cores, torch {m['torch']} on {m['torch_threads']} threads"
    return [table, f"{steps} updates per run, {minutes:.1f} min in all; {where}, load {m['load_average_1min']}"]


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


# ---- command line ---------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    from rnnkit.bench.common import positive_int

    default = MemoryConfig()
    parser.add_argument("--steps", type=positive_int, help=f"updates per cell and length (default {default.steps})")
    parser.add_argument("--lengths", nargs="+", type=positive_int, metavar="T", help="sequence lengths")
    parser.add_argument("--long", action="store_true", help="add T=400 to the default lengths")
    parser.add_argument("--cells", nargs="+", choices=list(RECIPES), help=f"cells (default {' '.join(default.cells)})")
    parser.add_argument("--plot", metavar="FILE", help="also write the plot as PNG to FILE")


def config_from_args(args) -> MemoryConfig:
    """The default config, or QUICK with ``--quick``, with the options given on the command line on top."""
    config = QUICK if args.quick else MemoryConfig()
    lengths = args.lengths or (config.lengths + ((400,) if args.long else ()))
    given = {
        "steps": args.steps,
        "lengths": tuple(lengths),
        "cells": args.cells and tuple(args.cells),
        "plot_path": args.plot,
    }
    return replace(config, **{k: v for k, v in given.items() if v is not None})


# ---- diagnose -------------------------------------------------------------------------------------------
def diagnose(cell: str, task: str, T: int, out_dir: str | Path, *, seed: int = 0, overwrite: bool = False,
             **encoder) -> dict:
    """Gradient flow of a fresh ``cell`` model on one batch of 32 sequences of a memory task ("adding",
    "copy", "digits" with T 8 or 64); writes ``gradient_flow.png`` and ``gradient_flow.json`` to ``out_dir``
    (refusing existing files unless ``overwrite``) and returns the report. ``encoder`` holds further
    ``EncoderConfig`` fields (hidden_size 128 unless given,
    ``init="chrono"``, ...)."""
    source = make_task(task, length=T, batch_size=32, num_batches=1, seed=seed)
    torch.manual_seed(seed)
    encoder_cfg = EncoderConfig(cell=cell, **{"hidden_size": 128, **encoder})
    model = SequenceModel(SequenceConfig(**source.config.model_fields(), encoder=encoder_cfg))
    data = gradient_flow(model, next(iter(source.batches(0))))
    data["setting"] = {"cell": cell, "task": task, "T": T, "seed": seed, "encoder": asdict(encoder_cfg)}
    write_gradient_flow(data, out_dir, overwrite=overwrite)
    return data
