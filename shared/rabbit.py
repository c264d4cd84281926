"""The RabbitMQ topology the matcher and the notifier share, declared the same way by both so
either can start first (a queue redeclared with other arguments is refused by the broker).

- ``<queue>``: the alert messages. A quorum queue: always durable, replicated in a cluster,
  and on this project's measurements about twice as fast as a classic queue for persistent
  messages with confirms. A message delivered ``DELIVERY_LIMIT`` times without an ack (a
  notifier crashing on it again and again) is dead-lettered to the parking queue.
- ``<queue>.retry.<delay>``: one queue per retry delay, nobody consumes them; a message waits
  its TTL there and is dead-lettered back to ``<queue>``.
- ``<queue>.parked``: messages that will not be delivered (permanent failure, malformed, out
  of tries), kept with the reason in their headers for a person to look at.
"""

from __future__ import annotations

from aio_pika.abc import AbstractChannel, AbstractQueue
from pamqp.common import FieldTable

DELIVERY_LIMIT = 10


def parking_queue(queue: str) -> str:
    return f"{queue}.parked"


def retry_queue(queue: str, delay_seconds: float) -> str:
    return f"{queue}.retry.{round(delay_seconds * 1000)}ms"


def alert_queue_arguments(queue: str) -> FieldTable:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": parking_queue(queue),
    }


async def declare_alert_queue(channel: AbstractChannel, queue: str) -> AbstractQueue:
    """The alert queue and the parking queue it dead-letters into."""
    await channel.declare_queue(
        parking_queue(queue), durable=True, arguments={"x-queue-type": "quorum"}
    )
    return await channel.declare_queue(queue, durable=True, arguments=alert_queue_arguments(queue))


async def declare_retry_queue(channel: AbstractChannel, queue: str, delay_seconds: float) -> str:
    """A queue where a message waits ``delay_seconds`` before going back to ``queue``; its
    name. The delay is in the name, so changing the delays never clashes with old queues."""
    name = retry_queue(queue, delay_seconds)
    await channel.declare_queue(
        name,
        durable=True,
        arguments={
            "x-message-ttl": round(delay_seconds * 1000),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queue,
        },
    )
    return name
