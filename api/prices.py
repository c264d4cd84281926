"""Prices as the matcher writes them (migration 0007, ``matcher.prices``): the last trade of
each symbol, and one row per symbol per minute (open, high, low, close) for the last 7 days.

Reads only: the matcher is the one writer. A symbol is known when it is in ``symbols`` (the
list alerts may name); a known symbol no matcher follows has no price yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

from api.responses import decimal_text, time_text
from shared.errors import NotFound, ValidationError

# One row per symbol asked for: whether it is known, and its price if it has one.
SELECT_PRICES = """
SELECT q.symbol, s.symbol IS NOT NULL, p.price, p.at
FROM unnest(%s::text[]) AS q(symbol)
LEFT JOIN symbols AS s ON s.symbol = q.symbol
LEFT JOIN prices AS p ON p.symbol = q.symbol
"""
SELECT_ALL_PRICES = "SELECT symbol, price, at FROM prices ORDER BY symbol"
# The current minute and the ``minutes - 1`` before it, oldest first.
SELECT_MINUTES = """
SELECT minute, open, high, low, close FROM price_minutes
WHERE symbol = %s AND minute >= date_trunc('minute', now()) - make_interval(mins => %s - 1)
ORDER BY minute
"""
SYMBOL_KNOWN = "SELECT 1 FROM symbols WHERE symbol = %s"


class Prices:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def latest(self, symbols: Sequence[str] | None) -> dict[str, dict[str, Any]]:
        """``{symbol: {price, at}}`` for those of ``symbols`` (all when None) that have a
        price; ValidationError naming ``symbols`` for one that is not a known symbol."""
        async with self._pool.connection() as conn:
            if symbols is None:
                cursor = await conn.execute(SELECT_ALL_PRICES)
                rows = [(symbol, True, price, at) for symbol, price, at in await cursor.fetchall()]
            else:
                cursor = await conn.execute(SELECT_PRICES, (list(symbols),))
                rows = await cursor.fetchall()
        unknown = [symbol for symbol, known, _, _ in rows if not known]
        if unknown:
            raise ValidationError(
                f"symbols must name Binance spot symbols such as BTCUSDT: {unknown[0]!r} is not one"
            )
        return {
            symbol: {"price": decimal_text(price), "at": time_text(at)}
            for symbol, _, price, at in rows
            if price is not None
        }

    async def history(self, symbol: str, *, minutes: int) -> list[dict[str, Any]]:
        """The symbol's minutes within the last ``minutes`` (the current one included), oldest
        first; NotFound for a symbol that is not known."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(SELECT_MINUTES, (symbol, minutes))
            rows = await cursor.fetchall()
            if not rows and not await (await conn.execute(SYMBOL_KNOWN, (symbol,))).fetchone():
                raise NotFound(f"no symbol {symbol!r}: use a Binance spot symbol such as BTCUSDT")
        return [
            {
                "at": time_text(minute),
                "open": decimal_text(open_),
                "high": decimal_text(high),
                "low": decimal_text(low),
                "close": decimal_text(close),
            }
            for minute, open_, high, low, close in rows
        ]
