"""From a trade on the (fake) Binance stream to the email accepted by an SMTP server, through
``pricealert up`` on the real PostgreSQL and RabbitMQ: latency per alert, p50 and p99.

1,000 alerts on BTCUSDT, each ``above`` its own target; trades are pushed one at a time, each
crossing exactly one alert, and the clock stops when the SMTP server accepts that alert's mail.
Beside it, in the same run: the same path with nothing but the SMTP hop (the mail of a
pre-rendered message sent on a kept connection), the floor any design pays.

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

from notifier.mail import MailRenderer
from notifier.smtp import SmtpPool
from pricealert.up import Up, run_up
from shared.messages import AlertMessage
from shared.migrate import migrate
from shared.rabbit import parking_queue
from shared.settings import Settings, SmtpSettings
from tests.fake_binance import FakeBinance
from tests.smtp_sink import SmtpSink

ADMIN_URL = os.environ.get(
    "PRICEALERT_TEST_POSTGRES", "postgresql://postgres@localhost:5432/postgres"
)
RABBITMQ_URL = os.environ.get("PRICEALERT_TEST_RABBITMQ", "amqp://guest:guest@localhost:5672/")


def insert_alerts(url: str, count: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (username, password_hash) VALUES ('bench', 'x')")
        conn.execute(
            "INSERT INTO alerts (user_id, symbol, trigger_condition, target_price, email)"
            " SELECT 1, 'BTCUSDT', 'above', 1000 + g, 'bench' || g || '@example.com'"
            " FROM generate_series(0, %s - 1) g",
            (count,),
        )


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[max(0, int(len(sorted_values) * share) - 1)]


async def pipeline_latencies(database_url: str, queue: str, count: int) -> list[float]:
    sink = SmtpSink()
    sink.start()
    fake = FakeBinance()
    await fake.start()
    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": RABBITMQ_URL,
            "RABBITMQ_QUEUE": queue,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port),
            "JWT_SECRET": uuid.uuid4().hex * 2,
            "LOG_LEVEL": "WARNING",
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
            await sink.wait_for(i + 1)
            latencies.append(sink.accepted_at[i] - pushed)
        up.stop()
        await task
    await fake.close()
    sink.stop()
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


async def run(count: int) -> None:
    name = f"pricealert_e2e_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(ADMIN_URL, dbname=name)
    queue = f"pricealert_bench_{uuid.uuid4().hex[:8]}"
    try:
        await migrate(url)
        insert_alerts(url, count)
        latencies = sorted(await pipeline_latencies(url, queue, count))
        floor = sorted(await smtp_floor(count))
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            for queue_name in (queue, parking_queue(queue)):
                await channel.queue_delete(queue_name)
    print(f"\nend to end, {os.cpu_count()} cores: {count:,} alerts, each crossed by its own trade")
    for label, values in (
        ("trade -> mail accepted (pricealert up)", latencies),
        ("the SMTP hop alone (floor)", floor),
    ):
        print(
            f"{label:<40} p50 {statistics.median(values) * 1000:7.2f} ms"
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
