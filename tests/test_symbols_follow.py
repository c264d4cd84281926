"""The symbols follow the exchange, through ``pricealert up`` on the real PostgreSQL and a fake
Binance whose list changes while it runs: a pair the migrations do not seed becomes usable
within a minute of start and fires; one listed later becomes usable without a restart; one the
exchange stops trading is refused for new alerts and shown as halted on the existing ones."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from pricealert.up import Up
from shared.settings import Settings
from tests.fake_binance import FakeBinance
from tests.helpers import EVERY_SYMBOL_TRADING, start_up

USABLE_WITHIN = 60.0  # seconds: the contract, from start or from the next refresh
WAIT = 30.0
REFRESH_SECONDS = 0.5
NEW_PAIR = "NEWCOINUSDT"  # listed by the fake, seeded by no migration
LATER_PAIR = "LATERCOINUSDT"  # listed once everything runs


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    server = FakeBinance()
    server.listed |= {NEW_PAIR}
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def running(
    tmp_path: Path, fake: FakeBinance, database_url: str, pool: AsyncConnectionPool
) -> AsyncIterator[tuple[Up, httpx.AsyncClient]]:
    settings = Settings.from_env(
        {"DATABASE_URL": database_url, "JWT_SECRET": secrets.token_urlsafe(48)}
    )
    settings = replace(
        settings,
        binance_ws_url=fake.url,
        binance_rest_url=fake.rest_url,
        matcher_symbols_refresh_seconds=REFRESH_SECONDS,
    )
    up, task = await start_up(settings, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=up.api_url, timeout=10) as client:
            credentials = {"username": "follower", "password": "long enough password"}
            assert (await client.post("/api/signup/", json=credentials)).status_code == 201
            tokens = (await client.post("/api/login/", json=credentials)).json()
            client.headers["Authorization"] = f"Bearer {tokens['access']}"
            yield up, client
    finally:
        up.stop()
        assert await asyncio.wait_for(task, WAIT) == 0
        async with pool.connection() as conn:  # the other tests' symbols trade again
            await conn.execute(EVERY_SYMBOL_TRADING)


def alert_on(symbol: str, target: str) -> dict[str, Any]:
    body = {"trigger_condition": "above", "target_price": target, "email": "me@example.com"}
    return body | {"symbol": symbol}


async def listed_again(up: Up) -> None:
    """Returns once the matcher has written a list read after this call: the write in flight
    (which may have read the list before a change) and one more."""
    target = up.matcher.listing.writes + 2
    async with asyncio.timeout(USABLE_WITHIN):
        await up.matcher.progress.until(lambda: up.matcher.listing.writes >= target)


def created(response: httpx.Response) -> bool:
    return response.status_code == 201


@pytest.mark.usefixtures("clean_tables")
async def test_a_pair_the_exchange_lists_is_accepted_within_a_minute_of_start_and_fires(
    running: tuple[Up, httpx.AsyncClient], fake: FakeBinance
) -> None:
    up, client = running
    async with asyncio.timeout(USABLE_WITHIN):  # the contract: within a minute of start
        await up.matcher.progress.until(lambda: up.matcher.listing.writes >= 1)
    response = await client.post("/api/alerts/create/", json=alert_on(NEW_PAIR, "1.5"))
    assert created(response), response.text
    alert = response.json()
    assert alert["symbol_status"] == "trading"

    await fake.until(lambda: f"{NEW_PAIR.lower()}@aggTrade" in fake.subscribed())
    fake.trade(NEW_PAIR, "1.25")
    fake.trade(NEW_PAIR, "1.5")
    async with asyncio.timeout(WAIT):
        await up.notifier.progress.until(lambda: up.notifier.metrics.value("sent") >= 1)
    fired = (await client.get(f"/api/alerts/{alert['id']}/")).json()
    assert (fired["state"], fired["triggered_price"]) == ("triggered", "1.5")


@pytest.mark.usefixtures("clean_tables")
async def test_a_pair_listed_later_becomes_usable_without_a_restart(
    running: tuple[Up, httpx.AsyncClient], fake: FakeBinance
) -> None:
    up, client = running
    refused = await client.post("/api/alerts/create/", json=alert_on(LATER_PAIR, "10"))
    assert refused.status_code == 400
    assert refused.json()["error"].startswith(f"unknown symbol '{LATER_PAIR}'")
    fake.listed.add(LATER_PAIR)
    await listed_again(up)
    response = await client.post("/api/alerts/create/", json=alert_on(LATER_PAIR, "10"))
    assert created(response), response.text


async def shown(client: httpx.AsyncClient, alert_id: int) -> dict[str, Any]:
    alert: dict[str, Any] = (await client.get(f"/api/alerts/{alert_id}/")).json()
    return alert


@pytest.mark.usefixtures("clean_tables")
async def test_a_pair_the_exchange_stops_trading_is_refused_and_its_alerts_say_so(
    running: tuple[Up, httpx.AsyncClient], fake: FakeBinance
) -> None:
    up, client = running
    async with asyncio.timeout(USABLE_WITHIN):
        await up.matcher.progress.until(lambda: up.matcher.listing.writes >= 1)
    response = await client.post("/api/alerts/create/", json=alert_on(NEW_PAIR, "99"))
    assert created(response), response.text
    existing = response.json()
    fake.listed.discard(NEW_PAIR)
    fake.halted.add(NEW_PAIR)

    await listed_again(up)
    halted = await shown(client, existing["id"])
    assert (halted["state"], halted["symbol_status"]) == ("created", "halted")
    listed = (await client.get("/api/alerts/")).json()
    assert [alert["symbol_status"] for alert in listed] == ["halted"]
    refused = await client.post("/api/alerts/create/", json=alert_on(NEW_PAIR, "98"))
    assert refused.status_code == 400
    assert refused.json()["error"].startswith(f"symbol '{NEW_PAIR}' is not trading on binance")
    figures = up.matcher.figures()
    assert figures.symbols_halted >= 1
    assert figures.feed.listings >= 2

    fake.listed.add(NEW_PAIR)  # trading again: usable again
    await listed_again(up)
    assert (await shown(client, existing["id"]))["symbol_status"] == "trading"
    again = await client.post("/api/alerts/create/", json=alert_on(NEW_PAIR, "98"))
    assert again.status_code == 201, again.text
