"""What every benchmark shares: the machine it ran on, a timer that resists noise, the JSON report.

A report is one JSON object ``{"benchmark": NAME, "machine": {...}, "results": [{...}, ...]}``; each
result names its configuration and its figures, and every speed figure comes with the baseline measured
in the same run and their ratio.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.files import write_json_atomic


def cpu_model() -> str:
    """The CPU's marketing name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """What a reader needs to compare two reports: CPU, cores, torch and its threading, load at the start."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": cores,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "onednn": torch.backends.mkldnn.is_available(),
        "mkl": torch.backends.mkl.is_available(),
        # Other processes on the machine slow every figure; the load average says how busy it was.
        "load_average_1min": load_average(),
    }


def load_average() -> float | None:
    """The 1-minute load average: above the number of cores, other processes share the CPU with the run."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def gemm(n: int = 2048) -> tuple[Callable[[], Tensor], float]:
    """An fp32 (n, n) @ (n, n) matrix product to time, and its FLOPs: 2 n^3."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return (lambda: torch.mm(a, b)), 2.0 * n**3


def gemm_gflops(n: int = 2048, *, repeats: int = 5) -> float:
    """Measured fp32 GFLOP/s of one (n, n) @ (n, n) matrix product, median of ``repeats``."""
    product, flops = gemm(n)
    return flops / median_seconds({"gemm": product}, repeats=repeats)["gemm"] / 1e9


def median_seconds(
    fns: dict[str, Callable[[], object]],
    *,
    repeats: int,
    warmup: int = 1,
    min_time: float = 0.0,
    on_sample: Callable[[str], None] | None = None,
) -> dict[str, float]:
    """Median seconds per call of each function, the functions interleaved.

    Each function first runs ``warmup`` times (lazy initialisation, allocator, kernel caches); the last
    warm-up call sizes its sample: enough calls that one sample lasts ``min_time``. Then ``repeats``
    rounds each time one sample of every function, the order rotated every round, so that a burst of
    load from elsewhere on the machine hits all of them alike rather than whichever ran during it.
    ``on_sample(name)`` is called after each timed sample (for a progress bar).
    """
    if repeats < 1 or warmup < 1:
        raise ValueError(f"repeats and warmup must be at least 1, got {repeats} and {warmup}")
    calls = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            elapsed = _time(fn, 1)
        calls[name] = max(1, math.ceil(min_time / max(elapsed, 1e-9)))
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            samples[name].append(_time(fns[name], calls[name]) / calls[name])
            if on_sample is not None:
                on_sample(name)
    return {name: statistics.median(s) for name, s in samples.items()}


def _time(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - start


def report(benchmark: str, machine: dict, results: list[dict]) -> dict:
    return {"benchmark": benchmark, "machine": machine, "results": results}


def check_writable(path: str | Path) -> Path:
    """``path`` as a Path if a file can be written there; else a ValueError that says why, in one line.

    Called before a benchmark starts, so that a typo in ``--json`` costs seconds, not the whole run.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a directory")
    if not parent.is_dir():
        raise ValueError(f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"cannot write {path}: directory {parent} is not writable")
    return path


def write_report(path: str | Path, data: dict) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (``rnnkit.files.write_json_atomic``) and return the path."""
    path = check_writable(path)
    if set(data) != {"benchmark", "machine", "results"}:
        raise ValueError(f"a report has the keys benchmark, machine, results; got {sorted(data)}")
    return write_json_atomic(path, data, indent=2)


def console():
    """A rich console on stdout, 160 columns wide when stdout is a file or a pipe (rich would take 80),
    so that tables stay readable in logs."""
    from rich.console import Console

    out = Console()
    return out if out.is_terminal else Console(width=160)


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Callable[[str], None]]:
    """Progress on stderr; yields ``advance(label)`` to call once per unit of work.

    A rich progress bar on a terminal; elsewhere (a log file, CI) one plain line per unit, since rich
    would show nothing until the end.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    if not err.is_terminal:
        done = iter(range(1, total + 1))
        yield lambda label: print(f"{description} [{next(done, total)}/{total}] {label}", file=sys.stderr)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda label: progress.update(task, advance=1, description=f"{description}: {label}")


# ---- argument types shared by the benchmarks' options ---------------------------------------------
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def int_tuple(n: int, names: str) -> Callable[[str], tuple[int, ...]]:
    """An argparse type for ``n`` comma-separated positive integers, e.g. ``int_tuple(4, "T,B,I,H")``."""

    def parse(text: str) -> tuple[int, ...]:
        parts = text.split(",")
        try:
            values = tuple(int(p) for p in parts)
        except ValueError:
            values = ()
        if len(values) != n or min(values) < 1:
            raise argparse.ArgumentTypeError(f"expected {n} positive integers {names}, got {text!r}")
        return values

    return parse
