"""Handing claimed alerts on: the interface, and the RabbitMQ implementation with confirms."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from aiormq.channel import Channel

from matcher.amqp_bulk import PublishEncoder, linear_confirms, publish_batch
from shared.messages import AlertMessage
from shared.rabbit import connect, declare_alert_queue

log = logging.getLogger(__name__)
CONTENT_TYPE = "application/json"


Fire = tuple[int, int]  # (alert id, seq)


class Publisher(Protocol):
    async def publish(self, messages: Sequence[AlertMessage]) -> list[Fire]:
        """Publish; the fires whose messages are safely handed on (confirmed). The others are
        left for a later try; an exception means none was."""
        ...


class RabbitPublisher:
    """Persistent messages on the durable queue, through one channel with publisher confirms.

    All messages of a batch are published concurrently and their confirms awaited together:
    the broker writes persistent messages to disk in batches, so one at a time would wait a
    disk write each. An unroutable message raises instead of being silently dropped.

    A batch is encoded and written in one go on aio-pika's underlying aiormq channel
    (``matcher.amqp_bulk``): the client's CPU per message is what limits a big batch.
    """

    def __init__(self, url: str, queue: str) -> None:
        self._url = url
        self._queue = queue
        self._connection: AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._encoder: PublishEncoder | None = None

    async def open(self) -> None:
        self._connection = await connect(self._url, "matcher publisher")
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        await declare_alert_queue(self._channel, self._queue)
        log.info("RabbitMQ publisher ready", extra={"queue": self._queue})

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def publish(self, messages: Sequence[AlertMessage]) -> list[Fire]:
        if self._channel is None:
            raise RuntimeError("RabbitPublisher.open() was not awaited")
        channel = await self._channel.get_underlay_channel()
        if not isinstance(channel, Channel):
            raise TypeError(f"unexpected aiormq channel type {type(channel).__name__}")
        linear_confirms(channel)  # once per channel: a reconnect brings a new one
        encoder = self._encoder
        if encoder is None or encoder.channel_number != channel.number:
            encoder = self._encoder = PublishEncoder(channel.number, self._queue, CONTENT_TYPE)
        # One message per fire, even if a batch names a fire twice (a republish pass can meet
        # a claim still in flight): a returned message is matched to its publish by id.
        unique = list({message.fire: message for message in messages}.values())
        outcomes = await publish_batch(
            channel, encoder, [(m.message_id, m.to_json()) for m in unique]
        )
        messages = unique
        confirmed = []
        errors = []
        for message, outcome in zip(messages, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                errors.append(outcome)
            else:
                confirmed.append(message.fire)
        if errors:
            log.warning(
                "publish not confirmed: will retry",
                extra={"failed": len(errors), "of": len(messages), "error": repr(errors[0])},
            )
        return confirmed
