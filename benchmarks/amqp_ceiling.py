"""The broker's own ceiling: how many persistent messages per second RabbitMQ takes and confirms
on this machine when the client costs next to nothing.

A bare AMQP 0-9-1 client on a socket: every frame of every message is encoded before the clock
starts, written in one go, and the clock stops at the last confirm. No real client can beat
this figure; it is the baseline the matcher's publish rate is read against.

    .venv/bin/python -m benchmarks.amqp_ceiling [--messages 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from urllib.parse import unquote, urlsplit

from pamqp import commands, frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader, ProtocolHeader

from shared.rabbit import alert_queue_arguments

Frame = frame.FrameTypes


class BareClient:
    """Just enough AMQP for one channel in confirm mode."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self.writer = writer
        self._buffer = b""

    @classmethod
    async def connect(cls, url: str) -> BareClient:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 5672)
        client = cls(reader, writer)
        writer.write(ProtocolHeader().marshal())
        await client.expect(commands.Connection.Start)
        user, password = unquote(parts.username or "guest"), unquote(parts.password or "guest")
        credentials = f"\0{user}\0{password}"
        client.send(0, commands.Connection.StartOk(mechanism="PLAIN", response=credentials))
        tune = await client.expect(commands.Connection.Tune)
        assert isinstance(tune, commands.Connection.Tune)
        client.send(0, commands.Connection.TuneOk(tune.channel_max, tune.frame_max, 0))
        client.send(0, commands.Connection.Open(virtual_host=unquote(parts.path[1:]) or "/"))
        await client.expect(commands.Connection.OpenOk)
        client.send(1, commands.Channel.Open())
        await client.expect(commands.Channel.OpenOk)
        client.send(1, commands.Confirm.Select())
        await client.expect(commands.Confirm.SelectOk)
        return client

    def send(self, channel: int, value: Frame) -> None:
        self.writer.write(frame.marshal(value, channel))

    async def read(self) -> Frame:
        while True:
            try:
                used, _, value = frame.unmarshal(self._buffer)
            except Exception:  # pamqp raises on an incomplete frame
                chunk = await self._reader.read(65536)
                if not chunk:
                    raise ConnectionError("the broker closed the connection") from None
                self._buffer += chunk
                continue
            self._buffer = self._buffer[used:]
            return value

    async def expect(self, kind: type) -> Frame:
        value = await self.read()
        if not isinstance(value, kind):
            raise RuntimeError(f"expected {kind.__name__}, got {value!r}")
        return value

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def encoded_publishes(queue: str, count: int, body: bytes) -> bytes:
    out = bytearray()
    for i in range(count):
        properties = commands.Basic.Properties(
            content_type="application/json", delivery_mode=2, message_id=str(i)
        )
        out += frame.marshal(commands.Basic.Publish(routing_key=queue, mandatory=True), 1)
        out += frame.marshal(ContentHeader(0, len(body), properties), 1)
        out += frame.marshal(ContentBody(body), 1)
    return bytes(out)


async def ceiling(url: str, queue: str, count: int, body: bytes) -> float:
    """Confirmed persistent messages per second into ``queue`` (declared as the alert queue
    is, then deleted)."""
    client = await BareClient.connect(url)
    try:
        arguments = alert_queue_arguments(queue)
        client.send(1, commands.Queue.Declare(queue=queue, durable=True, arguments=arguments))
        await client.expect(commands.Queue.DeclareOk)
        payload = encoded_publishes(queue, count, body)
        started = time.perf_counter()
        client.writer.write(payload)
        confirmed = 0
        while confirmed < count:
            reply = await client.read()
            if isinstance(reply, commands.Basic.Nack):
                raise RuntimeError("the broker refused a message")
            if isinstance(reply, commands.Basic.Ack):
                confirmed = max(confirmed, reply.delivery_tag)
        seconds = time.perf_counter() - started
        client.send(1, commands.Queue.Delete(queue=queue))
        await client.expect(commands.Queue.DeleteOk)
        return count / seconds
    finally:
        await client.close()


def main() -> int:
    from benchmarks.matcher_service import RABBITMQ_URL, SAMPLE_BODY

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    queue = "pricealert_bench_ceiling"
    rate = asyncio.run(ceiling(RABBITMQ_URL, queue, args.messages, SAMPLE_BODY))
    print(f"broker ceiling: {rate:,.0f} confirmed persistent messages/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
