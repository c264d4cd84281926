"""One matcher replica: the book, kept in sync with PostgreSQL, matched against a price feed.

The replica is its parts, each in its own module:

- the tick (``matcher.tick``): each trade's price kept in a slot (``matcher.prices``), the book
  matched, the fires handed to the claim pipeline (``matcher.pipeline``), which claims, publishes
  and records crossing references beside it;
- the sync (``matcher.sync``): LISTEN, load the shard, follow the notifications, and after a lost
  connection reload and replay the gap's trades;
- the jobs on the clock (``matcher.upkeep``, run by ``matcher.supervision.every``): republishing
  claimed-but-unconfirmed fires, expiring alerts whose time is up, recording references, the
  price writes (once a second, one statement) and the summary in the log;
- their supervision (``matcher.supervision``): the first part that ends stops the replica.

This module wires them and keeps the order of a start (schema, load, republish, ready, ticks)
and of a stop (drain, leave, last price flush).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Set
from typing import Any

from matcher.book import AlertBook
from matcher.feeds import Feed
from matcher.figures import FeedFigures, MatcherFigures, flat
from matcher.listing import Listing
from matcher.metrics import MatcherMetrics
from matcher.pipeline import ClaimPipeline
from matcher.prices import PriceRecorder, PriceWriter
from matcher.publisher import Publisher
from matcher.replicas import Replicas
from matcher.sink import PushFeed
from matcher.supervision import Parts
from matcher.sync import BookSync
from matcher.tick import Tick
from matcher.upkeep import EXPIRE_EVERY_SECONDS, Upkeep
from shared.db import create_pool
from shared.schema import SchemaGate
from shared.settings import Shard
from shared.version import Version

log = logging.getLogger(__name__)

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
        self._shard = shard
        self._summary_every = summary_every_seconds
        self._stop_timeout = stop_timeout_seconds
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
        # ended, the database sync lost, the exchange's symbol list written.
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
        self.price_writer = PriceWriter(
            self._pool, self.prices, every_seconds=price_flush_seconds, progress=self.progress
        )
        self._tick = Tick(self.pipeline, self.prices)
        self.listing = Listing(self._pool, self.progress)
        self.ready = asyncio.Event()  # the shard is loaded and followed: ticks are matched
        self._sync = BookSync(
            database_url, shard, self._pool, self._tick, ready=self.ready, progress=self.progress
        )
        self._upkeep = Upkeep(
            self._pool,
            shard,
            self.pipeline,
            republish_every_seconds=republish_every_seconds,
            progress=self.progress,
        )
        self.metrics.watch(self.figures)
        self._stop_requested = asyncio.Event()
        self._schema = schema_gate or SchemaGate(database_url, name=f"matcher {shard}")
        self._tick_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._feed: Feed | None = None  # the one being run, for its figures

    # --- what the feeds and the tests see --------------------------------------------------

    @property
    def trade(self) -> Callable[[str, float, float, int], bool]:
        """``Tick.trade`` itself, bound once by a push feed: no call between the frame
        callback and the tick."""
        return self._tick.trade

    def tick(self, symbol: str, price: float, time_ms: int) -> bool:
        """A price with no quantity: ``trade`` with quantity 0."""
        return self._tick.trade(symbol, price, 0.0, time_ms)

    @property
    def book(self) -> AlertBook:
        return self._tick.book

    @property
    def book_version(self) -> Version:
        return self._sync.book_version

    @property
    def ticks(self) -> int:
        return self._tick.count

    @property
    def last_load(self) -> tuple[int, float]:
        """Alerts and seconds of the latest load of the shard."""
        return self._sync.last_load

    async def full(self) -> None:
        """Returns when the claims are too far behind: a push feed pauses until ``room``."""
        await self.pipeline.full()

    async def room(self) -> None:
        await self.pipeline.room()

    def symbols(self) -> list[str]:
        """The symbols with at least one live alert in this shard: what to subscribe to."""
        return list(self._tick.book.symbols)

    def nearest(self, symbol: str) -> tuple[float, float]:
        return self._tick.book.nearest(symbol)

    def lowest_undecided(self, symbol: str) -> float:
        return self._tick.book.lowest_undecided(symbol)

    def fill_minutes(self, symbol: str, minutes: Iterable[tuple[int, float, float]]) -> None:
        """Minutes of a symbol's history (1-minute candles: minute index, low, high) for its
        percent windows."""
        self._tick.book.fill_minutes(symbol, minutes)

    def history_wanted(self) -> dict[str, int]:
        """Symbols whose percent windows want history, and how many minutes of it."""
        return self._tick.book.history_wanted()

    async def listed(self, exchange: str, symbols: Set[str]) -> None:
        """The exchange's trading symbols, written to the symbols table (``matcher.listing``)."""
        await self.listing.listed(exchange, symbols)

    # --- health and figures ----------------------------------------------------------------

    def waiting_for(self) -> str | None:
        """What keeps this replica from being ready (``/readyz``), or None when it matches.
        Read from the probes' thread: plain attributes only."""
        if self._stopping:
            return "stopping"
        if self._schema.waiting_for is not None:
            return self._schema.waiting_for
        if not self.ready.is_set():
            return "loading the shard's alerts"
        if self._sync.resyncing:
            return "reloading the shard after a lost database connection"
        feed = self._feed
        return feed.waiting_for() if isinstance(feed, PushFeed) else None

    def figures(self) -> MatcherFigures:
        """A snapshot of every figure: what the metrics and the log summary report."""
        counters = self.pipeline.counters
        feed = self._feed
        seen = self.replicas.coverage
        book = self._tick.book
        return MatcherFigures(
            ticks=self._tick.count,
            alerts_in_book=len(book),
            symbols_in_book=len(book.symbols),
            crossed=counters.crossed,
            claimed=counters.claimed,
            published=counters.published,
            publish_retries=counters.publish_failures,
            claim_retries=counters.claim_failures,
            resyncs=self._sync.resyncs,
            republish_checks=self._upkeep.republish_checks,
            publish_backlog=len(self.pipeline.in_flight),
            claim_backlog=self.pipeline.pending,
            live_replicas=seen.live_replicas if seen else 0,
            unowned_buckets=len(seen.unowned) if seen else 0,
            contested_buckets=len(seen.contested) if seen else 0,
            price_writes=self.price_writer.flushes,
            price_write_failures=self.price_writer.failures,
            symbols_trading=self.listing.trading,
            symbols_halted=self.listing.halted,
            symbol_list_writes=self.listing.writes,
            feed=feed.figures() if isinstance(feed, PushFeed) else FeedFigures(),
        )

    # --- start and stop --------------------------------------------------------------------

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
        parts = Parts(self._shard)
        parts.start("follow-changes", self._sync.follow())
        parts.start("heartbeat", self.replicas.run())
        parts.adopt(self.pipeline.tasks)
        try:
            synced: asyncio.Future[Any] = asyncio.ensure_future(self._sync.synced.wait())
            await parts.wait(synced, stopped)
            if not synced.done():
                synced.cancel()
                parts.check()
                log.info("matcher stopped while loading its shard")
                return
            # Everything claimed before this start and never confirmed (a crash between claim
            # and confirm) is queued for publishing before the first tick.
            await self._upkeep.republish_all()
            upkeep = self._upkeep
            parts.every("republish", upkeep.republish_every, upkeep.republish_waited)
            parts.every("summary", self._summary_every, self._log_summary)
            parts.every("expire", EXPIRE_EVERY_SECONDS, upkeep.expire)
            # Crossing references decided on trades that fired nothing, recorded within a
            # second (one that fired is recorded before its claim).
            parts.every("references", REFERENCES_EVERY_SECONDS, self._tick.note_references)
            parts.start("prices", self.price_writer.run())
            self.ready.set()
            log.info("matcher ready", extra={"shard": str(self._shard), "alerts": len(self.book)})
            self._tick_task = asyncio.create_task(self._tick.run(feed, self), name="ticks")
            if self._stopping:  # stop() came while loading: no tick task to cancel then
                self._tick_task.cancel()
            await parts.wait(self._tick_task)
            if not self._tick_task.done():
                self._tick_task.cancel()
                parts.check()
            try:
                await self._tick_task
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
            log.info("matcher stopping: finishing claims and publishes in flight")
            await self._drain_before_exit()
        finally:
            await parts.close()
            await self.pipeline.stop()
            await self.replicas.leave()
            await self.price_writer.final_flush()  # the prices since the last flush
            await self._pool.close()
            self._log_summary("matcher stopped")

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

    def _log_summary(self, message: str = "matcher summary") -> None:
        log.info(message, extra={"shard": str(self._shard), **flat(self.figures())})
