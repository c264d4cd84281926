"""The batcher: each caller gets its own result, and load forms the batches by itself."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from shared.batching import Batcher


class Recorder:
    """A flush that doubles numbers, fails odd ones, and holds each batch until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def flush(self, items: list[int]) -> Sequence[int | BaseException]:
        self.batches.append(items)
        self.started.set()
        await self.release.wait()
        return [ValueError(f"odd {i}") if i % 2 else i * 2 for i in items]


async def test_each_caller_gets_its_own_result_or_error() -> None:
    recorder = Recorder()
    recorder.release.set()
    batcher: Batcher[int, int] = Batcher(recorder.flush)
    assert await batcher.submit(4) == 8
    with pytest.raises(ValueError, match="odd 3"):
        await batcher.submit(3)


async def test_requests_arriving_during_a_flush_form_the_next_batch() -> None:
    recorder = Recorder()
    batcher: Batcher[int, int] = Batcher(recorder.flush, max_batch=30)
    first = asyncio.ensure_future(batcher.submit(0))
    await recorder.started.wait()  # the first batch is in flight, held
    rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(2, 102, 2)]
    recorder.release.set()
    results = await asyncio.gather(first, *rest)
    assert results == [0, *(i * 2 for i in range(2, 102, 2))]
    assert [len(b) for b in recorder.batches] == [1, 30, 20]


async def test_a_failing_flush_fails_every_item_of_its_batch_only() -> None:
    calls = 0

    async def flush(items: list[int]) -> Sequence[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database went away")
        return items

    batcher: Batcher[int, int] = Batcher(flush)
    outcomes = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert await batcher.submit(3) == 3  # the batcher recovers for the next request


async def test_in_flight_limits_concurrent_batches() -> None:
    running = 0
    most = 0
    gate = asyncio.Event()
    all_queued = asyncio.Event()

    async def flush(items: list[int]) -> Sequence[int]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await gate.wait()
        running -= 1
        return items

    batcher: Batcher[int, int] = Batcher(flush, max_batch=1, in_flight=2)

    async def submit(i: int) -> int:
        if i == 9:
            all_queued.set()
        return await batcher.submit(i)

    tasks = [asyncio.ensure_future(submit(i)) for i in range(10)]
    await all_queued.wait()  # every submit has run up to its await: the batches have started
    gate.set()
    assert await asyncio.gather(*tasks) == list(range(10))
    assert most == 2
