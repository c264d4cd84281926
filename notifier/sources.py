"""Where the notifier's messages come from, and where retried and parked ones go.

``RabbitSource`` is the real one (the topology of ``shared.rabbit``). ``InProcessBroker`` is the
hand-off inside ``pricealert up`` when no RabbitMQ is configured: the matcher publishes into it
(it is a ``matcher.publisher.Publisher``) and the notifier consumes from it, through the same
interfaces, so the notifier's code path is the same in both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractQueue, AbstractRobustConnection
from aio_pika.exceptions import ChannelInvalidStateError

from shared.messages import AlertMessage
from shared.rabbit import (
    connect,
    declare_alert_queue,
    declare_retry_queue,
    parking_queue,
    retry_queue,
)
from shared.version import Version

log = logging.getLogger(__name__)

CANCEL_TIMEOUT_SECONDS = 5.0
# aiormq resolves an ack's or a publish's write only when its connection's writer takes it: a
# frame queued on a connection that died just then waits forever (seen when RabbitMQ restarts
# under load). A write normally takes microseconds; past this it is taken as lost.
WRITE_TIMEOUT_SECONDS = 10.0
Headers = Mapping[str, Any]


class Delivery(Protocol):
    """One received message (aio-pika's ``IncomingMessage`` is one)."""

    @property
    def body(self) -> bytes: ...

    @property
    def message_id(self) -> str | None: ...

    @property
    def content_type(self) -> str | None: ...

    @property
    def headers(self) -> Headers: ...

    async def ack(self) -> None: ...


OnMessage = Callable[[Any], Coroutine[Any, Any, None]]


class MessageSource(Protocol):
    description: str

    async def start(self, on_message: OnMessage) -> None:
        """Begin delivering messages, each to ``on_message`` in a task of its own."""

    async def stop_consuming(self) -> None: ...

    async def retry(self, message: Delivery, delay_seconds: float, headers: Headers) -> None:
        """Deliver ``message`` again (with ``headers`` added) after the delay; returns once
        that is safely scheduled."""

    async def park(self, message: Delivery, headers: Headers) -> None: ...

    async def ack(self, message: Delivery) -> None:
        """Settle ``message`` for good. Returns once the ack is on its way, without waiting
        for the write: a lost ack means a redelivery, which the deliveries log recognises."""

    def unavailable(self) -> str | None:
        """Why no message can arrive now (the broker's connection is down), or None. Read from
        the probes' thread: plain attributes only."""
        ...

    def still_held(self, message: Delivery) -> bool:
        """Whether ``message`` can still be acked: not so once the channel it came on closed
        (the broker will deliver it again)."""
        ...

    async def close(self) -> None: ...


class RabbitSource:
    def __init__(self, url: str, queue: str, retry_delays: Sequence[float], prefetch: int) -> None:
        self._url = url
        self._queue_name = queue
        self._retry_delays = tuple(retry_delays)
        self._declared_delays: set[float] = set()
        self._prefetch = prefetch
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._lost = False  # between a cut and the robust connection's return
        self.connection_changes = Version()  # bumped when the connection is lost or back
        self.description = f"RabbitMQ queue {queue}"

    async def start(self, on_message: OnMessage) -> None:
        self._connection = await connect(self._url, "notifier consumer")
        self._connection.close_callbacks.add(self._on_lost)
        self._connection.reconnect_callbacks.add(self._on_back)
        channel = self._channel = await self._connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=self._prefetch)
        self._queue = await declare_alert_queue(channel, self._queue_name)
        for delay in self._retry_delays:
            await declare_retry_queue(channel, self._queue_name, delay)
            self._declared_delays.add(delay)
        self._consumer_tag = await self._queue.consume(on_message)
        log.info(
            "notifier consuming",
            extra={
                "queue": self._queue_name,
                "prefetch": self._prefetch,
                "retry_delays_s": list(self._retry_delays),
                "parking_queue": parking_queue(self._queue_name),
            },
        )

    def _on_lost(self, *_: object) -> None:
        self._lost = True
        self.connection_changes.bump()

    def _on_back(self, *_: object) -> None:
        self._lost = False
        self.connection_changes.bump()

    def unavailable(self) -> str | None:
        return f"reconnecting to RabbitMQ ({self._queue_name})" if self._lost else None

    async def stop_consuming(self) -> None:
        if self._queue is None or self._consumer_tag is None:
            return
        try:
            await asyncio.wait_for(self._queue.cancel(self._consumer_tag), CANCEL_TIMEOUT_SECONDS)
        except Exception as exc:  # RabbitMQ is away: closing the connection stops it too
            log.warning("could not cancel the consumer", extra={"error": repr(exc)})

    async def retry(self, message: Delivery, delay_seconds: float, headers: Headers) -> None:
        if delay_seconds not in self._declared_delays:  # a wait a server asked for
            if self._channel is None:
                raise RuntimeError("not consuming")
            await declare_retry_queue(self._channel, self._queue_name, delay_seconds)
            self._declared_delays.add(delay_seconds)
        await self._republish(message, retry_queue(self._queue_name, delay_seconds), headers)

    async def park(self, message: Delivery, headers: Headers) -> None:
        await self._republish(message, parking_queue(self._queue_name), headers)

    async def ack(self, message: Delivery) -> None:
        # aio-pika's ``ack()`` waits for aiormq's writer to take the frame: a future and a
        # wake-up per message, and the writer drains its socket once per ack: it bounds the
        # notifier's rate (benchmarks.webhooks measures the rate of webhooks). Without the wait
        # the frame only goes on aiormq's write queue, at once unless that queue is full; it is
        # bounded, and on a connection that just died nothing empties it, so the put is bounded
        # too (WRITE_TIMEOUT_SECONDS). A frame lost with its connection means a redelivery.
        if not isinstance(message, aio_pika.IncomingMessage):
            raise TypeError(f"not a message of this source: {message!r}")
        if message.delivery_tag is not None:
            async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                await message.channel.basic_ack(message.delivery_tag, wait=False)

    def still_held(self, message: Delivery) -> bool:
        if not isinstance(message, aio_pika.IncomingMessage):
            return True
        try:
            message.channel  # noqa: B018 (aio-pika raises once the channel has closed)
        except ChannelInvalidStateError:
            return False
        return True

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def _republish(self, message: Delivery, queue: str, headers: Headers) -> None:
        """The same message, with ``headers`` added, on ``queue``; returns once confirmed."""
        if self._channel is None:
            raise RuntimeError("not consuming")
        await self._channel.default_exchange.publish(
            aio_pika.Message(
                message.body,
                content_type=message.content_type,
                message_id=message.message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                headers={**(message.headers or {}), **headers},
            ),
            routing_key=queue,
            timeout=WRITE_TIMEOUT_SECONDS,
        )


@dataclass(eq=False)
class InProcessDelivery:
    body: bytes
    message_id: str | None
    content_type: str | None = "application/json"
    headers: dict[str, Any] = field(default_factory=dict)
    settled: asyncio.Future[None] | None = None  # the publisher waits on it (first try only)

    async def ack(self) -> None:
        if self.settled is not None and not self.settled.done():
            self.settled.set_result(None)

    def copy_with(self, headers: Headers) -> InProcessDelivery:
        """Another delivery of the same message with ``headers`` added (a retry, a parking)."""
        return InProcessDelivery(
            self.body, self.message_id, self.content_type, {**self.headers, **headers}
        )


class InProcessBroker:
    """Matcher to notifier within one process. ``publish`` returns once the notifier settled
    each message's first try (mailed, parked, or scheduled for a retry), so the matcher marks
    an alert published only when its mail is out of its hands. Not durable past that: a crash
    during a retry delay loses that retry. Use RabbitMQ where that matters."""

    description = "in-process hand-off (no RabbitMQ configured)"

    def __init__(self, prefetch: int = 200) -> None:
        self._queue: asyncio.Queue[InProcessDelivery] = asyncio.Queue()
        self._slots = asyncio.Semaphore(prefetch)
        self._consumer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.parked: list[InProcessDelivery] = []

    async def publish(self, messages: Sequence[AlertMessage]) -> list[tuple[int, int]]:
        loop = asyncio.get_running_loop()
        deliveries = []
        for message in messages:
            delivery = InProcessDelivery(
                message.to_json(), message.message_id, settled=loop.create_future()
            )
            deliveries.append(delivery)
            self._queue.put_nowait(delivery)
        await asyncio.gather(*(d.settled for d in deliveries if d.settled is not None))
        return [message.fire for message in messages]

    async def start(self, on_message: OnMessage) -> None:
        self._consumer = asyncio.create_task(self._consume(on_message))

    async def _consume(self, on_message: OnMessage) -> None:
        while True:
            delivery = await self._queue.get()
            await self._slots.acquire()
            task = asyncio.create_task(on_message(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def stop_consuming(self) -> None:
        if self._consumer is not None:
            self._consumer.cancel()

    async def retry(self, message: Delivery, delay_seconds: float, headers: Headers) -> None:
        assert isinstance(message, InProcessDelivery)
        retry = message.copy_with(headers)
        asyncio.get_running_loop().call_later(delay_seconds, self._queue.put_nowait, retry)

    async def ack(self, message: Delivery) -> None:
        await message.ack()

    def unavailable(self) -> str | None:
        return None

    def still_held(self, message: Delivery) -> bool:
        return True

    async def park(self, message: Delivery, headers: Headers) -> None:
        assert isinstance(message, InProcessDelivery)
        self.parked.append(message.copy_with(headers))
        log.warning(
            "message parked (in process)",
            extra={"message_id": message.message_id, "reason": headers.get("x-pricealert-reason")},
        )

    async def close(self) -> None:
        await self.stop_consuming()
