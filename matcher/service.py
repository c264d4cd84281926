"""One matcher replica: the book, kept in sync with PostgreSQL, matched against a price feed.

Start-up: LISTEN first, then load the shard's live alerts through a server-side cursor into a
new book, then apply the notifications that arrived meanwhile (idempotently), so no change is
missed. After a lost connection the whole shard is loaded again into a fresh book that replaces
the old one: the matcher never trusts that it saw every notification.

The tick loop does nothing but ``book.match`` and hands fires to the claim pipeline, and keeps
each symbol's price in a slot (``matcher.prices``); claims, publishes and republishes of
claimed-but-unconfirmed fires, the recording of crossing references, the expiry of alerts whose
time is up and the price writes (once a second, one statement) run beside it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from matcher import store
from matcher.book import AlertBook
from matcher.changes import change
from matcher.feeds import Feed
from matcher.figures import FeedFigures, MatcherFigures, flat
from matcher.gap import GapPrices
from matcher.metrics import MatcherMetrics
from matcher.pipeline import ClaimPipeline
from matcher.prices import PriceRecorder, PriceWriter
from matcher.publisher import Publisher
from matcher.replicas import Replicas
from matcher.sink import PushFeed
from shared.backoff import full_jitter
from shared.db import create_pool
from shared.errors import DatabaseUnavailable, PartStopped
from shared.schema import SchemaGate
from shared.settings import Shard
from shared.version import Version

log = logging.getLogger(__name__)

# After a lost database connection the server is probed every second at most, not on a
# backoff that grew while it was down: the sooner the reload, the shorter the gap.
RESYNC_BACKOFF_BASE_SECONDS = 0.2
RESYNC_BACKOFF_CAP_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 2.0
EXPIRE_EVERY_SECONDS = 5.0
REFERENCES_EVERY_SECONDS = 1.0


class Matcher:
    def __init__(
        self,
        database_url: str,
        shard: Shard,
        publisher: Publisher,
        *,
        republish_every_seconds: float = 30.0,
        summary_every_seconds: float = 60.0,
        retry_cap_seconds: float = 2.0,
        stop_timeout_seconds: float = 30.0,
        schema_gate: SchemaGate | None = None,
        heartbeat_seconds: float = 5.0,
        replica_timeout_seconds: float = 30.0,
        price_flush_seconds: float = 1.0,
    ) -> None:
        self._url = database_url
        self._shard = shard
        self._publisher = publisher
        self._republish_every = republish_every_seconds
        self._summary_every = summary_every_seconds
        self._stop_timeout = stop_timeout_seconds
        self._book = AlertBook()
        # Every statement of the matcher finds its rows by key. Joined to a parameter array of
        # 20,000 ids, the planner hashed the whole alerts table instead (a sequential scan of
        # 1.1 million rows per claim): with hash joins off, a claim runs 1.4x faster.
        self._pool = create_pool(
            database_url,
            size=5,
            name=f"matcher-{shard.index}",
            server_options="-c enable_hashjoin=off",
        )
        self.metrics = MatcherMetrics()
        self.replicas = Replicas(
            self._pool,
            shard,
            heartbeat_seconds=heartbeat_seconds,
            timeout_seconds=replica_timeout_seconds,
        )
        # Bumped whenever the figures move: alerts claimed or confirmed, a republish check
        # ended, the database sync lost.
        self.progress = Version()
        self.pipeline = ClaimPipeline(
            self._pool,
            publisher,
            metrics=self.metrics,
            progress=self.progress,
            retry_cap_seconds=retry_cap_seconds,
        )
        # The door to the prices: the tick keeps each symbol's minute in ``prices.minutes``; the
        # writer flushes what changed once every ``price_flush_seconds``.
        self.prices = PriceRecorder()
        self._price_minutes = self.prices.minutes
        self.price_writer = PriceWriter(
            self._pool, self.prices, every_seconds=price_flush_seconds, progress=self.progress
        )
        self.metrics.watch(self.figures)
        self.ready = asyncio.Event()  # the shard is loaded and followed: ticks are matched
        self._book_version = Version()  # bumped whenever a reload or notification applied
        self._synced = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._schema = schema_gate or SchemaGate(database_url, name=f"matcher {shard}")
        self._resyncing = False
        self._tick_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.ticks = 0
        self._resyncs = 0
        self._republish_checks = 0
        self._feed: Feed | None = None  # the one being run, for its figures
        # Open from a lost database sync until the reload is applied: what traded meanwhile.
        self._gap: GapPrices | None = None
        self._sync_lost_at = 0.0
        self.last_load: tuple[int, float] = (0, 0.0)  # alerts, seconds of the latest load

    @property
    def book(self) -> AlertBook:
        return self._book

    @property
    def book_version(self) -> Version:
        return self._book_version

    def waiting_for(self) -> str | None:
        """What keeps this replica from being ready (``/readyz``), or None when it matches.
        Read from the probes' thread: plain attributes only."""
        if self._stopping:
            return "stopping"
        if self._schema.waiting_for is not None:
            return self._schema.waiting_for
        if not self.ready.is_set():
            return "loading the shard's alerts"
        if self._resyncing:
            return "reloading the shard after a lost database connection"
        return None

    def figures(self) -> MatcherFigures:
        """A snapshot of every figure: what the metrics and the log summary report."""
        counters = self.pipeline.counters
        feed = self._feed
        seen = self.replicas.coverage
        return MatcherFigures(
            ticks=self.ticks,
            alerts_in_book=len(self._book),
            symbols_in_book=len(self._book.symbols),
            crossed=counters.crossed,
            claimed=counters.claimed,
            published=counters.published,
            publish_retries=counters.publish_failures,
            claim_retries=counters.claim_failures,
            resyncs=self._resyncs,
            republish_checks=self._republish_checks,
            publish_backlog=len(self.pipeline.in_flight),
            claim_backlog=self.pipeline.pending,
            live_replicas=seen.live_replicas if seen else 0,
            unowned_buckets=len(seen.unowned) if seen else 0,
            contested_buckets=len(seen.contested) if seen else 0,
            price_writes=self.price_writer.flushes,
            price_write_failures=self.price_writer.failures,
            feed=feed.figures() if isinstance(feed, PushFeed) else FeedFigures(),
        )

    async def run(self, feed: Feed) -> None:
        """Wait for the database schema, then match ``feed`` until it ends or ``stop()`` is
        called; then finish the claims and publishes in flight and return. A part that ends on
        its own (the change follower, the claims, a periodic task) stops the matcher with
        ``PartStopped``: a matcher without it would go on matching a stale book."""
        self._feed = feed
        stopped: asyncio.Future[Any] = asyncio.ensure_future(self._stop_requested.wait())
        try:
            schema = asyncio.ensure_future(self._schema.wait())
            await asyncio.wait({schema, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not schema.done():
                schema.cancel()
                log.info("matcher stopped while waiting for the database schema")
                return
            schema.result()
            await self._run(feed, stopped)
        finally:
            stopped.cancel()

    async def _run(self, feed: Feed, stopped: asyncio.Future[Any]) -> None:
        await self._pool.open()
        self.pipeline.start()
        follower = asyncio.create_task(self._follow_changes(), name="follow-changes")
        heartbeat = asyncio.create_task(self.replicas.run(), name="heartbeat")
        helpers = [follower, heartbeat, *self.pipeline.tasks]
        try:
            synced: asyncio.Future[Any] = asyncio.ensure_future(self._synced.wait())
            await asyncio.wait({synced, stopped, *helpers}, return_when=asyncio.FIRST_COMPLETED)
            if not synced.done():
                synced.cancel()
                self._check_parts(helpers)
                log.info("matcher stopped while loading its shard")
                return
            # Everything claimed before this start and never confirmed (a crash between claim
            # and confirm) is queued for publishing before the first tick.
            await self._republish_pass(datetime.now(UTC))
            helpers += [
                asyncio.create_task(self._republish_loop(), name="republish"),
                asyncio.create_task(self._summary_loop(), name="summary"),
                asyncio.create_task(self._expire_loop(), name="expire"),
                asyncio.create_task(self._references_loop(), name="references"),
                asyncio.create_task(self.price_writer.run(), name="prices"),
            ]
            self.ready.set()
            log.info("matcher ready", extra={"shard": str(self._shard), "alerts": len(self._book)})
            self._tick_task = asyncio.create_task(self._tick_loop(feed), name="ticks")
            if self._stopping:  # stop() came while loading: no tick task to cancel then
                self._tick_task.cancel()
            await asyncio.wait({self._tick_task, *helpers}, return_when=asyncio.FIRST_COMPLETED)
            if not self._tick_task.done():
                self._tick_task.cancel()
                self._check_parts(helpers)
            try:
                await self._tick_task
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
            log.info("matcher stopping: finishing claims and publishes in flight")
            await self._drain_before_exit()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self.pipeline.stop()
            await self.replicas.leave()
            await self.price_writer.final_flush()  # the prices since the last flush
            await self._pool.close()
            self._log_summary("matcher stopped")

    def _check_parts(self, parts: Sequence[asyncio.Task[None]]) -> None:
        """Raise ``PartStopped`` for the first of ``parts`` that ended (none should, ever)."""
        for task in parts:
            if task.done():
                error = None if task.cancelled() else task.exception()
                log.error(
                    "a part of the matcher stopped: the matcher stops with it",
                    extra={
                        "shard": str(self._shard),
                        "part": task.get_name(),
                        "error": repr(error) if error else "it returned",
                    },
                    exc_info=error,
                )
                raise PartStopped(
                    f"matcher {self._shard}: its part {task.get_name()!r} stopped"
                    + (f": {error!r}" if error else "")
                ) from error

    async def _drain_before_exit(self) -> None:
        """Wait for the claims and publishes in flight, at most the stop timeout: with RabbitMQ
        away they could wait forever. What is claimed stays in the database unconfirmed and is
        republished at the next start; crossings not yet claimed stay live alerts."""
        try:
            await asyncio.wait_for(self.pipeline.drain(), self._stop_timeout)
        except TimeoutError:
            log.warning(
                "stopping with work unfinished: claimed alerts will be republished at the next"
                " start",
                extra={
                    "unclaimed_crossings": self.pipeline.pending,
                    "claimed_unconfirmed": len(self.pipeline.in_flight),
                    "waited_s": self._stop_timeout,
                },
            )

    def stop(self) -> None:
        """Stop taking ticks (or waiting to start); ``run`` then drains and returns."""
        self._stopping = True
        self._stop_requested.set()
        if self._tick_task is not None:
            self._tick_task.cancel()

    def tick(self, symbol: str, price: float, time_ms: int) -> bool:
        """A price with no quantity: ``trade`` with quantity 0."""
        return self.trade(symbol, price, 0.0, time_ms)

    def trade(self, symbol: str, price: float, quantity: float, time_ms: int) -> bool:
        """One trade at the exchange's trade time: keep its price, match it and hand what fired
        to the claims. No I/O, no waiting; whether anything fired. O(1) for a quiet tick.
        ``quantity`` (base asset; 0 for a price that is not a trade) is not matched yet: the
        volume kinds will count it."""
        self.ticks += 1
        # The price slot (matcher.prices.Minute), updated in place; written once a second by
        # the price writer. Inline rather than a call: a call costs more than the update.
        minute = self._price_minutes.get(symbol)
        if minute is not None and time_ms < minute.end_ms:
            minute.close = price
            minute.at_ms = time_ms
            if price > minute.high:
                minute.high = price
            elif price < minute.low:
                minute.low = price
        else:  # a new symbol, or a new minute
            self.prices.open_minute(symbol, price, time_ms)
        if self._gap is not None:
            self._gap.see(symbol, price, time_ms)
        fired = self._book.match(symbol, price, time_ms)
        if fired:
            self._offer(symbol, fired, price, time_ms)
            return True
        return False

    def _offer(self, symbol: str, fired: Sequence[int], price: float, time_ms: int) -> None:
        # A crossing alert's reference is recorded before any fire of it is claimed.
        references = self._book.take_references()
        if references:
            self.pipeline.note_references(references)
        self.pipeline.offer(fired, price, time_ms, self._book.take_bases(fired))

    async def full(self) -> None:
        """Returns when the claims are too far behind: a push feed pauses until ``room``."""
        await self.pipeline.full()

    async def room(self) -> None:
        await self.pipeline.room()

    def symbols(self) -> list[str]:
        """The symbols with at least one live alert in this shard: what to subscribe to."""
        return list(self._book.symbols)

    def nearest(self, symbol: str) -> tuple[float, float]:
        return self._book.nearest(symbol)

    def fill_minutes(self, symbol: str, minutes: Iterable[tuple[int, float, float]]) -> None:
        """Minutes of a symbol's history (1-minute klines: minute index, low, high) for its
        percent windows."""
        self._book.fill_minutes(symbol, minutes)

    def history_wanted(self) -> dict[str, int]:
        """Symbols whose percent windows want history, and how many minutes of it."""
        return self._book.history_wanted()

    async def _tick_loop(self, feed: Feed) -> None:
        if isinstance(feed, PushFeed):
            try:
                await feed.drive(self)
            finally:
                feed.stop()
            return
        trade, room = self.trade, self.pipeline.room
        async for symbol, price, time_ms in feed:
            if trade(symbol, price, 0.0, time_ms):
                await room()  # returns at once unless the claims are far behind

    async def _follow_changes(self) -> None:
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
                    self._sync_lost(exc)
                failures += 1
                await asyncio.sleep(
                    full_jitter(
                        failures, base=RESYNC_BACKOFF_BASE_SECONDS, cap=RESYNC_BACKOFF_CAP_SECONDS
                    )
                )

    def _sync_lost(self, error: Exception) -> None:
        self._resyncing = True
        self._resyncs += 1
        self.progress.bump()
        self._sync_lost_at = time.monotonic()
        if self.ready.is_set() and self._gap is None:
            self._gap = GapPrices()
        log.warning(
            "lost the database connection: reloading the shard once it answers",
            extra={"shard": str(self._shard), "error": str(error).strip() or repr(error)},
        )

    async def _reload(self) -> None:
        book = AlertBook()
        async with await psycopg.AsyncConnection.connect(self._url) as conn:
            count, seconds = await store.load_shard(conn, book.load, self._shard)
        self.last_load = (count, seconds)
        self._book = book
        gap, self._gap = self._gap, None
        fired_in_gap = self._replay_gap(book, gap) if gap is not None else 0
        self._synced.set()
        self._resyncing = False
        self._book_version.bump()
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

    def _replay_gap(self, book: AlertBook, gap: GapPrices) -> int:
        """Cross the reloaded alerts with the trades of the gap, each at its first crossing."""
        fired_count = 0
        for symbol, price, time_ms in gap.crossings():
            fired = book.match(symbol, price, time_ms)
            if fired:
                self._offer(symbol, fired, price, time_ms)
                fired_count += len(fired)
        return fired_count

    async def _apply(self, payload: str) -> None:
        try:
            what = change(payload)
        except ValueError as exc:
            log.error("unreadable alerts notification skipped", extra={"error": str(exc)})
            return
        book = self._book
        for alert_id in what.gone:
            book.remove(alert_id)
        if what.live:
            async with self._pool.connection() as conn:
                rows = await store.live_rows(conn, what.live, self._shard)
            if book is self._book:  # not replaced by a reload meanwhile (which has them)
                for row in rows:
                    book.add(row)
        self._book_version.bump()

    async def _republish_loop(self) -> None:
        # Only what has waited a full period: a publish merely in progress is not doubled.
        while True:
            await asyncio.sleep(self._republish_every)
            await self._republish_pass(datetime.now(UTC) - timedelta(seconds=self._republish_every))

    async def _republish_pass(self, cutoff: datetime) -> None:
        try:
            found = await self._republish(cutoff)
            if found:
                log.info("republishing claimed but unconfirmed alerts", extra={"alerts": found})
        except (psycopg.OperationalError, DatabaseUnavailable) as exc:
            log.warning("republish check failed", extra={"error": str(exc).strip()})
        self._republish_checks += 1
        self.progress.bump()

    async def _republish(self, cutoff: datetime) -> int:
        found = 0
        after = (0, 0)
        async with self._pool.connection() as conn:
            while batch := await store.unpublished(
                conn, self._shard, claimed_before=cutoff, after=after
            ):
                self.pipeline.republish(batch)
                found += len(batch)
                after = batch[-1].fire
        return found

    async def _expire_loop(self) -> None:
        """Alerts whose ``expires_at`` has come are marked expired (and so leave the book by
        the change feed). Their claim already refuses any trade after that time: this only
        makes the state say so."""
        while True:
            await asyncio.sleep(EXPIRE_EVERY_SECONDS)
            try:
                async with self._pool.connection() as conn:
                    while (expired := await store.expire(conn, self._shard)) >= store.EXPIRE_BATCH:
                        log.info("alerts expired", extra={"alerts": expired})
                if expired:
                    log.info("alerts expired", extra={"alerts": expired})
            except (psycopg.OperationalError, DatabaseUnavailable) as exc:
                log.warning("expiry sweep failed", extra={"error": str(exc).strip()})

    async def _references_loop(self) -> None:
        """Crossing references decided on trades that fired nothing, recorded within a second
        (one that fired is recorded before its claim)."""
        while True:
            await asyncio.sleep(REFERENCES_EVERY_SECONDS)
            references = self._book.take_references()
            if references:
                self.pipeline.note_references(references)

    async def _summary_loop(self) -> None:
        while True:
            await asyncio.sleep(self._summary_every)
            self._log_summary("matcher summary")

    def _log_summary(self, message: str) -> None:
        log.info(message, extra={"shard": str(self._shard), **flat(self.figures())})
