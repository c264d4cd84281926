"""Signed webhooks delivered to a local receiver, beside a naive sender and the receiver's own
ceiling, all in the same run.

The receiver is uvicorn (httptools) serving a tiny ASGI app that reads each body and answers
204, in a process of its own. Reported:

- the notifier as ``pricealert notifier`` wires it: webhook-only fires consumed from RabbitMQ,
  the duplicate check and the record in PostgreSQL, each webhook signed (Standard Webhooks) and
  POSTed on kept-alive connections (``notifier.channels.webhook``);
- the webhook channel alone, without RabbitMQ and PostgreSQL: signing and sending;
- a naive sender, as the typical bot does: one ``requests.post`` at a time, a new connection
  each (measured on 500);
- the receiver's ceiling: wrk (Debian's ``wrk`` package) posting the same signed body over 64
  kept-alive connections, a client that costs next to nothing.

    .venv/bin/python -m benchmarks.webhooks [--fires 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika
import psycopg
import requests
from psycopg.conninfo import make_conninfo

from benchmarks.notifier import ADMIN_URL, RABBITMQ_URL, free_port
from notifier.channels.signing import new_secret, sign
from notifier.channels.webhook import WebhookChannel
from notifier.consumer import Notifier
from notifier.deliveries import DatabaseDeliveryLog
from notifier.sources import RabbitSource
from notifier.webhook_secrets import DatabaseWebhookSecrets
from shared.db import create_pool
from shared.messages import AlertMessage
from shared.migrate import migrate
from shared.rabbit import declare_alert_queue, parking_queue, retry_queue

RETRY_DELAYS = (10.0,)
PREFETCH = 500
CONCURRENCY = 200
SECRET = new_secret()
RECEIVER_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["webhook-id"] = "alert-1-1"
wrk.headers["webhook-timestamp"] = "{timestamp}"
wrk.headers["webhook-signature"] = "{signature}"
"""


def fire(alert_id: int, user_id: int, url: str) -> AlertMessage:
    return AlertMessage(
        alert_id=alert_id,
        user_id=user_id,
        symbol="BTCUSDT",
        trigger_condition="above",
        target_price="50000.00",
        triggered_price="50012.5",
        triggered_at="2026-11-26T12:34:56.789000Z",
        email=None,
        channels={"webhook": {"url": url, "format": "standard"}},
    )


class StaticSecret:
    async def of(self, user_id: int) -> str | None:
        return SECRET


def start_receiver(folder: Path, port: int) -> subprocess.Popen[bytes]:
    (folder / "receiver_app.py").write_text(RECEIVER_APP)
    receiver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "receiver_app:app",
            "--port",
            str(port),
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=folder,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return receiver
        except requests.ConnectionError:
            time.sleep(0.05)
    receiver.kill()
    raise RuntimeError("the receiver did not start")


def ceiling(folder: Path, url: str, seconds: int) -> float:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    body = fire(1, 1, url).to_json()
    timestamp = int(time.time())
    script = folder / "post.lua"
    script.write_text(
        WRK_SCRIPT.format(
            body="[[" + body.decode() + "]]",
            timestamp=timestamp,
            signature=sign(SECRET, "alert-1-1", timestamp, body),
        )
    )
    output = subprocess.run(
        [wrk, "-t1", "-c64", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert match, output
    return float(match.group(1))


def naive(url: str, count: int) -> float:
    """One ``requests.post`` at a time, a new connection each (no session)."""
    started = time.perf_counter()
    for i in range(count):
        body = fire(i, 1, url).to_json()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": f"alert-{i}-1",
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(SECRET, f"alert-{i}-1", timestamp, body),
        }
        response = requests.post(url, data=body, headers=headers, timeout=10)
        assert response.status_code == 204
    return count / (time.perf_counter() - started)


async def channel_alone(url: str, count: int) -> float:
    channel = WebhookChannel(StaticSecret(), timeout_seconds=10, allow_private=True)
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with slots:
            await channel.deliver(fire(i, 1, url))

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    rate = count / (time.perf_counter() - started)
    await channel.close()
    return rate


async def fill_queue(queue: str, fires: list[AlertMessage]) -> None:
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare_alert_queue(channel, queue)
        for start in range(0, len(fires), 1000):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(
                            message.to_json(),
                            content_type="application/json",
                            message_id=message.message_id,
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=queue,
                    )
                    for message in fires[start : start + 1000]
                )
            )


async def notifier_rate(database_url: str, url: str, count: int) -> float:
    queue = f"pricealert_bench_{uuid.uuid4().hex[:8]}"
    pool = create_pool(database_url, size=3, name="bench")
    await pool.open(wait=True)
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "INSERT INTO users (username, password_hash, webhook_secret) VALUES ('b', 'x', %s)"
            " RETURNING id",
            (SECRET,),
        )
        row = await cursor.fetchone()
    assert row is not None
    await fill_queue(queue, [fire(i, row[0], url) for i in range(1, count + 1)])
    channel = WebhookChannel(DatabaseWebhookSecrets(pool), timeout_seconds=10, allow_private=True)
    notifier = Notifier(
        RabbitSource(RABBITMQ_URL, queue, RETRY_DELAYS, prefetch=PREFETCH),
        channels={"webhook": channel},
        deliveries=DatabaseDeliveryLog(pool),
        retry_delays=RETRY_DELAYS,
    )
    try:
        started = time.perf_counter()
        task = asyncio.create_task(notifier.run())
        async with asyncio.timeout(600):
            await notifier.progress.until(lambda: notifier.metrics.value("sent") >= count)
        seconds = time.perf_counter() - started
        notifier.stop()
        await task
    finally:
        await channel.close()
        await pool.close()
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            amqp = await connection.channel()
            left = await amqp.declare_queue(queue, passive=True)
            unacked = left.declaration_result.message_count
            for name in (
                queue,
                parking_queue(queue),
                *(retry_queue(queue, d) for d in RETRY_DELAYS),
            ):
                await amqp.queue_delete(name)
    failed = {o: notifier.metrics.value(o) for o in ("retried", "parked_permanent")}
    assert not any(failed.values()), failed
    assert not unacked, f"{unacked} messages were not acked"
    return count / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fires", type=int, default=20_000)
    parser.add_argument("--naive", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10, help="of wrk, for the ceiling")
    args = parser.parse_args()
    name = f"pricealert_webhookbench_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    database_url = make_conninfo(ADMIN_URL, dbname=name)
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    with tempfile.TemporaryDirectory() as folder:
        receiver = start_receiver(Path(folder), port)
        try:
            asyncio.run(migrate(database_url))
            through_notifier = asyncio.run(notifier_rate(database_url, url, args.fires))
            alone = asyncio.run(channel_alone(url, args.fires))
            one_at_a_time = naive(url, args.naive)
            receiver_ceiling = ceiling(Path(folder), url, args.seconds)
        finally:
            receiver.terminate()
            receiver.wait()
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"\nsigned webhooks, {os.cpu_count()} cores, uvicorn receiver process on loopback")
    rows = [
        ("the notifier (RabbitMQ, PostgreSQL check and record)", args.fires, through_notifier),
        ("the webhook channel alone (sign and send)", args.fires, alone),
        ("naive: requests.post, a new connection each", args.naive, one_at_a_time),
    ]
    for label, count, rate in rows:
        print(
            f"{label:<54} {count:>7,}: {rate:>7,.0f}/s   {rate / one_at_a_time:5.1f}x naive"
            f"   {rate / receiver_ceiling:4.0%} of the receiver's ceiling"
        )
    print(
        f"{'the receiver ceiling (wrk, 64 connections)':<54} {'':>7}  {receiver_ceiling:>7,.0f}/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
