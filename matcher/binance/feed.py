"""The live Binance feed: the ``<symbol>@aggTrade`` stream of every symbol in the book, over as
many combined-stream connections as 1,024 streams each require, following the book as symbols
gain their first alert or lose their last.

``aggTrade`` rather than ``trade``: an aggregate trade is one taker order's fills at one price,
so every price that traded still arrives, in fewer messages (a cascade that sweeps a book sends
one message per price level instead of one per fill).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from matcher.binance.connection import MAX_STREAMS, OnGap, StreamConnection
from matcher.binance.listener import OnTrade

log = logging.getLogger(__name__)

STREAM_KIND = "aggTrade"


def stream_name(symbol: str) -> str:
    return f"{symbol.lower()}@{STREAM_KIND}"


class TradeSink(Protocol):
    """What the feed drives: a matcher (``Matcher`` is one)."""

    ready: asyncio.Event
    book_changed: asyncio.Event

    def tick(self, symbol: str, price: float) -> None: ...

    def symbols(self) -> Iterable[str]: ...


class BinanceFeed:
    def __init__(
        self,
        ws_url: str,
        *,
        streams_per_connection: int = MAX_STREAMS,
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
        self._stopping = asyncio.Event()

    @property
    def streams(self) -> set[str]:
        return set(self._placement)

    async def drive(self, sink: TradeSink) -> None:
        """Feed ``sink`` until ``stop``: subscribe to its symbols, follow them, deliver trades."""
        self._on_trade = sink.tick
        follow = asyncio.create_task(self._follow(sink))
        try:
            await self._stopping.wait()
        finally:
            follow.cancel()
            for connection in self.connections:
                connection.stop()
            await asyncio.gather(*self._tasks, follow, return_exceptions=True)

    def stop(self) -> None:
        self._stopping.set()

    async def _follow(self, sink: TradeSink) -> None:
        while True:
            sink.book_changed.clear()
            self.set_symbols(sink.symbols())
            await sink.book_changed.wait()
            await asyncio.sleep(0.05)  # gather a burst of changes into one round of requests

    def set_symbols(self, symbols: Iterable[str]) -> None:
        """Carry exactly the streams of ``symbols``. A stream keeps its connection while it is
        wanted; new ones fill the connections with room, then open new connections."""
        wanted = {stream_name(symbol) for symbol in symbols}
        changed: set[StreamConnection] = set()
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
        for connection in changed:
            connection.set_streams(s for s, c in self._placement.items() if c is connection)
        if changed:
            log.info(
                "Binance streams",
                extra={"streams": len(self._placement), "connections": len(self.connections)},
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
        self.connections.append(connection)
        self._tasks.append(asyncio.create_task(connection.run(), name=name))
        return connection

    @property
    def messages(self) -> int:
        return sum(c.total_messages for c in self.connections)

    @property
    def malformed(self) -> int:
        return sum(c.total_malformed for c in self.connections)

    @property
    def reconnects(self) -> int:
        return sum(max(0, c.connects - 1) + c.failed_connects for c in self.connections)
