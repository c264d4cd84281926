"""The matcher against real PostgreSQL and RabbitMQ: load, follow, claim once, publish."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from matcher.feeds import QueueFeed
from matcher.publisher import RabbitPublisher
from matcher.service import Matcher
from shared.settings import Shard
from shared.sharding import shard_bucket
from tests.matcher.helpers import alert_row, insert_alert, received

pytestmark = pytest.mark.usefixtures("clean_tables")
WHOLE = Shard(0, 1)
WAIT = 10.0  # seconds before a test gives up waiting for an event that should come


class Running:
    """A matcher running on a queue feed, with its publisher."""

    def __init__(self, matcher: Matcher, feed: QueueFeed, task: asyncio.Task[None]) -> None:
        self.matcher = matcher
        self.feed = feed
        self.task = task

    async def tick(self, symbol: str, price: float, time_ms: int | None = None) -> None:
        """Push a trade and wait until it is matched and its claims are published."""
        self.feed.push(symbol, price, time_ms)
        await asyncio.wait_for(self.feed.processed(), WAIT)
        await asyncio.wait_for(self.matcher.pipeline.drain(), WAIT)

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until the book satisfies ``condition`` (it changes on notifications)."""

        async with asyncio.timeout(WAIT):
            await self.matcher.book_version.until(condition)


@pytest.fixture
async def start(
    database_url: str, rabbitmq_url: str, queue_name: str
) -> AsyncIterator[Callable[..., Any]]:
    running: list[tuple[Running, RabbitPublisher]] = []

    async def start_matcher(shard: Shard = WHOLE) -> Running:
        publisher = RabbitPublisher(rabbitmq_url, queue_name)
        await publisher.open()
        matcher = Matcher(database_url, shard, publisher)
        feed = QueueFeed()
        task = asyncio.create_task(matcher.run(feed))
        await asyncio.wait_for(matcher.ready.wait(), WAIT)
        handle = Running(matcher, feed, task)
        running.append((handle, publisher))
        return handle

    yield start_matcher
    for handle, publisher in running:
        handle.matcher.stop()
        await asyncio.wait_for(handle.task, WAIT)
        await publisher.close()


async def test_loaded_alerts_fire_once_and_are_published(
    start: Any, pool: AsyncConnectionPool, rabbitmq_url: str, queue_name: str
) -> None:
    above = await insert_alert(pool, "BTCUSDT", "above", "50000", "ann@example.com")
    below = await insert_alert(pool, "BTCUSDT", "below", "40000.5")
    other = await insert_alert(pool, "ETHUSDT", "above", "3000")
    running = await start()
    assert len(running.matcher.book) == 3

    await running.tick("BTCUSDT", 45000.0)  # quiet
    await running.tick("BTCUSDT", 50000.0)  # exactly at the target: fires
    await running.tick("BTCUSDT", 60000.0)  # already fired: nothing more

    messages = await received(rabbitmq_url, queue_name)
    assert len(messages) == 1
    message = messages[0]
    assert message["alert_id"] == above
    assert message["symbol"] == "BTCUSDT"
    assert message["trigger_condition"] == "above"
    assert message["target_price"] == "50000"
    assert message["triggered_price"] == "50000"
    assert message["email"] == "ann@example.com"
    assert isinstance(message["user_id"], int)
    assert datetime.fromisoformat(message["triggered_at"]).tzinfo is not None
    assert await alert_row(pool, above) == ("triggered", "50000", True)
    assert await alert_row(pool, below) == ("created", None, False)
    assert await alert_row(pool, other) == ("created", None, False)


async def test_alerts_created_while_running_are_followed(
    start: Any, pool: AsyncConnectionPool, rabbitmq_url: str, queue_name: str
) -> None:
    running = await start()
    new = await insert_alert(pool, "SOLUSDT", "below", "100")
    await running.until(lambda: new in running.matcher.book)
    deleted = await insert_alert(pool, "SOLUSDT", "below", "120")
    await running.until(lambda: deleted in running.matcher.book)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE alerts SET state = 'deleted', deleted_at = now() WHERE id = %s", (deleted,)
        )
    await running.until(lambda: deleted not in running.matcher.book)

    await running.tick("SOLUSDT", 99.5)
    assert [m["alert_id"] for m in await received(rabbitmq_url, queue_name)] == [new]
    assert (await alert_row(pool, deleted))[0] == "deleted"


async def test_an_alert_deleted_between_tick_and_claim_never_fires(
    start: Any, pool: AsyncConnectionPool, rabbitmq_url: str, queue_name: str
) -> None:
    running = await start()
    alert = await insert_alert(pool, "BTCUSDT", "above", "1")
    await running.until(lambda: alert in running.matcher.book)
    # The delete commits; the matcher's book still holds the alert (its notification is not
    # applied yet) when the tick arrives: the claim must refuse it.
    async with pool.connection() as conn:
        await conn.execute("ALTER TABLE alerts DISABLE TRIGGER alerts_check_and_notify_state")
        await conn.execute(
            "UPDATE alerts SET state = 'deleted', deleted_at = now() WHERE id = %s", (alert,)
        )
        await conn.execute("ALTER TABLE alerts ENABLE TRIGGER alerts_check_and_notify_state")
    assert alert in running.matcher.book
    await running.tick("BTCUSDT", 2.0)
    assert await received(rabbitmq_url, queue_name) == []
    assert await alert_row(pool, alert) == ("deleted", None, False)
    assert running.matcher.pipeline.counters.crossed == 1
    assert running.matcher.pipeline.counters.claimed == 0


async def test_two_replicas_given_the_same_shard_fire_each_alert_once(
    start: Any, pool: AsyncConnectionPool, rabbitmq_url: str, queue_name: str
) -> None:
    alerts = [await insert_alert(pool, "ETHUSDT", "below", str(2000 + i)) for i in range(50)]
    first, second = await start(), await start()
    await asyncio.gather(first.tick("ETHUSDT", 1000.0), second.tick("ETHUSDT", 1000.0))
    messages = await received(rabbitmq_url, queue_name)
    assert sorted(m["alert_id"] for m in messages) == alerts
    claimed = first.matcher.pipeline.counters.claimed + second.matcher.pipeline.counters.claimed
    assert claimed == 50


async def test_shards_split_the_alerts_without_overlap(
    start: Any, pool: AsyncConnectionPool
) -> None:
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT", "LINKUSDT"]
    ids = {s: await insert_alert(pool, s, "above", "1000000") for s in symbols}
    shards = [await start(Shard(i, 3)) for i in range(3)]
    for index, running in enumerate(shards):
        expected = {ids[s] for s in symbols if shard_bucket(s) % 3 == index}
        assert {i for i in ids.values() if i in running.matcher.book} == expected
        assert set(running.matcher.book.symbols) == {
            s for s in symbols if shard_bucket(s) % 3 == index
        }
    late = await insert_alert(pool, "BNBUSDT", "above", "1000000")
    owner = shards[shard_bucket("BNBUSDT") % 3]
    await owner.until(lambda: late in owner.matcher.book)
    assert all(late not in s.matcher.book for s in shards if s is not owner)


async def test_claimed_but_unconfirmed_alerts_are_republished_at_start(
    start: Any, pool: AsyncConnectionPool, rabbitmq_url: str, queue_name: str
) -> None:
    """The state a crash between the claim and the publish confirm leaves behind: the alert
    triggered, its fire claimed, no publish recorded."""
    alert = await insert_alert(pool, "BTCUSDT", "above", "70000")
    claimed = datetime(2026, 1, 1, tzinfo=UTC)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE alerts SET state = 'triggered', triggered_at = %s, triggered_price = 70001,"
            " fire_count = 1 WHERE id = %s",
            (claimed, alert),
        )
        await conn.execute(
            "INSERT INTO alert_fires (alert_id, seq, price, fired_at, claimed_at, shard_bucket)"
            " SELECT id, 1, 70001, %s, %s, shard_bucket FROM alerts WHERE id = %s",
            (claimed, claimed, alert),
        )
    running = await start()
    matcher = running.matcher
    async with asyncio.timeout(WAIT):
        await matcher.progress.until(lambda: matcher.figures().republish_checks >= 1)
    await asyncio.wait_for(running.matcher.pipeline.drain(), WAIT)
    assert await alert_row(pool, alert) == ("triggered", "70001", True)
    messages = await received(rabbitmq_url, queue_name)
    assert [(m["alert_id"], m["triggered_price"]) for m in messages] == [(alert, "70001")]


async def test_a_lost_database_connection_is_followed_by_a_full_reload(
    start: Any, pool: AsyncConnectionPool, database_url: str
) -> None:
    running = await start()
    dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    async with pool.connection() as conn:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND query LIKE 'LISTEN%%'",
            (dbname,),
        )
    # Created while the matcher may be disconnected: its notification can be lost, the reload
    # must still bring it in.
    alert = await insert_alert(pool, "XRPUSDT", "above", "5")
    await running.until(
        lambda: running.matcher.figures().resyncs >= 1 and alert in running.matcher.book
    )
    await running.tick("XRPUSDT", 5.0)
    assert (await alert_row(pool, alert))[0] == "triggered"


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exported")


async def test_metrics_tell_what_the_matcher_did(start: Any, pool: AsyncConnectionPool) -> None:
    from prometheus_client import generate_latest

    await insert_alert(pool, "BTCUSDT", "above", "100")
    await insert_alert(pool, "BTCUSDT", "above", "200")
    running = await start()
    await running.tick("BTCUSDT", 50.0)
    await running.tick("BTCUSDT", 150.0)
    text = generate_latest(running.matcher.metrics.registry).decode()
    assert _metric(text, "pricealert_matcher_ticks_total") == 2
    assert _metric(text, "pricealert_matcher_alerts_in_book") == 1
    assert _metric(text, "pricealert_matcher_claimed_total") == 1
    assert _metric(text, "pricealert_matcher_published_total") == 1
    assert _metric(text, "pricealert_matcher_publish_backlog") == 0
    assert _metric(text, "pricealert_matcher_claim_seconds_count") == 1
    assert _metric(text, "pricealert_matcher_tick_to_confirm_seconds_count") == 1


async def test_two_replicas_of_one_shard_claim_each_fire_of_a_repeat_once(
    start: Any, pool: AsyncConnectionPool, rabbitmq_url: str, queue_name: str
) -> None:
    alert = await insert_alert(pool, "BTCUSDT", "above", "100", cooldown_seconds=60)
    first, second = await start(), await start()
    t0 = 1_795_708_800_000
    for trade in ((101.0, t0), (99.0, t0 + 1_000), (102.0, t0 + 61_000)):
        for replica in (first, second):  # both see every trade, as replicas of one shard do
            await replica.tick("BTCUSDT", *trade)
    messages = await received(rabbitmq_url, queue_name)
    assert sorted((m["alert_id"], m["seq"], m["triggered_price"]) for m in messages) == [
        (alert, 1, "101"),
        (alert, 2, "102"),
    ]
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT seq FROM alert_fires WHERE alert_id = %s ORDER BY seq", (alert,)
        )
        assert await cursor.fetchall() == [(1,), (2,)]
