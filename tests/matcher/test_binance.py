"""The Binance feed against a fake Binance server on loopback that speaks the real protocol."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterable, Set
from contextlib import asynccontextmanager
from decimal import Decimal

import orjson
import pytest
from picows import WSMsgType
from psycopg_pool import AsyncConnectionPool

from matcher.exchanges.binance import BINANCE, stream_name
from matcher.exchanges.binance.rest import BinanceRest
from matcher.exchanges.feed import ExchangeFeed
from matcher.publisher import RabbitPublisher
from matcher.service import Matcher
from shared.settings import Shard
from shared.version import Version
from tests.fake_binance import MAX_STREAMS, FakeBinance
from tests.matcher.helpers import insert_alert, received
from tests.wheel import free_port

FAST = {
    "ping_idle_seconds": 0.3,
    "ping_reply_seconds": 0.3,
    "backoff_base_seconds": 0.05,
    "backoff_cap_seconds": 0.2,
}


class RecordingSink:
    """Stands in for the matcher: a set of symbols, and the trades it was given."""

    def __init__(self, symbols: set[str]) -> None:
        self._symbols = set(symbols)
        self.book_version = Version()
        self.trades: list[tuple[str, float]] = []
        self.quantities: list[float] = []
        self.times: list[int] = []
        self.wanted: dict[str, int] = {}  # history to ask for, as a book would
        self.minutes: dict[str, list[tuple[int, float, float]]] = {}
        self.listings: list[set[str]] = []  # each list of trading symbols the feed read
        self.arrived = Version()
        self._full = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    async def full(self) -> None:
        await self._full.wait()

    async def room(self) -> None:
        await self._room.wait()

    def hold(self, held: bool) -> None:
        """Act as a matcher whose claims are behind (or caught up again)."""
        (self._full.set if held else self._full.clear)()
        (self._room.clear if held else self._room.set)()

    def trade(self, symbol: str, price: float, quantity: float, time_ms: int) -> None:
        self.trades.append((symbol, price))
        self.quantities.append(quantity)
        self.times.append(time_ms)
        self.arrived.bump()

    def tick(self, symbol: str, price: float, time_ms: int) -> None:
        self.trade(symbol, price, 0.0, time_ms)

    def history_wanted(self) -> dict[str, int]:
        wanted, self.wanted = self.wanted, {}
        return wanted

    def fill_minutes(self, symbol: str, minutes: Iterable[tuple[int, float, float]]) -> None:
        self.minutes.setdefault(symbol, []).extend(minutes)

    def symbols(self) -> list[str]:
        return sorted(self._symbols)

    async def listed(self, exchange: str, symbols: Set[str]) -> None:
        self.listings.append(set(symbols))

    def nearest(self, symbol: str) -> tuple[float, float]:
        return -math.inf, math.inf

    def change(self, symbols: set[str]) -> None:
        self._symbols = set(symbols)
        self.book_version.bump()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(15):
            await self.arrived.until(lambda: len(self.trades) >= count)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    server = FakeBinance()
    await server.start()
    yield server
    await server.close()


Start = Callable[..., "asyncio.Future[tuple[ExchangeFeed, RecordingSink]]"]


@pytest.fixture
async def start_feed(
    fake: FakeBinance,
) -> AsyncIterator[Callable[..., asyncio.Task[None]]]:
    running: list[tuple[ExchangeFeed, asyncio.Task[None]]] = []

    def start(feed: ExchangeFeed, sink: RecordingSink) -> asyncio.Task[None]:
        task = asyncio.create_task(feed.drive(sink))  # type: ignore[arg-type]
        running.append((feed, task))
        return task

    yield start
    for feed, task in running:
        feed.stop()
        await asyncio.wait_for(task, 10)


@asynccontextmanager
async def matcher_on(
    feed: ExchangeFeed, database_url: str, rabbitmq_url: str, queue: str
) -> AsyncIterator[Matcher]:
    """A whole matcher (PostgreSQL, RabbitMQ) running on ``feed``, stopped on the way out."""
    publisher = RabbitPublisher(rabbitmq_url, queue)
    await publisher.open()
    matcher = Matcher(database_url, Shard(0, 1), publisher)
    task = asyncio.create_task(matcher.run(feed))
    try:
        yield matcher
    finally:
        matcher.stop()
        await asyncio.wait_for(task, 15)
        await publisher.close()


def streams(*symbols: str) -> set[str]:
    return {stream_name(symbol) for symbol in symbols}


async def test_trades_of_the_subscribed_symbols_reach_the_sink(
    fake: FakeBinance, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    sink = RecordingSink({"BTCUSDT", "ETHUSDT"})
    start_feed(ExchangeFeed(BINANCE, fake.url, **FAST), sink)
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT", "ETHUSDT"))
    assert all(client.combined for client in fake.clients)
    fake.trade("BTCUSDT", "50000.10")
    fake.trade("ETHUSDT", "3000.5")
    fake.trade("BNBUSDT", "600")  # not subscribed: never sent
    await sink.until(2)
    assert sink.trades == [("BTCUSDT", 50000.10), ("ETHUSDT", 3000.5)]
    assert sink.quantities == [0.1, 0.1]  # each trade's quantity ("q") comes along


async def test_subscriptions_follow_the_book(
    fake: FakeBinance, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    sink = RecordingSink({"BTCUSDT"})
    start_feed(ExchangeFeed(BINANCE, fake.url, **FAST), sink)
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT"))
    sink.change({"ETHUSDT", "BNBUSDT"})
    await fake.until(lambda: fake.subscribed() == streams("ETHUSDT", "BNBUSDT"))
    methods = [request["method"] for client in fake.clients for request in client.requests]
    assert methods == ["SUBSCRIBE", "UNSUBSCRIBE"]  # one batched request each way
    assert fake.connections == 1


async def test_a_dropped_connection_reconnects_resubscribes_and_reports_the_gap(
    fake: FakeBinance, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    gaps: list[tuple[str, float, float]] = []
    sink = RecordingSink({"BTCUSDT", "ETHUSDT"})
    feed = ExchangeFeed(BINANCE, fake.url, on_gap=lambda *gap: gaps.append(gap), **FAST)
    start_feed(feed, sink)
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT", "ETHUSDT"))
    fake.drop_all()
    await fake.until(lambda: fake.connections == 2 and len(fake.subscribed()) == 2)
    fake.trade("ETHUSDT", "3001")
    await sink.until(1)
    assert len(gaps) == 1
    name, started, ended = gaps[0]
    assert name == "binance-0"
    assert started <= ended
    assert feed.figures().reconnects >= 1


async def test_a_silent_connection_is_treated_as_dead(
    fake: FakeBinance, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    sink = RecordingSink({"BTCUSDT"})
    start_feed(ExchangeFeed(BINANCE, fake.url, **FAST), sink)
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT"))
    fake.stalled = True  # no pong, no data: the client's ping goes unanswered
    await fake.until(lambda: fake.connections >= 2)
    fake.stalled = False
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT"))
    await fake.until(lambda: fake.trade("BTCUSDT", "1") > 0)
    await sink.until(1)


async def test_a_feed_that_cannot_reach_binance_says_so_after_its_grace_until_it_can(
    start_feed: Callable[..., asyncio.Task[None]],
) -> None:
    port = free_port()  # nothing listens there yet
    feed = ExchangeFeed(BINANCE, f"ws://127.0.0.1:{port}", grace_seconds=1.0, **FAST)
    start_feed(feed, RecordingSink({"BTCUSDT"}))
    async with asyncio.timeout(15):
        await feed.progress.until(lambda: feed.reach.unreachable is not None)
    reason = feed.waiting_for()
    assert reason is not None
    assert reason.startswith("Binance unreachable for "), reason
    assert "ConnectionRefusedError" in reason
    assert feed.figures().unreachable_seconds >= 1
    late = FakeBinance()
    await late.start(port)
    try:
        async with asyncio.timeout(15):
            await feed.progress.until(lambda: feed.reach.unreachable is None)
        assert feed.waiting_for() is None
        assert feed.figures().unreachable_seconds == 0
    finally:
        await late.close()


async def test_malformed_frames_are_counted_and_skipped_without_a_reconnect(
    fake: FakeBinance, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    sink = RecordingSink({"BTCUSDT"})
    feed = ExchangeFeed(BINANCE, fake.url, **FAST)
    start_feed(feed, sink)
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT"))
    fake.send_raw(b"{not json")
    fake.send_raw(b'{"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "s": "BTCUSDT"}}')
    fake.send_raw(b'{"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "p": "x", "s": "X"}}')
    fake.trade("BTCUSDT", "42")
    await sink.until(1)
    assert sink.trades == [("BTCUSDT", 42.0)]
    assert feed.figures().malformed == 3
    assert fake.connections == 1


async def test_a_trade_split_over_frames_is_reassembled(
    fake: FakeBinance, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    sink = RecordingSink({"BTCUSDT"})
    start_feed(ExchangeFeed(BINANCE, fake.url, **FAST), sink)
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT"))
    trade = {"e": "aggTrade", "s": "BTCUSDT", "p": "7.5", "q": "2.25", "T": 1_795_708_931_000}
    payload = orjson.dumps({"stream": "btcusdt@aggTrade", "data": trade})
    (client,) = fake.clients
    client.transport.send(WSMsgType.TEXT, payload[:20], fin=False)
    client.transport.send(WSMsgType.CONTINUATION, payload[20:40], fin=False)
    client.transport.send(WSMsgType.CONTINUATION, payload[40:], fin=True)
    await sink.until(1)
    assert sink.trades == [("BTCUSDT", 7.5)]
    assert sink.quantities == [2.25]
    assert sink.times == [1_795_708_931_000]  # the trade's time, not the clock's


async def test_a_server_shutdown_announcement_makes_it_reconnect(
    fake: FakeBinance, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    sink = RecordingSink({"BTCUSDT"})
    start_feed(ExchangeFeed(BINANCE, fake.url, **FAST), sink)
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT"))
    fake.send_event("btcusdt@aggTrade", {"e": "serverShutdown", "E": 1})
    await fake.until(lambda: fake.connections == 2 and fake.subscribed() == streams("BTCUSDT"))


async def test_more_than_1024_symbols_spread_over_connections_within_the_rate_limit(
    fake: FakeBinance, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    symbols = {f"S{i:04d}USDT" for i in range(1500)}
    sink = RecordingSink(symbols)
    # Pings count against Binance's 5 messages a second too: at production idle times.
    feed = ExchangeFeed(
        BINANCE, fake.url, **(FAST | {"ping_idle_seconds": 10, "ping_reply_seconds": 10})
    )
    start_feed(feed, sink)
    await fake.until(lambda: fake.subscribed() == streams(*symbols), timeout=30)
    assert len(fake.clients) == 2
    assert all(len(client.streams) <= MAX_STREAMS for client in fake.clients)
    assert fake.rate_violations == 0
    assert all(len(orjson.dumps(r)) < 4096 for c in fake.clients for r in c.requests)


@pytest.mark.usefixtures("clean_tables")
async def test_the_matcher_on_the_binance_feed_fires_a_crossed_alert(
    fake: FakeBinance,
    pool: AsyncConnectionPool,
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    crossed = await insert_alert(pool, "BTCUSDT", "above", "50000")
    await insert_alert(pool, "ETHUSDT", "below", "2000")
    feed = ExchangeFeed(BINANCE, fake.url, **FAST)
    async with matcher_on(feed, database_url, rabbitmq_url, queue_name) as matcher:
        await fake.until(lambda: fake.subscribed() == streams("BTCUSDT", "ETHUSDT"))
        fake.trade("BTCUSDT", "49999.99")
        fake.trade("BTCUSDT", "50000.00")
        async with asyncio.timeout(15):
            await matcher.progress.until(lambda: matcher.figures().published >= 1)
        # The book lost its only BTCUSDT alert: the feed lets go of the stream.
        await fake.until(lambda: fake.subscribed() == streams("ETHUSDT"))
    (message,) = await received(rabbitmq_url, queue_name)
    assert message["alert_id"] == crossed
    assert Decimal(message["triggered_price"]) == Decimal("50000")


@pytest.fixture
async def rest(fake: FakeBinance) -> AsyncIterator[BinanceRest]:
    client = BinanceRest(fake.rest_url)
    yield client
    await client.close()


async def test_a_crossing_during_an_outage_is_recovered_from_the_klines(
    fake: FakeBinance, rest: BinanceRest, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    sink = RecordingSink({"BTCUSDT", "ETHUSDT"})
    feed = ExchangeFeed(BINANCE, fake.url, rest=rest, **FAST)
    start_feed(feed, sink)
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT", "ETHUSDT"))
    fake.traded_meanwhile("BTCUSDT", high="51000.5", low="48999")
    fake.rate_limit_next = 1  # the first klines request is answered 429: waited out
    fake.drop_all()
    async with asyncio.timeout(15):
        await feed.progress.until(lambda: feed.gaps_recovered >= 1)
    assert sorted(sink.trades) == [("BTCUSDT", 48999.0), ("BTCUSDT", 51000.5)]
    assert sink.quantities == [0.0, 0.0]  # the gap's high and low are prices, not trades
    assert any(path.startswith("/api/v3/klines?symbol=ETHUSDT") for path in fake.rest_requests)


async def test_a_newly_followed_symbol_is_seeded_with_its_current_price(
    fake: FakeBinance, rest: BinanceRest, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    fake.prices["ETHUSDT"] = "3100.25"
    sink = RecordingSink({"ETHUSDT"})
    start_feed(ExchangeFeed(BINANCE, fake.url, rest=rest, **FAST), sink)
    await sink.until(1)
    assert sink.trades == [("ETHUSDT", 3100.25)]
    assert sink.quantities == [0.0]  # a price, not a trade: no volume


async def test_a_symbol_binance_does_not_trade_is_reported_once_and_not_followed(
    fake: FakeBinance, rest: BinanceRest, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    sink = RecordingSink({"BTCUSDT", "NOSUCHUSDT"})
    feed = ExchangeFeed(BINANCE, fake.url, rest=rest, **FAST)
    start_feed(feed, sink)
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT"))
    sink.change({"BTCUSDT", "NOSUCHUSDT", "ETHUSDT"})
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT", "ETHUSDT"))
    assert feed.unknown_symbols == 1


async def test_the_list_is_read_filtered_at_start_and_handed_to_the_sink(
    fake: FakeBinance, rest: BinanceRest, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    fake.halted = {"LUNAUSDT"}
    sink = RecordingSink({"BTCUSDT"})
    feed = ExchangeFeed(BINANCE, fake.url, rest=rest, **FAST)
    start_feed(feed, sink)
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT"))
    assert feed.listings == 1
    assert sink.listings == [{"BTCUSDT", "ETHUSDT", "BNBUSDT"}]
    [path] = [p for p in fake.rest_requests if p.startswith("/api/v3/exchangeInfo")]
    assert "symbolStatus=TRADING" in path
    assert "showPermissionSets=false" in path


async def test_a_pair_listed_later_is_followed_and_one_halted_is_dropped_at_the_next_read(
    fake: FakeBinance, rest: BinanceRest, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    sink = RecordingSink({"BTCUSDT", "NEWCOINUSDT"})
    feed = ExchangeFeed(BINANCE, fake.url, rest=rest, listing_every_seconds=0.1, **FAST)
    start_feed(feed, sink)
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT"))
    fake.listed.add("NEWCOINUSDT")
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT", "NEWCOINUSDT"))
    fake.listed.discard("BTCUSDT")
    await fake.until(lambda: fake.subscribed() == streams("NEWCOINUSDT"))
    assert {"BNBUSDT", "ETHUSDT", "NEWCOINUSDT"} in sink.listings
    assert feed.unknown_symbols == 2  # NEWCOINUSDT before its listing, BTCUSDT after its halt


async def test_a_list_that_cannot_be_read_is_one_warning_a_period_and_everything_is_followed(
    fake: FakeBinance,
    start_feed: Callable[..., asyncio.Task[None]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreachable = BinanceRest("http://127.0.0.1:9")  # nothing listens on the discard port
    try:
        sink = RecordingSink({"BTCUSDT", "NOTLISTEDUSDT"})
        feed = ExchangeFeed(BINANCE, fake.url, rest=unreachable, listing_every_seconds=0.1, **FAST)
        with caplog.at_level(logging.WARNING, logger="matcher.exchanges.feed"):
            start_feed(feed, sink)
            await fake.until(lambda: fake.subscribed() == streams("BTCUSDT", "NOTLISTEDUSDT"))
            async with asyncio.timeout(15):
                await feed.progress.until(lambda: feed.listing_failures >= 3)
        warnings = [r for r in caplog.records if "could not list" in r.getMessage()]
        assert len(warnings) == feed.listing_failures  # one each, no retries within a period
        assert feed.listings == 0
        assert sink.listings == []
    finally:
        await unreachable.close()


@pytest.mark.usefixtures("clean_tables")
async def test_an_alert_crossed_during_an_outage_fires_exactly_once(
    fake: FakeBinance,
    rest: BinanceRest,
    pool: AsyncConnectionPool,
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    crossed = await insert_alert(pool, "BTCUSDT", "above", "50500")
    await insert_alert(pool, "BTCUSDT", "above", "60000")
    feed = ExchangeFeed(BINANCE, fake.url, rest=rest, **FAST)
    async with matcher_on(feed, database_url, rabbitmq_url, queue_name) as matcher:
        await fake.until(lambda: fake.subscribed() == streams("BTCUSDT"))
        fake.traded_meanwhile("BTCUSDT", high="51000", low="50000")
        for outage in (1, 2):  # the second outage's klines cover the same minute again
            fake.drop_all()
            async with asyncio.timeout(15):
                await feed.progress.until(lambda: feed.gaps_recovered >= outage)  # noqa: B023
        await matcher.pipeline.drain()
    assert feed.gaps_recovered == 2
    (message,) = await received(rabbitmq_url, queue_name)
    assert message["alert_id"] == crossed
    assert Decimal(message["triggered_price"]) == Decimal("51000")


async def test_a_full_matcher_pauses_the_sockets_and_the_trades_wait(
    fake: FakeBinance, start_feed: Callable[..., asyncio.Task[None]]
) -> None:
    sink = RecordingSink({"BTCUSDT"})
    feed = ExchangeFeed(
        BINANCE, fake.url, **FAST | {"ping_idle_seconds": 5, "ping_reply_seconds": 5}
    )
    start_feed(feed, sink)
    await fake.until(lambda: fake.subscribed() == streams("BTCUSDT"))
    sink.hold(True)
    async with asyncio.timeout(5):
        await feed.progress.until(lambda: feed.paused)
    fake.trade("BTCUSDT", "1")
    fake.trade("BTCUSDT", "2")
    sink.hold(False)
    await sink.until(2)
    assert sink.trades == [("BTCUSDT", 1.0), ("BTCUSDT", 2.0)]
    assert fake.connections == 1  # nothing lost, no reconnect
