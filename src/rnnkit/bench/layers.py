"""``rnnkit bench layers``: training-step speed of rnnkit's layers against ``torch.nn``, in tokens per second.

One training step is the forward and backward pass of one layer over a (B, T, I) batch, the loss a fixed
random projection of the outputs; tokens/s = B*T / seconds. The layers compared at one shape form a
block: they run interleaved and repeated (the median of the repeats counts), and every row is divided by
the baseline measured in the same block.

    block    baseline         contenders
    lstm     torch.nn.LSTM    rnnkit fast path, rnnkit reference loop, torch.nn.LSTMCell loop, layer-norm
    gru      torch.nn.GRU     rnnkit fast path, rnnkit reference loop
    mingru   torch.nn.GRU     rnnkit.MinGRU, at several sequence lengths

Targets, shown pass/fail: fast paths >= 0.95x torch, the reference LSTM loop >= 0.75x, the layer-norm LSTM
>= 0.5x, minGRU >= 2x torch.nn.GRU from T = 2048 on. An fp32 GEMM timed in every block gives each layer's
share of the machine's matrix-product speed, and flags blocks that other load disturbed.

The benchmark only calls the public layers, so faster kernels behind them show up here unchanged; each row
records the ``kernel`` string its layer reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import torch
from torch import Tensor, nn

from rnnkit.bench.common import (
    gemm,
    int_tuple,
    load_average,
    machine_info,
    median_seconds,
    positive_int,
    report,
)
from rnnkit.nn import GRU, LSTM, MinGRU


class CellLoop(nn.Module):
    """The naive baseline: a Python loop calling ``torch.nn.LSTMCell`` (or ``GRUCell``) once per step."""

    def __init__(self, cell: nn.LSTMCell | nn.GRUCell):
        super().__init__()
        self.cell = cell
        self.kernel = f"Python loop over torch.nn.{type(cell).__name__}"

    def forward(self, x: Tensor) -> tuple[Tensor, object]:
        h = x.new_zeros(x.shape[0], self.cell.hidden_size)
        state = (h, h) if isinstance(self.cell, nn.LSTMCell) else h
        outputs = []
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
            outputs.append(state[0] if isinstance(state, tuple) else state)
        return torch.stack(outputs, dim=1), state  # (B, T, H)


@dataclass(frozen=True)
class Contender:
    """A layer in the race: ``build(I, H)`` makes it; ``gates`` and ``recurrent`` size its matrix products."""

    name: str
    build: Callable[[int, int], nn.Module]
    gates: int  # gate blocks of H rows in the weights: 4 LSTM, 3 GRU, 2 minGRU
    recurrent: bool = True  # whether the gates read h as well as x (minGRU's do not)
    target: float | None = None  # the least ratio to the baseline that passes
    target_from: int = 0  # the target applies from this sequence length on

    def step_flops(self, T: int, B: int, I: int, H: int) -> float:  # noqa: E741 (the shape names used throughout)
        # FLOPs of one training step, matrix products only (the gate arithmetic is O(B*T*H), small beside):
        # forward, per token: one (I + H) x (gates*H) product, input and recurrent weights together
        #   (only I rows where the gates do not read h) -> 2 * gates*H * (I + H) FLOPs;
        # backward: twice the forward (one product for the input and state gradients, one for the weights).
        # Total: 3 * 2 * gates*H * (I + H) * B * T.
        rows = I + H if self.recurrent else I
        return 3 * 2 * self.gates * H * rows * B * T


def _torch(cls: type[nn.RNNBase]) -> Callable[[int, int], nn.Module]:
    return lambda i, h: cls(i, h, batch_first=True)


GEMM = "fp32 GEMM"
DISTURBED = 0.75  # a block whose GEMM ran below this share of the best block's is flagged as disturbed
TORCH_LSTM = Contender("torch.nn.LSTM (fused)", _torch(nn.LSTM), 4)
TORCH_GRU = Contender("torch.nn.GRU (fused)", _torch(nn.GRU), 3)
BLOCKS: dict[str, tuple[Contender, tuple[Contender, ...]]] = {
    "lstm": (
        TORCH_LSTM,
        (
            Contender("rnnkit LSTM fast path", lambda i, h: LSTM(i, h), 4, target=0.95),
            Contender("rnnkit LSTM reference", lambda i, h: LSTM(i, h, kernel="reference"), 4, target=0.75),
            Contender("torch.nn.LSTMCell loop", lambda i, h: CellLoop(nn.LSTMCell(i, h)), 4),
            Contender("rnnkit layer-norm LSTM", lambda i, h: LSTM(i, h, layer_norm=True), 4, target=0.5),
        ),
    ),
    "gru": (
        TORCH_GRU,
        (
            Contender("rnnkit GRU fast path", lambda i, h: GRU(i, h), 3, target=0.95),
            Contender("rnnkit GRU reference", lambda i, h: GRU(i, h, kernel="reference"), 3),
        ),
    ),
    "mingru": (
        TORCH_GRU,
        (Contender("rnnkit MinGRU", lambda i, h: MinGRU(i, h), 2, recurrent=False, target=2.0, target_from=2048),),
    ),
}


@dataclass(frozen=True)
class LayersConfig:
    shapes: tuple[tuple[int, int, int, int], ...] = ((100, 32, 64, 256), (200, 64, 128, 512))  # (T, B, I, H)
    mingru_steps: tuple[int, ...] = (128, 512, 2048)  # T for minGRU against torch.nn.GRU
    mingru_size: tuple[int, int, int] = (32, 64, 256)  # (B, I, H) for minGRU
    repeats: int = 10
    warmup: int = 1
    min_time: float = 0.25  # seconds: short steps are timed several at a time, for a steadier clock
    gemm_size: int = 2048
    seed: int = 0


QUICK = LayersConfig(
    shapes=((6, 3, 4, 8),), mingru_steps=(4, 8), mingru_size=(3, 4, 8), repeats=1, min_time=0.0, gemm_size=128
)


def blocks(config: LayersConfig) -> list[tuple[str, tuple[int, int, int, int]]]:
    """(block name, (T, B, I, H)) in the order they run."""
    out = [(name, shape) for shape in config.shapes for name in ("lstm", "gru")]
    B, I, H = config.mingru_size  # noqa: E741
    return out + [("mingru", (T, B, I, H)) for T in config.mingru_steps]


def total_samples(config: LayersConfig) -> int:
    return sum((2 + len(BLOCKS[name][1])) * config.repeats for name, _ in blocks(config))  # + baseline, GEMM


def run(config: LayersConfig = LayersConfig(), *, on_sample: Callable[[str], None] | None = None) -> dict:
    """Run every block; the report holds one result per contender and shape."""
    torch.manual_seed(config.seed)
    machine = machine_info()
    results, gemms = [], []
    for name, shape in blocks(config):
        rows = measure_block(name, shape, config, on_sample)
        results += rows
        gemms.append(rows[0]["gemm_gflops"])
    machine["load_average_1min_end"] = load_average()
    # Each block timed the GEMM beside its layers; the best block is the one least disturbed by other load.
    machine["gemm_fp32_gflops"] = max(gemms)
    machine["gemm_size"] = config.gemm_size
    return report("layers", machine, results)


def training_step(layer: nn.Module, x: Tensor, w: Tensor) -> None:
    layer.zero_grad(set_to_none=True)
    y, _ = layer(x)  # (B, T, H)
    (y @ w).sum().backward()  # a random projection: each output feature gets its own gradient


def measure_block(name: str, shape: tuple[int, int, int, int], config: LayersConfig, on_sample=None) -> list[dict]:
    """One block: its baseline, its contenders and a reference GEMM, timed interleaved.

    The GEMM runs in the same rounds as the layers, so that each layer's share of it is measured under
    the same load, as its ratio to the baseline is.
    """
    T, B, I, H = shape  # noqa: E741
    baseline, contenders = BLOCKS[name]
    x, w = torch.randn(B, T, I), torch.randn(H)
    layers = {c.name: c.build(I, H) for c in (baseline, *contenders)}
    product, product_flops = gemm(config.gemm_size)
    seconds = median_seconds(
        {n: partial(training_step, layer, x, w) for n, layer in layers.items()} | {GEMM: product},
        repeats=config.repeats,
        warmup=config.warmup,
        min_time=config.min_time,
        on_sample=None if on_sample is None else lambda n: on_sample(f"{name} T={T} B={B} H={H}: {n}"),
    )

    gemm_gflops = product_flops / seconds[GEMM] / 1e9

    def figures(c: Contender, prefix: str = "") -> dict:
        s = seconds[c.name]
        gflops = c.step_flops(T, B, I, H) / s / 1e9
        return {
            f"{prefix}tokens_per_s": B * T / s,
            f"{prefix}seconds_per_step": s,
            f"{prefix}gflops": gflops,
            f"{prefix}gemm_fraction": gflops / gemm_gflops,
        }

    rows = []
    for c in contenders:
        mine, theirs = figures(c), figures(baseline, "baseline_")
        ratio = mine["tokens_per_s"] / theirs["baseline_tokens_per_s"]
        target = c.target if c.target is not None and c.target_from <= T else None
        rows.append(
            {"block": name, "name": c.name, "T": T, "B": B, "I": I, "H": H, "kernel": layers[c.name].kernel}
            | mine
            | {"baseline": baseline.name, "baseline_kernel": _kernel(layers[baseline.name])}
            | theirs
            | {"ratio": ratio, "target": target, "passed": None if target is None else ratio >= target}
            | {"gemm_gflops": gemm_gflops, "repeats": config.repeats}
        )
    return rows


def _kernel(layer: nn.Module) -> str:
    return getattr(layer, "kernel", f"torch.nn.{type(layer).__name__}'s own kernel")


# ---- command line ------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    d = LayersConfig()
    commas = lambda values: ",".join(map(str, values))
    shapes, steps = " ".join(map(commas, d.shapes)), " ".join(map(str, d.mingru_steps))
    add = parser.add_argument
    add("--repeats", type=positive_int, metavar="N", help=f"timed rounds per block (default {d.repeats})")
    add("--shapes", nargs="+", type=int_tuple(4, "T,B,I,H"), metavar="T,B,I,H", help=f"LSTM, GRU (default {shapes})")
    add("--mingru-steps", nargs="+", type=positive_int, metavar="T", help=f"minGRU lengths (default {steps})")
    add("--mingru-size", type=int_tuple(3, "B,I,H"), metavar="B,I,H", help=f"minGRU (default {commas(d.mingru_size)})")


def config_from_args(args) -> LayersConfig:
    """The default config, or QUICK with ``--quick``, with any option given on the command line on top."""
    config = QUICK if args.quick else LayersConfig()
    given = {k: getattr(args, k) for k in ("repeats", "shapes", "mingru_steps", "mingru_size")}
    return replace(config, **{k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v is not None})


def render(data: dict) -> list:
    """The results table, each block led by its baseline, then a few lines on the machine and the targets."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="rnnkit bench layers: training step (forward + backward)", title_justify="left")
    numbers = ("tokens/s", "baseline tok/s", "ratio", "%GEMM")
    for column in ("layer", "T,B,I,H", "tokens/s", "baseline tok/s", "ratio", "target", "%GEMM", "kernel"):
        table.add_column(column, justify="right" if column in numbers else "left", overflow="fold")
    previous = None
    for r in data["results"]:
        shape = f"{r['T']},{r['B']},{r['I']},{r['H']}"
        base = f"{r['baseline_tokens_per_s']:,.0f}"
        if previous != (r["block"], shape):  # a new block: first its baseline
            if previous is not None:
                table.add_section()
            share = f"{100 * r['baseline_gemm_fraction']:.0f}%"
            row = (escape(r["baseline"]), shape, base, base, "1.00x", "", share, escape(r["baseline_kernel"]))
            table.add_row(*row, style="dim")
            previous = (r["block"], shape)
        rate, share = f"{r['tokens_per_s']:,.0f}", f"{100 * r['gemm_fraction']:.0f}%"
        table.add_row(
            escape(r["name"]), shape, rate, base, f"{r['ratio']:.2f}x", _target(r), share, escape(r["kernel"])
        )
    return [table, *_summary(data)]


def _block(r: dict) -> str:
    return f"{r['block']} T,B,I,H={r['T']},{r['B']},{r['I']},{r['H']}"


def _target(r: dict) -> str:
    if r["target"] is None:
        return ""
    verdict = "[green]pass[/]" if r["passed"] else "[red]FAIL[/]"
    return f">={r['target']:.2f}x {verdict}"


def _summary(data: dict) -> list[str]:
    m, results = data["machine"], data["results"]
    load = (m["load_average_1min"], m["load_average_1min_end"])
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} on {m['torch_threads']} threads, "
        f"oneDNN {'yes' if m['onednn'] else 'no'}"
        + ("" if None in load else f", load average {load[0]:.1f} at the start and {load[1]:.1f} at the end")
    ]
    if None not in load and max(load) > m["cores"]:
        lines.append("[yellow]other processes shared the CPU with this run: expect noisy figures[/]")
    # The GEMM timed in each block is a load gauge: well below its best, something else had the CPU.
    disturbed = sorted({_block(r) for r in results if r["gemm_gflops"] < DISTURBED * m["gemm_fp32_gflops"]})
    if disturbed:
        lines.append(f"[yellow]disturbed (GEMM below {DISTURBED:.0%} of its best): {'; '.join(disturbed)}[/]")
    fused = {_block(r): r["baseline_gemm_fraction"] for r in results if r["block"] == "lstm"}
    reach = ", ".join(f"{100 * f:.0f}% at {block.removeprefix('lstm ')}" for block, f in fused.items())
    judged = [r for r in results if r["passed"] is not None]
    return lines + [
        f"fp32 GEMM ({m['gemm_size']}x{m['gemm_size']} matmul, best of the blocks): "
        f"{m['gemm_fp32_gflops']:.0f} GFLOP/s; share of it reached by the {TORCH_LSTM.name} training step: "
        + (reach or "n/a"),
        f"targets met: {sum(r['passed'] for r in judged)} of {len(judged)}; tokens/s is the median of "
        f"{results[0]['repeats'] if results else 0} interleaved repeats",
    ]


def missed(data: dict) -> list[str]:
    """One line per layer and shape whose speed ratio fell under its target."""
    return [f"{r['name']} at T={r['T']}: {r['ratio']:.2f}x, under the target of {r['target']:.2f}x"
            for r in data["results"] if r.get("passed") is False]
