"""What every endpoint reaches through one ``Server``: the loaded models by task and name, the settings, the
session store, the model thread, the micro-batchers and the metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.serve.batching import MicroBatcher, TorchThread
from rnnkit.serve.errors import ApiError
from rnnkit.serve.metrics import Metrics
from rnnkit.serve.sessions import SessionStore
from rnnkit.serve.settings import ServeError, Settings

RunOrPipeline = str | Path | tuple[str, Any]


@dataclass
class ServedModel:
    """A loaded pipeline under its public ``name``; ``run`` is its run directory (None if given loaded)."""

    name: str
    task: str
    pipeline: Any
    run: Path | None = None

    @property
    def kind(self) -> str | None:
        """The flavour within a task where it has several (seq2seq: "translate" or "chat")."""
        return getattr(self.pipeline, "kind", None)


def load_models(runs: Sequence[RunOrPipeline], settings: Settings) -> list[ServedModel]:
    """Each entry: a run directory (checked against ``settings.allowed_dirs``, then loaded with
    ``rnnkit.pipeline.from_checkpoint``) or a ``(name, pipeline)`` pair. A model is named after its run
    directory; repeated names get "-2", "-3", ... Raises ServeError (or the loader's ValueError), one line."""
    from rnnkit.pipeline import from_checkpoint

    if not runs:
        raise ServeError("give at least one run directory to serve")
    models, taken = [], set()
    for entry in runs:
        if isinstance(entry, tuple):
            name, pipeline, path = entry[0], entry[1], None
        else:
            path = settings.check_allowed(entry)
            name, pipeline = path.name, from_checkpoint(path)
        models.append(ServedModel(_free_name(name, taken), pipeline.task, pipeline, path))
    return models


def _free_name(name: str, taken: set[str]) -> str:
    unique, n = name, 1
    while unique in taken:
        n += 1
        unique = f"{name}-{n}"
    taken.add(unique)
    return unique


class Server:
    """The shared state behind the routes. ``model(task, name)`` finds a model; ``call(fn, *args)`` runs model
    work on the model thread within ``request_timeout_s``; ``batcher(model, key, process)`` is the
    micro-batcher of one kind of work for one model."""

    def __init__(self, models: Iterable[ServedModel], settings: Settings):
        self.settings = settings
        self.models = {m.name: m for m in models}
        self.sessions = SessionStore(settings)
        self.metrics = Metrics(self)
        self.thread = TorchThread()
        self._batchers: dict[tuple[str, str], MicroBatcher] = {}

    def model(self, task: str, name: str | None, *, kind: str | None = None) -> ServedModel:
        """The loaded model ``name`` of ``task`` (and ``kind``), or the only one when ``name`` is None.
        ApiError 404 for an unknown name, 400 when several could answer and none is named."""
        fits = [m for m in self.models.values() if m.task == task and (kind is None or m.kind == kind)]
        what = f"{task} ({kind})" if kind else task
        if name is None:
            if len(fits) == 1:
                return fits[0]
            raise ApiError(400, f"several {what} models are loaded; name one in 'model': "
                                f"{', '.join(m.name for m in fits)}")
        for m in fits:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in fits) or "none"
        raise ApiError(404, f"no {what} model named {name!r}; loaded: {known}")

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the model thread; ApiError 504 after ``request_timeout_s``."""
        return await self.within_timeout(self.thread.run(fn, *args))

    async def within_timeout(self, awaitable: Any) -> Any:
        try:
            async with asyncio.timeout(self.settings.request_timeout_s):  # no task per request, as wait_for makes
                return await awaitable
        except TimeoutError:
            limit = self.settings.request_timeout_s
            raise ApiError(504, f"the model took longer than request_timeout_s={limit}") from None

    def batcher(self, model: ServedModel, key: str, make: Callable[[], Callable[[list], Sequence]]) -> MicroBatcher:
        """The micro-batcher of ``key`` work for ``model``; on first use ``make()`` gives its ``process``."""
        if (model.name, key) not in self._batchers:
            self._batchers[model.name, key] = MicroBatcher(
                make(), thread=self.thread, wait_s=self.settings.batch_wait_ms / 1000,
                max_batch=self.settings.max_batch, on_batch=lambda n: self.metrics.batch(model.name, key, n))
        return self._batchers[model.name, key]

    def check_chars(self, what: str, n: int) -> None:
        """ApiError 413 when ``n`` characters of input are more than ``max_input_chars``."""
        if n > self.settings.max_input_chars:
            raise ApiError(413, f"{what} has {n} characters; the limit is max_input_chars="
                                f"{self.settings.max_input_chars}")

    def close(self) -> None:
        for batcher in self._batchers.values():
            batcher.close()
        self.thread.close()
