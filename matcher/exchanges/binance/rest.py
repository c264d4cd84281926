"""The few Binance REST calls the feed needs (``BINANCE_REST_URL``): the symbols that trade, the
current prices, and the 1-minute klines of a past interval (the traded range of a gap; the
history of percent windows).

Binance meters requests by weight (6,000 a minute per address) and answers 429 with
``Retry-After`` when it is exceeded, 418 when it bans: both raise ``RateLimited`` with the wait,
and the caller backs off. So that it never comes to that, every request first takes its weight
from a leaky bucket (aiolimiter) filled at ``weight_per_minute`` / 60 a second and holding at
most one second's worth: a thousand symbols' history is spread over minutes, never sent in a
burst. Requests run at most ``CONCURRENCY`` at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import httpx
import orjson
from aiolimiter import AsyncLimiter

from matcher.exchanges.common import MINUTE_MS, Minute, RateLimited

log = logging.getLogger(__name__)

CONCURRENCY = 4
PRICES_PER_REQUEST = 100
KLINES_LIMIT = 1000  # minutes per request
WEIGHT_PER_MINUTE = 2400  # of Binance's 6,000: room for others on the same address
# Binance's weights (spot API docs, 2026).
EXCHANGE_INFO_WEIGHT = 20
EXCHANGE_INFO_FILTERS = {"symbolStatus": "TRADING", "showPermissionSets": "false"}
PRICES_WEIGHT = 4
KLINES_WEIGHT = 2


class BinanceRest:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 10.0,
        weight_per_minute: int = WEIGHT_PER_MINUTE,
    ) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_seconds)
        self._slots = asyncio.Semaphore(CONCURRENCY)
        # The bucket must hold the heaviest single request.
        per_second = max(weight_per_minute / 60, EXCHANGE_INFO_WEIGHT)
        self._weight = AsyncLimiter(max_rate=per_second, time_period=1)

    async def close(self) -> None:
        await self._client.aclose()

    async def trading_symbols(self) -> set[str]:
        """The symbols whose status is TRADING (``exchangeInfo``, weight 20 with or without
        filters). ``symbolStatus=TRADING`` leaves the others out and ``showPermissionSets=false``
        the permission sets, the bulk of the answer: a few hundred KB for every pair instead of
        megabytes. The status is checked here too."""
        info = await self._get("/api/v3/exchangeInfo", EXCHANGE_INFO_FILTERS, EXCHANGE_INFO_WEIGHT)
        return {s["symbol"] for s in info["symbols"] if s.get("status") == "TRADING"}

    async def prices(self, symbols: Iterable[str]) -> dict[str, float]:
        """The last traded price of each symbol (``ticker/price``, weight 4 per 100)."""
        wanted = sorted(set(symbols))
        found: dict[str, float] = {}
        for start in range(0, len(wanted), PRICES_PER_REQUEST):
            chunk = wanted[start : start + PRICES_PER_REQUEST]
            rows = await self._get(
                "/api/v3/ticker/price", {"symbols": orjson.dumps(chunk).decode()}, PRICES_WEIGHT
            )
            found.update({row["symbol"]: float(row["price"]) for row in rows})
        return found

    async def traded_range(
        self, symbol: str, start_ms: int, end_ms: int
    ) -> tuple[float, float] | None:
        """(low, high) of the 1-minute klines covering ``start_ms`` to ``end_ms``; None when
        nothing traded. The minutes are whole: the range may include a little more than the
        interval, never less."""
        minutes = await self.minutes(symbol, start_ms, end_ms)
        if not minutes:
            return None
        return min(low for _, low, _ in minutes), max(high for _, _, high in minutes)

    async def minutes(self, symbol: str, start_ms: int, end_ms: int) -> list[Minute]:
        """The low and high of every minute from ``start_ms`` to ``end_ms`` that traded
        (``klines`` of 1 minute, weight 2 per 1,000 minutes)."""
        found: list[Minute] = []
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
                KLINES_WEIGHT,
            )
            found += [(int(row[0]) // MINUTE_MS, float(row[3]), float(row[2])) for row in rows]
            if len(rows) < KLINES_LIMIT:
                break
            start = int(rows[-1][0]) + MINUTE_MS
        return found

    async def _get(self, path: str, params: dict[str, Any], weight: int) -> Any:
        await self._weight.acquire(weight)
        async with self._slots:
            response = await self._client.get(path, params=params)
        if response.status_code in (418, 429):
            retry_after = float(response.headers.get("Retry-After", "60"))
            raise RateLimited("Binance", retry_after, response.status_code)
        response.raise_for_status()
        return orjson.loads(response.content)
