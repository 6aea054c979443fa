"""Benchmarks behind ``rnnkit bench NAME [--json FILE]``: speed, memory capacity and quality.

Every benchmark is a module listed in ``BENCHMARKS`` that offers the same five functions::

    add_arguments(parser)              its own command-line options (--json and --quick are shared)
    config_from_args(args) -> config   a typed config built from those options
    total_samples(config) -> int       how many timed samples run() takes, for the progress bar
    run(config, *, on_sample=None)     -> report: {"benchmark": NAME, "machine": {...}, "results": [...]}
    render(report) -> list             rich renderables: the results table and a short summary
    missed(report) -> list[str]        optional: one line per target the run missed (exit status 1)

A module imports optional dependencies inside ``run``, never at the top, so that building the command
line never needs them (registries by short name with lazy imports, as sacrebleu does).
"""

from __future__ import annotations

import importlib
from types import ModuleType

# short name -> (module, one-line description)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "layers": ("rnnkit.bench.layers", "training-step speed of LSTM, GRU and minGRU layers against torch.nn"),
    "memory": ("rnnkit.bench.memory", "which cells learn the adding problem as the lag T grows"),
    "quality": ("rnnkit.bench.quality", "what a task reaches in a fixed training budget, beside a baseline"),
    "serve": ("rnnkit.bench.serve", "completions and keystrokes per second of the HTTP server, against max_batch=1"),
}
OVERRIDABLE = {"quality"}  # benchmarks that take run-config overrides, as rnnkit train does


def load(name: str) -> ModuleType:
    """The benchmark module registered as ``name``."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return importlib.import_module(BENCHMARKS[name][0])
