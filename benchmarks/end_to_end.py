"""From a trade on the (fake) Binance stream to the email accepted by an SMTP server, and to
the signed webhook received by an HTTP server, through ``pricealert up`` on the real PostgreSQL
and RabbitMQ: latency per alert, p50 and p99.

1,000 alerts on BTCUSDT, each ``above`` its own target; trades are pushed one at a time, each
crossing exactly one alert, and the clock stops when the SMTP server accepts that alert's mail
(or the webhook receiver has its request's body: the receiver is ``tests.webhook_receiver``,
which checks each signature). Beside each, in the same run, the floor any design pays: the hop
alone (a pre-rendered mail on a kept connection; a webhook signed and POSTed by the channel on a
kept connection), one at a time.

    .venv/bin/python -m benchmarks.end_to_end [--alerts 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import aio_pika
import psycopg
from psycopg.conninfo import make_conninfo

from notifier.channels.signing import new_secret
from notifier.channels.webhook import WebhookChannel
from notifier.mail import MailRenderer
from notifier.smtp import SmtpPool
from pricealert.up import Up, run_up
from shared.messages import AlertMessage
from shared.migrate import migrate
from shared.rabbit import parking_queue
from shared.settings import Settings, SmtpSettings
from tests.fake_binance import FakeBinance
from tests.smtp_sink import SmtpSink
from tests.webhook_receiver import WebhookReceiver

ADMIN_URL = os.environ.get(
    "PRICEALERT_TEST_POSTGRES", "postgresql://postgres@localhost:5432/postgres"
)
RABBITMQ_URL = os.environ.get("PRICEALERT_TEST_RABBITMQ", "amqp://guest:guest@localhost:5672/")


def insert_alerts(url: str, count: int, webhook: tuple[str, str] | None = None) -> None:
    """``count`` alerts above 1000, 1001, ...: mailed, or with ``webhook`` (URL, the user's
    secret) posted there instead."""
    url_of, secret = webhook if webhook else (None, None)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (username, password_hash, webhook_secret) VALUES ('bench', 'x', %s)",
            (secret,),
        )
        conn.execute(
            "INSERT INTO alerts (user_id, symbol, trigger_condition, target_price, channels)"
            " SELECT 1, 'BTCUSDT', 'above', 1000 + g,"
            " CASE WHEN %s::text IS NULL"
            "      THEN jsonb_build_object('email', 'bench' || g || '@example.com')"
            "      ELSE jsonb_build_object('webhook',"
            "           jsonb_build_object('url', %s::text, 'format', 'standard'))"
            " END FROM generate_series(0, %s - 1) g",
            (url_of, url_of, count),
        )


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[max(0, int(len(sorted_values) * share) - 1)]


class Arrivals:
    """Where the alerts arrive, and when the ``n``-th did (perf_counter)."""

    def __init__(self, sink: SmtpSink | None, receiver: WebhookReceiver | None) -> None:
        self.sink, self.receiver = sink, receiver

    async def nth(self, n: int) -> float:
        if self.receiver is not None:
            received = await self.receiver.wait_for(n, timeout=60)
            return received[n - 1].perf
        assert self.sink is not None
        await self.sink.wait_for(n)
        return self.sink.accepted_at[n - 1]


async def pipeline_latencies(
    database_url: str, queue: str, count: int, arrivals: Arrivals, smtp_port: int
) -> list[float]:
    fake = FakeBinance()
    await fake.start()
    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": RABBITMQ_URL,
            "RABBITMQ_QUEUE": queue,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "JWT_SECRET": uuid.uuid4().hex * 2,
            "LOG_LEVEL": "WARNING",
            "WEBHOOK_ALLOW_PRIVATE": "true",
        }
    )
    settings = replace(settings, binance_ws_url=fake.url, binance_rest_url=fake.rest_url)
    started: asyncio.Future[Up] = asyncio.get_running_loop().create_future()
    with tempfile.TemporaryDirectory() as data_dir:
        task = asyncio.create_task(
            run_up(settings, data_dir=Path(data_dir), port=0, on_ready=started.set_result)
        )
        up = await asyncio.wait_for(started, 60)
        await fake.until(lambda: "btcusdt@aggTrade" in fake.subscribed())
        latencies = []
        for i in range(count):
            pushed = time.perf_counter()
            fake.trade("BTCUSDT", f"{1000 + i}.00")
            latencies.append(await arrivals.nth(i + 1) - pushed)
        up.stop()
        await task
    await fake.close()
    return latencies


async def smtp_floor(count: int) -> list[float]:
    """The SMTP hop alone: a rendered mail on a kept connection, one at a time."""
    sink = SmtpSink()
    sink.start()
    pool = SmtpPool(SmtpSettings(host="127.0.0.1", port=sink.port, pool_size=1))
    renderer = MailRenderer("bench@pricealert.local")
    latencies = []
    for i in range(count):
        message = AlertMessage(
            i + 1, 1, "BTCUSDT", "above", "1000", "1000", "2026-11-25T00:00:00Z", "a@example.com"
        )
        mail = renderer.render(message)
        started = time.perf_counter()
        await pool.send(mail)
        latencies.append(time.perf_counter() - started)
    await pool.close()
    sink.stop()
    return latencies


async def webhook_floor(url: str, count: int) -> list[float]:
    """The webhook hop alone: signed and POSTed by the channel on a kept connection."""

    class Secret:
        async def of(self, user_id: int) -> str | None:
            return SECRET

    channel = WebhookChannel(Secret(), timeout_seconds=10, allow_private=True)
    latencies = []
    for i in range(count):
        message = AlertMessage(
            i + 1,
            1,
            "BTCUSDT",
            "above",
            "1000",
            "1000",
            "2026-11-25T00:00:00Z",
            None,
            channels={"webhook": {"url": url, "format": "standard"}},
        )
        started = time.perf_counter()
        await channel.deliver(message)
        latencies.append(time.perf_counter() - started)
    await channel.close()
    return latencies


SECRET = new_secret()


async def through_up(count: int, channel: str) -> list[float]:
    """Trade to arrival latencies of ``count`` alerts on ``channel``, in a database and queue
    of their own."""
    name = f"pricealert_e2e_{channel}_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(ADMIN_URL, dbname=name)
    queue = f"pricealert_bench_{uuid.uuid4().hex[:8]}"
    sink = SmtpSink()
    sink.start()
    receiver = WebhookReceiver(secret=SECRET) if channel == "webhook" else None
    try:
        await migrate(url)
        if receiver is not None:
            await receiver.start()
            insert_alerts(url, count, (f"{receiver.url}/hook", SECRET))
        else:
            insert_alerts(url, count)
        arrivals = Arrivals(None if receiver else sink, receiver)
        latencies = await pipeline_latencies(url, queue, count, arrivals, sink.port)
        if receiver is not None:
            unverified = [r.error for r in receiver.received if not r.verified]
            assert not unverified, unverified[:3]
    finally:
        sink.stop()
        if receiver is not None:
            await receiver.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            amqp = await connection.channel()
            for queue_name in (queue, parking_queue(queue)):
                await amqp.queue_delete(queue_name)
    return sorted(latencies)


async def run(count: int) -> None:
    mail = await through_up(count, "email")
    mail_floor = sorted(await smtp_floor(count))
    webhook = await through_up(count, "webhook")
    async with WebhookReceiver(secret=SECRET) as receiver:
        hook_floor = sorted(await webhook_floor(f"{receiver.url}/hook", count))
    print(f"\nend to end, {os.cpu_count()} cores: {count:,} alerts, each crossed by its own trade")
    for label, values in (
        ("trade -> mail accepted (pricealert up)", mail),
        ("the SMTP hop alone (floor)", mail_floor),
        ("trade -> webhook received (pricealert up)", webhook),
        ("the webhook hop alone (floor)", hook_floor),
    ):
        print(
            f"{label:<42} p50 {statistics.median(values) * 1000:7.2f} ms"
            f"   p99 {percentile(values, 0.99) * 1000:7.2f} ms"
            f"   max {values[-1] * 1000:7.2f} ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1000)
    asyncio.run(run(parser.parse_args().alerts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
