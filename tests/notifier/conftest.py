from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest
from psycopg_pool import AsyncConnectionPool

from notifier.consumer import Notifier
from notifier.mail import MailRenderer
from notifier.sent_log import DatabaseSentLog
from notifier.smtp import SmtpPool, SmtpSettings
from notifier.sources import RabbitSource
from shared.messages import AlertMessage
from shared.rabbit import declare_alert_queue, retry_queue
from tests.smtp_sink import SmtpSink

WAIT = 30.0
SENDER = "alerts@pricealert.test"
RETRY_DELAYS = (0.3, 0.6)


def alert(alert_id: int, email: str = "ann@example.com", **fields: Any) -> AlertMessage:
    values: dict[str, Any] = {
        "alert_id": alert_id,
        "user_id": 7,
        "symbol": "BTCUSDT",
        "trigger_condition": "above",
        "target_price": "50000.00",
        "triggered_price": "50012.5",
        "triggered_at": "2026-11-25T12:34:56.789000Z",
        "email": email,
    }
    values.update(fields)
    return AlertMessage(**values)


async def publish(
    rabbitmq_url: str, queue: str, bodies: list[bytes], message_ids: list[str] | None = None
) -> None:
    """As the matcher does: persistent, confirmed, on the alert queue."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare_alert_queue(channel, queue)
        for index, body in enumerate(bodies):
            message_id = message_ids[index] if message_ids else str(index)
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    message_id=message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=queue,
            )


async def publish_alerts(rabbitmq_url: str, queue: str, alerts: list[AlertMessage]) -> None:
    await publish(
        rabbitmq_url, queue, [a.to_json() for a in alerts], [str(a.alert_id) for a in alerts]
    )


async def drain_queue(rabbitmq_url: str, queue: str) -> list[aio_pika.abc.AbstractMessage]:
    """Everything on ``queue`` now, consumed."""
    connection = await aio_pika.connect(rabbitmq_url)
    taken: list[aio_pika.abc.AbstractMessage] = []
    async with connection:
        channel = await connection.channel()
        queue_ = await channel.get_queue(queue, ensure=False)
        while (message := await queue_.get(no_ack=True, fail=False)) is not None:
            taken.append(message)
    return taken


async def queue_depth(rabbitmq_url: str, queue: str) -> int:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        count = declared.declaration_result.message_count
        assert count is not None
        return count


@pytest.fixture
async def retry_queues_cleaned(rabbitmq_url: str, queue_name: str) -> AsyncIterator[None]:
    yield
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        for delay in RETRY_DELAYS:
            await channel.queue_delete(retry_queue(queue_name, delay))


@dataclass
class Running:
    notifier: Notifier
    task: asyncio.Task[None]

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not condition():
                self.notifier.progress.clear()
                await self.notifier.progress.wait()

    def count(self, outcome: str) -> int:
        return int(self.notifier.metrics.value(outcome))


StartNotifier = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_notifier(
    rabbitmq_url: str,
    queue_name: str,
    pool: AsyncConnectionPool,
    smtp_sink: SmtpSink,
    retry_queues_cleaned: None,
    clean_tables: None,
) -> AsyncIterator[StartNotifier]:
    running: list[tuple[Running, SmtpPool]] = []

    async def start(url: str = rabbitmq_url, **overrides: Any) -> Running:
        mailer = SmtpPool(SmtpSettings("127.0.0.1", smtp_sink.port, timeout_seconds=5), 4)
        options: dict[str, Any] = {
            "renderer": MailRenderer(SENDER),
            "mailer": mailer,
            "sent_log": DatabaseSentLog(pool),
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
        running.append((handle, mailer))
        return handle

    yield start
    for handle, mailer in running:
        handle.notifier.stop()
        await asyncio.wait_for(handle.task, WAIT)
        await mailer.close()
