"""``rnnkit bench quality TASK [--data PATH] [--minutes M]``: what a task's defaults reach in a fixed
wall-clock budget on this machine, beside a baseline fitted on the same split.

Every task whose ``Task.quality`` names a module takes part; that module offers::

    OPTIONS: list[Option]              its own flags (--torch-baseline, --no-pretrain)
    NEEDS_DATA: bool                   whether --data is required
    samples(config) -> int             units of work, for the progress bar
    results(config, advance) -> list   one dict per trained model or baseline script
    render(report) -> list             rich renderables: its table and notes
    missed(result) -> str | None       a line naming a missed target, None when met

Config overrides (``--a.b=c``, ``--a.b c`` or ``--set a.b=c``) go to the task's run config, as with
``rnnkit train``. See ``rnnkit.tasks.<name>.bench`` for what each task measures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType


@dataclass
class QualityConfig:
    task: str = "lm"
    data: str | None = None
    minutes: float = 10.0
    overrides: tuple[str, ...] = ()
    out: str | None = None
    quick: bool = False
    options: dict = field(default_factory=dict)  # the task's own flags, by dest name


def _tasks() -> dict[str, object]:
    from rnnkit import registry

    return {t.name: t for t in registry.tasks() if t.quality}


def module(task: str) -> ModuleType:
    return _tasks()[task].part("quality")


def total_samples(config: QualityConfig) -> int:
    return module(config.task).samples(config)


def run(config: QualityConfig, *, on_sample: Callable[[str], None] | None = None) -> dict:
    from rnnkit.bench.common import machine_info, report

    return report("quality", machine_info(), module(config.task).results(config, on_sample or (lambda _: None)))


def missed(data: dict) -> list[str]:
    """One line per result that misses its target."""
    task = data["results"][0].get("task", "lm") if data["results"] else None
    if task is None:
        return []
    check = module(task).missed
    return [line for line in (check(r) for r in data["results"]) if line]


# ---- command line -----------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    names = sorted(_tasks())
    parser.add_argument("task", choices=names, metavar="TASK", help=f"the task whose quality to measure: "
                        f"{', '.join(names)}")
    parser.add_argument("--data", metavar="PATH", help="the data to train and test on")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget (default 10)")
    parser.add_argument("--out", metavar="DIR", help="save the trained model as a run directory (must not exist)")
    seen: dict[str, str] = {}
    for name in names:
        for option in module(name).OPTIONS:
            if option.flag in seen:
                continue
            seen[option.flag] = name
            kind = {"action": "store_true"} if option.kind is bool else {"type": option.kind}
            parser.add_argument(option.flag, dest=option.dest, help=f"{name}: {option.help}", **kind)
    parser.set_defaults(task_options=seen)


def config_from_args(args) -> QualityConfig:
    if args.minutes <= 0:
        raise ValueError(f"--minutes must be positive, got {args.minutes}")
    bench = module(args.task)
    if bench.NEEDS_DATA and not args.data:
        raise ValueError(f"bench quality {args.task} needs --data")
    if args.out and Path(args.out).exists():
        raise ValueError(f"{args.out}: already exists; choose another --out")
    own = {o.dest for o in bench.OPTIONS}
    options = {}
    for flag, owner in args.task_options.items():
        dest = flag.lstrip("-").replace("-", "_")
        value = getattr(args, dest)
        if dest not in own and value not in (None, False):
            raise ValueError(f"{flag} applies to bench quality {owner}, not {args.task}")
        if dest in own:
            options[dest] = value
    return QualityConfig(task=args.task, data=args.data, minutes=args.minutes, overrides=tuple(args.overrides),
                         out=args.out, quick=args.quick, options=options)


def render(data: dict) -> list:
    m = data["machine"]
    machine = f"{m['cpu']}, {m['cores']} cores, torch {m['torch']}, load {m['load_average_1min']}"
    task = data["results"][0].get("task", "lm") if data["results"] else None
    return [*(module(task).render(data) if task else []), machine]
