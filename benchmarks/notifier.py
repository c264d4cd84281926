"""The notifier end to end: alert messages from RabbitMQ to mails accepted by an SMTP server.

An aiosmtpd sink runs in its own process (so it does not share this one's interpreter), and
20,000 alert messages wait on a fresh queue. Reported, all in the same run:

- the notifier as ``pricealert notifier`` wires it (pooled connections, prefetch, the
  PostgreSQL duplicate check and record), mails accepted per second;
- the same without the duplicate check (an in-memory record), to show what the check costs;
- the seed's way: one message at a time, a new SMTP connection per mail, built with
  ``email.message.EmailMessage`` (measured on 1,000 messages);
- the sink's own ceiling (``benchmarks/smtp_ceiling.py``): the same mail over as many
  connections from a bare-socket client that costs next to nothing.

    .venv/bin/python -m benchmarks.notifier [--messages 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage

import aio_pika
import aiosmtplib
import psycopg
from psycopg.conninfo import make_conninfo

from benchmarks.smtp_ceiling import ceiling
from notifier.channels.email import EmailChannel
from notifier.consumer import Notifier
from notifier.deliveries import DatabaseDeliveryLog, DeliveryLog, MemoryDeliveryLog
from notifier.mail import MailRenderer
from notifier.smtp import SmtpPool
from notifier.sources import RabbitSource
from shared.db import create_pool
from shared.messages import AlertMessage
from shared.migrate import migrate
from shared.rabbit import declare_alert_queue, parking_queue, retry_queue
from shared.settings import Settings, SmtpSettings

RABBITMQ_URL = os.environ.get("PRICEALERT_TEST_RABBITMQ", "amqp://guest:guest@localhost:5672/")
ADMIN_URL = os.environ.get(
    "PRICEALERT_TEST_POSTGRES", "postgresql://postgres@localhost:5432/postgres"
)
SENDER = "alerts@pricealert.bench"
RETRY_DELAYS = (10.0,)
POOL_SIZE = Settings.from_env({}).smtp.pool_size  # the default, as deployed
SINK_COMMAND = (sys.executable, "-m", "aiosmtpd", "-n", "-l")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_sink(port: int) -> subprocess.Popen[bytes]:
    sink = subprocess.Popen(
        [*SINK_COMMAND, f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return sink
        except OSError:
            time.sleep(0.05)
    sink.kill()
    raise RuntimeError("the SMTP sink did not start")


def alert(alert_id: int) -> AlertMessage:
    return AlertMessage(
        alert_id=alert_id,
        user_id=1,
        symbol="BTCUSDT",
        trigger_condition="above",
        target_price="50000.00",
        triggered_price="50012.5",
        triggered_at="2026-11-25T12:34:56.789000Z",
        email=f"user{alert_id % 1000}@example.com",
    )


async def fill_queue(queue: str, first_id: int, count: int) -> None:
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare_alert_queue(channel, queue)
        for start in range(first_id, first_id + count, 1000):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(
                            alert(i).to_json(),
                            content_type="application/json",
                            message_id=str(i),
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=queue,
                    )
                    for i in range(start, min(start + 1000, first_id + count))
                )
            )


async def notifier_rate(queue: str, port: int, count: int, deliveries: DeliveryLog) -> float:
    """Mails accepted per second, from the notifier's start to the last accept."""
    mailer = SmtpPool(SmtpSettings(host="127.0.0.1", port=port, pool_size=POOL_SIZE))
    notifier = Notifier(
        RabbitSource(RABBITMQ_URL, queue, RETRY_DELAYS, prefetch=200),
        channels={"email": EmailChannel(MailRenderer(SENDER), mailer)},
        deliveries=deliveries,
        retry_delays=RETRY_DELAYS,
    )
    started = time.perf_counter()
    task = asyncio.create_task(notifier.run())
    async with asyncio.timeout(600):
        await notifier.progress.until(lambda: notifier.metrics.value("sent") >= count)
    seconds = time.perf_counter() - started
    notifier.stop()
    await task
    await mailer.close()
    failed = {o: notifier.metrics.value(o) for o in ("retried", "parked_permanent")}
    assert not any(failed.values()), failed
    return count / seconds


async def seed_rate(queue: str, port: int, count: int) -> float:
    """The seed's consumer: one message at a time, a new connection and an EmailMessage each."""
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        amqp_queue = await declare_alert_queue(channel, queue)
        started = time.perf_counter()
        for _ in range(count):
            message = await amqp_queue.get(timeout=10)
            assert message is not None
            fields = AlertMessage.from_json(message.body)
            mail = EmailMessage()
            mail["From"] = SENDER
            mail["To"] = fields.email
            mail["Subject"] = f"{fields.symbol} price alert"
            mail.set_content(f"{fields.symbol} crossed {fields.target_price}")
            await aiosmtplib.send(mail, hostname="127.0.0.1", port=port)
            await message.ack()
        return count / (time.perf_counter() - started)


async def run(messages: int, seed_messages: int, database_url: str) -> None:
    port = free_port()
    sink = start_sink(port)
    queue = f"pricealert_bench_{uuid.uuid4().hex[:8]}"
    pool = create_pool(database_url, size=3, name="bench")
    await pool.open(wait=True)
    try:
        await fill_queue(queue, 1, messages)
        with_check = await notifier_rate(queue, port, messages, DatabaseDeliveryLog(pool))
        await fill_queue(queue, messages + 1, messages)
        without_check = await notifier_rate(queue, port, messages, MemoryDeliveryLog())
        await fill_queue(queue, 2 * messages + 1, seed_messages)
        seed = await seed_rate(queue, port, seed_messages)
        raw = MailRenderer(SENDER).render(alert(1)).raw
        sink_ceiling = await ceiling(port, messages, POOL_SIZE, raw)
    finally:
        await pool.close()
        sink.terminate()
        sink.wait()
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            for name in (
                queue,
                parking_queue(queue),
                *(retry_queue(queue, d) for d in RETRY_DELAYS),
            ):
                await channel.queue_delete(name)
    print(f"\nnotifier, {os.cpu_count()} cores, RabbitMQ and an aiosmtpd sink process on loopback")
    print(
        f"notifier (PostgreSQL duplicate check)  {messages:>7,} mails: {with_check:>7,.0f}/s"
        f"   {with_check / seed:5.1f}x the seed's way"
    )
    print(
        f"notifier (in-memory duplicate check)   {messages:>7,} mails: {without_check:>7,.0f}/s"
        f"   {without_check / seed:5.1f}x the seed's way"
    )
    print(f"the seed's way (a connection per mail) {seed_messages:>7,} mails: {seed:>7,.0f}/s")
    print(
        f"the sink's ceiling (bare sockets)       {messages:>7,} mails: {sink_ceiling:>7,.0f}/s"
        f"   the notifier reaches {with_check / sink_ceiling:.0%} of it"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seed-messages", type=int, default=1_000)
    args = parser.parse_args()
    name = f"pricealert_notifierbench_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    database_url = make_conninfo(ADMIN_URL, dbname=name)
    try:
        asyncio.run(migrate(database_url))
        asyncio.run(run(args.messages, args.seed_messages, database_url))
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
