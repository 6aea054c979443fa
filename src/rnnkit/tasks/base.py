"""The task contract: what a task package gives the runner, the CLI, the server, export and the benchmarks.

A task is one package ``rnnkit/tasks/<name>/`` (or one module while small). Its ``Task`` object, listed
once in ``rnnkit.registry.TASKS``, owns:

- ``config_class``: the run config, a dataclass with ``data``, ``model`` and ``train`` (and more) fields;
- a **preprocessor**: raw inputs -> model inputs, fitted on the training split, saved in the checkpoint
  as ``to_dict()`` under ``meta.json["preprocessor"]`` and restored by ``load_preprocessor(dict)``; each
  task documents its dict's schema in its package docstring;
- ``build(cfg, data, preprocessor)``: the model and data sources of a run (``Parts``), with metrics,
  baseline and figures; ``build_model(cfg, preprocessor)``: the model alone, to load weights into;
- a **pipeline** (``pipeline`` = "module:Class", a ``Pipeline``): raw input -> prediction, shared by the
  CLI, the server and the page;
- optional parts, each a "module:attribute" reference imported only when used, so that an optional
  dependency is imported only by the part that needs it: ``cli`` (``OPTIONS`` of ``rnnkit predict`` and
  ``render``, how a prediction prints; ``GENERATE_OPTIONS`` of ``rnnkit generate``), ``router`` (its HTTP
  endpoints, a ``rnnkit.serve.declare.Router``), ``panel`` (its web page panel, a folder with ``panel.html``
  and ``panel.js``), ``export`` (an ONNX graph builder) and ``quality`` (its quality benchmark module).

The CLI, the server, export and the benchmarks iterate over the registry and ask a task for these; none of
them branches on a task's name. Adding a task = its package + its tests + one registry line.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from torch import nn

from rnnkit.train.trainer import DataSource


class Preprocessor(Protocol):
    """Raw inputs -> model inputs, fitted on a training split; ``to_dict()`` is JSON-able and the task's
    ``load_preprocessor`` rebuilds an equal object from it."""

    def to_dict(self) -> dict: ...


@dataclass
class Parts:
    """A task's model and data sources for one run config.

    ``preprocessor`` is the fitted (or given) preprocessor. ``baseline`` holds the metrics of a reference
    method on the same split (an input-blind guess, an n-gram model), or a function computing them when
    asked; ``baseline_name`` says what it is. ``notes`` are lines saying what the task chose where the
    config left it open (a vocabulary cap, an output layer), printed before training. ``config`` is the
    run config as the task completed it from the data and the budget (a model size), the one a run is
    saved and rebuilt with; None when the task changed nothing. A task completes a config only when it
    fits a preprocessor (a new run), never when one is given (a trained run's data).
    ``extra_metrics(metrics, model)`` derives further figures from
    the trainer's metrics and the model (perplexity from a loss, next-word accuracy). ``artifacts(run_dir,
    model)`` writes figures of the test split beside a run (a confusion matrix) and returns their paths.
    """

    model: nn.Module
    train: DataSource
    valid: DataSource | None
    test: DataSource | None = None
    preprocessor: Preprocessor | None = None
    baseline: dict[str, float] | Callable[[], dict[str, float]] | None = None
    baseline_name: str = "input-blind baseline"
    extra_metrics: Callable[[dict[str, float], nn.Module], dict[str, float]] | None = None
    artifacts: Callable[[Path, nn.Module], list[Path]] | None = None
    notes: list[str] = field(default_factory=list)  # choices made for the user (a vocabulary cap), to print
    config: Any = None  # the run config as completed from the data and the budget; None: as given

    def baseline_metrics(self) -> dict[str, float] | None:
        if callable(self.baseline):
            self.baseline = self.baseline()
        return self.baseline

    def metrics(self, raw: dict[str, float]) -> dict[str, float]:
        return self.extra_metrics(raw, self.model) if self.extra_metrics is not None else raw

    def write_artifacts(self, run_dir: Path) -> list[Path]:
        return self.artifacts(Path(run_dir), self.model) if self.artifacts is not None else []


@dataclass(frozen=True)
class Option:
    """A task-specific command-line option of ``rnnkit predict`` or ``generate`` (``--beam``, ``--unit``). ``flag`` is
    its long form; ``kind`` is a type (int, float, str) or ``bool`` for a switch. Two tasks may declare the
    same flag only with the same meaning (same kind and help)."""

    flag: str
    help: str
    kind: type = str
    metavar: str | None = None
    short: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


# -k: how many answers to show, for every task that ranks them (next words, labels)
K = Option("--k", "how many answers to show: next words or labels (default: the task's)", int, "K", "-k")


def resolve(ref: str) -> Any:
    """The object a "module:attribute" reference names, imported now."""
    module, _, attr = ref.partition(":")
    target = importlib.import_module(module)
    return getattr(target, attr) if attr else target


class Task:
    """The base of every task; a subclass sets the class attributes and implements ``build``,
    ``build_model`` and (when it has a preprocessor) ``load_preprocessor``.

    ``name``: the short name in the registry and on the command line. ``default_data``: what trains
    without ``--data`` (data the project makes or an installed package ships), or "" when ``--data`` is
    needed. ``pipeline``, ``cli``, ``router``, ``export``, ``quality``: "module:attribute" references to
    the optional parts (see the module docstring); ``panel``: the package whose ``static/`` folder holds
    the page panel. What a trained run can do beyond ``predict`` is its pipeline's ``commands``."""

    name: ClassVar[str]
    description: ClassVar[str]
    default_data: ClassVar[str] = ""
    config_class: ClassVar[type]
    pipeline: ClassVar[str | None] = None
    cli: ClassVar[str | None] = None
    router: ClassVar[str | None] = None
    panel: ClassVar[str | None] = None
    export: ClassVar[str | None] = None
    quality: ClassVar[str | None] = None

    def build(self, cfg: Any, data: str | None, preprocessor: Any = None) -> Parts:
        """The run's parts. ``data`` is None for the embedded default; a given ``preprocessor`` (a trained
        run's, for ``rnnkit eval --data``) is used as it is, and then all of ``data`` is the test split."""
        raise NotImplementedError

    def build_model(self, cfg: Any, preprocessor: Any) -> nn.Module:
        """The model of ``cfg`` for inputs prepared by ``preprocessor``, freshly initialised."""
        raise NotImplementedError

    def resolve(self, cfg: Any) -> Any:
        """``cfg`` with what it leaves to the task filled in (a word model's size, say): the config a run
        is saved and rebuilt with. Called on every run config before training; the default keeps it."""
        return cfg

    def load_preprocessor(self, data: dict | None) -> Any:
        """The preprocessor saved as ``data`` (its ``to_dict()``); None for tasks that have none."""
        return None

    def make_pipeline(self, loaded: Any) -> Pipeline:
        """The pipeline of the trained run ``loaded``; ValueError for a task without one."""
        if self.pipeline is None:
            raise ValueError(f"{loaded.run}: a {self.name} run has no prediction pipeline; it is for training "
                             "and diagnosis (rnnkit eval, rnnkit diagnose)")
        return resolve(self.pipeline)(loaded)

    def part(self, which: str) -> Any:
        """The optional part ``which`` ("cli", "router", "export", "quality"), imported now; None if absent."""
        ref = getattr(self, which)
        return None if ref is None else resolve(ref)

    def panel_dir(self) -> Path | None:
        """The folder of this task's web page panel (``panel.html``, ``panel.js``), if it has one."""
        if self.panel is None:
            return None
        return Path(importlib.import_module(self.panel).__file__).parent / "static"


class Pipeline:
    """A trained run, ready for raw inputs: what the CLI, the server and the page share.

    ``predict(inputs)`` maps a batch of raw inputs to one output each; ``stream(input)`` yields the output
    of one input piece by piece, where the task streams. ``defaults`` holds the task's decoding and
    suggestion defaults (k, temperature, length, beam), the one place the CLI, the HTTP API and the page
    read them from; ``describe()`` is what ``GET /v1/models`` says about the model."""

    task: ClassVar[str]
    streams: ClassVar[bool] = False
    # what ``rnnkit generate`` makes: "text", streamed as ``generate`` yields it, or "file", written by
    # ``generate_files(out, *, prime, length, temperature, seed, overwrite) -> list[Path]`` (music: MIDI)
    output: ClassVar[str] = "text"

    def __init__(self, loaded: Any):
        self.loaded = loaded
        self.model = loaded.model.eval()
        self.preprocessor = loaded.preprocessor

    @property
    def kind(self) -> str | None:
        """The flavour of the run within its task, where the task has several."""
        return None

    @property
    def defaults(self) -> dict[str, Any]:
        return {}

    @property
    def commands(self) -> frozenset[str]:
        """The subcommands beyond ``predict`` that a run of this pipeline takes: "generate" (it offers
        ``generate(prime, *, length, temperature, top_k, top_p, seed) -> Iterator[str]``) and "chat"
        (``reply_stream(message, history, *, beam) -> Iterator[str]`` and ``unknown(text) -> list[str]``)."""
        return frozenset()

    def predict(self, inputs: Sequence[Any], **options: Any) -> list[Any]:
        raise NotImplementedError

    def stream(self, input: Any, **options: Any) -> Iterator[str]:
        raise ValueError(f"a {self.task} model does not stream its output")

    def describe(self) -> dict[str, Any]:
        return {"defaults": self.defaults}
