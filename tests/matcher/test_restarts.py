"""The matcher when PostgreSQL goes away and comes back: nothing that traded meanwhile is
missed. The database is taken away through a TCP proxy (cut and refusing), so the test can
create alerts on the real server while the matcher cannot see it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from psycopg_pool import AsyncConnectionPool

from matcher.feeds import QueueFeed
from matcher.publisher import RabbitPublisher
from matcher.service import Matcher
from shared.settings import Shard
from tests.matcher.helpers import insert_alert, received
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.usefixtures("clean_tables")
WAIT = 30.0


@pytest.fixture
async def matcher_behind_proxy(
    database_proxy: tuple[TcpProxy, str], rabbitmq_url: str, queue_name: str
) -> AsyncIterator[tuple[Matcher, QueueFeed, TcpProxy]]:
    proxy, url = database_proxy
    publisher = RabbitPublisher(rabbitmq_url, queue_name)
    await publisher.open()
    matcher = Matcher(url, Shard(0, 1), publisher)
    feed = QueueFeed()
    task = asyncio.create_task(matcher.run(feed))
    await asyncio.wait_for(matcher.ready.wait(), WAIT)
    yield matcher, feed, proxy
    proxy.refusing = False
    matcher.stop()
    await asyncio.wait_for(task, WAIT)
    await publisher.close()


async def _triggered_price(pool: AsyncConnectionPool, alert_id: int) -> tuple[str, Decimal | None]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT state, triggered_price FROM alerts WHERE id = %s", (alert_id,)
        )
        row = await cursor.fetchone()
    assert row is not None
    return row[0], row[1]


async def test_alerts_created_while_the_sync_was_lost_fire_on_what_traded_meanwhile(
    matcher_behind_proxy: tuple[Matcher, QueueFeed, TcpProxy],
    pool: AsyncConnectionPool,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    matcher, feed, proxy = matcher_behind_proxy
    await insert_alert(pool, "BTCUSDT", "above", "1000")  # keeps BTCUSDT in the book
    proxy.refusing = True
    proxy.cut()
    async with asyncio.timeout(WAIT):
        await matcher.progress.until(lambda: matcher.figures().resyncs >= 1)
    for price in (101.0, 103.0, 102.0, 99.0, 100.5):
        feed.push("BTCUSDT", price)
    await asyncio.wait_for(feed.processed(), WAIT)
    # Created on the real server while the matcher cannot hear about them.
    above = await insert_alert(pool, "BTCUSDT", "above", "102.5")
    below = await insert_alert(pool, "BTCUSDT", "below", "99.5")
    untouched = await insert_alert(pool, "BTCUSDT", "above", "104")
    proxy.refusing = False
    async with asyncio.timeout(WAIT):
        await matcher.progress.until(lambda: matcher.figures().published >= 2)
    await asyncio.wait_for(matcher.pipeline.drain(), WAIT)
    # Each at the first trade that crossed it: 103 for above 102.5, 99 for below 99.5.
    assert await _triggered_price(pool, above) == ("triggered", Decimal("103"))
    assert await _triggered_price(pool, below) == ("triggered", Decimal("99"))
    assert await _triggered_price(pool, untouched) == ("created", None)
    messages = await received(rabbitmq_url, queue_name)
    assert sorted(m["alert_id"] for m in messages) == sorted([above, below])
    assert untouched in matcher.book


async def test_a_pause_between_the_tick_and_the_claim_wins(
    matcher_behind_proxy: tuple[Matcher, QueueFeed, TcpProxy],
    pool: AsyncConnectionPool,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    matcher, feed, proxy = matcher_behind_proxy
    alert = await insert_alert(pool, "BTCUSDT", "above", "100")
    await asyncio.wait_for(matcher.book_version.until(lambda: alert in matcher.book), WAIT)
    proxy.refusing = True  # the claim cannot reach the database...
    proxy.cut()
    feed.push("BTCUSDT", 150.0)
    await asyncio.wait_for(feed.processed(), WAIT)
    assert alert not in matcher.book  # crossed, waiting for its claim
    async with pool.connection() as conn:  # ... while its owner pauses it
        await conn.execute(
            "UPDATE alerts SET state = 'paused', paused_at = now() WHERE id = %s", (alert,)
        )
    proxy.refusing = False
    async with asyncio.timeout(WAIT):
        await matcher.progress.until(lambda: matcher.figures().claim_backlog == 0)
    await asyncio.wait_for(matcher.pipeline.drain(), WAIT)
    assert await _triggered_price(pool, alert) == ("paused", None)
    assert await received(rabbitmq_url, queue_name) == []
