"""Faults between the matcher and RabbitMQ: a cut connection, and a kill between claim and
confirm. Nothing claimed may be lost, and nothing is sent twice where it can be avoided."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from matcher.feeds import QueueFeed
from matcher.publisher import RabbitPublisher
from matcher.service import Matcher
from shared.settings import Shard
from tests.matcher.helpers import alert_row, insert_alert, received
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.usefixtures("clean_tables")
ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0


async def wait_until_triggered(listener: psycopg.AsyncConnection[Any], ids: set[int]) -> None:
    """Until the database announced a state change of every one of ``ids`` (the claim
    committed: nothing else changes their state in these tests)."""
    waiting = set(ids)
    async for notification in listener.notifies(timeout=WAIT):
        payload = orjson.loads(notification.payload)
        if payload["op"] == "state":
            waiting.difference_update(payload["ids"])
        if not waiting:
            return
    pytest.fail(f"not claimed within {WAIT} s: {sorted(waiting)}")


async def test_publishing_catches_up_after_the_connection_is_cut(
    proxy: tuple[TcpProxy, str],
    pool: AsyncConnectionPool,
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    tcp_proxy, proxied_url = proxy
    alerts = [await insert_alert(pool, "BTCUSDT", "above", str(100 + i)) for i in range(100)]
    publisher = RabbitPublisher(proxied_url, queue_name)
    await publisher.open()
    matcher = Matcher(database_url, Shard(0, 1), publisher, retry_cap_seconds=0.5)
    feed = QueueFeed()
    task = asyncio.create_task(matcher.run(feed))
    listener = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    try:
        await listener.execute("LISTEN alerts")
        await asyncio.wait_for(matcher.ready.wait(), WAIT)
        tcp_proxy.refusing = True
        tcp_proxy.cut()
        feed.push("BTCUSDT", 1000.0)
        await wait_until_triggered(listener, set(alerts))  # claims go on without RabbitMQ
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT count(*) FROM alert_fires WHERE published_at IS NULL"
            )
            assert await cursor.fetchone() == (100,)

        tcp_proxy.refusing = False
        await asyncio.wait_for(matcher.pipeline.drain(), WAIT)
    finally:
        await listener.close()
        matcher.stop()
        await asyncio.wait_for(task, WAIT)
        await publisher.close()
    messages = await received(rabbitmq_url, queue_name)
    assert sorted(m["alert_id"] for m in messages) == alerts  # every one, exactly once
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM alert_fires WHERE published_at IS NOT NULL"
        )
        assert await cursor.fetchone() == (100,)
    assert tcp_proxy.connections >= 2  # it really reconnected


async def test_a_matcher_killed_between_claim_and_confirm_republishes_on_restart(
    proxy: tuple[TcpProxy, str],
    pool: AsyncConnectionPool,
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
    tmp_path: Path,
) -> None:
    tcp_proxy, proxied_url = proxy
    alert = await insert_alert(pool, "ETHUSDT", "below", "2500")
    env = os.environ | {
        "DATABASE_URL": database_url,
        "RABBITMQ_QUEUE": queue_name,
        "LOG_FORMAT": "text",
    }
    command = [sys.executable, "-m", "pricealert", "matcher", "--replay"]
    listener = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    await listener.execute("LISTEN alerts")
    first = await asyncio.create_subprocess_exec(
        *command,
        "-",
        env=env | {"RABBITMQ_URL": proxied_url},
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert first.stdin is not None
        assert first.stderr is not None
        while b"shard loaded" not in (
            line := await asyncio.wait_for(first.stderr.readline(), WAIT)
        ):
            assert line, "the matcher exited before loading its shard"
        tcp_proxy.refusing = True
        tcp_proxy.cut()
        first.stdin.write(orjson.dumps({"e": "trade", "s": "ETHUSDT", "p": "2400.5"}) + b"\n")
        await first.stdin.drain()
        # Claimed, and RabbitMQ is unreachable: it cannot be confirmed.
        await wait_until_triggered(listener, {alert})
        first.kill()
        await first.wait()
    finally:
        await listener.close()
    assert await alert_row(pool, alert) == ("triggered", "2400.5", False)
    assert await received(rabbitmq_url, queue_name) == []

    nothing = tmp_path / "no-trades.jsonl"
    nothing.write_bytes(b"")
    second = await asyncio.create_subprocess_exec(
        *command,
        str(nothing),
        env=env | {"RABBITMQ_URL": rabbitmq_url},
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
    )
    _, log = await asyncio.wait_for(second.communicate(), WAIT)
    assert second.returncode == 0, log.decode()
    assert b"republishing claimed but unconfirmed alerts" in log
    messages = await received(rabbitmq_url, queue_name)
    assert [(m["alert_id"], m["triggered_price"]) for m in messages] == [(alert, "2400.5")]
    assert await alert_row(pool, alert) == ("triggered", "2400.5", True)
    assert first.returncode == -signal.SIGKILL


async def test_a_stop_while_rabbitmq_is_away_ends_and_loses_nothing(
    proxy: tuple[TcpProxy, str],
    pool: AsyncConnectionPool,
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    tcp_proxy, proxied_url = proxy
    alert = await insert_alert(pool, "BTCUSDT", "below", "10")
    publisher = RabbitPublisher(proxied_url, queue_name)
    await publisher.open()
    matcher = Matcher(
        database_url, Shard(0, 1), publisher, retry_cap_seconds=0.2, stop_timeout_seconds=0.5
    )
    feed = QueueFeed()
    task = asyncio.create_task(matcher.run(feed))
    listener = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    try:
        await listener.execute("LISTEN alerts")
        await asyncio.wait_for(matcher.ready.wait(), WAIT)
        tcp_proxy.refusing = True
        tcp_proxy.cut()
        feed.push("BTCUSDT", 9.0)
        await wait_until_triggered(listener, {alert})
        matcher.stop()
        await asyncio.wait_for(task, WAIT)  # returns although the publish cannot be confirmed
    finally:
        await listener.close()
        await publisher.close()
    # Claimed and unconfirmed: exactly what the next start republishes.
    assert await alert_row(pool, alert) == ("triggered", "9", False)


async def test_a_repeat_claimed_but_unconfirmed_is_republished_once_and_keeps_its_place(
    proxy: tuple[TcpProxy, str],
    pool: AsyncConnectionPool,
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    """A matcher lost (cancelled mid-publish, as a crash leaves it) after claiming a repeating
    alert's fire: the next one republishes that fire once, and the alert waits for the price to
    go back and for its cooldown before it fires again."""
    tcp_proxy, proxied_url = proxy
    alert = await insert_alert(pool, "BTCUSDT", "above", "100", cooldown_seconds=60)
    t0 = 1_795_708_800_000
    publisher = RabbitPublisher(proxied_url, queue_name)
    await publisher.open()
    matcher = Matcher(database_url, Shard(0, 1), publisher, retry_cap_seconds=0.2)
    feed = QueueFeed()
    task = asyncio.create_task(matcher.run(feed))
    try:
        await asyncio.wait_for(matcher.ready.wait(), WAIT)
        tcp_proxy.refusing = True
        tcp_proxy.cut()
        feed.push("BTCUSDT", 101.0, t0)
        async with asyncio.timeout(WAIT):
            await matcher.progress.until(lambda: matcher.figures().claimed == 1)
    finally:
        task.cancel()  # gone without confirming: the fire stays unpublished
        await asyncio.gather(task, return_exceptions=True)
        await publisher.close()
    assert await alert_row(pool, alert) == ("created", "101", False)

    publisher = RabbitPublisher(rabbitmq_url, queue_name)
    await publisher.open()
    matcher = Matcher(database_url, Shard(0, 1), publisher)
    feed = QueueFeed()
    task = asyncio.create_task(matcher.run(feed))
    try:
        await asyncio.wait_for(matcher.ready.wait(), WAIT)
        for price, time_ms in ((105.0, t0 + 70_000), (99.0, t0 + 80_000), (103.0, t0 + 90_000)):
            feed.push("BTCUSDT", price, time_ms)
        await asyncio.wait_for(feed.processed(), WAIT)
        await asyncio.wait_for(matcher.pipeline.drain(), WAIT)
    finally:
        matcher.stop()
        await asyncio.wait_for(task, WAIT)
        await publisher.close()
    messages = await received(rabbitmq_url, queue_name)
    # Fire 1 once (republished); 105 did not fire (the price had not gone back since); 103 did,
    # after the 99 that went back below the target, past the cooldown.
    assert sorted((m["seq"], m["triggered_price"]) for m in messages) == [(1, "101"), (2, "103")]
    assert await alert_row(pool, alert) == ("created", "103", True)
