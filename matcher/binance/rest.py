"""The few Binance REST calls the feed needs (``BINANCE_REST_URL``): the symbols that trade, the
current prices, and the traded range of a past interval from 1-minute klines.

Binance meters requests by weight (6,000 a minute) and answers 429 with ``Retry-After`` when
it is exceeded, 418 when it bans: both raise ``RateLimited`` with the wait, and the caller
backs off. Requests run at most ``CONCURRENCY`` at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import httpx
import orjson

log = logging.getLogger(__name__)

CONCURRENCY = 4
PRICES_PER_REQUEST = 100
KLINES_LIMIT = 1000  # minutes per request
MINUTE_MS = 60_000


class RateLimited(Exception):
    def __init__(self, retry_after: float, status: int) -> None:
        super().__init__(f"Binance answered {status}: retry after {retry_after:g} s")
        self.retry_after = retry_after


class BinanceRest:
    def __init__(self, base_url: str, *, timeout_seconds: float = 10.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_seconds)
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def close(self) -> None:
        await self._client.aclose()

    async def trading_symbols(self) -> set[str]:
        """The symbols whose status is TRADING (``exchangeInfo``, weight 20)."""
        info = await self._get("/api/v3/exchangeInfo", {})
        return {s["symbol"] for s in info["symbols"] if s.get("status") == "TRADING"}

    async def prices(self, symbols: Iterable[str]) -> dict[str, float]:
        """The last traded price of each symbol (``ticker/price``, weight 4 per 100)."""
        wanted = sorted(set(symbols))
        found: dict[str, float] = {}
        for start in range(0, len(wanted), PRICES_PER_REQUEST):
            chunk = wanted[start : start + PRICES_PER_REQUEST]
            rows = await self._get(
                "/api/v3/ticker/price", {"symbols": orjson.dumps(chunk).decode()}
            )
            found.update({row["symbol"]: float(row["price"]) for row in rows})
        return found

    async def traded_range(
        self, symbol: str, start_ms: int, end_ms: int
    ) -> tuple[float, float] | None:
        """(low, high) of the 1-minute klines covering ``start_ms`` to ``end_ms``; None when
        nothing traded. The minutes are whole: the range may include a little more than the
        interval, never less."""
        low, high = float("inf"), 0.0
        start = start_ms - start_ms % MINUTE_MS
        while start <= end_ms:
            rows = await self._get(
                "/api/v3/klines",
                {
                    "symbol": symbol,
                    "interval": "1m",
                    "startTime": start,
                    "endTime": end_ms,
                    "limit": KLINES_LIMIT,
                },
            )
            for row in rows:
                high = max(high, float(row[2]))
                low = min(low, float(row[3]))
            if len(rows) < KLINES_LIMIT:
                break
            start = int(rows[-1][0]) + MINUTE_MS
        return (low, high) if high > 0 else None

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        async with self._slots:
            response = await self._client.get(path, params=params)
        if response.status_code in (418, 429):
            retry_after = float(response.headers.get("Retry-After", "60"))
            raise RateLimited(retry_after, response.status_code)
        response.raise_for_status()
        return orjson.loads(response.content)
