"""The book kept in step with PostgreSQL, and the gap's trades replayed after a lost sync.

LISTEN first, then load the shard's live alerts through a server-side cursor into a new book,
then apply the notifications that arrived meanwhile (idempotently), so no change is missed.
After a lost connection the whole shard is loaded again into a fresh book that replaces the old
one: the matcher never trusts that it saw every notification. While the sync is lost the tick
records the trades that could cross an alert created meanwhile (``matcher.gap``); once the
reload is in, they are matched against it, each alert at its first crossing trade.
"""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg
from psycopg_pool import AsyncConnectionPool

from matcher import store
from matcher.book import AlertBook
from matcher.changes import change
from matcher.gap import GapPrices
from matcher.tick import Tick
from shared.backoff import full_jitter
from shared.errors import DatabaseUnavailable
from shared.settings import Shard
from shared.version import Version

log = logging.getLogger("matcher.service")

# After a lost database connection the server is probed every second at most, not on a
# backoff that grew while it was down: the sooner the reload, the shorter the gap.
RESYNC_BACKOFF_BASE_SECONDS = 0.2
RESYNC_BACKOFF_CAP_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 2.0


class BookSync:
    """Follows the shard's alerts into ``tick.book``. ``ready`` is the matcher's: a sync lost
    before it was ever ready has no trades to replay."""

    def __init__(
        self,
        database_url: str,
        shard: Shard,
        pool: AsyncConnectionPool,
        tick: Tick,
        *,
        ready: asyncio.Event,
        progress: Version,
    ) -> None:
        self._url = database_url
        self._shard = shard
        self._pool = pool
        self._tick = tick
        self._ready = ready
        self._progress = progress
        self.book_version = Version()  # bumped whenever a reload or notification applied
        self.synced = asyncio.Event()  # the first load is in
        self.resyncing = False
        self.resyncs = 0
        self.last_load: tuple[int, float] = (0, 0.0)  # alerts, seconds of the latest load
        self._sync_lost_at = 0.0

    async def follow(self) -> None:
        """LISTEN, load the shard, apply the notifications; after any lost connection, again
        (probing the server about every second), with the prices of the gap replayed."""
        failures = 0
        while True:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                    listener = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                async with listener:
                    await listener.execute(f"LISTEN {store.CHANNEL}")
                    await self._reload()
                    failures = 0
                    async for notification in listener.notifies():
                        await self._apply(notification.payload)
            except (psycopg.OperationalError, DatabaseUnavailable, TimeoutError) as exc:
                # DatabaseUnavailable: the pool that fetches a notification's rows tripped first.
                if failures == 0:
                    self._lost(exc)
                failures += 1
                await asyncio.sleep(
                    full_jitter(
                        failures, base=RESYNC_BACKOFF_BASE_SECONDS, cap=RESYNC_BACKOFF_CAP_SECONDS
                    )
                )

    def _lost(self, error: Exception) -> None:
        self.resyncing = True
        self.resyncs += 1
        self._progress.bump()
        self._sync_lost_at = time.monotonic()
        if self._ready.is_set() and self._tick.gap is None:
            self._tick.gap = GapPrices()
        log.warning(
            "lost the database connection: reloading the shard once it answers",
            extra={"shard": str(self._shard), "error": str(error).strip() or repr(error)},
        )

    async def _reload(self) -> None:
        book = AlertBook(recent=self._tick.recent)  # the recent trades carry on
        async with await psycopg.AsyncConnection.connect(self._url) as conn:
            count, seconds = await store.load_shard(conn, book.load, self._shard)
        self.last_load = (count, seconds)
        self._tick.book = book
        self._tick.offer_late()  # the alerts created lately, on what traded since
        gap, self._tick.gap = self._tick.gap, None
        fired_in_gap = self._replay(book, gap) if gap is not None else 0
        self.synced.set()
        self.resyncing = False
        self.book_version.bump()
        log.info(
            "shard loaded",
            extra={
                "shard": str(self._shard),
                "alerts": count,
                "symbols": len(book.symbols),
                "seconds": round(seconds, 3),
                "alerts_per_s": round(count / seconds) if seconds else None,
            },
        )
        if gap is not None:
            log.info(
                "database sync restored: the gap's prices matched against the reloaded shard",
                extra={
                    "shard": str(self._shard),
                    "gap_s": round(time.monotonic() - self._sync_lost_at, 3),
                    "record_trades": len(gap),
                    "crossed": fired_in_gap,
                },
            )

    def _replay(self, book: AlertBook, gap: GapPrices) -> int:
        """Cross the reloaded alerts with the trades of the gap, each at its first crossing."""
        fired_count = 0
        for symbol, price, time_ms in gap.crossings():
            fired = book.match(symbol, price, time_ms)
            if fired:
                self._tick.offer(symbol, fired, price, time_ms)
                fired_count += len(fired)
        return fired_count

    async def _apply(self, payload: str) -> None:
        try:
            what = change(payload)
        except ValueError as exc:
            log.error("unreadable alerts notification skipped", extra={"error": str(exc)})
            return
        book = self._tick.book
        for alert_id in what.gone:
            book.remove(alert_id)
        if what.live:
            async with self._pool.connection() as conn:
                rows = await store.live_rows(conn, what.live, self._shard)
            if book is self._tick.book:  # not replaced by a reload meanwhile (which has them)
                for row in rows:
                    book.add(row)
                self._tick.offer_late()  # what traded since each was created, before it came
        self.book_version.bump()
