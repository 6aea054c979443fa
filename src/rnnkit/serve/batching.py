"""Running model work off the event loop, one call at a time, and collecting concurrent calls into batches.

``TorchThread`` owns the one thread where every model call runs, so torch never runs concurrently with
itself and the event loop stays free. ``MicroBatcher`` sits in front of it for one model and one kind of
work: concurrent ``submit`` calls wait up to ``wait_s`` for company, then up to ``max_batch`` of them run as
one call of ``process`` (a list of items -> a list of results or exceptions, in order)::

    submit(a) ─┐
    submit(b) ─┼─ queue ─ worker: first item, then whatever arrives within wait_s ─ process([a, b, c]) ─ results
    submit(c) ─┘
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class TorchThread:
    """One worker thread for all model work: ``await thread.run(fn, *args)``."""

    def __init__(self):
        self._pool: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnnkit-torch")
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))

    def close(self) -> None:
        """Stop the thread once its current call ends; a later ``run`` starts a new one."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class MicroBatcher:
    """Collects concurrent ``submit(item)`` calls into batches for ``process``, run on ``thread``.

    ``process(items)`` returns one result per item, in order; an Exception in place of a result is raised to
    that item's caller alone. ``on_batch(n)`` is told the size of every batch run (for metrics). A caller
    that gives up (cancelled, e.g. by a timeout) is dropped from its batch if the batch has not started."""

    def __init__(
        self,
        process: Callable[[list[Any]], Sequence[Any]],
        *,
        thread: TorchThread,
        wait_s: float,
        max_batch: int,
        on_batch: Callable[[int], None] = lambda n: None,
    ):
        self.process, self.thread, self.wait_s, self.max_batch = process, thread, wait_s, max_batch
        self.on_batch = on_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._worker: asyncio.Task | None = None

    async def submit(self, item: Any) -> Any:
        """The result of ``item``, computed in a batch with whatever other items arrive meanwhile."""
        self._start()
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._worker is None or self._worker.done():
            self._loop, self._queue = loop, asyncio.Queue()  # a queue belongs to the loop that uses it
            self._worker = loop.create_task(self._work())

    async def _work(self) -> None:
        while True:
            batch = await self._collect()
            batch = [(item, f) for item, f in batch if not f.done()]
            if not batch:
                continue
            self.on_batch(len(batch))
            try:
                results = await self.thread.run(self.process, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - the whole batch failed: every caller hears why
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _collect(self) -> list[tuple[Any, asyncio.Future]]:
        """The first waiting item, then more until ``wait_s`` has passed or ``max_batch`` are in hand."""
        batch = [await self._queue.get()]
        deadline = asyncio.get_running_loop().time() + self.wait_s
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except TimeoutError:
                break
        return batch
