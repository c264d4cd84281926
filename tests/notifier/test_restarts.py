"""The notifier while the real RabbitMQ or PostgreSQL restarts under load: every alert mailed
exactly once, and recorded. (The servers are restarted for real: see ``tests/servers.py``.)"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from psycopg_pool import AsyncConnectionPool

from notifier.sources import RabbitSource
from tests.notifier.helpers import WAIT, Running, StartNotifier, alert, publish_alerts
from tests.servers import restart_postgres, start_rabbitmq, stop_rabbitmq
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.usefixtures("clean_tables", "retry_queues_cleaned")
ALERTS = 600


async def _load(rabbitmq_url: str, queue_name: str, smtp_sink: SmtpSink) -> None:
    smtp_sink.behaviour.delay_seconds = 0.02  # a few seconds of work: the restart lands in it
    alerts = [alert(i, f"user{i}@example.com") for i in range(1, ALERTS + 1)]
    await publish_alerts(rabbitmq_url, queue_name, alerts)


async def _all_mailed_once(
    running: Running, smtp_sink: SmtpSink, pool: AsyncConnectionPool
) -> None:
    await running.until(lambda: running.count("sent") >= ALERTS)
    twice = sorted(i for i, n in Counter(smtp_sink.alert_ids).items() if n > 1)
    assert twice == []
    assert sorted(smtp_sink.alert_ids) == list(range(1, ALERTS + 1))
    assert running.count("sent") == ALERTS
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'")
        assert await cursor.fetchone() == (ALERTS,)


async def test_a_broker_restart_under_load_mails_every_alert_exactly_once(
    start_notifier: StartNotifier,
    smtp_sink: SmtpSink,
    rabbitmq_url: str,
    queue_name: str,
    pool: AsyncConnectionPool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _load(rabbitmq_url, queue_name, smtp_sink)
    running = await start_notifier()
    notifier, source = running.notifier, running.notifier.source
    assert isinstance(source, RabbitSource)
    await smtp_sink.wait_for(ALERTS // 4)
    assert notifier.waiting_for() is None
    try:
        await stop_rabbitmq()
        # Not ready (/readyz answers 503) while the broker is away, saying why.
        async with asyncio.timeout(WAIT):
            await source.connection_changes.until(lambda: notifier.waiting_for() is not None)
        assert notifier.waiting_for() == f"reconnecting to RabbitMQ ({queue_name})"
    finally:
        await start_rabbitmq()
    async with asyncio.timeout(WAIT):
        await source.connection_changes.until(lambda: notifier.waiting_for() is None)
    await _all_mailed_once(running, smtp_sink, pool)
    # The deliveries in hand when the channel closed were mailed and recorded; RabbitMQ gave
    # them again after the restart, and they were recognised.
    assert running.count("duplicate") >= 1
    # The cut is told once, and its return; not aio-pika's errors at each step.
    assert caplog.text.count("RabbitMQ connection lost") == 1
    assert caplog.text.count("RabbitMQ connection back") == 1
    for noise in ("RobustChannel", "No active transport", "error when creating transport"):
        assert noise not in caplog.text


async def test_a_database_restart_under_load_mails_every_alert_exactly_once(
    start_notifier: StartNotifier,
    smtp_sink: SmtpSink,
    rabbitmq_url: str,
    queue_name: str,
    pool: AsyncConnectionPool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _load(rabbitmq_url, queue_name, smtp_sink)
    running = await start_notifier()
    await smtp_sink.wait_for(ALERTS // 4)
    await restart_postgres()
    await _all_mailed_once(running, smtp_sink, pool)
    assert "was not recorded" not in caplog.text
