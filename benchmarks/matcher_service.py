"""The whole matcher (book, claim, confirmed publish) against the real PostgreSQL and RabbitMQ.

Each figure comes with a baseline measured in the same run:

- start-up: loading 1,000,000 alerts into the book, beside merely reading the same rows;
- quiet ticks through the service, beside the same feed loop with no matching at all, and beside
  the tick without its price slot (``matcher.prices``: what keeping each symbol's last price and
  minute costs the tick path), alternated over several rounds, the best of each; and one flush of
  the prices of every symbol, the statement the writer sends once a second;
- one tick firing 100,000 repeating alerts: fires claimed (each a new row of ``alert_fires``,
  the alert staying live) and confirmed per second, beside the seed's way (one UPDATE and one
  publish, each awaited, per alert; measured on 2,000 alerts) and beside the broker's own
  ceiling (``benchmarks/amqp_ceiling.py``: the same number of messages pre-encoded and written
  in one go by a bare client);
- tick-to-confirm latency of single crossings at low load (p50, p99).

    .venv/bin/python -m benchmarks.matcher_service [--alerts 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import types
import uuid
from collections.abc import AsyncIterator, Callable

import aio_pika
import orjson
import psycopg

from benchmarks.amqp_ceiling import ceiling
from benchmarks.book import Database, new_alerts
from matcher import store
from matcher.publisher import RabbitPublisher
from matcher.service import Matcher
from matcher.tick import Tick
from shared.messages import V1_FIELDS, AlertMessage
from shared.rabbit import declare_alert_queue, parking_queue
from shared.settings import Shard

RABBITMQ_URL = os.environ.get("PRICEALERT_TEST_RABBITMQ", "amqp://guest:guest@localhost:5672/")
BIG = "BIGCROSSUSDT"  # 100,000 alerts crossed by one tick
SINGLE = "ONEBYONEUSDT"  # alerts crossed one per tick
SAMPLE_BODY = AlertMessage(
    alert_id=1_000_001,
    user_id=1,
    symbol=BIG,
    trigger_condition="above",
    target_price="1.000001",
    triggered_price="10",
    triggered_at="2026-11-25T12:00:00.123456Z",
    email="big@example.com",
    frequency="repeat",
    cooldown_seconds=3600,
    channels={"email": "big@example.com"},
).to_json()
Trade = tuple[str, float, int]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def ticks_of(trades: list[Trade]) -> AsyncIterator[Trade]:
    for trade in trades:
        yield trade


def trade_without_prices(
    self: Tick, symbol: str, price: float, quantity: float, time_ms: int
) -> bool:
    """``Tick.trade`` as it was before it kept prices: the baseline of the price slot's cost.
    The same body, less the slot."""
    self.count += 1
    if self.gap is not None:
        self.gap.see(symbol, price, time_ms)
    fired = self.book.match(symbol, price, time_ms)
    if fired:
        self.offer(symbol, fired, price, time_ms)
        return True
    return False


async def quiet_pass(matcher: Matcher, trades: list[Trade], *, prices: bool) -> float:
    """Seconds for ``trades`` through the matcher's own tick loop, with the price slot or
    without it."""
    tick = matcher._tick
    if not prices:
        tick.trade = types.MethodType(trade_without_prices, tick)
    try:
        started = time.perf_counter()
        await tick.run(ticks_of(trades), matcher)
        return time.perf_counter() - started
    finally:
        if not prices:
            del tick.trade


def record_price(matcher: Matcher, symbol: str, price: float, time_ms: int) -> None:
    """A trade into its symbol's price slot alone, as ``Matcher.trade`` records it."""
    minute = matcher.prices.minutes.get(symbol)
    if minute is None or time_ms >= minute.end_ms:
        matcher.prices.open_minute(symbol, price, time_ms)
        return
    minute.close, minute.at_ms = price, time_ms
    minute.high, minute.low = max(minute.high, price), min(minute.low, price)


async def bare_feed(trades: list[Trade]) -> float:
    """The floor: the same async iteration, nothing done per tick. Seconds."""
    started = time.perf_counter()
    count = 0
    async for _ in ticks_of(trades):
        count += 1
    return time.perf_counter() - started


def prepare(database: Database, alerts_count: int, big: int, single: int) -> None:
    alerts = new_alerts(seed=1)
    alerts.extend(alerts_count, random.Random(7))
    database.fill(alerts)
    conn = database.conn
    conn.execute("INSERT INTO symbols (symbol) VALUES (%s), (%s)", (BIG, SINGLE))
    first_id = alerts_count + 1
    conn.execute(
        "INSERT INTO alerts (id, user_id, symbol, trigger_condition, target_price, channels,"
        " frequency, cooldown_seconds) OVERRIDING SYSTEM VALUE"
        " SELECT %s + g, 1, %s, 'above', round(1 + g * 0.000001, 6),"
        " jsonb_build_object('email', 'big@example.com'), 'repeat', 3600"
        " FROM generate_series(0, %s - 1) g",
        (first_id, BIG, big),
    )
    conn.execute(
        "INSERT INTO alerts (id, user_id, symbol, trigger_condition, target_price, channels)"
        " OVERRIDING SYSTEM VALUE"
        " SELECT %s + g, 1, %s, 'above', 100 + g, jsonb_build_object('email', 'one@example.com')"
        " FROM generate_series(0, %s - 1) g",
        (first_id + big, SINGLE, single),
    )
    conn.execute(
        "SELECT setval(pg_get_serial_sequence('alerts', 'id'), %s)", (first_id + big + single,)
    )
    conn.execute("ALTER TABLE alerts ENABLE TRIGGER USER")
    conn.execute("VACUUM ANALYZE alerts")


def raw_read_seconds(url: str) -> tuple[int, float]:
    """The floor of a start-up: the same query through a server-side cursor, rows discarded."""
    started = time.perf_counter()
    count = 0
    with psycopg.connect(url) as conn, conn.cursor("raw") as cursor:
        cursor.itersize = 20_000
        cursor.execute(store.LOAD_SHARD, (store.owned_buckets(Shard(0, 1)),))
        for _ in cursor:
            count += 1
    return count, time.perf_counter() - started


async def seed_way(url: str, queue: str, count: int) -> float:
    """Alerts per second the seed's way: for each alert, one UPDATE and one confirmed publish,
    each awaited before the next."""
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection, await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        channel = await connection.channel(publisher_confirms=True)
        await declare_alert_queue(channel, queue)
        cursor = await conn.execute(
            "SELECT id FROM alerts WHERE state = 'created' AND symbol <> %s AND symbol <> %s"
            " LIMIT %s",
            (BIG, SINGLE, count),
        )
        ids = [row[0] for row in await cursor.fetchall()]
        started = time.perf_counter()
        for alert_id in ids:
            cursor = await conn.execute(
                "UPDATE alerts SET state = 'triggered', triggered_at = now(), triggered_price = 1,"
                " fire_count = 1 WHERE id = %s AND state = 'created'"
                " RETURNING id, user_id, symbol, trigger_condition, target_price, triggered_price,"
                " triggered_at, channels ->> 'email'",
                (alert_id,),
            )
            row = await cursor.fetchone()
            assert row is not None
            body = orjson.dumps(dict(zip(V1_FIELDS, row, strict=True)), default=str)
            await channel.default_exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=queue,
            )
        return len(ids) / (time.perf_counter() - started)


class SteppedFeed:
    """Ticks handed over one at a time, so the latency of each can be taken alone."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Trade | None] = asyncio.Queue()

    def push(self, trade: Trade | None) -> None:
        self._queue.put_nowait(trade)

    async def __aiter__(self) -> AsyncIterator[Trade]:
        while (trade := await self._queue.get()) is not None:
            yield trade


async def until(matcher: Matcher, condition: Callable[[], bool]) -> None:
    await matcher.progress.until(condition)


async def run(args: argparse.Namespace, database: Database) -> None:
    queue = f"pricealert_bench_{uuid.uuid4().hex[:8]}"
    publisher = RabbitPublisher(RABBITMQ_URL, queue)
    await publisher.open()
    try:
        print(
            f"preparing {args.alerts:,} + {args.big:,} + {args.single:,} alerts ...",
            file=sys.stderr,
        )
        prepare(database, args.alerts, args.big, args.single)
        total = args.alerts + args.big + args.single
        raw_count, raw_seconds = raw_read_seconds(database.url)

        matcher = Matcher(database.url, Shard(0, 1), publisher)
        feed = SteppedFeed()
        started = time.perf_counter()
        task = asyncio.create_task(matcher.run(feed))
        await matcher.ready.wait()
        ready_seconds = time.perf_counter() - started
        loaded, load_seconds = matcher.last_load
        assert loaded == len(matcher.book) == total, (loaded, len(matcher.book), total)

        # Quiet ticks, in the tick loop itself (the same loop body as Tick.run):
        # with the price slot and without it, alternated, the best of each.
        quiet = new_alerts(seed=1).quiet_ticks(args.ticks, random.Random(3))
        floor_seconds = await bare_feed(quiet)
        with_prices, without_prices = [], []
        for _ in range(args.rounds):
            without_prices.append(await quiet_pass(matcher, quiet, prices=False))
            with_prices.append(await quiet_pass(matcher, quiet, prices=True))
        quiet_seconds, unpriced_seconds = min(with_prices), min(without_prices)
        # A flush of every symbol's last price and minute: the writer's statement of a second
        # in which every symbol traded (after one that wrote the minute's first trades). The
        # trades go to the price slots alone, as the tick would record them (through the book
        # they would cross its alerts).
        quiet_prices = {symbol: price for symbol, price, _ in quiet}
        flush_seconds = []
        for step in range(4):
            for symbol, price in quiet_prices.items():
                record_price(matcher, symbol, price * (1 + step / 1000), now_ms())
            started = time.perf_counter()
            assert await matcher.price_writer.flush()
            flush_seconds.append(time.perf_counter() - started)

        # Single crossings, one after the other, at low load: before the big crossing fills
        # the (unconsumed) queue with 100,000 persistent messages.
        latencies = []
        for i in range(args.single):
            started = time.perf_counter()
            before = matcher.pipeline.counters.published
            feed.push((SINGLE, 100.0 + i, now_ms()))
            await until(matcher, lambda: matcher.pipeline.counters.published > before)  # noqa: B023
            latencies.append(time.perf_counter() - started)
        # One tick crossing the whole BIG run.
        started = time.perf_counter()
        published = matcher.pipeline.counters.published
        feed.push((BIG, 10.0, now_ms()))
        await until(matcher, lambda: matcher.pipeline.counters.published >= published + args.big)
        big_seconds = time.perf_counter() - started
        assert matcher.pipeline.counters.published >= args.big

        feed.push(None)
        await task
        seed_rate = await seed_way(database.url, queue, args.seed_alerts)
        ceiling_rate = await ceiling(RABBITMQ_URL, f"{queue}_ceiling", args.big, SAMPLE_BODY)
    finally:
        await publisher.close()
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)
            await channel.queue_delete(parking_queue(queue))
        database.drop()

    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    big_rate = args.big / big_seconds
    load_rate = total / load_seconds
    print(f"\nmatcher service, {os.cpu_count()} cores, real PostgreSQL and RabbitMQ on loopback")
    print(
        f"start-up load   {total:>11,} alerts in {load_seconds:6.2f} s = {load_rate:>11,.0f}"
        f" alerts/s   (reading the rows alone: {raw_count / raw_seconds:,.0f} rows/s,"
        f" {raw_seconds / load_seconds:.2f}x)"
    )
    print(
        f"                ready to match after {ready_seconds:6.2f} s (pool, LISTEN, the load,"
        " the notifications that came meanwhile, the first republish pass)"
    )
    print(
        f"quiet ticks     {args.ticks:>11,} ticks  in {quiet_seconds:6.2f} s = "
        f"{args.ticks / quiet_seconds:>11,.0f} ticks/s    (the bare feed loop: "
        f"{args.ticks / floor_seconds:,.0f} ticks/s, {floor_seconds / quiet_seconds:.2f}x)"
    )
    median_with, median_without = statistics.median(with_prices), statistics.median(without_prices)
    print(
        f"                without the price slot: {args.ticks / unpriced_seconds:,.0f} ticks/s;"
        f" with it {unpriced_seconds / quiet_seconds:.2f}x of that, "
        f"{(quiet_seconds - unpriced_seconds) / args.ticks * 1e9:+.0f} ns a tick"
        f" (best of {args.rounds} alternated rounds each; medians"
        f" {median_without / median_with:.2f}x,"
        f" {(median_with - median_without) / args.ticks * 1e9:+.0f} ns a tick)"
    )
    rounds_with = ", ".join(f"{args.ticks / s / 1e6:.2f}" for s in with_prices)
    rounds_without = ", ".join(f"{args.ticks / s / 1e6:.2f}" for s in without_prices)
    print(f"                rounds, M ticks/s: with {rounds_with}; without {rounds_without}")
    print(
        f"price flush     {len(quiet_prices):>11,} symbols' last price and minute in one statement:"
        f" {statistics.median(flush_seconds[1:]) * 1000:.1f} ms (the minute's first:"
        f" {flush_seconds[0] * 1000:.1f} ms), once a second"
    )
    print(
        f"one tick, many  {args.big:>11,} alerts in {big_seconds:6.2f} s = {big_rate:>11,.0f}"
        f" repeat fires claimed+confirmed/s   (the seed's way: {seed_rate:,.0f}/s;"
        f" {big_rate / seed_rate:,.0f}x)"
    )
    print(
        f"                the broker's ceiling: {ceiling_rate:,.0f} confirmed messages/s"
        f" from a bare pre-encoded client; the service reaches {big_rate / ceiling_rate:.0%}"
    )
    print(
        f"single crossing {args.single:>11,} ticks  tick-to-confirm p50 {p50:.2f} ms,"
        f" p99 {p99:.2f} ms, max {latencies[-1] * 1000:.2f} ms"
    )
    print(f"publish confirms observed: {matcher.pipeline.counters.published:,}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=500)
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=9, help="quiet-tick rounds of each")
    parser.add_argument("--seed-alerts", type=int, default=2_000)
    database = Database()  # migrates with its own event loop: before ours starts
    asyncio.run(run(parser.parse_args(), database))
    return 0


if __name__ == "__main__":
    sys.exit(main())
