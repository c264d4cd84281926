"""The prices the matcher writes, as the API serves them: the last trade of symbols, a symbol's
minutes, and each alert's current price. The rows are written here straight into the tables
(the matcher's writer has tests of its own, tests/matcher/test_prices.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.api.helpers import User


async def set_price(pool: AsyncConnectionPool, symbol: str, price: str, at: datetime) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO prices (symbol, price, at) VALUES (%s, %s, %s)"
            " ON CONFLICT (symbol) DO UPDATE SET price = excluded.price, at = excluded.at",
            (symbol, Decimal(price), at),
        )


async def add_minute(
    pool: AsyncConnectionPool, symbol: str, minute: datetime, ohlc: tuple[str, str, str, str]
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO price_minutes (symbol, minute, open, high, low, close)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (symbol, minute, *(Decimal(v) for v in ohlc)),
        )


async def table_counts(pool: AsyncConnectionPool) -> tuple[int, int]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT (SELECT count(*) FROM prices), (SELECT count(*) FROM price_minutes)"
        )
        row = await cursor.fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.fixture
async def priced(pool: AsyncConnectionPool, app: Any) -> None:
    """BTCUSDT and ETHBTC have a price; ETHUSDT, a known symbol, has none."""
    await set_price(pool, "BTCUSDT", "50000.01", datetime(2026, 11, 26, 14, 0, 1, 500000, UTC))
    await set_price(pool, "ETHBTC", "0.00000123", datetime(2026, 11, 26, 14, 0, 2, tzinfo=UTC))


@pytest.mark.usefixtures("priced")
async def test_prices_of_the_symbols_asked_for_that_have_one(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/prices/", params={"symbols": "BTCUSDT,ethbtc,ETHUSDT"})
    assert response.status_code == 200
    assert response.json() == {
        "BTCUSDT": {"price": "50000.01", "at": "2026-11-26T14:00:01.500000Z"},
        "ETHBTC": {"price": "0.00000123", "at": "2026-11-26T14:00:02Z"},
    }


@pytest.mark.usefixtures("priced")
async def test_without_symbols_every_known_price(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/prices/")
    assert response.status_code == 200
    assert set(response.json()) == {"BTCUSDT", "ETHBTC"}


@pytest.mark.usefixtures("priced")
@pytest.mark.parametrize("query", ["?symbols=", "?symbols"])
async def test_symbols_given_empty_is_a_400_not_every_price(
    client: httpx.AsyncClient, query: str
) -> None:
    response = await client.get(f"/api/prices/{query}")
    assert response.status_code == 400
    assert response.json()["error"].startswith("symbols is empty")


@pytest.mark.usefixtures("priced")
async def test_prices_need_no_token_and_a_symbol_twice_is_once(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/prices/?symbols=BTCUSDT,btcusdt")
    assert response.status_code == 200
    assert list(response.json()) == ["BTCUSDT"]


@pytest.mark.usefixtures("priced")
@pytest.mark.parametrize(
    "symbols",
    [
        "NOSUCHCOIN",
        "BTCUSDT,NOSUCHCOIN",
        "BTC-USD",
        "B",
        "BTCUSDT,",
        ",BTCUSDT",
        "A" * 21,
        ",".join(["BTCUSDT"] * 101),
        "BTCUSDT ETHUSDT",
        "\u0411TCUSDT",
    ],
)
async def test_an_unknown_or_malformed_symbol_is_a_400_naming_symbols(
    client: httpx.AsyncClient, pool: AsyncConnectionPool, symbols: str
) -> None:
    before = await table_counts(pool)
    response = await client.get("/api/prices/", params={"symbols": symbols})
    assert response.status_code == 400
    assert response.json()["error"].startswith("symbols must"), response.json()
    assert await table_counts(pool) == before


async def test_history_is_the_last_minutes_oldest_first(
    client: httpx.AsyncClient, pool: AsyncConnectionPool, app: Any
) -> None:
    now = datetime.now(UTC)
    if now.second >= 58:  # the current minute must not change during the test
        await asyncio.sleep(60 - now.second - now.microsecond / 1e6)
        now = datetime.now(UTC)
    minute = now.replace(second=0, microsecond=0)
    for back in (0, 1, 2, 90):
        low = str(100 - back)
        await add_minute(
            pool, "BTCUSDT", minute - timedelta(minutes=back), ("101", "102", low, "101.5")
        )
    await add_minute(pool, "ETHUSDT", minute, ("1", "1", "1", "1"))

    response = await client.get("/api/prices/btcusdt/history/", params={"minutes": "3"})
    assert response.status_code == 200
    assert response.json() == [
        {
            "at": (minute - timedelta(minutes=back)).isoformat().replace("+00:00", "Z"),
            "open": "101",
            "high": "102",
            "low": str(100 - back),
            "close": "101.5",
        }
        for back in (2, 1, 0)
    ]
    default = (await client.get("/api/prices/BTCUSDT/history/")).json()
    assert [row["low"] for row in default] == ["98", "99", "100"]  # 60 minutes: not the 90th
    day = (await client.get("/api/prices/BTCUSDT/history/?minutes=1440")).json()
    assert [row["low"] for row in day] == ["10", "98", "99", "100"]
    one = (await client.get("/api/prices/BTCUSDT/history/?minutes=1")).json()
    assert [row["low"] for row in one] == ["100"]


async def test_history_of_a_known_symbol_without_trades_is_empty(
    client: httpx.AsyncClient, app: Any
) -> None:
    response = await client.get("/api/prices/SOLUSDT/history/")
    assert response.status_code == 200
    assert response.json() == []


async def test_history_of_an_unknown_symbol_is_a_404(client: httpx.AsyncClient, app: Any) -> None:
    response = await client.get("/api/prices/NOSUCHCOIN/history/")
    assert response.status_code == 404
    assert "NOSUCHCOIN" in response.json()["error"]


@pytest.mark.parametrize("minutes", ["0", "1441", "-1", "abc", "1.5", "99999", " 5", "\u0665"])
async def test_history_minutes_out_of_range_is_a_400_naming_minutes(
    client: httpx.AsyncClient, pool: AsyncConnectionPool, app: Any, minutes: str
) -> None:
    before = await table_counts(pool)
    response = await client.get("/api/prices/BTCUSDT/history/", params={"minutes": minutes})
    assert response.status_code == 400
    assert response.json()["error"].startswith("minutes must"), response.json()
    assert await table_counts(pool) == before


@pytest.mark.parametrize("symbol", ["B", "BTC-USD", "A" * 21, "BTC%20USDT"])
async def test_history_of_a_malformed_symbol_is_a_400_naming_symbol(
    client: httpx.AsyncClient, app: Any, symbol: str
) -> None:
    response = await client.get(f"/api/prices/{symbol}/history/")
    assert response.status_code == 400
    assert response.json()["error"].startswith("symbol must"), response.json()


@pytest.mark.usefixtures("priced")
async def test_every_alert_answer_carries_its_symbols_current_price_and_its_time(
    client: httpx.AsyncClient, alice: User
) -> None:
    def create(symbol: str) -> Any:
        body = {
            "symbol": symbol,
            "trigger_condition": "above",
            "target_price": "1",
            "email": "alice@example.com",
        }
        return client.post("/api/alerts/create/", headers=alice.headers, json=body)

    def current(alert: dict[str, Any]) -> tuple[str | None, str | None]:
        return alert["current_price"], alert["current_price_at"]

    btc_price = ("50000.01", "2026-11-26T14:00:01.500000Z")  # as GET /api/prices/ has it
    btc = (await create("BTCUSDT")).json()
    eth = (await create("ETHUSDT")).json()
    assert current(btc) == btc_price
    assert current(eth) == (None, None)  # a known symbol no matcher has written yet

    headers = alice.headers
    listed = (await client.get("/api/alerts/", headers=headers)).json()
    assert [(a["id"], current(a)) for a in listed] == [
        (eth["id"], (None, None)),
        (btc["id"], btc_price),
    ]
    in_state = (await client.get("/api/alerts/?state=created&limit=1", headers=headers)).json()
    assert [(a["id"], current(a)) for a in in_state] == [(eth["id"], (None, None))]
    one = (await client.get(f"/api/alerts/{btc['id']}/", headers=headers)).json()
    assert current(one) == btc_price
    paused = (await client.post(f"/api/alerts/{btc['id']}/pause/", headers=headers)).json()
    assert (paused["state"], current(paused)) == ("paused", btc_price)
    resumed = (await client.post(f"/api/alerts/{btc['id']}/resume/", headers=headers)).json()
    assert (resumed["state"], current(resumed)) == ("created", btc_price)
    deleted = await client.post(
        "/api/alerts/delete/", headers=headers, json={"alert_id": btc["id"]}
    )
    assert (deleted.json()["state"], current(deleted.json())) == ("deleted", btc_price)


async def test_openapi_describes_the_price_endpoints(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    prices = document["paths"]["/api/prices/"]["get"]
    assert "security" not in prices
    assert [p["name"] for p in prices["parameters"]] == ["symbols"]
    history = document["paths"]["/api/prices/{symbol}/history/"]["get"]
    assert [p["name"] for p in history["parameters"]] == ["symbol", "minutes"]
    assert set(history["responses"]) == {"200", "400", "404"}
    alert = document["paths"]["/api/alerts/{alert_id}/"]["get"]["responses"]["200"]
    required = alert["content"]["application/json"]["schema"]["required"]
    assert {"current_price", "current_price_at"} <= set(required)
