"""The matcher's SQL: reading alerts into the book, claiming fires, recording crossing
references, expiring alerts, and the publish bookkeeping of fires."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import kwargs_row

from matcher.kinds import BookRow
from shared.messages import AlertMessage
from shared.prices import as_decimal
from shared.settings import Shard
from shared.sharding import SHARD_BUCKETS
from shared.vocabulary import KINDS

_fires = kwargs_row(AlertMessage.from_fire)

CHANNEL = "alerts"
LOAD_BATCH_ROWS = 20_000
MARK_BATCH = 5_000
EXPIRE_BATCH = 5_000

# One alert as the book takes it (matcher.kinds.BookRow), its columns named as the row's
# fields, for a load and for a change alike. An empty params is read as NULL: no JSON to decode
# for the level kinds, most of the rows. float8 in the database: numeric -> float8 rounds
# correctly, as Python's float(str) does. created_ms: the trades from then on count for the
# alert (matcher.recent). The rows come in binary: decoding int8 and float8
# from binary costs less than from text.
BOOK_COLUMNS = """
    id, symbol, trigger_condition, target_price::float8 AS target_price,
    nullif(params, '{}') AS params,
    coalesce(cooldown_seconds, 0) AS cooldown_seconds,
    reference_price::float8 AS reference_price, fire_count,
    (date_part('epoch', triggered_at) * 1000)::int8 AS last_fired_ms,
    floor(date_part('epoch', created_at) * 1000)::int8 AS created_ms
"""
# date_part, not extract: extract's numeric arithmetic made reading a shard of 1.1M rows a
# third slower than date_part's float8 (the "load" figures of the issue note).
LOAD_SHARD = f"""
SELECT {BOOK_COLUMNS} FROM alerts
WHERE state = 'created' AND shard_bucket = ANY(%s)
"""
# The alerts a 'live' notification names that this shard owns and that are still live.
SELECT_LIVE = f"""
SELECT {BOOK_COLUMNS} FROM alerts
WHERE id = ANY(%s) AND state = 'created' AND shard_bucket = ANY(%s)
"""

# A fire as AlertMessage.from_fire takes it, by name.
FIRE_COLUMNS = """id, user_id, symbol, trigger_condition, target_price, price, fired_at, seq,
                  params, channels, reference_price, base_price, frequency, cooldown_seconds"""
# The claim, one statement for many fires, each at its own price and trade time. An alert
# fires only if it is still 'created' (a concurrent pause or delete, another replica or a
# restart can never make it fire twice), its trade came before it expired (the trade's time,
# not the clock), and for a repeat its cooldown has passed since the previous fire's trade.
# The fire gets the next seq and a row of its own: (alert, seq) is claimed exactly once.
CLAIM = f"""
WITH crossed AS (
    SELECT * FROM unnest(%s::int8[], %s::numeric[], %s::timestamptz[], %s::numeric[])
        AS c(id, price, at, base)
), claimed AS (
    UPDATE alerts AS a
    SET state = CASE WHEN a.frequency = 'once' THEN 'triggered' ELSE 'created' END,
        fire_count = a.fire_count + 1, triggered_price = c.price, triggered_at = c.at
    FROM crossed AS c
    WHERE a.id = c.id AND a.state = 'created'
      AND (a.expires_at IS NULL OR c.at < a.expires_at)
      AND (a.frequency = 'once' OR a.triggered_at IS NULL
           OR c.at >= a.triggered_at + make_interval(secs => a.cooldown_seconds))
    RETURNING a.id, a.user_id, a.symbol, a.trigger_condition, a.target_price,
              a.triggered_price AS price, a.triggered_at AS fired_at, a.fire_count AS seq,
              a.params, a.channels, a.reference_price, c.base AS base_price, a.frequency,
              a.cooldown_seconds, a.shard_bucket
), fired AS (
    INSERT INTO alert_fires (alert_id, seq, price, fired_at, base_price, shard_bucket)
    SELECT id, seq, price, fired_at, base_price, shard_bucket FROM claimed
)
SELECT {FIRE_COLUMNS} FROM claimed
"""
MARK_PUBLISHED = """
UPDATE alert_fires AS f SET published_at = now()
FROM unnest(%s::int8[], %s::int4[]) AS p(alert_id, seq)
WHERE f.alert_id = p.alert_id AND f.seq = p.seq AND f.published_at IS NULL
"""
SELECT_UNPUBLISHED = """
SELECT a.id, a.user_id, a.symbol, a.trigger_condition, a.target_price, f.price, f.fired_at,
       f.seq, a.params, a.channels, a.reference_price, f.base_price, a.frequency,
       a.cooldown_seconds
FROM alert_fires AS f JOIN alerts AS a ON a.id = f.alert_id
WHERE f.published_at IS NULL AND f.shard_bucket = ANY(%s) AND f.claimed_at < %s
  AND (f.alert_id, f.seq) > (%s, %s)
ORDER BY f.alert_id, f.seq
LIMIT %s
"""
# Recorded once: a reference already there is never replaced; only the kinds that record one.
RECORD_REFERENCES = """
UPDATE alerts AS a SET reference_price = r.reference
FROM unnest(%s::int8[], %s::numeric[]) AS r(id, reference)
WHERE a.id = r.id AND a.reference_price IS NULL AND a.trigger_condition = ANY(%s)
"""
REFERENCE_KINDS = [kind.name for kind in KINDS.values() if kind.reference]
EXPIRE = """
UPDATE alerts SET state = 'expired', expired_at = now(), paused_at = NULL
WHERE id IN (
    SELECT id FROM alerts
    WHERE shard_bucket = ANY(%s) AND state IN ('created', 'paused')
      AND expires_at IS NOT NULL AND expires_at <= now()
    LIMIT %s
)
"""


def book_rows(cursor: Any) -> Callable[[Sequence[Any]], BookRow]:
    """A row factory making ``BookRow``s, checking once per query that the columns are its
    fields by name and in order; each row is then one C-level tuple construction."""
    names = tuple(column.name for column in cursor.description or ())
    if names != BookRow._fields:
        raise RuntimeError(f"book rows need the columns {BookRow._fields}, the query gave {names}")
    return partial(tuple.__new__, BookRow)


def owned_buckets(shard: Shard) -> list[int]:
    return [b for b in range(SHARD_BUCKETS) if b % shard.count == shard.index]


async def load_shard(
    conn: AsyncConnection[Any], load: Callable[[Sequence[BookRow]], int], shard: Shard
) -> tuple[int, float]:
    """Stream the shard's live alerts into ``load`` (a book's) through a server-side cursor;
    returns how many and how many seconds it took."""
    started = time.perf_counter()
    count = 0
    async with conn.transaction():
        cursor = conn.cursor("matcher_load", binary=True, row_factory=book_rows)
        cursor.itersize = LOAD_BATCH_ROWS
        await cursor.execute(LOAD_SHARD, (owned_buckets(shard),))
        # While the book indexes one batch, the server is already producing the next: the
        # FETCH goes out before the (CPU-bound) indexing starts. About 1.5x faster at 10^6.
        fetch = asyncio.ensure_future(cursor.fetchmany(LOAD_BATCH_ROWS))
        try:
            while rows := await fetch:
                fetch = asyncio.ensure_future(cursor.fetchmany(LOAD_BATCH_ROWS))
                await asyncio.sleep(0)  # let the FETCH be sent
                count += load(rows)
        finally:
            if not fetch.done():
                fetch.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await fetch
        await cursor.close()
    return count, time.perf_counter() - started


async def live_rows(
    conn: AsyncConnection[Any], alert_ids: Sequence[int], shard: Shard
) -> list[BookRow]:
    """The book rows of these alerts, for those of this shard that are still live."""
    cursor = conn.cursor(binary=True, row_factory=book_rows)
    await cursor.execute(SELECT_LIVE, (list(alert_ids), owned_buckets(shard)))
    return await cursor.fetchall()


async def claim(
    conn: AsyncConnection[Any],
    alert_ids: Sequence[int],
    prices: Sequence[Decimal],
    times: Sequence[datetime],
    bases: Sequence[Decimal | None],
) -> list[AlertMessage]:
    """Claim a fire of each of these alerts, each at its own price and trade time (and, for a
    percent move, the window's low or high it was measured from); the messages of the fires
    that were claimed. An alert no longer live, expired at the trade, or in its cooldown is
    simply not returned."""
    cursor = conn.cursor(row_factory=_fires)
    await cursor.execute(CLAIM, (list(alert_ids), list(prices), list(times), list(bases)))
    return await cursor.fetchall()


async def mark_published(conn: AsyncConnection[Any], fires: Iterable[tuple[int, int]]) -> None:
    """Record that RabbitMQ confirmed these (alert, seq) fires."""
    alert_ids, seqs = _columns(fires)
    await conn.execute(MARK_PUBLISHED, (alert_ids, seqs))


async def unpublished(
    conn: AsyncConnection[Any],
    shard: Shard,
    *,
    claimed_before: datetime,
    after: tuple[int, int] = (0, 0),
    limit: int = 5000,
) -> list[AlertMessage]:
    """Fires of this shard that RabbitMQ never confirmed, in (alert, seq) order."""
    cursor = conn.cursor(row_factory=_fires)
    await cursor.execute(
        SELECT_UNPUBLISHED, (owned_buckets(shard), claimed_before, after[0], after[1], limit)
    )
    return await cursor.fetchall()


async def record_references(
    conn: AsyncConnection[Any], references: Sequence[tuple[int, float]]
) -> None:
    """The reference prices the book decided for crossing alerts; one already recorded stays."""
    alert_ids = [alert_id for alert_id, _ in references]
    prices = [as_decimal(price) for _, price in references]
    await conn.execute(RECORD_REFERENCES, (alert_ids, prices, REFERENCE_KINDS))


async def expire(conn: AsyncConnection[Any], shard: Shard) -> int:
    """Mark this shard's alerts whose time is up 'expired'; how many (at most a batch)."""
    cursor = await conn.execute(EXPIRE, (owned_buckets(shard), EXPIRE_BATCH))
    return cursor.rowcount


def _columns(fires: Iterable[tuple[int, int]]) -> tuple[list[int], list[int]]:
    alert_ids: list[int] = []
    seqs: list[int] = []
    for alert_id, seq in fires:
        alert_ids.append(alert_id)
        seqs.append(seq)
    return alert_ids, seqs
