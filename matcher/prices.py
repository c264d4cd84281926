"""The prices a replica sees, written to PostgreSQL off the hot path (migration 0007): the last
trade of each symbol it follows (``prices``) and each symbol's minutes of trades, open, high,
low and close (``price_minutes``, kept 7 days).

Two halves:

- The tick's half is one ``Minute`` slot per symbol, updated in place by ``Matcher.tick``: the
  close and its time stored, the high or the low moved when the trade is beyond them (and the
  current 200 ms bucket's, for ``matcher.recent``, inside them). One dict lookup, a few
  attribute stores, no allocation, no I/O, no logging; O(1). The first trade of a symbol, or of
  a new bucket (``PriceRecorder.open_bucket``: the finished bucket goes to the recent trades),
  or of a new minute (Binance's trade time ``T``, non-decreasing per symbol, as the book
  assumes too), opens a new slot (``PriceRecorder.open_minute``, once a minute per symbol),
  and the finished one waits for the writer unless it was written as it ended. The
  tick does not check the order of trade times (that read alone cost as much as the rest of the
  update in ``benchmarks.matcher_service``): a late trade (the high and low of an outage that
  the Binance feed recovers from klines and feeds at the outage's end) counts in the current
  minute, and the written last price never goes back in time (the statement refuses an older
  one), so the next trade puts things right.
- The writer (``PriceWriter``) runs beside the ticks: once a second it takes the slots that
  changed since they were last written and writes them in ONE statement (``WRITE``): an upsert of
  the last prices from arrays, an upsert of the minutes that merges high, low and close into what
  an earlier write of the same minute left, and, once a minute, the prune of minutes older than 7
  days. A slot holds its whole minute, so a write that fails loses nothing: the next one writes
  the same minute again, with what came since. With PostgreSQL away the pool answers at once
  (``DatabaseUnavailable``) and the writer simply tries again a second later.

Why once a second: a price a second old is what a person looking at a page or an alert sees as
live, and it keeps the cost a flat one statement a second per replica, however fast the trades
come (a busy symbol trades hundreds of times a second).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from matcher.recent import BUCKET_MS, RecentTrades
from shared.db import GatedPool
from shared.errors import DatabaseUnavailable
from shared.prices import as_decimal
from shared.version import Version

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
FLUSH_EVERY_SECONDS = 1.0
KEEP = timedelta(days=7)
PRUNE_EVERY_SECONDS = 60.0
# Finished minutes kept while PostgreSQL is away (a minute per followed symbol per minute): past
# this the oldest are dropped, and counted.
MAX_FINISHED = 100_000
FINAL_FLUSH_TIMEOUT_SECONDS = 5.0

# One statement per flush. Unknown symbols (a replayed file may name any) are skipped rather than
# refused, so one cannot block the others. A last price never goes back in time (two replicas
# wrongly given one shard, an old replay). A minute's open is the first write's; high, low and
# close merge into it. Minutes older than the retention are neither written nor kept: the prune
# (``%(prune)s``, once a minute) deletes them along the index on minute.
WRITE = """
WITH latest AS (
    INSERT INTO prices AS p (symbol, price, at)
    SELECT l.symbol, l.price, l.at
    FROM unnest(%(symbols)s::text[], %(prices)s::numeric[], %(times)s::timestamptz[])
        AS l(symbol, price, at)
    WHERE EXISTS (SELECT FROM symbols AS s WHERE s.symbol = l.symbol)
    ON CONFLICT (symbol) DO UPDATE SET price = excluded.price, at = excluded.at
    WHERE p.at <= excluded.at
), pruned AS (
    DELETE FROM price_minutes WHERE %(prune)s AND minute < %(keep_from)s
)
INSERT INTO price_minutes AS m (symbol, minute, open, high, low, close)
SELECT n.symbol, n.minute, n.open, n.high, n.low, n.close
FROM unnest(%(minute_symbols)s::text[], %(minutes)s::timestamptz[], %(opens)s::numeric[],
            %(highs)s::numeric[], %(lows)s::numeric[], %(closes)s::numeric[])
    AS n(symbol, minute, open, high, low, close)
WHERE n.minute >= %(keep_from)s AND EXISTS (SELECT FROM symbols AS s WHERE s.symbol = n.symbol)
ON CONFLICT (symbol, minute) DO UPDATE
SET high = greatest(m.high, excluded.high), low = least(m.low, excluded.low),
    close = excluded.close
"""

State = tuple[float, float, float, int]  # (high, low, close, at_ms): what a write depends on


class Minute:
    """One symbol's trades within one minute of trade time: the slot ``Matcher.tick`` updates in
    place (``close``, ``at_ms``, ``high``, ``low`` and the current bucket's extremes; nothing
    else). ``end_ms`` is the first millisecond of the next minute. The slot also holds the
    symbol's bucket in progress for ``matcher.recent`` (``BUCKET_MS`` divides a minute):
    ``bucket_end_ms`` is the first millisecond of the next bucket, ``bucket_high`` and
    ``bucket_low`` the bucket's extremes, with the times of the trades that first reached
    them."""

    __slots__ = (
        "at_ms",
        "bucket_end_ms",
        "bucket_high",
        "bucket_high_ms",
        "bucket_low",
        "bucket_low_ms",
        "bucket_start_ms",
        "close",
        "end_ms",
        "high",
        "low",
        "open",
        "start_ms",
        "symbol",
        "written",
    )

    def __init__(self, symbol: str, price: float, time_ms: int) -> None:
        self.symbol = symbol
        self.start_ms = time_ms - time_ms % MINUTE_MS
        self.end_ms = self.start_ms + MINUTE_MS
        self.open = self.high = self.low = self.close = price
        self.at_ms = time_ms
        self.written: State | None = None  # the state a successful write last took
        self.open_bucket(price, time_ms)

    def open_bucket(self, price: float, time_ms: int) -> None:
        """Start the bucket of this trade (the minute's fields are the caller's)."""
        self.bucket_start_ms = time_ms - time_ms % BUCKET_MS
        self.bucket_end_ms = self.bucket_start_ms + BUCKET_MS  # within the minute
        self.bucket_high = self.bucket_low = price
        self.bucket_high_ms = self.bucket_low_ms = time_ms

    def state(self) -> State:
        return (self.high, self.low, self.close, self.at_ms)


@dataclass(slots=True)
class Batch:
    """What one flush writes: the current minutes that changed (with the state taken, which a
    successful write marks written), and finished minutes."""

    current: list[tuple[Minute, State]] = field(default_factory=list)
    finished: list[Minute] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.current or self.finished)

    def parameters(self, *, keep_from: datetime, prune: bool) -> dict[str, Any]:
        symbols, prices, times = [], [], []
        for minute, (_, _, close, at_ms) in self.current:
            symbols.append(minute.symbol)
            prices.append(as_decimal(close))
            times.append(_time(at_ms))
        rows: dict[tuple[str, int], tuple[float, float, float, float]] = {}
        # Oldest first, so a minute named twice (it finished during a failed write) keeps the
        # newer values.
        for minute in self.finished:
            rows[minute.symbol, minute.start_ms] = _ohlc(minute, minute.state())
        for minute, state in self.current:
            rows[minute.symbol, minute.start_ms] = _ohlc(minute, state)
        return {
            "symbols": symbols,
            "prices": prices,
            "times": times,
            "prune": prune,
            "keep_from": keep_from,
            "minute_symbols": [symbol for symbol, _ in rows],
            "minutes": [_time(start_ms) for _, start_ms in rows],
            "opens": [as_decimal(o) for o, _, _, _ in rows.values()],
            "highs": [as_decimal(h) for _, h, _, _ in rows.values()],
            "lows": [as_decimal(lo) for _, _, lo, _ in rows.values()],
            "closes": [as_decimal(c) for _, _, _, c in rows.values()],
        }


class PriceRecorder:
    """Every followed symbol's current minute (``minutes``, which the tick updates) and the
    finished minutes not yet written."""

    def __init__(self, *, max_finished: int = MAX_FINISHED) -> None:
        self.minutes: dict[str, Minute] = {}
        # Each symbol's last minute or so of trades, by bucket; the current bucket is the slot's.
        self.recent = RecentTrades(self.minutes)
        self._finished: list[Minute] = []
        self._max_finished = max_finished
        self.dropped = 0  # finished minutes given up while PostgreSQL was away

    def open_bucket(self, symbol: str, price: float, time_ms: int) -> None:
        """The first trade of a symbol, or of a new bucket of it (``Matcher.tick`` updates the
        slot in place otherwise): the finished bucket goes to ``recent``, and a new minute
        opens a new slot (``open_minute``). O(1) amortised."""
        current = self.minutes.get(symbol)
        if current is None:
            self.minutes[symbol] = Minute(symbol, price, time_ms)
            return
        self.recent.push(symbol, current)
        if time_ms >= current.end_ms:
            self.open_minute(symbol, price, time_ms)
            return
        current.close = price
        current.at_ms = time_ms
        if price > current.high:
            current.high = price
        elif price < current.low:
            current.low = price
        current.open_bucket(price, time_ms)

    def open_minute(self, symbol: str, price: float, time_ms: int) -> None:
        """The first trade of a symbol, or of a new minute of it: a new slot; the finished one
        waits for the writer unless its last state is written already. O(1) amortised."""
        current = self.minutes.get(symbol)
        if current is not None and current.written != current.state():
            self._finished.append(current)
            self._bound()
        self.minutes[symbol] = Minute(symbol, price, time_ms)

    def take(self) -> Batch:
        """What changed since it was last written. Slots holding no trade price (NaN, zero or
        less: a feed's error) are left out. O(symbols + finished minutes)."""
        batch = Batch(finished=[m for m in self._finished if _priced(m)])
        self._finished = []
        for minute in self.minutes.values():
            state = minute.state()
            if state != minute.written and _priced(minute):
                batch.current.append((minute, state))
        return batch

    def written(self, batch: Batch) -> None:
        for minute, state in batch.current:
            minute.written = state

    def put_back(self, batch: Batch) -> None:
        """A batch that could not be written: its finished minutes wait for the next flush (its
        current ones are taken again anyway, as they are not marked written)."""
        self._finished[:0] = batch.finished
        self._bound()

    def _bound(self) -> None:
        excess = len(self._finished) - self._max_finished
        if excess > 0:
            del self._finished[:excess]
            self.dropped += excess


class PriceWriter:
    """Flushes a ``PriceRecorder`` to PostgreSQL once every ``every_seconds``, one statement a
    flush, on the matcher's pool."""

    def __init__(
        self,
        pool: GatedPool,
        recorder: PriceRecorder,
        *,
        every_seconds: float = FLUSH_EVERY_SECONDS,
        keep: timedelta = KEEP,
        prune_every_seconds: float = PRUNE_EVERY_SECONDS,
        progress: Version | None = None,
    ) -> None:
        self._pool = pool
        self._recorder = recorder
        self._every = every_seconds
        self._keep = keep
        self._prune_every = prune_every_seconds
        self._prune_at = 0.0  # monotonic time of the next prune: the first flush prunes
        self._failing = False
        self.flushes = 0  # statements written
        self.failures = 0  # flushes that failed (kept for the next, or refused)
        self.progress = progress or Version()  # bumped after every flush that wrote or failed

    async def run(self) -> None:
        """Flush every period until cancelled. Never raises: a failure waits for the next."""
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.flush()
            except Exception:  # a bug here must not end the price writes for good
                log.exception("price flush failed unexpectedly")

    async def flush(self) -> bool:
        """Write what changed since the last flush, in one statement; whether nothing is left
        unwritten. On a lost or absent database the batch waits for the next flush."""
        prune = time.monotonic() >= self._prune_at
        batch = self._recorder.take()
        if not batch and not prune:
            return True
        try:
            return await self._write(batch, prune)
        finally:
            self.progress.bump()

    async def _write(self, batch: Batch, prune: bool) -> bool:
        parameters = batch.parameters(keep_from=datetime.now(UTC) - self._keep, prune=prune)
        try:
            async with self._pool.connection() as conn:
                await conn.execute(WRITE, parameters)
        except (DatabaseUnavailable, psycopg.OperationalError) as exc:
            self._recorder.put_back(batch)
            self._failed("price write failed: kept for the next flush", exc)
            return False
        except psycopg.Error as exc:  # refused: writing it again would be refused again
            self._failed("price write refused by the database: this batch is dropped", exc)
            self._recorder.written(batch)
            return False
        self._recorder.written(batch)
        self.flushes += 1
        if prune:
            self._prune_at = time.monotonic() + self._prune_every
        if self._failing:
            self._failing = False
            log.info("price writes resumed", extra={"dropped_minutes": self._recorder.dropped})
        return True

    async def final_flush(self, within_seconds: float = FINAL_FLUSH_TIMEOUT_SECONDS) -> None:
        """The last flush at shutdown, bounded: a database that hangs does not hold the stop."""
        try:
            async with asyncio.timeout(within_seconds):
                await self.flush()
        except TimeoutError:
            log.warning(
                "the last price flush did not finish in time", extra={"waited_s": within_seconds}
            )

    def _failed(self, message: str, exc: Exception) -> None:
        self.failures += 1
        if not self._failing:  # once per outage, not once a second
            self._failing = True
            log.warning(message, extra={"error": str(exc).strip() or repr(exc)})


def _priced(minute: Minute) -> bool:
    # False for NaN too. A slot opened with a price keeps its low >= the open's, so a low above
    # zero and a finite high mean every value of the slot is a price.
    return minute.low > 0 and math.isfinite(minute.high) and minute.close > 0


def _ohlc(minute: Minute, state: State) -> tuple[float, float, float, float]:
    high, low, close, _ = state
    return (minute.open, high, low, close)


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
