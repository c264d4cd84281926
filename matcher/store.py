"""The matcher's SQL: loading a shard, claiming crossed alerts, and publish bookkeeping."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from matcher.book import AlertBook
from shared.messages import AlertMessage
from shared.settings import Shard
from shared.sharding import SHARD_BUCKETS

CHANNEL = "alerts"
LOAD_BATCH_ROWS = 20_000

# float8 in the database: numeric -> float8 rounds correctly, as Python's float(str) does.
# The rows come in binary: decoding int8 and float8 from binary costs less than from text.
# The book's row: the columns of once level alerts, the only kind of this schema, after the four.
LOAD_SHARD = """
SELECT id, symbol, trigger_condition, target_price::float8,
       NULL::int4, NULL::int4, 0::int4, NULL::float8, 0::int4, NULL::int8
FROM alerts
WHERE state = 'created' AND shard_bucket = ANY(%s)
"""
CLAIMED_COLUMNS = """a.id, a.user_id, a.symbol, a.trigger_condition, a.target_price,
                     a.triggered_price, a.triggered_at, a.email"""
# The claim: only alerts still 'created' change, so a concurrent delete, another replica or a
# restart can never make an alert fire twice; each keeps its own crossing price and time.
CLAIM = f"""
UPDATE alerts AS a
SET state = 'triggered', triggered_price = c.price, triggered_at = c.at
FROM unnest(%s::bigint[], %s::numeric[], %s::timestamptz[]) AS c(id, price, at)
WHERE a.id = c.id AND a.state = 'created'
RETURNING {CLAIMED_COLUMNS}
"""
MARK_PUBLISHED = "UPDATE alerts SET published_at = now() WHERE id = ANY(%s)"
SELECT_UNPUBLISHED = f"""
SELECT {CLAIMED_COLUMNS}
FROM alerts AS a
WHERE a.triggered_at IS NOT NULL AND a.published_at IS NULL
  AND a.shard_bucket = ANY(%s) AND a.triggered_at < %s AND a.id > %s
ORDER BY a.id
LIMIT %s
"""


def owned_buckets(shard: Shard) -> list[int]:
    return [b for b in range(SHARD_BUCKETS) if b % shard.count == shard.index]


async def load_shard(
    conn: AsyncConnection[Any], book: AlertBook, shard: Shard
) -> tuple[int, float]:
    """Stream the shard's live alerts into ``book`` through a server-side cursor; returns how
    many and how many seconds it took."""
    started = time.perf_counter()
    count = 0
    async with conn.transaction():
        cursor = conn.cursor("matcher_load", binary=True)
        cursor.itersize = LOAD_BATCH_ROWS
        await cursor.execute(LOAD_SHARD, (owned_buckets(shard),))
        # While the book indexes one batch, the server is already producing the next: the
        # FETCH goes out before the (CPU-bound) indexing starts. About 1.5x faster at 10^6.
        fetch = asyncio.ensure_future(cursor.fetchmany(LOAD_BATCH_ROWS))
        try:
            while rows := await fetch:
                fetch = asyncio.ensure_future(cursor.fetchmany(LOAD_BATCH_ROWS))
                await asyncio.sleep(0)  # let the FETCH be sent
                count += book.load(rows)
        finally:
            if not fetch.done():
                fetch.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await fetch
        await cursor.close()
    return count, time.perf_counter() - started


async def claim(
    conn: AsyncConnection[Any],
    alert_ids: Sequence[int],
    prices: Sequence[Decimal],
    times: Sequence[datetime],
) -> list[AlertMessage]:
    """Mark these alerts triggered, each at its own price and time; the messages of those that
    were still live (a deleted or already claimed alert is simply not returned)."""
    cursor = await conn.execute(CLAIM, (list(alert_ids), list(prices), list(times)))
    return [AlertMessage.from_claim(*row) for row in await cursor.fetchall()]


async def mark_published(conn: AsyncConnection[Any], alert_ids: Sequence[int]) -> None:
    await conn.execute(MARK_PUBLISHED, (list(alert_ids),))


async def unpublished(
    conn: AsyncConnection[Any],
    shard: Shard,
    *,
    triggered_before: datetime,
    after_id: int = 0,
    limit: int = 5000,
) -> list[AlertMessage]:
    """Claimed alerts of this shard that RabbitMQ never confirmed, oldest id first."""
    cursor = await conn.execute(
        SELECT_UNPUBLISHED, (owned_buckets(shard), triggered_before, after_id, limit)
    )
    return [AlertMessage.from_claim(*row) for row in await cursor.fetchall()]
