"""``rnnkit``: the command line, a few lines over the library per subcommand.

Each subcommand is one entry in ``COMMANDS``: a function that adds its options to a parser and a function
that runs it and returns the exit status. A new subcommand (train, eval, predict, generate, diagnose,
serve, export) is one more pair and one more line there. Errors the user can fix print one line on
stderr and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import glob
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rnnkit import cli_use
from rnnkit.checkpoint import CheckpointError
from rnnkit.cli_use import UsageError
from rnnkit.config import ConfigError
from rnnkit.train.trainer import TrainingDiverged


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so that ``main`` prints one line."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


# ---- demo --------------------------------------------------------------------------------------------
def demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, help="the most minutes to train (default 6): the demo trains a "
                        "fixed 2,800 updates, about 2 minutes on two cores; a slower machine stops at this limit "
                        "with a weaker model, and says so")
    parser.add_argument("--out", metavar="DIR", help="run directory (default runs/demo, or the next free runs/demo-N)")


def demo(args: argparse.Namespace) -> int:
    from rnnkit.demo import run_demo
    from rnnkit.files import free_path

    if args.minutes is not None and args.minutes <= 0:
        raise UsageError(f"rnnkit demo: --minutes must be positive, got {args.minutes}")
    out = Path(args.out) if args.out else free_path(Path("runs/demo"))
    if out.exists():
        raise UsageError(f"rnnkit demo: {out} already exists; choose another --out")
    result = run_demo(out, minutes=args.minutes)
    _print_metrics("validation", result.metrics, result.baseline, "Kneser-Ney 3-gram")
    print("suggestions (top 3 next words):")
    for prefix, words in result.suggestions.items():
        print(f"  {prefix!r:28} -> " + ", ".join(f"{w} ({p:.2f})" for w, p in words))
    lat = result.latency_ms
    mixed = lat.get("mixture")
    print(f"latency per keystroke, batch 1: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms"
          + (f"; with the mixture (the run's default scorer): p50 {mixed['p50']:.2f} ms, p99 {mixed['p99']:.2f} ms"
             if mixed else ""))
    print(f"report: {result.report}")
    print(f"model saved in {result.run}; try:")
    print(f'  rnnkit predict {result.run} "open the file and read the"')
    print(f'  rnnkit generate {result.run} --prime "the module" --length 40 --seed 1')
    print(f"  rnnkit serve {result.run}          # then open http://127.0.0.1:8000/ and type")
    if result.stopped:
        print(f"note: {result.stopped}, before the demo's updates ran out: this machine is slower than the "
              "demo expects, and the model is weaker for it")
    print(result.verdict())
    return 0 if result.wins else 1


# ---- bench -------------------------------------------------------------------------------------------
def bench_arguments(parser: argparse.ArgumentParser) -> None:
    from rnnkit import bench

    shared = _Parser(add_help=False)
    shared.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")
    shared.add_argument("--quick", action="store_true", help="tiny shapes, one repeat: a smoke test")
    names = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, (_, description) in bench.BENCHMARKS.items():
        sub = names.add_parser(name, parents=[shared], help=description, description=description)
        bench.load(name).add_arguments(sub)
        if name in bench.OVERRIDABLE:
            _add_set(sub)


def run_bench(args: argparse.Namespace) -> int:
    """Run a benchmark; exit status 1 when a target it checks is missed (the report is still written)."""
    from rnnkit import bench
    from rnnkit.bench.common import check_writable, console, progress_bar, write_report

    module = bench.load(args.benchmark)
    if args.overrides and args.benchmark not in bench.OVERRIDABLE:
        raise UsageError(f"rnnkit bench {args.benchmark}: takes no config overrides ({' '.join(args.overrides)})")
    config = module.config_from_args(args)
    if args.json:
        check_writable(args.json)  # fail now, not after the whole run
    with progress_bar(module.total_samples(config), f"bench {args.benchmark}") as advance:
        report = module.run(config, on_sample=advance)
    out = console()
    out.print(*module.render(report), sep="\n")
    if args.json:
        out.print(f"report written to {write_report(args.json, report)}")
    missed = module.missed(report) if hasattr(module, "missed") else []
    if args.quick:  # tiny shapes and budgets: a smoke test of the machinery, not a measurement
        if missed:
            print(f"rnnkit bench {args.benchmark}: --quick run, {len(missed)} target(s) not judged", file=sys.stderr)
        return 0
    for line in missed:
        print(f"rnnkit bench {args.benchmark}: target missed: {line}", file=sys.stderr)
    return 1 if missed else 0


# ---- train / eval / diagnose / config ---------------------------------------------------------------
def train_arguments(parser: argparse.ArgumentParser) -> None:
    from rnnkit.registry import TASKS

    parser.add_argument("task", choices=sorted(TASKS), metavar="TASK", help=f"one of {', '.join(sorted(TASKS))}")
    parser.add_argument("--data", metavar="PATH", help="training data (tasks with built-in data need none)")
    parser.add_argument("--config", metavar="FILE", help="a TOML run config; overrides go on top of it")
    parser.add_argument("--out", metavar="DIR", help="run directory (default: runs/TASK)")
    parser.add_argument("--init-from", metavar="RUN", help="the same as --init.from_run=RUN (classify: start the "
                                                            "embedding and encoder from this lm run)")
    _add_set(parser)
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    again.add_argument("--overwrite", action="store_true", help="replace the run in --out")


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config setting, e.g. --set model.encoder.hidden_size=256 (repeatable; "
                             "--model.encoder.hidden_size=256 and --model.encoder.hidden_size 256 work too; "
                             "rnnkit config TASK lists the settings)")


def train(args: argparse.Namespace) -> int:
    from rnnkit.tasks import run

    if args.data is not None:
        _check_data_path(args.data)
    overrides = [*args.overrides, *([f"init.from_run={args.init_from}"] if args.init_from else [])]
    cfg = run.make_config(args.task, config_file=args.config, overrides=overrides)
    result = run.train(args.task, cfg, out=args.out or f"runs/{args.task}", data=args.data,
                       resume=args.resume, overwrite=args.overwrite, say=print)
    if result.stopped:
        print(result.stopped)
    _print_metrics("test", result.test, result.baseline, result.baseline_name)
    print(f"run saved in {result.run} (loss curve: {result.run / 'loss.png'}; figures: {result.metrics_file})")
    return 0


def eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run directory written by rnnkit train")
    parser.add_argument("--data", metavar="PATH", help="evaluate on this data instead of the run's own test split")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace RUN/metrics.json (default: write metrics-2.json, ... beside it)")


def evaluate(args: argparse.Namespace) -> int:
    from rnnkit.tasks import run

    if args.data is not None:
        _check_data_path(args.data)
    result = run.evaluate(args.run, data=args.data, overwrite=args.overwrite)
    _print_metrics("test", result.test, result.baseline, result.baseline_name)
    print(f"figures written to {result.metrics_file}")
    return 0


def diagnose_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", nargs="?", metavar="RUN", help="a run directory (or use --cell and --task)")
    parser.add_argument("--cell", help="diagnose a fresh model with this cell (rnn, lstm, gru, mingru, minlstm)")
    parser.add_argument("--task", help="with --cell: the memory task (adding, copy, digits; default adding)")
    parser.add_argument("--length", type=int, help="with --cell: the sequence length T (default 100)")
    parser.add_argument("--out", metavar="DIR", help="where to write gradient_flow.png and .json")
    parser.add_argument("--overwrite", action="store_true", help="replace gradient_flow.png and .json in DIR")


def diagnose(args: argparse.Namespace) -> int:
    from rnnkit.bench import memory
    from rnnkit.tasks import run

    if (args.run is None) == (args.cell is None):
        raise UsageError("rnnkit diagnose: give either RUN or --cell (see rnnkit diagnose --help)")
    if args.run is not None:
        if args.task is not None or args.length is not None:
            raise UsageError("rnnkit diagnose: --task and --length go with --cell, not with RUN")
        out = Path(args.out or args.run)
        report = run.diagnose(args.run, out_dir=out, overwrite=args.overwrite)
    else:
        task, length = args.task or "adding", 100 if args.length is None else args.length
        out = Path(args.out or f"diagnose-{args.cell}-{task}-{length}")
        report = memory.diagnose(args.cell, task, length, out, overwrite=args.overwrite)
    for layer in report["layers"]:
        print(f"{layer['name']}: {layer['verdict']}")
    print(f"wrote {out / 'gradient_flow.png'} and {out / 'gradient_flow.json'}")
    return 0


def config_arguments(parser: argparse.ArgumentParser) -> None:
    from rnnkit.registry import TASKS

    parser.add_argument("task", choices=sorted(TASKS), metavar="TASK", help=f"one of {', '.join(sorted(TASKS))}")
    parser.add_argument("--config", metavar="FILE", help="start from this TOML run config instead of the defaults")
    _add_set(parser)


def show_config(args: argparse.Namespace) -> int:
    """Print the run config of TASK (defaults, then --config, then overrides) as TOML, a comment per key;
    the output is itself a valid --config file."""
    from rnnkit import registry
    from rnnkit.config import to_toml
    from rnnkit.tasks import run

    cfg = run.make_config(args.task, config_file=args.config, overrides=args.overrides)
    task = registry.task(args.task)
    print(f"# rnnkit train {args.task}: {task.description}")
    print(f"# without --data: {task.default_data}" if task.default_data else "# needs --data")
    print(to_toml(cfg), end="")
    return 0


def _check_data_path(path: str) -> None:
    if glob.has_magic(path) and glob.glob(path, recursive=True):  # a glob the reader expands
        return
    p = Path(path)
    if not p.exists() and not any(p.parent.glob(glob.escape(p.name) + ".*")):  # a stem of files STEM.LABEL
        raise UsageError(f"{path}: no such file or directory")
    if p.is_file() and p.stat().st_size == 0:
        raise UsageError(f"{path}: the file is empty")


def _print_metrics(title: str, metrics: dict[str, float], baseline: dict[str, float] | None, name: str) -> None:
    from rich.table import Table

    from rnnkit.bench.common import console

    # figures named mixture_NAME (a language model interpolated with its n-gram) get a column of their own
    mixture = {n.removeprefix("mixture_"): v for n, v in metrics.items() if n.startswith("mixture_")}
    own = {n: v for n, v in metrics.items() if not n.startswith("mixture_")}
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("model", justify="right")
    if mixture:
        table.add_column("mixture", justify="right")
    if baseline:
        table.add_column(name, justify="right")

    def row(metric: str) -> list[str]:
        cells = [metric, f"{own[metric]:.4f}" if metric in own else "-"]
        if mixture:
            cells.append(f"{mixture[metric]:.4f}" if metric in mixture else "-")
        if baseline:
            cells.append(f"{baseline[metric]:.4f}" if metric in baseline else "-")
        return cells

    names = [*own, *(n for n in mixture if n not in own), *(n for n in baseline or {} if n not in own | mixture)]
    for metric in names:
        table.add_row(*row(metric))
    console().print(table)


# name -> (add its options, run it, one-line help)
Command = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]
COMMANDS: dict[str, Command] = {
    "demo": (demo_arguments, demo, "train the next-word predictor on the embedded default and show it"),
    "train": (train_arguments, train, "train a task into a run directory (--a.b=c or --set a.b=c overrides)"),
    "eval": (eval_arguments, evaluate, "test metrics of a trained run beside the task's baseline"),
    "predict": (cli_use.predict_arguments, cli_use.predict,
                "a trained run's answer: next words, a label (--explain), a translation"),
    "generate": (cli_use.generate_arguments, cli_use.generate,
                 "sample text from a language model, or music into a MIDI file (temperature, seed)"),
    "chat": (cli_use.chat_arguments, cli_use.chat, "talk with a dialogue model in the terminal"),
    "serve": (cli_use.serve_arguments, cli_use.serve, "serve runs over HTTP with a web page (127.0.0.1 unless --host)"),
    "export": (cli_use.export_arguments, cli_use.export, "write a run as ONNX (the step function, state explicit)"),
    "diagnose": (diagnose_arguments, diagnose, "gradient flow over time and gate saturation: PNG and JSON"),
    "config": (config_arguments, show_config, "print a task's run config as TOML, a comment per setting"),
    "bench": (bench_arguments, run_bench, "benchmarks, each against a baseline measured in the same run"),
}
OVERRIDABLE = {"train", "config", "bench"}  # commands that take config overrides (bench: quality only)


def build_parser() -> argparse.ArgumentParser:
    import rnnkit

    parser = _Parser(prog="rnnkit", description="Recurrent neural networks on PyTorch.")
    parser.add_argument("--version", action="version", version=f"rnnkit {rnnkit.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add_arguments, run, help) in COMMANDS.items():
        sub = commands.add_parser(name, help=help, description=help)
        add_arguments(sub)
        sub.set_defaults(handler=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``rnnkit`` with ``argv`` (default: the process's arguments); returns the exit status."""
    try:
        args, extra = build_parser().parse_known_args(argv)
        args.overrides = [*getattr(args, "set", []), *_overrides(args.command, extra)]
        return args.handler(args)
    except UsageError as e:
        return _fail(str(e), 2)
    except (ConfigError, CheckpointError, TrainingDiverged) as e:
        return _fail(f"rnnkit: error: {e}", 1)
    except (ValueError, OSError) as e:
        return _fail(f"rnnkit: error: {e}", 1)
    except KeyboardInterrupt:
        return _fail("rnnkit: interrupted", 130)


def _overrides(command: str, extra: list[str]) -> list[str]:
    """Config overrides among the arguments argparse left over: ``--a.b=c`` or ``--a.b c``, for commands that
    take them (``--set a.b=c`` is parsed as an option). Anything else is refused with one line."""
    items, rest = [], list(extra)
    while rest and command in OVERRIDABLE:
        item = rest.pop(0)
        key = item[2:].partition("=")[0]
        if not (item.startswith("--") and ("=" in item or "." in key)):
            rest.insert(0, item)
            break
        if "=" in item:
            items.append(item[2:])
        elif rest and not rest[0].startswith("--"):
            items.append(f"{key}={rest.pop(0)}")
        else:
            raise UsageError(f"rnnkit {command}: {item} needs a value (--{key}=VALUE or --{key} VALUE)")
    if rest:
        hint = ""
        if command == "predict" and any(r.startswith("--top-k") for r in rest):
            hint = "; -k/--k sets how many answers (--top-k filters sampling in rnnkit generate)"
        elif command in OVERRIDABLE:
            hint = "; config settings look like --section.key=value"
        raise UsageError(f"rnnkit {command}: unrecognized arguments: {' '.join(rest)}{hint}")
    return items


def _fail(message: str, status: int) -> int:
    print(message, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
