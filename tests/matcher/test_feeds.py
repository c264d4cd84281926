"""The in-process feeds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from psycopg_pool import AsyncConnectionPool

from matcher.book import AlertBook, BookRow
from matcher.exchanges.binance import BINANCE
from matcher.feeds import QueueFeed, ReplayFeed, SimulatedFeed, tick_decimals
from matcher.publisher import RabbitPublisher
from matcher.service import Matcher
from shared.settings import Shard
from shared.version import Version
from tests.matcher.helpers import alert_row, insert_alert, level_row, received


async def test_replay_reads_raw_and_combined_trades_and_skips_the_rest(tmp_path: Path) -> None:
    lines = [
        orjson.dumps({"e": "trade", "s": "BTCUSDT", "p": "50000.10000000", "T": 1_000}),
        orjson.dumps(
            {
                "stream": "ethusdt@aggTrade",
                "data": {"e": "aggTrade", "s": "ETHUSDT", "p": "3000.5", "E": 2_000},
            }
        ),
        b"not json",
        orjson.dumps({"result": None, "id": 1}),
        orjson.dumps({"s": "BTCUSDT", "p": "-1"}),
        orjson.dumps({"s": "BTCUSDT", "p": "abc"}),
        orjson.dumps({"s": "SOLUSDT", "p": 150.25}),
    ]
    path = tmp_path / "trades.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    feed = ReplayFeed(str(path), BINANCE.recorded_trade)
    before = time.time_ns() // 1_000_000
    trades = [trade async for trade in feed]
    # At the trade's time T, or its event's time E, or (with neither) when it was read.
    assert trades[:2] == [("BTCUSDT", 50000.1, 1_000), ("ETHUSDT", 3000.5, 2_000)]
    symbol, price, read_at = trades[2]
    assert (symbol, price) == ("SOLUSDT", 150.25)
    assert read_at >= before
    assert (feed.replayed, feed.skipped) == (3, 4)


async def test_queue_feed_delivers_in_order_and_ends_on_close() -> None:
    feed = QueueFeed()
    feed.push("BTCUSDT", 1.0, 10)
    feed.push("ETHUSDT", 2.0, 20)
    feed.close()
    assert [trade async for trade in feed] == [("BTCUSDT", 1.0, 10), ("ETHUSDT", 2.0, 20)]
    await feed.processed()  # every trade handed out was taken back: nothing left pending


class BookSink:
    """A book ticked by the simulation, recording what crossed."""

    def __init__(self, book: AlertBook) -> None:
        self.book = book
        self.crossed: list[int] = []
        self.prices: list[float] = []
        self.ticked = Version()

    def tick(self, symbol: str, price: float, time_ms: int) -> bool:
        self.prices.append(price)
        fired = self.book.match(symbol, price, time_ms)
        self.crossed += fired
        self.ticked.bump()
        return bool(fired)

    def add(self, row: BookRow) -> None:
        """An alert entering the book, as the sync adds one."""
        self.book.add(row)

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(10):
            await self.ticked.until(condition)

    def symbols(self) -> list[str]:
        return list(self.book.symbols)

    def nearest(self, symbol: str) -> tuple[float, float]:
        return self.book.nearest(symbol)

    def lowest_undecided(self, symbol: str) -> float:
        return self.book.lowest_undecided(symbol)


async def test_the_simulation_walks_from_between_the_targets_until_they_fire() -> None:
    book = AlertBook()
    book.load([level_row(1, "SIMUSDT", "above", 101.0), level_row(2, "SIMUSDT", "below", 99.0)])
    sink = BookSink(book)
    feed = SimulatedFeed(interval_seconds=0, volatility=0.01, seed=7)
    task = asyncio.create_task(feed.drive(sink))
    await sink.until(lambda: len(sink.crossed) == 2)
    feed.stop()
    await task
    assert sorted(sink.crossed) == [1, 2]
    assert 99 < sink.prices[0] < 101  # it started between the targets
    assert not book.symbols  # nothing left: the symbol is no longer walked


async def test_a_one_sided_book_starts_a_step_short_of_its_target() -> None:
    book = AlertBook()
    book.load([level_row(1, "UPUSDT", "above", 200.0)])
    sink = BookSink(book)
    feed = SimulatedFeed(interval_seconds=0, volatility=1e-9, seed=1)
    task = asyncio.create_task(feed.drive(sink))
    await sink.until(lambda: bool(sink.prices))
    feed.stop()
    await task
    assert sink.prices[0] == pytest.approx(198.0)
    assert sink.crossed == []


async def test_a_crossing_alert_far_from_100_on_a_new_symbol_fires() -> None:
    book = AlertBook()
    book.load([level_row(1, "XRPUSDT", "crossing", 2.5)])
    sink = BookSink(book)
    feed = SimulatedFeed(interval_seconds=0, volatility=0.005, seed=11)
    task = asyncio.create_task(feed.drive(sink))
    await sink.until(lambda: sink.crossed == [1])
    feed.stop()
    await task
    # It started 1% short of the target: the first price decided a crossing upwards.
    assert sink.prices[0] == pytest.approx(2.475, rel=0.02)
    assert book.take_references() == [(1, sink.prices[0])]
    assert sink.prices[-1] >= 2.5


async def test_a_symbol_that_left_the_book_starts_again_near_its_new_alerts() -> None:
    book = AlertBook()
    book.load([level_row(1, "ETHUSDT", "above", 101.0), level_row(2, "ETHUSDT", "below", 99.0)])
    sink = BookSink(book)
    feed = SimulatedFeed(interval_seconds=0, volatility=0.01, seed=7)
    task = asyncio.create_task(feed.drive(sink))
    await sink.until(lambda: len(sink.crossed) == 2)
    assert not book.symbols
    walked = len(sink.prices)
    sink.add(level_row(3, "ETHUSDT", "crossing", 2500.0))
    await sink.until(lambda: sink.crossed[2:] == [3])
    feed.stop()
    await task
    assert sink.prices[walked] == pytest.approx(2475, rel=0.02)


@pytest.mark.usefixtures("clean_tables")
async def test_a_matcher_on_the_simulation_fires_a_crossing_alert_created_far_from_100(
    pool: AsyncConnectionPool, database_url: str, rabbitmq_url: str, queue_name: str
) -> None:
    publisher = RabbitPublisher(rabbitmq_url, queue_name)
    await publisher.open()
    matcher = Matcher(database_url, Shard(0, 1), publisher)
    feed = SimulatedFeed(interval_seconds=0, volatility=0.005, seed=11)
    task = asyncio.create_task(matcher.run(feed))
    try:
        async with asyncio.timeout(30):
            await matcher.ready.wait()
            # Created while the matcher runs, on a symbol nobody followed: as the API does.
            alert = await insert_alert(pool, "XRPUSDT", "crossing", "2.5")
            await matcher.progress.until(lambda: matcher.figures().published >= 1)
    finally:
        matcher.stop()
        await asyncio.wait_for(task, 30)
        await publisher.close()
    (message,) = await received(rabbitmq_url, queue_name)
    assert message["alert_id"] == alert
    assert 2.5 <= float(message["triggered_price"]) < 2.6
    assert await alert_row(pool, alert) == ("triggered", message["triggered_price"], True)
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT reference_price FROM alerts WHERE id = %s", (alert,))
        (reference,) = await cursor.fetchone() or (None,)
    assert 2.4 < reference < 2.5  # it started below the target: a crossing upwards


async def test_simulated_prices_are_rounded_to_a_tick_of_seven_digits() -> None:
    book = AlertBook()
    book.load(
        [level_row(1, "BTCUSDT", "above", 101_383.6), level_row(2, "TINYUSDT", "above", 0.00012345)]
    )
    sink = BookSink(book)
    feed = SimulatedFeed(interval_seconds=0, volatility=0.001, seed=3)
    task = asyncio.create_task(feed.drive(sink))
    await sink.until(lambda: len(sink.prices) >= 20)
    feed.stop()
    await task
    decimals = {len(repr(price).partition(".")[2]) for price in sink.prices}
    assert max(decimals) <= 8
    assert all(p == round(p, 1) for p in sink.prices if p > 1000)  # 100,000s: steps of 0.1


@pytest.mark.parametrize(
    ("price", "decimals"), [(50_000.0, 2), (2.5, 6), (0.00012345, 8), (3e9, 0)]
)
def test_the_tick_keeps_seven_significant_digits(price: float, decimals: int) -> None:
    assert tick_decimals(price) == decimals
