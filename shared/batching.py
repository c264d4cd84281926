"""Gather concurrent requests into batches, flushing the next batch when the previous returns.

No timer and no fixed window: when the system is idle a request goes out alone at once; under
load the requests that arrive while one batch is in flight form the next. The batch size follows
the load by itself, and the latency added is at most one batch's round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Given the items of a batch, one result (or an exception meant for that item alone) each.
FlushBatch = Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]]


def _never(exc: Exception) -> bool:
    return False


class Batcher(Generic[Item, Result]):
    """``await batcher.submit(item)`` resolves with that item's result from ``flush``.

    At most ``in_flight`` batches run at once, each of at most ``max_batch`` items. If ``flush``
    raises an exception for which ``retry_alone(exc)`` is true (one item may have poisoned the
    batch, and nothing of it took effect), each item of the batch is flushed again on its own,
    so only the item at fault gets the error. Any other exception reaches every item of the batch
    (the database is away, say: that is no item's fault, and retrying could apply twice what a
    lost answer did apply).
    """

    def __init__(
        self,
        flush: FlushBatch[Item, Result],
        *,
        max_batch: int = 256,
        in_flight: int = 1,
        retry_alone: Callable[[Exception], bool] = _never,
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._in_flight = in_flight
        self._retry_alone = retry_alone
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._running = 0

    @property
    def waiting(self) -> int:
        """Items submitted and not yet taken into a batch."""
        return len(self._pending)

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._running < self._in_flight:
            self._running += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._run(batch)
        finally:
            self._running -= 1

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except Exception as exc:
            if len(batch) > 1 and self._retry_alone(exc):
                # One at a time: a rare path, and it must not take every pooled connection.
                for entry in batch:
                    if not entry[1].done():
                        await self._run([entry])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller went away (request cancelled)
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
