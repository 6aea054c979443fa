"""A training progress bar (rich): updates done, loss, tokens per second and time left."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress


class Progress:
    """``with Progress(total=steps) as bar: bar.update(step, record)``; silent when ``enabled`` is false."""

    def __init__(self, *, total: int, start: int = 0, enabled: bool = True, description: str = "train"):
        self.enabled = enabled
        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[speed]} tok/s"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            disable=not enabled,
            transient=False,
        )
        self._task = self._bar.add_task(description, total=total, completed=start, loss="-", speed="-")

    def __enter__(self) -> Progress:
        self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.stop()

    def update(self, step: int, record: dict) -> None:
        self._bar.update(
            self._task, completed=step, loss=f"{record['loss']:.4f}", speed=f"{record['tokens_per_s']:,.0f}"
        )
