"""From crossed alerts to confirmed messages, beside the tick loop.

The tick loop calls ``offer`` (no I/O, no waiting). Two workers run beside it:

- claim: everything offered since the last claim goes to PostgreSQL in one UPDATE (a burst of
  ticks becomes one statement; an idle system claims a lone crossing at once);
- publish: the claimed alerts go to the publisher in batches, and the confirmed ones are marked
  published. What the publisher could not confirm is retried with growing delays; what is
  claimed but never marked (a crash, a lost connection) is republished from the database by
  ``Matcher`` at start-up and periodically. Nothing claimed is lost.

``offer`` is bounded: past ``max_pending`` unclaimed crossings the tick loop should await
``room()``, and that back-pressure is logged, never silent.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import FIRST_COMPLETED
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from psycopg import AsyncConnection

from matcher import store
from matcher.metrics import MatcherMetrics
from matcher.publisher import Publisher
from shared.backoff import full_jitter
from shared.db import GatedPool
from shared.errors import DatabaseUnavailable
from shared.messages import AlertMessage
from shared.prices import as_decimal
from shared.version import Version

Fire = tuple[int, int]  # (alert id, seq)

log = logging.getLogger(__name__)

# Smaller claims let publishing start sooner after a huge crossing; larger ones cost less per
# row. 20,000 is about where the per-row cost stops falling (benchmarks/matcher_service.py).
MAX_CLAIM = 20_000
MAX_PUBLISH = 5_000
# Batches awaiting their confirms at once: the broker confirms after its disk write, so one
# batch at a time would leave the client idle during every write.
PUBLISHES_IN_FLIGHT = 3
RETRY_BASE_SECONDS = 0.1
_FAILED = object()
T = TypeVar("T")


@dataclass
class Counters:
    crossed: int = 0
    claimed: int = 0
    published: int = 0
    publish_failures: int = 0
    claim_failures: int = 0


class ClaimPipeline:
    def __init__(
        self,
        pool: GatedPool,
        publisher: Publisher,
        *,
        metrics: MatcherMetrics,
        progress: Version,
        max_pending: int = 500_000,
        retry_cap_seconds: float = 2.0,
    ) -> None:
        self._pool = pool
        self._metrics = metrics
        self._publisher = publisher
        self._max_pending = max_pending
        self._retry_cap = retry_cap_seconds
        self._ids: list[int] = []
        self._prices: list[float] = []
        self._times: list[int] = []  # trade times, epoch milliseconds
        self._bases: list[float | None] = []  # a percent move's window low or high
        self._references: list[tuple[int, float]] = []  # crossing references to record
        self._to_publish: deque[AlertMessage] = deque()
        self._in_flight: set[Fire] = set()  # claimed, not yet confirmed and marked
        self._offered = Version()  # bumped by offer: work for the claim loop
        self._claimed = Version()  # bumped by claims and republishes: work for the publish loop
        self._room = asyncio.Event()
        self._room.set()
        self._full = asyncio.Event()  # the opposite of _room: set while back-pressure holds
        self._idle = asyncio.Event()
        self._idle.set()
        self._claiming = self._publishing = False  # a worker is in the middle of a batch
        self._claim_failures_in_a_row = 0
        self._progress = progress  # bumped whenever alerts are claimed or confirmed
        self._tasks: list[asyncio.Task[None]] = []
        self.counters = Counters()

    @property
    def pending(self) -> int:
        """Crossed alerts waiting for the claim statement."""
        return len(self._ids)

    @property
    def in_flight(self) -> set[Fire]:
        """Fires claimed by this process and not yet marked published."""
        return self._in_flight

    def offer(
        self,
        alert_ids: Sequence[int],
        price: float,
        time_ms: int,
        bases: Sequence[float | None] | None = None,
    ) -> None:
        """Queue the alerts a trade fired for claiming, at its price and time (and, for each
        percent move, the window's low or high it was measured from). O(k); never waits."""
        count = len(alert_ids)
        self._ids += alert_ids
        self._prices += [price] * count
        self._times += [time_ms] * count
        self._bases += [None] * count if bases is None else bases
        self.counters.crossed += count
        self._idle.clear()
        self._offered.bump()
        if len(self._ids) >= self._max_pending and self._room.is_set():
            self._room.clear()
            self._full.set()
            log.warning(
                "claim back-pressure: the tick loop waits for the database",
                extra={"pending": len(self._ids)},
            )

    async def room(self) -> None:
        """Returns when fewer than ``max_pending`` crossings wait to be claimed."""
        await self._room.wait()

    async def full(self) -> None:
        """Returns when ``max_pending`` crossings wait to be claimed: a push feed should stop
        reading until ``room()`` returns."""
        await self._full.wait()

    def note_references(self, references: Sequence[tuple[int, float]]) -> None:
        """Crossing references the book decided, recorded before the next claim (a crossing
        alert's fire always finds its reference recorded)."""
        self._references += references
        self._idle.clear()
        self._offered.bump()

    def republish(self, messages: Sequence[AlertMessage]) -> None:
        """Queue already-claimed fires (found unpublished in the database) for publishing."""
        fresh = [m for m in messages if m.fire not in self._in_flight]
        self._in_flight.update(m.fire for m in fresh)
        self._to_publish.extend(fresh)
        if fresh:
            self._idle.clear()
            self._claimed.bump()

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        """The claim and publish workers, once started: neither ever returns by itself."""
        return list(self._tasks)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="claims"),
            asyncio.create_task(self._publish_loop(), name="publishes"),
        ]

    async def drain(self) -> None:
        """Returns once everything offered so far is claimed and its publish confirmed. While
        PostgreSQL or RabbitMQ is away that can take forever: bound it with a timeout."""
        await self._idle.wait()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _check_idle(self) -> None:
        busy = self._claiming or self._publishing
        if not busy and not self._ids and not self._to_publish and not self._references:
            self._idle.set()

    async def _claim_loop(self) -> None:
        seen = 0
        while True:
            seen = await self._offered.changed(seen)
            self._claiming = True
            while self._references or self._ids:
                if self._references:
                    references = self._references[:MAX_CLAIM]
                    recorded = await self._in_database(
                        "record references", partial(store.record_references, references=references)
                    )
                    if recorded is not _FAILED:
                        del self._references[: len(references)]
                    continue
                await self._claim_next()
            self._claiming = False
            self._check_idle()

    async def _claim_next(self) -> None:
        count = _distinct_prefix(self._ids, MAX_CLAIM)
        ids = self._ids[:count]
        prices = [as_decimal(p) for p in self._prices[:count]]
        times = [datetime.fromtimestamp(ms / 1000, UTC) for ms in self._times[:count]]
        bases = [None if b is None else as_decimal(b) for b in self._bases[:count]]
        with self._metrics.claim_seconds.time():
            claimed = await self._in_database(
                "claim",
                partial(store.claim, alert_ids=ids, prices=prices, times=times, bases=bases),
            )
        if claimed is _FAILED:
            return
        assert isinstance(claimed, list)
        del self._ids[:count]
        del self._prices[:count]
        del self._times[:count]
        del self._bases[:count]
        if not self._room.is_set() and len(self._ids) < self._max_pending // 2:
            self._room.set()
            self._full.clear()
            log.info("claim back-pressure released", extra={"pending": len(self._ids)})
        self.counters.claimed += len(claimed)
        self._in_flight.update(m.fire for m in claimed)
        self._to_publish.extend(claimed)
        self._claimed.bump()
        self._progress.bump()

    async def _in_database(
        self, what: str, work: Callable[[AsyncConnection[Any]], Awaitable[T]]
    ) -> T | object:
        """``work`` on a pooled connection; ``_FAILED`` after a failure, once the retry may
        come: at once when PostgreSQL answers again (not after a backoff that grew while it
        was away), or after a short backoff for any other error."""
        try:
            async with self._pool.connection() as conn:
                result = await work(conn)
        except DatabaseUnavailable:
            self.counters.claim_failures += 1
            await self._pool.until_available()
            return _FAILED
        except Exception as exc:
            self._claim_failures_in_a_row += 1
            self.counters.claim_failures += 1
            delay = full_jitter(
                self._claim_failures_in_a_row, base=RETRY_BASE_SECONDS, cap=self._retry_cap
            )
            log.warning(f"{what} failed: retrying", extra={"error": repr(exc), "retry_in_s": delay})
            await asyncio.sleep(delay)
            return _FAILED
        self._claim_failures_in_a_row = 0
        return result

    async def _publish_loop(self) -> None:
        batches: set[asyncio.Task[bool]] = set()
        try:
            await self._publish_forever(batches)
        finally:  # stopped: what is in flight is left for the republish of the next start
            for task in batches:
                task.cancel()
            await asyncio.gather(*batches, return_exceptions=True)

    async def _publish_forever(self, batches: set[asyncio.Task[bool]]) -> None:
        failures = 0
        seen = 0
        while True:
            seen = await self._claimed.changed(seen)
            self._publishing = True
            while self._to_publish or batches:
                while self._to_publish and len(batches) < PUBLISHES_IN_FLIGHT:
                    count = min(len(self._to_publish), MAX_PUBLISH)
                    batch = [self._to_publish.popleft() for _ in range(count)]
                    batches.add(asyncio.create_task(self._publish_batch(batch)))
                more = asyncio.ensure_future(self._claimed.changed(seen))
                try:
                    done, _ = await asyncio.wait({*batches, more}, return_when=FIRST_COMPLETED)
                finally:
                    if not more.done():
                        more.cancel()
                if more.done() and not more.cancelled():
                    seen = more.result()
                finished = done - {more}
                batches -= finished
                if all(task.result() for task in finished):
                    failures = 0
                else:
                    failures += 1
                    await asyncio.sleep(
                        full_jitter(failures, base=RETRY_BASE_SECONDS, cap=self._retry_cap)
                    )
            self._publishing = False
            self._check_idle()

    async def _publish_batch(self, batch: list[AlertMessage]) -> bool:
        """Publish, mark what was confirmed, put back what was not; whether all was confirmed."""
        try:
            with self._metrics.publish_seconds.time():
                confirmed = await self._publisher.publish(batch)
            self._observe_tick_to_confirm(batch, confirmed)
        except Exception as exc:
            log.warning("publish failed", extra={"fires": len(batch), "error": repr(exc)})
            confirmed = []
        if confirmed:
            await self._mark_published(confirmed)
        if len(confirmed) == len(batch):
            return True
        done = set(confirmed)
        retry = [m for m in batch if m.fire not in done]
        self._to_publish.extendleft(reversed(retry))
        self.counters.publish_failures += len(retry)
        return False

    def _observe_tick_to_confirm(self, batch: list[AlertMessage], confirmed: list[Fire]) -> None:
        now = datetime.now(UTC)
        done = set(confirmed)
        histogram = self._metrics.tick_to_confirm_seconds
        for message in batch:
            if message.fire in done:
                traded_at = datetime.fromisoformat(message.triggered_at)
                histogram.observe((now - traded_at).total_seconds())

    async def _mark_published(self, fires: list[Fire]) -> None:
        try:
            async with self._pool.connection() as conn:
                await store.mark_published(conn, fires)
        except Exception as exc:
            # Published but not marked: the periodic republish will send them again, which the
            # notifier's duplicate check absorbs. Rare, and never a lost fire.
            log.warning(
                "could not mark fires published", extra={"fires": len(fires), "error": repr(exc)}
            )
        self._in_flight.difference_update(fires)
        self.counters.published += len(fires)
        self._progress.bump()


def _distinct_prefix(alert_ids: list[int], limit: int) -> int:
    """How many of the first ``alert_ids`` (at most ``limit``) name no alert twice. One claim
    statement updates each row once: a repeating alert's second fire waiting behind its first
    (trade times far apart in a replay, or in a gap's replay) goes in the next statement, after
    the first fire set the cooldown it is checked against. O(k)."""
    seen: set[int] = set()
    for count, alert_id in enumerate(alert_ids[:limit]):
        if alert_id in seen:
            return count
        seen.add(alert_id)
    return min(len(alert_ids), limit)
