"""What every exchange's room provides: the protocol the feed (``matcher.exchanges.feed``) drives.

A room is one exchange's protocols and nothing else: how a connection subscribes to symbols and
stays alive, how a trade is read off the wire, and its REST side (the symbols it trades, the last
prices, 1-minute candles). What is the same for every exchange (placing symbols over
connections, following the book, seeding new symbols, recovering a gap from candles, history for
percent windows, back-pressure) is the feed's, written once.

Trades come out of a connection as ``on_trade(symbol, price, quantity, time_ms)``: the
symbol as the exchange spells it, the price and the base-asset quantity as floats, and the
exchange's trade time in epoch milliseconds. The connection calls it straight from its frame
callback (no queue, no task, no tuple, no logging per trade), always with those four arguments,
so the matcher's tick stays monomorphic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from matcher.feeds import Trade
from shared.settings import Settings
from shared.vocabulary import Exchange

OnTrade = Callable[[str, float, float, int], object]  # symbol, price, quantity, time (epoch ms)
OnGap = Callable[[float, float], None]  # an outage of a connection: started, ended (epoch s)
Minute = tuple[int, float, float]  # (minute index: open time // 60,000, low, high)
MINUTE_MS = 60_000


class RateLimited(Exception):
    """The exchange asked us to wait ``retry_after`` seconds before the next request."""

    def __init__(self, exchange: str, retry_after: float, status: int) -> None:
        super().__init__(f"{exchange} answered {status}: retry after {retry_after:g} s")
        self.retry_after = retry_after


class Connection(Protocol):
    """One WebSocket connection and the symbols it should carry: it connects, subscribes within
    the exchange's limits, keeps itself alive, and reconnects with backoff after any failure,
    reporting each outage to ``on_gap``."""

    name: str
    on_gap: OnGap | None
    connects: int  # sessions opened over its life
    failed_connects: int
    # Since when (epoch s) it has had symbols to carry and no session: None while connected, or
    # while it carries nothing. Read from the probes' thread: a plain attribute.
    unreachable_since: float | None
    last_error: str | None  # why its last connect failed or its last session ended, in words

    @property
    def total_malformed(self) -> int:
        """Frames it could not read, over its life."""
        ...

    def set_symbols(self, symbols: Iterable[str]) -> None:
        """What to carry from now on (at most the room's ``symbols_per_connection``)."""
        ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def stop(self) -> None: ...

    async def run(self) -> None:
        """Connect and stay connected until ``stop``."""
        ...


class Rest(Protocol):
    """The exchange's public REST side. Each call raises ``RateLimited`` when the exchange says
    to wait, anything else on failure; the feed retries."""

    async def trading_symbols(self) -> set[str]:
        """The spot symbols that trade now, as the exchange lists them: read by the feed at
        start and at each refresh, and written by the matcher to the symbols table."""
        ...

    async def prices(self, symbols: Iterable[str]) -> dict[str, float]:
        """The last traded price of each symbol."""
        ...

    async def minutes(self, symbol: str, start_ms: int, end_ms: int) -> list[Minute]:
        """The low and high of every minute from ``start_ms`` to ``end_ms`` that traded, in time
        order (1-minute candles): a gap's range, and the history of percent windows."""
        ...

    async def close(self) -> None: ...


class Room(Protocol):
    """One exchange: its declaration (``shared.vocabulary.EXCHANGES``) and its protocols."""

    @property
    def declared(self) -> Exchange: ...

    @property
    def symbols_per_connection(self) -> int: ...

    def ws_url(self, settings: Settings) -> str:
        """``<NAME>_WS_URL``."""
        ...

    def rest(self, settings: Settings) -> Rest:
        """A REST client on ``<NAME>_REST_URL``, within the limits its settings give."""
        ...

    def connection(
        self, ws_url: str, on_trade: OnTrade, *, name: str, on_gap: OnGap | None, **options: Any
    ) -> Connection:
        """A connection (not yet running) that hands its trades to ``on_trade``. ``options``
        are the connection's own timings (pings, backoff), for tests."""
        ...

    def recorded_trade(self, line: bytes) -> Trade | None:
        """The trade of one line of a recording of its stream (``matcher --replay``), or None
        when the line is not one."""
        ...
