"""The prices a matcher replica writes (matcher.prices): trades through ``Matcher.tick`` itself,
flushed by the writer into the real PostgreSQL. One statement a flush; minutes merged across
flushes, minutes and restarts; the week pruned; a database outage costs nothing but time; the
last prices flushed at stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from matcher.feeds import QueueFeed
from matcher.prices import PriceRecorder, PriceWriter
from matcher.service import Matcher
from shared.db import GatedPool, create_pool
from shared.messages import AlertMessage
from shared.settings import Shard
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.usefixtures("clean_tables")
WAIT = 10.0
MINUTE = 60_000
# A whole minute, an hour ago: minutes are kept by the clock, so trades must be recent.
T0 = (int(datetime.now(UTC).timestamp()) // 60 - 60) * MINUTE


class NoPublisher:
    async def publish(self, messages: Sequence[AlertMessage]) -> list[tuple[int, int]]:
        raise AssertionError("nothing fires in these tests")


class CountingConnection:
    """A pooled connection that counts the statements sent through it."""

    def __init__(self, conn: Any, pool: CountingPool) -> None:
        self._conn = conn
        self._pool = pool

    async def execute(self, query: Any, params: Any = None) -> Any:
        self._pool.statements += 1
        return await self._conn.execute(query, params)


class CountingPool:
    """The test's pool, counting every statement the writer sends."""

    def __init__(self, pool: GatedPool) -> None:
        self._pool = pool
        self.statements = 0

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[CountingConnection]:
        async with self._pool.connection() as conn:
            yield CountingConnection(conn, self)


def ticking_matcher(database_url: str) -> Matcher:
    """A matcher that is not run: its ``tick`` is the tick path, with an empty book."""
    return Matcher(database_url, Shard(0, 1), NoPublisher())


def written(matcher: Matcher, symbol: str) -> bool:
    """Whether the symbol's current minute has been written as it stands."""
    minute = matcher.prices.minutes.get(symbol)
    return minute is not None and minute.written == minute.state()


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def last_prices(pool: AsyncConnectionPool) -> dict[str, tuple[str, datetime]]:
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT symbol, price::text, at FROM prices")
        return {symbol: (price, when) for symbol, price, when in await cursor.fetchall()}


async def minutes(pool: AsyncConnectionPool, symbol: str) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT minute, open::text, high::text, low::text, close::text FROM price_minutes"
            " WHERE symbol = %s ORDER BY minute",
            (symbol,),
        )
        return list(await cursor.fetchall())


@pytest.fixture
def counting(pool: GatedPool) -> CountingPool:
    return CountingPool(pool)


def writer_of(matcher: Matcher, counting: CountingPool, **options: Any) -> PriceWriter:
    return PriceWriter(counting, matcher.prices, **options)  # type: ignore[arg-type]


async def test_one_statement_a_flush_writes_the_last_prices_and_the_minute(
    database_url: str, pool: AsyncConnectionPool, counting: CountingPool
) -> None:
    matcher = ticking_matcher(database_url)
    writer = writer_of(matcher, counting)
    for offset, price in [(1_000, 100.0), (2_000, 105.5), (3_000, 95.25), (4_000, 101.0)]:
        matcher.tick("BTCUSDT", price, T0 + offset)
    matcher.tick("ETHUSDT", 0.00000123, T0 + 5_000)

    assert await writer.flush()
    assert counting.statements == 1
    assert await last_prices(pool) == {
        "BTCUSDT": ("101", at(T0 + 4_000)),
        "ETHUSDT": ("0.00000123", at(T0 + 5_000)),
    }
    assert await minutes(pool, "BTCUSDT") == [(at(T0), "100", "105.5", "95.25", "101")]

    assert await writer.flush()  # nothing new (and the prune was done): no statement at all
    assert counting.statements == 1


async def test_a_minute_is_merged_across_flushes_and_closed_when_the_next_begins(
    database_url: str, pool: AsyncConnectionPool, counting: CountingPool
) -> None:
    matcher = ticking_matcher(database_url)
    writer = writer_of(matcher, counting)
    matcher.tick("BTCUSDT", 100.0, T0 + 1_000)
    matcher.tick("BTCUSDT", 102.0, T0 + 2_000)
    await writer.flush()
    matcher.tick("BTCUSDT", 110.0, T0 + 30_000)  # a new high, same minute
    matcher.tick("BTCUSDT", 99.0, T0 + 59_999)  # a new low, its last millisecond
    await writer.flush()
    assert await minutes(pool, "BTCUSDT") == [(at(T0), "100", "110", "99", "99")]

    # The next minute begins; then two minutes pass between two flushes.
    matcher.tick("BTCUSDT", 98.0, T0 + MINUTE)
    matcher.tick("BTCUSDT", 97.0, T0 + MINUTE + 1)
    await writer.flush()
    matcher.tick("BTCUSDT", 97.5, T0 + MINUTE + 2)
    matcher.tick("BTCUSDT", 120.0, T0 + 2 * MINUTE + 10)
    matcher.tick("BTCUSDT", 121.0, T0 + 2 * MINUTE + 20)
    matcher.tick("BTCUSDT", 90.0, T0 + 3 * MINUTE)
    await writer.flush()
    assert counting.statements == 4
    assert await minutes(pool, "BTCUSDT") == [
        (at(T0), "100", "110", "99", "99"),
        (at(T0 + MINUTE), "98", "98", "97", "97.5"),
        (at(T0 + 2 * MINUTE), "120", "121", "120", "121"),
        (at(T0 + 3 * MINUTE), "90", "90", "90", "90"),
    ]
    assert await last_prices(pool) == {"BTCUSDT": ("90", at(T0 + 3 * MINUTE))}


async def test_a_restarted_replica_keeps_the_minutes_open_and_merges_the_rest(
    database_url: str, pool: AsyncConnectionPool, counting: CountingPool
) -> None:
    before = ticking_matcher(database_url)
    matcher = ticking_matcher(database_url)
    before.tick("BTCUSDT", 100.0, T0 + 1_000)
    before.tick("BTCUSDT", 101.0, T0 + 2_000)
    await writer_of(before, counting).flush()
    matcher.tick("BTCUSDT", 99.5, T0 + 40_000)  # the same minute, after a restart
    await writer_of(matcher, counting).flush()
    assert await minutes(pool, "BTCUSDT") == [(at(T0), "100", "101", "99.5", "99.5")]


async def test_a_last_price_never_goes_back_in_time(
    database_url: str, pool: AsyncConnectionPool, counting: CountingPool
) -> None:
    newer, older = ticking_matcher(database_url), ticking_matcher(database_url)
    newer.tick("BTCUSDT", 100.0, T0 + 2_000)
    older.tick("BTCUSDT", 90.0, T0 + 1_000)  # two replicas wrongly on one shard
    await writer_of(newer, counting).flush()
    await writer_of(older, counting).flush()
    assert await last_prices(pool) == {"BTCUSDT": ("100", at(T0 + 2_000))}


async def test_a_late_trade_never_moves_the_written_last_price_back(
    database_url: str, pool: AsyncConnectionPool, counting: CountingPool
) -> None:
    matcher = ticking_matcher(database_url)
    writer = writer_of(matcher, counting)
    matcher.tick("BTCUSDT", 100.0, T0 + 5_000)
    matcher.tick("BTCUSDT", 101.0, T0 + 9_000)
    await writer.flush()
    # An outage's high and low, recovered from klines and fed after the live trades resumed:
    # they count in the current minute, but the last price stays the latest trade's.
    matcher.tick("BTCUSDT", 120.0, T0 + 1_000)
    matcher.tick("BTCUSDT", 80.0, T0 + 1_000)
    await writer.flush()
    assert await last_prices(pool) == {"BTCUSDT": ("101", at(T0 + 9_000))}
    assert (await minutes(pool, "BTCUSDT"))[0][:4] == (at(T0), "100", "120", "80")
    matcher.tick("BTCUSDT", 102.0, T0 + 10_000)  # the next live trade
    await writer.flush()
    assert await last_prices(pool) == {"BTCUSDT": ("102", at(T0 + 10_000))}
    assert await minutes(pool, "BTCUSDT") == [(at(T0), "100", "120", "80", "102")]


async def test_unknown_symbols_and_non_prices_are_left_out_without_blocking_the_rest(
    database_url: str, pool: AsyncConnectionPool, counting: CountingPool
) -> None:
    matcher = ticking_matcher(database_url)
    writer = writer_of(matcher, counting)
    matcher.tick("NOSUCHCOIN", 5.0, T0)
    matcher.tick("ETHUSDT", float("nan"), T0)
    matcher.tick("SOLUSDT", 0.0, T0)
    matcher.tick("BTCUSDT", 100.0, T0)
    assert await writer.flush()
    assert await last_prices(pool) == {"BTCUSDT": ("100", at(T0))}
    assert writer.failures == 0


async def test_minutes_older_than_a_week_are_pruned_once_a_minute_in_the_same_statement(
    database_url: str, pool: AsyncConnectionPool, counting: CountingPool
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    old, kept = now - timedelta(days=7, minutes=1), now - timedelta(days=6, hours=23)
    async with pool.connection() as conn:
        for minute in (old, kept):
            await conn.execute(
                "INSERT INTO price_minutes VALUES ('BTCUSDT', %s, 1, 1, 1, 1)", (minute,)
            )
    matcher = ticking_matcher(database_url)
    writer = writer_of(matcher, counting)
    matcher.tick("BTCUSDT", 100.0, T0)
    await writer.flush()
    assert counting.statements == 1
    assert [row[0] for row in await minutes(pool, "BTCUSDT")] == [kept, at(T0)]

    async with pool.connection() as conn:  # another old one: not pruned again within the minute
        await conn.execute("INSERT INTO price_minutes VALUES ('BTCUSDT', %s, 1, 1, 1, 1)", (old,))
    matcher.tick("BTCUSDT", 101.0, T0 + 1)
    await writer.flush()
    assert [row[0] for row in await minutes(pool, "BTCUSDT")] == [old, kept, at(T0)]

    # A minute older than the week is not written either (a replay of old trades).
    stale = ticking_matcher(database_url)
    stale_ms = int(old.timestamp() * 1000)
    stale.tick("ETHUSDT", 5.0, stale_ms)
    await writer_of(stale, counting, prune_every_seconds=0).flush()
    assert await minutes(pool, "ETHUSDT") == []
    assert [row[0] for row in await minutes(pool, "BTCUSDT")] == [kept, at(T0)]


async def test_a_database_outage_loses_no_minute(
    database_proxy: tuple[TcpProxy, str], database_url: str, pool: AsyncConnectionPool
) -> None:
    tcp_proxy, proxied_url = database_proxy
    proxied = create_pool(proxied_url, size=1, name="prices-test")
    await proxied.open(wait=True)
    try:
        matcher = ticking_matcher(database_url)
        writer = PriceWriter(proxied, matcher.prices)
        matcher.tick("BTCUSDT", 100.0, T0)
        tcp_proxy.refusing = True
        tcp_proxy.cut()
        matcher.tick("BTCUSDT", 103.0, T0 + 1_000)
        assert not await writer.flush()  # a lost connection: kept for the next flush
        matcher.tick("BTCUSDT", 98.0, T0 + MINUTE)  # the minute ends during the outage
        assert not await writer.flush()  # the gate answers at once while the server is away
        assert writer.failures == 2
        assert await last_prices(pool) == {}

        tcp_proxy.refusing = False
        async with asyncio.timeout(WAIT):
            await proxied.until_available()
        assert await writer.flush()
    finally:
        await proxied.close()
    assert await minutes(pool, "BTCUSDT") == [
        (at(T0), "100", "103", "100", "103"),
        (at(T0 + MINUTE), "98", "98", "98", "98"),
    ]
    assert await last_prices(pool) == {"BTCUSDT": ("98", at(T0 + MINUTE))}


async def test_finished_minutes_kept_through_an_outage_are_bounded() -> None:
    recorder = PriceRecorder(max_finished=2)
    for minute in range(5):
        recorder.open_minute("BTCUSDT", 100.0 + minute, T0 + minute * MINUTE)
    batch = recorder.take()
    assert [m.open for m in batch.finished] == [102.0, 103.0]
    assert recorder.dropped == 2
    recorder.put_back(batch)
    assert [m.open for m in recorder.take().finished] == [102.0, 103.0]


async def test_a_running_matcher_writes_prices_every_period_and_once_more_at_stop(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    matcher = Matcher(database_url, Shard(0, 1), NoPublisher(), price_flush_seconds=0.05)
    feed = QueueFeed()
    task = asyncio.create_task(matcher.run(feed))
    try:
        await asyncio.wait_for(matcher.ready.wait(), WAIT)
        feed.push("BTCUSDT", 50_000.01)
        await asyncio.wait_for(feed.processed(), WAIT)
        async with asyncio.timeout(WAIT):
            await matcher.progress.until(lambda: written(matcher, "BTCUSDT"))
        assert (await last_prices(pool))["BTCUSDT"][0] == "50000.01"
    finally:
        matcher.stop()
        await asyncio.wait_for(task, WAIT)

    slow = Matcher(database_url, Shard(0, 1), NoPublisher(), price_flush_seconds=3600)
    feed = QueueFeed()
    task = asyncio.create_task(slow.run(feed))
    await asyncio.wait_for(slow.ready.wait(), WAIT)
    feed.push("BTCUSDT", 50_001.5)
    await asyncio.wait_for(feed.processed(), WAIT)
    assert (await last_prices(pool))["BTCUSDT"][0] == "50000.01"  # no flush yet
    slow.stop()
    await asyncio.wait_for(task, WAIT)
    assert (await last_prices(pool))["BTCUSDT"][0] == "50001.5"
    assert Decimal("50001.5") == Decimal((await last_prices(pool))["BTCUSDT"][0])


async def test_a_running_matcher_outlives_a_database_outage_and_writes_the_prices_after(
    database_proxy: tuple[TcpProxy, str], pool: AsyncConnectionPool
) -> None:
    tcp_proxy, proxied_url = database_proxy
    matcher = Matcher(proxied_url, Shard(0, 1), NoPublisher(), price_flush_seconds=0.05)
    feed = QueueFeed()
    task = asyncio.create_task(matcher.run(feed))
    try:
        await asyncio.wait_for(matcher.ready.wait(), WAIT)
        tcp_proxy.refusing = True
        tcp_proxy.cut()
        failures = matcher.figures().price_write_failures
        feed.push("ETHUSDT", 3000.5)
        await asyncio.wait_for(feed.processed(), WAIT)
        async with asyncio.timeout(WAIT):
            await matcher.progress.until(lambda: matcher.figures().price_write_failures > failures)
        assert not task.done()
        assert "ETHUSDT" not in await last_prices(pool)

        tcp_proxy.refusing = False
        async with asyncio.timeout(WAIT):
            await matcher.progress.until(lambda: written(matcher, "ETHUSDT"))
        assert (await last_prices(pool))["ETHUSDT"][0] == "3000.5"
    finally:
        matcher.stop()
        await asyncio.wait_for(task, WAIT)
