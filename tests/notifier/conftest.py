"""Fixtures of the notifier's tests: a notifier on a real RabbitMQ queue, SMTP server and
database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aio_pika
import pytest
from psycopg_pool import AsyncConnectionPool

from notifier.channels import Channel
from notifier.channels.email import EmailChannel
from notifier.consumer import Notifier
from notifier.deliveries import DatabaseDeliveryLog
from notifier.mail import MailRenderer
from notifier.smtp import SmtpPool
from notifier.sources import RabbitSource
from shared.rabbit import retry_queue
from shared.settings import SmtpSettings
from tests.notifier.helpers import RETRY_DELAYS, SENDER, WAIT, Running, StartNotifier
from tests.smtp_sink import SmtpSink


@pytest.fixture
async def retry_queues_cleaned(rabbitmq_url: str, queue_name: str) -> AsyncIterator[None]:
    yield
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        # The configured delays, and the waits a test's server asks for (Retry-After).
        for delay in (*RETRY_DELAYS, 1.0, 2.0):
            await channel.queue_delete(retry_queue(queue_name, delay))


@pytest.fixture
async def start_notifier(
    rabbitmq_url: str,
    queue_name: str,
    pool: AsyncConnectionPool,
    smtp_sink: SmtpSink,
    retry_queues_cleaned: None,
    clean_tables: None,
) -> AsyncIterator[StartNotifier]:
    running: list[tuple[Running, list[Channel]]] = []

    async def start(
        url: str = rabbitmq_url, extra_channels: Sequence[Channel] = (), **overrides: Any
    ) -> Running:
        mailer = SmtpPool(
            SmtpSettings(host="127.0.0.1", port=smtp_sink.port, timeout_seconds=5, pool_size=4)
        )
        channels = [EmailChannel(MailRenderer(SENDER), mailer), *extra_channels]
        options: dict[str, Any] = {
            "channels": {c.name: c for c in channels},
            "deliveries": DatabaseDeliveryLog(pool),
            "retry_delays": RETRY_DELAYS,
        }
        options.update(overrides)
        source = RabbitSource(url, queue_name, RETRY_DELAYS, prefetch=50)
        notifier = Notifier(source, **options)
        task = asyncio.create_task(notifier.run())
        ready = asyncio.create_task(notifier.ready.wait())
        await asyncio.wait({task, ready}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        assert notifier.ready.is_set(), "the notifier did not start"
        handle = Running(notifier, task)
        running.append((handle, channels))
        return handle

    yield start
    for handle, channels in running:
        handle.notifier.stop()
        await asyncio.wait_for(handle.task, WAIT)
        for channel in channels:
            await channel.close()
