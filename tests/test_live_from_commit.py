"""Alerts are live from their commit, through ``pricealert up`` on the real PostgreSQL, RabbitMQ
and an SMTP server, with trades from the fake Binance: a trade right after the last ``201`` fires
every alert it crosses, however late the matcher hears of them; a ``crossing`` alert takes its
reference from the price when it was created, at once, and a trade that jumps across its target
from there fires it."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from pricealert.up import Up
from tests.fake_binance import FakeBinance
from tests.helpers import settings_on_servers, start_up
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.usefixtures("clean_tables")
WAIT = 30.0
ROUNDS = 20
ALERTS = 100


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    server = FakeBinance()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def up(
    tmp_path: Path,
    fake: FakeBinance,
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
    smtp_sink: SmtpSink,
) -> AsyncIterator[Up]:
    settings = settings_on_servers(
        database_url=database_url,
        rabbitmq_url=rabbitmq_url,
        queue=queue_name,
        smtp_port=smtp_sink.port,
        fake=fake,
    )
    running, task = await start_up(settings, tmp_path)
    try:
        yield running
    finally:
        running.stop()
        assert await asyncio.wait_for(task, WAIT) == 0


@pytest.fixture
async def client(up: Up) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=up.api_url, timeout=10) as client:
        credentials = {"username": "dana", "password": "long enough password"}
        assert (await client.post("/api/signup/", json=credentials)).status_code == 201
        tokens = (await client.post("/api/login/", json=credentials)).json()
        client.headers["Authorization"] = f"Bearer {tokens['access']}"
        yield client


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/alerts/create/", json=body)
    assert response.status_code == 201, response.text
    shown: dict[str, Any] = response.json()
    return shown


async def followed(up: Up, client: httpx.AsyncClient, fake: FakeBinance, symbol: str) -> None:
    """An alert far from the price keeps ``symbol`` followed; returns once the feed is on it."""
    await create(
        client,
        {
            "symbol": symbol,
            "trigger_condition": "above",
            "target_price": "90000000",
            "email": "never@example.com",
        },
    )
    await fake.until(lambda: f"{symbol.lower()}@aggTrade" in fake.subscribed())


async def until_sent(up: Up, count: int) -> None:
    async with asyncio.timeout(WAIT):
        await up.notifier.progress.until(lambda: up.notifier.metrics.value("sent") >= count)


async def until_priced(up: Up, symbol: str, price: float) -> None:
    """Until the matcher's latest trade of ``symbol`` is at ``price`` (and written)."""
    matcher = up.matcher

    def priced() -> bool:
        minute = matcher.prices.minutes.get(symbol)
        return minute is not None and minute.close == price

    async with asyncio.timeout(WAIT):
        await matcher.progress.until(priced)


async def test_one_trade_right_after_the_last_201_fires_all_100_alerts_each_round(
    up: Up,
    client: httpx.AsyncClient,
    fake: FakeBinance,
    smtp_sink: SmtpSink,
    pool: AsyncConnectionPool,
) -> None:
    await followed(up, client, fake, "BTCUSDT")
    price = Decimal(40000)
    fake.trade("BTCUSDT", str(price))
    expected: list[str] = []
    for round_number in range(ROUNDS):
        target = price + 1
        emails = [f"r{round_number}n{n}@example.com" for n in range(ALERTS)]
        body = {"symbol": "BTCUSDT", "trigger_condition": "above", "target_price": str(target)}
        await asyncio.gather(*(create(client, body | {"email": email}) for email in emails))
        price = target + 1
        assert fake.trade("BTCUSDT", str(price)) == 1  # right after the last 201
        expected += emails
        await until_sent(up, len(expected))
    # Each mailed once, and no other: the notifier has nothing more to send.
    mailed = Counter(r.recipients[0] for r in smtp_sink.received)
    assert mailed == Counter(expected)
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT state, count(*) FROM alerts GROUP BY state")
        states = dict(await cursor.fetchall())
    assert states == {"triggered": ROUNDS * ALERTS, "created": 1}  # and the one far away


async def test_a_crossing_alert_takes_its_reference_at_once_and_a_gap_through_trade_fires_it(
    up: Up, client: httpx.AsyncClient, fake: FakeBinance, smtp_sink: SmtpSink
) -> None:
    await followed(up, client, fake, "BTCUSDT")
    fake.trade("BTCUSDT", "45000")
    await until_priced(up, "BTCUSDT", 45000.0)
    created_at = time.monotonic()
    alert = await create(
        client,
        {
            "symbol": "BTCUSDT",
            "trigger_condition": "crossing",
            "target_price": "46000",
            "email": "cross@example.com",
        },
    )
    path = f"/api/alerts/{alert['id']}/"
    # No further trade: the matcher decides it from the price when it was created, and records
    # it at once.
    async with asyncio.timeout(2.0):
        await up.matcher.book_version.until(lambda: alert["id"] in up.matcher.book)
        await up.matcher.pipeline.drain()
        shown = (await client.get(path)).json()
    assert time.monotonic() - created_at < 2.0
    assert shown["reference_price"] is not None
    assert Decimal(shown["reference_price"]) == 45000
    assert shown["state"] == "created"
    fake.trade("BTCUSDT", "46500")  # through the target in one jump
    await until_sent(up, 1)
    shown = (await client.get(path)).json()
    assert shown["state"] == "triggered"
    assert Decimal(shown["triggered_price"]) == 46500
    assert Decimal(shown["reference_price"]) == 45000
    assert [r.recipients[0] for r in smtp_sink.received] == ["cross@example.com"]
