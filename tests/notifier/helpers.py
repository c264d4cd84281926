"""Helpers the notifier's tests share: alert messages, publishing them as the matcher does (with
the matcher's own publisher), what is left on a queue, and a running notifier to wait on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aio_pika

from matcher.publisher import RabbitPublisher
from notifier.consumer import Notifier
from shared.messages import AlertMessage
from shared.rabbit import declare_alert_queue

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


async def publish(rabbitmq_url: str, queue: str, bodies: list[bytes]) -> None:
    """Bodies that are not the matcher's (a malformed message), persistent and confirmed, on
    the alert queue."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare_alert_queue(channel, queue)
        for body in bodies:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=queue,
            )


async def publish_alerts(rabbitmq_url: str, queue: str, alerts: list[AlertMessage]) -> None:
    """As the matcher does, with its publisher: persistent, confirmed, ``message_id``
    ``<alert_id>:<seq>``."""
    publisher = RabbitPublisher(rabbitmq_url, queue)
    await publisher.open()
    try:
        confirmed = await publisher.publish(alerts)
    finally:
        await publisher.close()
    assert confirmed == list(dict.fromkeys(a.fire for a in alerts)), "not every fire confirmed"


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


@dataclass
class Running:
    notifier: Notifier
    task: asyncio.Task[None]

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            await self.notifier.progress.until(condition)

    def count(self, outcome: str) -> int:
        return int(self.notifier.metrics.value(outcome))


StartNotifier = Callable[..., Awaitable[Running]]
