"""Handing claimed alerts on: the interface, and the RabbitMQ implementation with confirms."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

import aio_pika
from aio_pika.abc import AbstractRobustConnection

from shared.messages import AlertMessage

log = logging.getLogger(__name__)


class Publisher(Protocol):
    async def publish(self, messages: Sequence[AlertMessage]) -> list[int]:
        """Publish; the alert ids whose messages are safely handed on (confirmed). The others
        are left for a later try; an exception means none was."""
        ...


class RabbitPublisher:
    """Persistent messages on the durable queue, through one channel with publisher confirms.

    All messages of a batch are published concurrently and their confirms awaited together:
    the broker writes persistent messages to disk in batches, so one at a time would wait a
    disk write each. An unroutable message raises instead of being silently dropped.
    """

    def __init__(self, url: str, queue: str) -> None:
        self._url = url
        self._queue = queue
        self._connection: AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None

    async def open(self) -> None:
        self._connection = await aio_pika.connect_robust(self._url)
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        await self._channel.declare_queue(self._queue, durable=True)
        log.info("RabbitMQ publisher ready", extra={"queue": self._queue})

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def publish(self, messages: Sequence[AlertMessage]) -> list[int]:
        if self._channel is None:
            raise RuntimeError("RabbitPublisher.open() was not awaited")
        exchange = self._channel.default_exchange
        outcomes = await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        message.to_json(),
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=str(message.alert_id),
                    ),
                    routing_key=self._queue,
                    mandatory=True,
                )
                for message in messages
            ),
            return_exceptions=True,
        )
        confirmed = []
        errors = []
        for message, outcome in zip(messages, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                errors.append(outcome)
            else:
                confirmed.append(message.alert_id)
        if errors:
            log.warning(
                "publish not confirmed: will retry",
                extra={"failed": len(errors), "of": len(messages), "error": repr(errors[0])},
            )
        return confirmed
