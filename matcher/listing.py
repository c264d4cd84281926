"""The symbols table follows the exchange: the list of symbols it trades, as its feed read it
(``Rest.trading_symbols``, at start and every ``MATCHER_SYMBOLS_REFRESH_SECONDS``), written in
one statement.

The write is idempotent and cheap, so every replica may make it (each reads the list anyway,
to follow only what trades): the listed symbols are upserted as ``trading`` with their
``last_seen_at``, every other one still ``trading`` becomes ``halted``; nothing is deleted, since
alerts reference the table. A symbol the table's CHECK would refuse (the exchange lists a few
spelled outside ``[A-Z0-9]{2,20}``) is left out rather than failing the statement. An empty list
changes nothing: an exchange that trades nothing is a failed answer, not a market.

The table holds one exchange's symbols (the default one's) until alerts and symbols are keyed
by (exchange, symbol): another exchange's list is not written, or it would halt every pair of
the first.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Set
from dataclasses import dataclass

import psycopg
from psycopg_pool import AsyncConnectionPool

from shared.errors import DatabaseUnavailable
from shared.version import Version
from shared.vocabulary import DEFAULT_EXCHANGE

log = logging.getLogger("matcher.service")  # the service's log, whichever part writes it

# The symbols table's CHECK (migration 0001).
STORABLE = re.compile(r"[A-Z0-9]{2,20}")

# One statement: the upsert and the halting see the same snapshot and touch disjoint rows.
WRITE_LISTING = """
WITH listed AS (SELECT DISTINCT unnest(%(symbols)s::text[]) AS symbol),
upserted AS (
    INSERT INTO symbols AS s (symbol, status, updated_at, last_seen_at)
    SELECT symbol, 'trading', now(), now() FROM listed
    ON CONFLICT (symbol) DO UPDATE SET
        status = 'trading',
        last_seen_at = now(),
        updated_at = CASE WHEN s.status = 'trading' THEN s.updated_at ELSE now() END
    RETURNING (xmax = 0) AS inserted, s.symbol, s.updated_at = now() AS changed
),
halted AS (
    UPDATE symbols SET status = 'halted', updated_at = now()
    WHERE status = 'trading' AND symbol <> ALL(%(symbols)s::text[])
    RETURNING symbol
),
-- The alerts of a symbol whose status changed are written too (alerts_mark_changed stamps
-- them), so a page following ?changed_since= learns their symbol_status.
touched AS (
    UPDATE alerts SET changed_by = changed_by
    WHERE state <> 'deleted' AND symbol IN (
        SELECT symbol FROM halted
        UNION ALL SELECT symbol FROM upserted WHERE changed AND NOT inserted
    )
)
SELECT (SELECT count(*) FROM upserted),
       (SELECT count(*) FROM upserted WHERE inserted),
       (SELECT count(*) FROM halted)
"""


@dataclass(frozen=True, slots=True)
class Written:
    """What one write of the list did."""

    trading: int  # symbols the list names (and the table now says trade)
    added: int  # new to the table
    halted: int  # trading before, not listed now


async def write_listing(pool: AsyncConnectionPool, symbols: Set[str]) -> Written:
    """The table made to say that exactly ``symbols`` (those it can store) trade."""
    storable = sorted(s for s in symbols if STORABLE.fullmatch(s))
    async with pool.connection() as conn:
        cursor = await conn.execute(WRITE_LISTING, {"symbols": storable})
        row = await cursor.fetchone()
    assert row is not None
    return Written(*row)


class Listing:
    """The matcher's side of the exchange's list: each list the feed reads is written, and
    counted for the figures. A write that fails is logged and waits for the next list."""

    def __init__(self, pool: AsyncConnectionPool, progress: Version | None = None) -> None:
        self._pool = pool
        self._progress = progress or Version()  # bumped after each write, made or failed
        self.writes = 0
        self.write_failures = 0
        self.trading = 0  # symbols the last written list named
        self.halted = 0  # symbols halted by the writes, over the replica's life

    async def listed(self, exchange: str, symbols: Set[str]) -> None:
        if exchange != DEFAULT_EXCHANGE:
            log.warning(
                "the symbols table holds the default exchange's symbols only: list not written",
                extra={"exchange": exchange, "default": DEFAULT_EXCHANGE},
            )
            return
        if not symbols:
            log.warning(
                "the exchange listed no symbols: the table is left as it was",
                extra={"exchange": exchange},
            )
            return
        try:
            written = await write_listing(self._pool, symbols)
        except (psycopg.OperationalError, DatabaseUnavailable) as exc:
            self.write_failures += 1
            self._progress.bump()
            log.warning(
                "could not write the exchange's symbols: the next refresh will",
                extra={"exchange": exchange, "error": str(exc).strip()},
            )
            return
        self.writes += 1
        self.trading = written.trading
        self.halted += written.halted
        self._progress.bump()
        if written.added or written.halted or self.writes == 1:
            log.info(
                "symbols follow the exchange",
                extra={
                    "exchange": exchange,
                    "trading": written.trading,
                    "added": written.added,
                    "halted": written.halted,
                    "unstorable": len(symbols) - written.trading,
                },
            )
