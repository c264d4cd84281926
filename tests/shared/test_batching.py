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


async def test_a_poisoned_batch_is_retried_item_by_item() -> None:
    """One bad item makes the whole call fail; retried alone, only that item gets the error."""
    calls: list[list[int]] = []

    async def flush(items: list[int]) -> Sequence[int]:
        calls.append(items)
        if 13 in items:
            raise ValueError("13 is poison")
        return [i * 2 for i in items]

    started, gate = asyncio.Event(), asyncio.Event()

    async def held_flush(items: list[int]) -> Sequence[int]:
        started.set()
        await gate.wait()
        return await flush(items)

    batcher: Batcher[int, int] = Batcher(
        held_flush, retry_alone=lambda exc: isinstance(exc, ValueError)
    )
    first = asyncio.ensure_future(batcher.submit(0))
    await started.wait()  # the first batch, of one, is in flight and held
    rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(10, 20)]
    await asyncio.wait(rest, timeout=0)  # let each submit run up to its await
    assert batcher.waiting == 10
    gate.set()
    outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
    assert outcomes[0] == 0
    assert [o for o in outcomes[1:] if isinstance(o, BaseException)] == [outcomes[4]]
    assert str(outcomes[4]) == "13 is poison"
    assert outcomes[1:4] + outcomes[5:] == [i * 2 for i in range(10, 20) if i != 13]
    assert calls[1] == list(range(10, 20))  # they did form one batch
    assert len(calls) == 2 + 10


async def test_an_error_not_meant_for_one_item_reaches_the_whole_batch_once() -> None:
    calls = 0

    async def flush(items: list[int]) -> Sequence[int]:
        nonlocal calls
        calls += 1
        raise ConnectionError("database went away")

    batcher: Batcher[int, int] = Batcher(flush, retry_alone=lambda exc: isinstance(exc, ValueError))
    outcomes = await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert calls == 1
