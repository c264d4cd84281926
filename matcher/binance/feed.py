"""The live Binance feed: the ``<symbol>@aggTrade`` stream of every symbol in the book, over as
many combined-stream connections as 1,024 streams each require, following the book as symbols
gain their first alert or lose their last.

With a REST client it also makes sure no crossing is missed:

- a newly followed symbol is seeded with its current price (``ticker/price``), so an alert whose
  target the market already passed fires at once;
- after any outage of a connection, the 1-minute klines covering the gap give each of its
  symbols the range that traded meanwhile: the minutes go into its percent windows, and its
  high and low are fed as two ticks, so every alert with a target inside that range fires
  (once: the claim sees to that), at the high or the low as its triggered price;
- a symbol whose percent windows start without history (a percent alert on a symbol the book
  did not follow, or after a restart) gets the minutes of its largest window from klines;
- symbols Binance does not trade (``exchangeInfo``) are reported once and not subscribed.

``aggTrade`` rather than ``trade``: an aggregate trade is one taker order's fills at one price,
so every price that traded still arrives, in fewer messages (a cascade that sweeps a book sends
one message per price level instead of one per fill).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from functools import partial
from typing import Any, TypeVar

from matcher.binance.connection import MAX_STREAMS, OnGap, StreamConnection
from matcher.binance.listener import OnTrade
from matcher.binance.rest import MINUTE_MS, BinanceRest, RateLimited
from matcher.feeds import TradeSink, now_ms
from matcher.figures import FeedFigures
from shared.backoff import full_jitter
from shared.version import Version

T = TypeVar("T")

log = logging.getLogger(__name__)

STREAM_KIND = "aggTrade"


GAP_MARGIN_SECONDS = 5.0  # trades just before a drop may not have arrived either
RETRIES = 5
RETRY_BASE_SECONDS = 0.5
RETRY_CAP_SECONDS = 30.0
FOLLOW_GATHER_SECONDS = 0.05  # a burst of book changes becomes one round of requests


def stream_name(symbol: str) -> str:
    return f"{symbol.lower()}@{STREAM_KIND}"


def _symbol_of(stream: str) -> str:
    return stream.partition("@")[0].upper()


async def _with_retries(call: Callable[[], Awaitable[T]], what: str) -> T | None:
    """``call()``, retried on failure with growing waits (Binance's own when rate-limited)."""
    for attempt in range(RETRIES):
        try:
            return await call()
        except RateLimited as exc:
            log.warning("Binance rate limit", extra={"what": what, "retry_in_s": exc.retry_after})
            await asyncio.sleep(exc.retry_after)
        except Exception as exc:
            delay = full_jitter(attempt, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS)
            log.warning(
                "Binance REST call failed",
                extra={"what": what, "error": repr(exc), "retry_in_s": delay},
            )
            await asyncio.sleep(delay)
    log.error("Binance REST call given up", extra={"what": what, "tries": RETRIES})
    return None


class BinanceFeed:
    def __init__(
        self,
        ws_url: str,
        *,
        streams_per_connection: int = MAX_STREAMS,
        rest: BinanceRest | None = None,
        on_gap: Callable[[str, float, float], None] | None = None,
        **connection_options: Any,
    ) -> None:
        self._ws_url = ws_url
        self._per_connection = min(streams_per_connection, MAX_STREAMS)
        self._on_gap = on_gap
        self._options = connection_options
        self.connections: list[StreamConnection] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._placement: dict[str, StreamConnection] = {}  # stream -> its connection
        self._on_trade: OnTrade | None = None
        self._sink: TradeSink | None = None
        self._stopping = asyncio.Event()
        self._rest = rest
        self._trading: set[str] | None = None  # None: not known, subscribe to everything
        self._unknown_reported: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()
        self.unknown_symbols = 0
        self.gaps_recovered = 0
        self.histories_filled = 0
        self.paused = False  # back-pressure holds the sockets
        # bumped when a gap is recovered, a history filled, or the feed pauses or resumes
        self.progress = Version()

    def figures(self) -> FeedFigures:
        return FeedFigures(
            reconnects=sum(max(0, c.connects - 1) + c.failed_connects for c in self.connections),
            malformed=sum(c.total_malformed for c in self.connections),
            unknown_symbols=self.unknown_symbols,
            gaps_recovered=self.gaps_recovered,
            histories_filled=self.histories_filled,
        )

    async def drive(self, sink: TradeSink) -> None:
        """Feed ``sink`` until ``stop``: subscribe to its symbols, follow them, deliver trades."""
        self._on_trade = sink.tick
        self._sink = sink
        if self._rest is not None:
            await self._load_trading_symbols(self._rest)
        follow = asyncio.create_task(self._follow(sink))
        pace = asyncio.create_task(self._pace(sink))
        try:
            await self._stopping.wait()
        finally:
            follow.cancel()
            pace.cancel()
            for connection in self.connections:
                connection.stop()
            for task in self._background:
                task.cancel()
            await asyncio.gather(
                *self._tasks, *self._background, follow, pace, return_exceptions=True
            )

    def stop(self) -> None:
        self._stopping.set()

    async def _pace(self, sink: TradeSink) -> None:
        """Back-pressure: while the sink is full, stop reading the sockets (the kernel's and
        then Binance's buffers hold the trades; a long pause ends in a reconnect, whose gap the
        klines cover)."""
        while True:
            await sink.full()
            for connection in self.connections:
                connection.pause_reading()
            self.paused = True
            self.progress.bump()
            log.warning("Binance feed paused: the matcher's claims are behind")
            await sink.room()
            for connection in self.connections:
                connection.resume_reading()
            self.paused = False
            self.progress.bump()
            log.info("Binance feed resumed")

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

    async def _fill_history(
        self, rest: BinanceRest, sink: TradeSink, symbol: str, minutes: int
    ) -> None:
        """The last ``minutes`` minutes of ``symbol`` for its percent windows."""
        end_ms = now_ms()
        history = await _with_retries(
            partial(rest.minutes, symbol, end_ms - minutes * MINUTE_MS, end_ms),
            f"history of {symbol}",
        )
        if history is not None:
            sink.fill_minutes(symbol, history)
            self.histories_filled += 1
            self.progress.bump()

    def set_symbols(self, symbols: Iterable[str]) -> None:
        """Carry exactly the streams of ``symbols``. A stream keeps its connection while it is
        wanted; new ones fill the connections with room, then open new connections."""
        wanted = {stream_name(symbol) for symbol in self._tradable(symbols)}
        changed: set[StreamConnection] = set()
        added: list[str] = []
        for stream in set(self._placement) - wanted:
            changed.add(self._placement.pop(stream))
        counts = {id(c): 0 for c in self.connections}
        for connection in self._placement.values():
            counts[id(connection)] += 1
        for stream in sorted(wanted - set(self._placement)):
            roomy = [c for c in self.connections if counts[id(c)] < self._per_connection]
            if roomy:
                connection = roomy[0]
            else:
                connection = self._open_connection()
                counts[id(connection)] = 0
            self._placement[stream] = connection
            counts[id(connection)] += 1
            changed.add(connection)
            added.append(stream)
        for connection in changed:
            connection.set_streams(s for s, c in self._placement.items() if c is connection)
        if changed:
            log.info(
                "Binance streams",
                extra={"streams": len(self._placement), "connections": len(self.connections)},
            )
        if added and self._rest is not None:
            self._in_background(self._seed(self._rest, [_symbol_of(s) for s in added]))

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
                    "Binance does not trade this symbol: not followed", extra={"symbol": symbol}
                )
        return tradable

    async def _load_trading_symbols(self, rest: BinanceRest) -> None:
        try:
            self._trading = await rest.trading_symbols()
        except Exception as exc:
            log.warning(
                "could not list Binance's symbols: following every symbol of the book",
                extra={"error": repr(exc)},
            )

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _seed(self, rest: BinanceRest, symbols: list[str]) -> None:
        """Each newly followed symbol's current price, as a tick."""
        prices = await _with_retries(lambda: rest.prices(symbols), "seed prices")
        assert self._on_trade is not None
        now = now_ms()
        for symbol, price in (prices or {}).items():
            self._on_trade(symbol, price, now)

    def _recover_gap(self, connection: StreamConnection, started: float, ended: float) -> None:
        if self._rest is not None:
            symbols = [_symbol_of(stream) for stream in connection.wanted]
            self._in_background(self._recover(self._rest, symbols, started, ended))

    async def _recover(
        self, rest: BinanceRest, symbols: list[str], started: float, ended: float
    ) -> None:
        """Feed what traded during an outage, symbol by symbol: its minutes to the percent
        windows, its high and low as two ticks at the outage's end."""
        start_ms = int((started - GAP_MARGIN_SECONDS) * 1000)
        end_ms = int(ended * 1000)
        assert self._on_trade is not None
        assert self._sink is not None
        for symbol in symbols:
            minutes = await _with_retries(
                partial(rest.minutes, symbol, start_ms, end_ms), f"klines of {symbol}"
            )
            if minutes:
                self._sink.fill_minutes(symbol, minutes)
                self._on_trade(symbol, max(high for _, _, high in minutes), end_ms)
                self._on_trade(symbol, min(low for _, low, _ in minutes), end_ms)
        self.gaps_recovered += 1
        self.progress.bump()
        log.info(
            "Binance gap recovered from klines",
            extra={"symbols": len(symbols), "gap_s": round(ended - started, 3)},
        )

    def _open_connection(self) -> StreamConnection:
        name = f"binance-{len(self.connections)}"
        on_gap: OnGap | None = None
        if self._on_gap is not None:
            report = self._on_gap

            def on_gap(started: float, ended: float) -> None:
                report(name, started, ended)

        assert self._on_trade is not None, "streams are placed only while driving a sink"
        connection = StreamConnection(
            self._ws_url, self._on_trade, name=name, on_gap=on_gap, **self._options
        )
        if on_gap is None:
            connection.on_gap = lambda started, ended: self._recover_gap(connection, started, ended)
        self.connections.append(connection)
        self._tasks.append(asyncio.create_task(connection.run(), name=name))
        return connection
