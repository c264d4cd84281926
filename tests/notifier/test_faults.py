"""The notifier under faults: killed mid-batch, stopped by SIGTERM, its RabbitMQ connection
cut. No mail may be lost; a second mail is allowed only for a send the crash interrupted."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.fake_telegram import BOT_TOKEN, FakeTelegram
from tests.notifier.helpers import (
    RETRY_DELAYS,
    StartNotifier,
    alert,
    drain_queue,
    publish_alerts,
)
from tests.smtp_sink import SmtpSink
from tests.tcp_proxy import TcpProxy
from tests.webhook_receiver import WebhookReceiver, new_secret

pytestmark = pytest.mark.usefixtures("clean_tables", "retry_queues_cleaned")
ROOT = Path(__file__).resolve().parents[2]
NOTIFIER = (sys.executable, "-m", "pricealert", "notifier")
POOL_SIZE = 4
PREFETCH = 20
CHAT = 4242


async def start_process(
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
    sink: SmtpSink,
    **extra: str,
) -> asyncio.subprocess.Process:
    """``pricealert notifier`` as a real process, returned once it consumes."""
    env = (
        os.environ
        | extra
        | {
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": rabbitmq_url,
            "RABBITMQ_QUEUE": queue_name,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port),
            "SMTP_POOL_SIZE": str(POOL_SIZE),
            "NOTIFIER_PREFETCH": str(PREFETCH),
            "NOTIFIER_RETRY_DELAYS": ",".join(str(d) for d in RETRY_DELAYS),
            "LOG_FORMAT": "text",
        }
    )
    process = await asyncio.create_subprocess_exec(
        *NOTIFIER, env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    while b"notifier consuming" not in (
        line := await asyncio.wait_for(process.stderr.readline(), 30)
    ):
        assert line, "the notifier exited before consuming"
    return process


async def test_killed_mid_batch_and_restarted_nothing_is_lost(
    database_url: str, rabbitmq_url: str, queue_name: str, smtp_sink: SmtpSink
) -> None:
    smtp_sink.behaviour.delay_seconds = 0.05
    alerts = [alert(i, f"user{i}@example.com") for i in range(1, 101)]
    await publish_alerts(rabbitmq_url, queue_name, alerts)
    process = await start_process(database_url, rabbitmq_url, queue_name, smtp_sink)
    await smtp_sink.wait_for(20)
    process.kill()
    await process.wait()
    mailed_before_kill = len(smtp_sink.received)
    assert mailed_before_kill < 100

    process = await start_process(database_url, rabbitmq_url, queue_name, smtp_sink)
    try:
        await smtp_sink.wait_for(100)
        while set(smtp_sink.alert_ids) != set(range(1, 101)):
            await smtp_sink.wait_for(len(smtp_sink.received) + 1)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 30)
    twice = [i for i, n in Counter(smtp_sink.alert_ids).items() if n > 1]
    # Only a mail accepted but not yet recorded when the process died can go twice.
    assert len(twice) <= POOL_SIZE, twice


async def test_sigterm_finishes_the_mails_in_hand_and_acks_them(
    database_url: str, rabbitmq_url: str, queue_name: str, smtp_sink: SmtpSink
) -> None:
    smtp_sink.behaviour.delay_seconds = 0.1
    await publish_alerts(rabbitmq_url, queue_name, [alert(i) for i in range(1, 61)])
    process = await start_process(database_url, rabbitmq_url, queue_name, smtp_sink)
    await smtp_sink.wait_for(4)
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert b"notifier stopped" in stderr
    mailed = smtp_sink.alert_ids
    left = [orjson.loads(m.body)["alert_id"] for m in await drain_queue(rabbitmq_url, queue_name)]
    assert sorted(mailed + left) == list(range(1, 61))  # each either mailed and acked, or left
    assert len(mailed) < 60


async def test_a_cut_rabbitmq_connection_is_recovered_without_loss(
    start_notifier: StartNotifier,
    proxy: tuple[TcpProxy, str],
    smtp_sink: SmtpSink,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    tcp_proxy, proxied_url = proxy
    smtp_sink.behaviour.delay_seconds = 0.02
    running = await start_notifier(proxied_url)
    await publish_alerts(rabbitmq_url, queue_name, [alert(i) for i in range(1, 81)])
    await smtp_sink.wait_for(10)
    tcp_proxy.cut()
    while set(smtp_sink.alert_ids) != set(range(1, 81)):
        await smtp_sink.wait_for(len(smtp_sink.received) + 1)
    assert tcp_proxy.connections >= 2  # it did reconnect
    await running.until(lambda: running.count("sent") + running.count("duplicate") >= 80)
    twice = [i for i, n in Counter(smtp_sink.alert_ids).items() if n > 1]
    assert len(twice) <= POOL_SIZE, twice


async def test_killed_mid_batch_every_channel_of_every_fire_arrives(
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
    smtp_sink: SmtpSink,
    pool: AsyncConnectionPool,
) -> None:
    secret = new_secret()
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "INSERT INTO users (username, password_hash, webhook_secret) VALUES ('k', 'x', %s)"
            " RETURNING id",
            (secret,),
        )
        row = await cursor.fetchone()
    assert row is not None
    fires = range(1, 61)
    async with (
        WebhookReceiver(secret=secret) as receiver,
        FakeTelegram(chats=[CHAT], max_per_second=None) as telegram,
    ):
        channels = {
            "email": "ann@example.com",
            "webhook": {"url": f"{receiver.url}/hook", "format": "standard"},
            "telegram": CHAT,
        }
        messages = [
            alert(i, user_id=row[0], channels=channels, email="ann@example.com") for i in fires
        ]
        await publish_alerts(rabbitmq_url, queue_name, messages)
        smtp_sink.behaviour.delay_seconds = 0.05
        env = {
            "WEBHOOK_ALLOW_PRIVATE": "true",
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_API_URL": telegram.url,
        }
        process = await start_process(database_url, rabbitmq_url, queue_name, smtp_sink, **env)
        await smtp_sink.wait_for(15)
        process.kill()
        await process.wait()
        assert len(smtp_sink.received) < len(fires)
        process = await start_process(database_url, rabbitmq_url, queue_name, smtp_sink, **env)
        try:
            await smtp_sink.wait_for(len(fires))
            while set(smtp_sink.alert_ids) != set(fires):
                await smtp_sink.wait_for(len(smtp_sink.received) + 1)
            await receiver.wait_for(len(fires))
            while {int(str(r.webhook_id).split("-")[1]) for r in receiver.received} != set(fires):
                await receiver.wait_for(len(receiver.received) + 1)
            await telegram.wait_for(len(fires))
            while len({m.text.split("Alert #")[1].split(",")[0] for m in telegram.messages}) < 60:
                await telegram.wait_for(len(telegram.messages) + 1)
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.communicate(), 30)
        assert all(r.verified for r in receiver.received)
        # A second delivery only for what was accepted but not yet recorded at the kill: at
        # most what was in flight (the prefetch).
        twice_mailed = [i for i, n in Counter(smtp_sink.alert_ids).items() if n > 1]
        twice_hooked = receiver.delivered_twice("/hook")
        assert len(twice_mailed) <= POOL_SIZE, twice_mailed
        assert len(twice_hooked) <= PREFETCH, twice_hooked
        telegram_fires = Counter(
            m.text.split("Alert #")[1].split(",")[0] for m in telegram.messages
        )
        assert sum(1 for n in telegram_fires.values() if n > 1) <= PREFETCH
