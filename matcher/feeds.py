"""Price feeds that are not an exchange's live feed.

A feed is one of two shapes:

- an async iterator of ``(symbol, price, time_ms)`` trades, which the matcher's tick loop pulls
  (``ReplayFeed``; ``QueueFeed``, the in-process one, for wiring a matcher to anything that
  produces trades, and for tests, which push trades and await their processing);
- a ``matcher.sink.PushFeed``, which calls its ``TradeSink`` itself, with no queue between its
  source and the book (an exchange's live feed, ``matcher.exchanges.feed``, one call per
  WebSocket frame; ``SimulatedFeed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import BinaryIO

from matcher.figures import FeedFigures
from matcher.sink import PushFeed, TradeSink

_END = ("", 0.0, 0)


# A trade: (symbol, price, time in epoch milliseconds).
Trade = tuple[str, float, int]
Feed = AsyncIterable[Trade] | PushFeed


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class QueueFeed:
    """Trades pushed by the caller, delivered in order."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Trade] = asyncio.Queue()
        self._delivered = False

    def push(self, symbol: str, price: float, time_ms: int | None = None) -> None:
        """A trade, at ``time_ms`` (epoch milliseconds; now if not given)."""
        self._queue.put_nowait((symbol, price, now_ms() if time_ms is None else time_ms))

    def close(self) -> None:
        """End the feed once the trades pushed so far are delivered."""
        self._queue.put_nowait(_END)

    async def processed(self) -> None:
        """Returns once every trade pushed so far has been handled by the consumer (it has
        asked for the next one)."""
        await self._queue.join()

    def __aiter__(self) -> QueueFeed:
        return self

    async def __anext__(self) -> Trade:
        if self._delivered:
            self._queue.task_done()  # the consumer is back for more: the last one is done
            self._delivered = False
        trade = await self._queue.get()
        self._delivered = True
        if trade is _END:
            self._queue.task_done()
            self._delivered = False
            raise StopAsyncIteration
        return trade


# A recorded line of an exchange's stream -> its trade, or None when it is not one.
ReadLine = Callable[[bytes], Trade | None]


class ReplayFeed:
    """Trades from a file of an exchange's recorded stream, one message a line, each read by
    ``read`` (the exchange room's ``recorded_trade``). Lines that are not trades are counted in
    ``skipped`` and passed over. ``path`` "-" reads standard input."""

    def __init__(self, path: str, read: ReadLine) -> None:
        self._path = path
        self._read = read
        self.replayed = 0
        self.skipped = 0

    async def __aiter__(self) -> AsyncIterator[Trade]:
        chunks = _stdin_chunks() if self._path == "-" else _file_chunks(self._path)
        read = self._read
        async for chunk in chunks:
            for line in chunk:
                trade = read(line)
                if trade is None:
                    self.skipped += 1
                    continue
                self.replayed += 1
                yield trade


async def _file_chunks(path: str) -> AsyncIterator[list[bytes]]:
    """About a megabyte of lines at a time, read on a thread: the loop never waits on disk."""
    source = await asyncio.to_thread(_open, path)
    try:
        while chunk := await asyncio.to_thread(source.readlines, 1 << 20):
            yield chunk
    finally:
        source.close()


async def _stdin_chunks() -> AsyncIterator[list[bytes]]:
    """Lines from standard input through a non-blocking pipe reader: a thread blocked reading a
    pipe that stays open would keep the process from ever exiting on SIGTERM."""
    reader = asyncio.StreamReader(limit=1 << 20)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer
    )
    try:
        while line := await reader.readline():
            yield [line]
    finally:
        transport.close()


def _open(path: str) -> BinaryIO:
    return open(path, "rb")


class SimulatedFeed:
    """Random walks for the symbols in the book, for machines without internet (``--simulate``).

    A symbol starts when it enters the book (again, if it left it), near the prices its alerts
    name: halfway between its nearest targets, or 1% short of the nearest target when only one
    side has alerts. A crossing alert still waiting for its reference counts as a target above
    (the first step, below it, decides it as a crossing upwards), so a symbol whose only alert
    is "crossing 2.5" starts at 2.475, not at some fixed price it may never leave. Then it moves
    by a normal step of ``volatility`` of its price every ``interval_seconds``: the alerts near
    the price fire within minutes. Prices are rounded to a tick of seven significant digits (at
    most 8 decimals), as an exchange's price filter does.
    """

    def __init__(
        self, *, interval_seconds: float = 0.1, volatility: float = 0.002, seed: int | None = None
    ) -> None:
        self._interval = interval_seconds
        self._volatility = volatility
        self._random = random.Random(seed)
        self._prices: dict[str, float] = {}
        self._decimals: dict[str, int] = {}
        self._stopping = asyncio.Event()
        self.steps = 0

    def stop(self) -> None:
        self._stopping.set()

    def figures(self) -> FeedFigures:
        return FeedFigures()

    def waiting_for(self) -> str | None:
        return None  # nothing to reach

    async def drive(self, sink: TradeSink) -> None:
        while not self._stopping.is_set():
            symbols = list(sink.symbols())
            for symbol in symbols:
                price = self._prices.get(symbol)
                if price is None:
                    price = starting_price(*sink.nearest(symbol), sink.lowest_undecided(symbol))
                    self._decimals[symbol] = tick_decimals(price)
                price = round(
                    price * (1 + self._random.gauss(0, self._volatility)), self._decimals[symbol]
                )
                self._prices[symbol] = price
                if sink.tick(symbol, price, now_ms()) and symbol not in sink.symbols():
                    self._forget(symbol)  # its last alert fired: it starts afresh if it returns
            if len(self._prices) > len(symbols):  # and so does one whose alerts were removed
                for symbol in set(self._prices).difference(symbols):
                    self._forget(symbol)
            self.steps += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    def _forget(self, symbol: str) -> None:
        del self._prices[symbol]
        del self._decimals[symbol]


SIGNIFICANT_DIGITS = 7
MAX_DECIMALS = 8


def tick_decimals(price: float) -> int:
    """Decimals of a tick that gives ``price`` seven significant digits, 0 to 8: 50,000 trades
    in steps of 0.01, 2.5 in steps of 0.000001."""
    digits_before_point = math.floor(math.log10(price)) + 1
    return max(0, min(MAX_DECIMALS, SIGNIFICANT_DIGITS - digits_before_point))


def starting_price(highest_below: float, lowest_above: float, lowest_undecided: float) -> float:
    """Where a symbol's walk starts, from its book's ``nearest`` targets and its lowest crossing
    target without a reference (inf when none). That one counts as a target above, unless a
    ``below`` target lies at or over it: the walk then starts above both, and its first step
    decides the crossing downwards."""
    if lowest_undecided > highest_below:
        lowest_above = min(lowest_above, lowest_undecided)
    if math.isfinite(highest_below) and math.isfinite(lowest_above):
        return (highest_below + lowest_above) / 2
    if math.isfinite(lowest_above):
        return lowest_above * 0.99
    if math.isfinite(highest_below):
        return highest_below * 1.01
    return 100.0
