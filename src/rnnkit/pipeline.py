"""From a run directory to predictions on raw input: what the CLI and the server share.

``from_checkpoint(run)`` loads the model, its preprocessor and its settings from a run directory and
returns the pipeline of the run's task (``Task.pipeline``, a ``rnnkit.tasks.base.Pipeline``); the caller
hands it raw inputs and gets outputs back, so preprocessing lives in one place and training and serving
cannot drift apart.

>>> lm = from_checkpoint("runs/demo")
>>> lm.predict(["open the file and read the"])     # [[("contents", 0.21), ...]]
"""

from __future__ import annotations

from pathlib import Path

from rnnkit import registry
from rnnkit.tasks.base import Pipeline
from rnnkit.tasks.run import load


def from_checkpoint(run: str | Path) -> Pipeline:
    """The pipeline of a trained run directory (its ``best`` checkpoint, else ``last``)."""
    loaded = load(run)
    return registry.task(loaded.task).make_pipeline(loaded)
