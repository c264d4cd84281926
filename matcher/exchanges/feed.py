"""An exchange's live feed: the trades of every symbol in the book, over as many connections as
the exchange's limit of symbols per connection requires, following the book as symbols gain
their first alert or lose their last. The exchange's own protocols are its room's
(``matcher.exchanges.common.Room``); everything here is the same for every exchange.

With the exchange's REST side it also makes sure no crossing is missed:

- a newly followed symbol is seeded with its current price, so an alert whose target the
  market already passed fires at once;
- after any outage of a connection, the 1-minute candles covering the gap give each of its
  symbols the range that traded meanwhile: the minutes go into its percent windows, and its
  high and low are fed as two prices (quantity 0), so every alert with a target inside that
  range fires (once: the claim sees to that), at the high or the low as its triggered price;
- a symbol whose percent windows start without history (a percent alert on a symbol the book
  did not follow, or after a restart) gets the minutes of its largest window from candles;
- symbols the exchange does not trade are reported once and not subscribed.

The exchange's list of trading symbols is read at start and every ``listing_every_seconds``;
each list read goes to the sink (``TradeSink.listed``: the matcher writes it to the symbols
table, so a pair listed since can be named by new alerts and one halted is refused), and what
the feed follows changes with it. A list that cannot be read is one warning; the previous one
stays (none at start: every symbol of the book is followed) until the next period.

Whether it reaches the exchange at all (for ``/readyz``) is ``matcher.exchanges.reach``'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from functools import partial
from typing import Any, TypeVar

from matcher.exchanges.common import MINUTE_MS, Connection, OnGap, OnTrade, RateLimited, Rest, Room
from matcher.exchanges.reach import Reach
from matcher.feeds import now_ms
from matcher.figures import FeedFigures
from matcher.sink import TradeSink
from shared.backoff import full_jitter
from shared.version import Version

T = TypeVar("T")

log = logging.getLogger(__name__)

GAP_MARGIN_SECONDS = 5.0  # trades just before a drop may not have arrived either
RETRIES = 5
RETRY_BASE_SECONDS = 0.5
RETRY_CAP_SECONDS = 30.0
FOLLOW_GATHER_SECONDS = 0.05  # a burst of book changes becomes one round of requests


async def _with_retries(call: Callable[[], Awaitable[T]], what: str, exchange: str) -> T | None:
    """``call()``, retried on failure with growing waits (the exchange's own when rate-limited)."""
    for attempt in range(RETRIES):
        try:
            return await call()
        except RateLimited as exc:
            log.warning(
                "exchange rate limit",
                extra={"exchange": exchange, "what": what, "retry_in_s": exc.retry_after},
            )
            await asyncio.sleep(exc.retry_after)
        except Exception as exc:
            delay = full_jitter(attempt, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS)
            log.warning(
                "exchange REST call failed",
                extra={"exchange": exchange, "what": what, "error": repr(exc), "retry_in_s": delay},
            )
            await asyncio.sleep(delay)
    log.error(
        "exchange REST call given up", extra={"exchange": exchange, "what": what, "tries": RETRIES}
    )
    return None


class ExchangeFeed:
    """The live feed of the exchange ``room``, on ``ws_url``. ``on_gap(connection name,
    started, ended)``, when given, is told of each outage instead of it being recovered. A
    connection out of reach for ``grace_seconds`` makes the feed not ready (``waiting_for``)."""

    def __init__(
        self,
        room: Room,
        ws_url: str,
        *,
        symbols_per_connection: int | None = None,
        rest: Rest | None = None,
        on_gap: Callable[[str, float, float], None] | None = None,
        listing_every_seconds: float | None = None,
        grace_seconds: float = 30.0,
        **connection_options: Any,
    ) -> None:
        self._room = room
        self.exchange = room.declared.name
        self.title = room.declared.title
        self._ws_url = ws_url
        limit = room.symbols_per_connection
        self._per_connection = min(symbols_per_connection or limit, limit)
        self._on_gap = on_gap
        self._listing_every = listing_every_seconds  # None: the list is read at start only
        self._options = connection_options
        self.connections: list[Connection] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._placement: dict[str, Connection] = {}  # symbol -> its connection
        self._on_trade: OnTrade | None = None
        self._sink: TradeSink | None = None
        self._stopping = asyncio.Event()
        self._rest = rest
        self._trading: set[str] | None = None  # None: not known, subscribe to everything
        self._unknown_reported: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._log = {"exchange": self.exchange}
        self.unknown_symbols = 0
        self.gaps_recovered = 0
        self.histories_filled = 0
        self.listings = 0
        self.listing_failures = 0
        self.paused = False  # back-pressure holds the sockets
        # bumped when a gap is recovered, a history filled, the symbol list read (or not), the
        # feed pauses or resumes, or the exchange goes out of reach or comes back
        self.progress = Version()
        self.reach = Reach(
            self.title, self.connections, grace_seconds=grace_seconds, progress=self.progress
        )

    def figures(self) -> FeedFigures:
        return FeedFigures(
            reconnects=sum(max(0, c.connects - 1) + c.failed_connects for c in self.connections),
            malformed=sum(c.total_malformed for c in self.connections),
            unknown_symbols=self.unknown_symbols,
            gaps_recovered=self.gaps_recovered,
            histories_filled=self.histories_filled,
            listings=self.listings,
            listing_failures=self.listing_failures,
            unreachable_seconds=self.reach.outage_seconds(),
        )

    def waiting_for(self) -> str | None:
        """What keeps the feed from delivering: its exchange out of reach (``Reach``)."""
        return self.reach.waiting_for()

    async def drive(self, sink: TradeSink) -> None:
        """Feed ``sink`` until ``stop``: subscribe to its symbols, follow them, deliver trades."""
        self._on_trade = sink.trade
        self._sink = sink
        if self._rest is not None:
            await self._read_listing(self._rest, sink)
            if self._listing_every is not None:
                self._in_background(self._keep_listing(self._rest, sink, self._listing_every))
        follow = asyncio.create_task(self._follow(sink))
        pace = asyncio.create_task(self._pace(sink))
        watch = asyncio.create_task(self.reach.watch())
        try:
            await self._stopping.wait()
        finally:
            follow.cancel()
            pace.cancel()
            watch.cancel()
            for connection in self.connections:
                connection.stop()
            for task in self._background:
                task.cancel()
            await asyncio.gather(
                *self._tasks, *self._background, follow, pace, watch, return_exceptions=True
            )

    def stop(self) -> None:
        self._stopping.set()

    async def _pace(self, sink: TradeSink) -> None:
        """Back-pressure: while the sink is full, stop reading the sockets (the kernel's and
        then the exchange's buffers hold the trades; a long pause ends in a reconnect, whose gap
        the candles cover)."""
        while True:
            await sink.full()
            for connection in self.connections:
                connection.pause_reading()
            self.paused = True
            self.progress.bump()
            log.warning("feed paused: the matcher's claims are behind", extra=self._log)
            await sink.room()
            for connection in self.connections:
                connection.resume_reading()
            self.paused = False
            self.progress.bump()
            log.info("feed resumed", extra=self._log)

    async def _follow(self, sink: TradeSink) -> None:
        changes = sink.book_version
        while True:
            seen = changes.value
            self.set_symbols(sink.symbols())
            if self._rest is not None:
                for symbol, minutes in sink.history_wanted().items():
                    self._in_background(self._fill_history(self._rest, sink, symbol, minutes))
            await changes.changed(seen)
            await asyncio.sleep(FOLLOW_GATHER_SECONDS)

    async def _fill_history(self, rest: Rest, sink: TradeSink, symbol: str, minutes: int) -> None:
        """The last ``minutes`` minutes of ``symbol`` for its percent windows."""
        end_ms = now_ms()
        history = await _with_retries(
            partial(rest.minutes, symbol, end_ms - minutes * MINUTE_MS, end_ms),
            f"history of {symbol}",
            self.exchange,
        )
        if history is not None:
            sink.fill_minutes(symbol, history)
            self.histories_filled += 1
            self.progress.bump()

    def set_symbols(self, symbols: Iterable[str]) -> None:
        """Carry exactly ``symbols``. A symbol keeps its connection while it is wanted; new ones
        fill the connections with room, then open new connections."""
        wanted = set(self._tradable(symbols))
        changed: set[Connection] = set()
        added: list[str] = []
        for symbol in set(self._placement) - wanted:
            changed.add(self._placement.pop(symbol))
        counts = {id(c): 0 for c in self.connections}
        for connection in self._placement.values():
            counts[id(connection)] += 1
        for symbol in sorted(wanted - set(self._placement)):
            roomy = [c for c in self.connections if counts[id(c)] < self._per_connection]
            if roomy:
                connection = roomy[0]
            else:
                connection = self._open_connection()
                counts[id(connection)] = 0
            self._placement[symbol] = connection
            counts[id(connection)] += 1
            changed.add(connection)
            added.append(symbol)
        for connection in changed:
            connection.set_symbols(self._carried_by(connection))
        if changed:
            log.info(
                "feed symbols",
                extra=self._log
                | {"symbols": len(self._placement), "connections": len(self.connections)},
            )
        if added and self._rest is not None:
            self._in_background(self._seed(self._rest, added))

    def _carried_by(self, connection: Connection) -> list[str]:
        return [s for s, c in self._placement.items() if c is connection]

    def _tradable(self, symbols: Iterable[str]) -> list[str]:
        if self._trading is None:
            return list(symbols)
        tradable = []
        for symbol in symbols:
            if symbol in self._trading:
                tradable.append(symbol)
            elif symbol not in self._unknown_reported:
                self._unknown_reported.add(symbol)
                self.unknown_symbols += 1
                log.warning(
                    "the exchange does not trade this symbol: not followed",
                    extra=self._log | {"symbol": symbol},
                )
        return tradable

    async def _keep_listing(self, rest: Rest, sink: TradeSink, every_seconds: float) -> None:
        while True:
            await asyncio.sleep(every_seconds)
            await self._read_listing(rest, sink)

    async def _read_listing(self, rest: Rest, sink: TradeSink) -> None:
        """The exchange's trading symbols: what the feed follows from now on, and the sink's
        to keep. One try: a failure waits for the next period, with one warning."""
        try:
            trading = await rest.trading_symbols()
        except Exception as exc:
            self.listing_failures += 1
            following = "the previous list" if self._trading is not None else "every symbol"
            log.warning(
                f"could not list the exchange's symbols: following {following} of the book",
                extra=self._log | {"error": repr(exc), "retry_in_s": self._listing_every},
            )
            self.progress.bump()
            return
        self._trading = trading
        self._unknown_reported -= trading  # listed again: reported again if it stops
        self.listings += 1
        await sink.listed(self.exchange, trading)
        self.set_symbols(sink.symbols())
        self.progress.bump()

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _seed(self, rest: Rest, symbols: list[str]) -> None:
        """Each newly followed symbol's current price, as a price of no quantity."""
        prices = await _with_retries(lambda: rest.prices(symbols), "seed prices", self.exchange)
        assert self._on_trade is not None
        now = now_ms()
        for symbol, price in (prices or {}).items():
            self._on_trade(symbol, price, 0.0, now)

    def _recover_gap(self, connection: Connection, started: float, ended: float) -> None:
        if self._rest is not None:
            symbols = self._carried_by(connection)
            self._in_background(self._recover(self._rest, symbols, started, ended))

    async def _recover(self, rest: Rest, symbols: list[str], started: float, ended: float) -> None:
        """Feed what traded during an outage, symbol by symbol: its minutes to the percent
        windows, its high and low as two prices (of no quantity) at the outage's end."""
        start_ms = int((started - GAP_MARGIN_SECONDS) * 1000)
        end_ms = int(ended * 1000)
        assert self._on_trade is not None
        assert self._sink is not None
        for symbol in symbols:
            minutes = await _with_retries(
                partial(rest.minutes, symbol, start_ms, end_ms),
                f"candles of {symbol}",
                self.exchange,
            )
            if minutes:
                self._sink.fill_minutes(symbol, minutes)
                self._on_trade(symbol, max(high for _, _, high in minutes), 0.0, end_ms)
                self._on_trade(symbol, min(low for _, low, _ in minutes), 0.0, end_ms)
        self.gaps_recovered += 1
        self.progress.bump()
        log.info(
            "gap recovered from candles",
            extra=self._log | {"symbols": len(symbols), "gap_s": round(ended - started, 3)},
        )

    def _open_connection(self) -> Connection:
        name = f"{self.exchange}-{len(self.connections)}"
        on_gap: OnGap | None = None
        if self._on_gap is not None:
            report = self._on_gap

            def on_gap(started: float, ended: float) -> None:
                report(name, started, ended)

        assert self._on_trade is not None, "symbols are placed only while driving a sink"
        connection = self._room.connection(
            self._ws_url, self._on_trade, name=name, on_gap=on_gap, **self._options
        )
        if on_gap is None:
            connection.on_gap = lambda started, ended: self._recover_gap(connection, started, ended)
        self.connections.append(connection)
        self._tasks.append(asyncio.create_task(connection.run(), name=name))
        return connection
