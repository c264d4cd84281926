"""What a push feed drives, and what a push feed is.

A push feed (an exchange's live feed, ``matcher.feeds.SimulatedFeed``) calls its sink itself,
with no queue between its source and the book; the matcher (``matcher.service.Matcher``) is the
sink.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from typing import Protocol, runtime_checkable

from matcher.figures import FeedFigures
from shared.version import Version


class TradeSink(Protocol):
    """What a push feed drives: a matcher."""

    @property
    def book_version(self) -> Version:
        """Bumped whenever the book's alerts change: the symbols may have too."""
        ...

    def trade(self, symbol: str, price: float, quantity: float, time_ms: int) -> object:
        """One trade of ``quantity`` (base asset) at ``price``, at its trade time (epoch
        milliseconds). No I/O, no waiting. A price that is not a trade (a seed, a gap's high or
        low) comes with quantity 0."""
        ...

    def tick(self, symbol: str, price: float, time_ms: int) -> bool:
        """A price with no quantity (a simulated step): ``trade`` with quantity 0; whether
        anything fired."""
        ...

    def symbols(self) -> Iterable[str]:
        """The symbols with at least one live alert: what to follow."""
        ...

    def nearest(self, symbol: str) -> tuple[float, float]:
        """The next prices below and above that would cross something (-inf, inf if none)."""
        ...

    def lowest_undecided(self, symbol: str) -> float:
        """The lowest target of the crossing alerts that wait for their reference price (inf
        if none): any trade decides them, so ``nearest`` leaves them out."""
        ...

    async def full(self) -> None:
        """Returns when the sink wants no more trades for now."""
        ...

    async def room(self) -> None:
        """Returns when the sink takes trades again."""
        ...

    def history_wanted(self) -> dict[str, int]:
        """Symbols whose percent windows want history, and how many minutes of it."""
        ...

    def fill_minutes(self, symbol: str, minutes: Iterable[tuple[int, float, float]]) -> None:
        """Minutes of history (minute index, low, high), from 1-minute candles."""
        ...

    async def listed(self, exchange: str, symbols: Set[str]) -> None:
        """The symbols ``exchange`` trades now, as its list said (at start and every
        refresh): the ones alerts may name."""
        ...


@runtime_checkable
class PushFeed(Protocol):
    async def drive(self, sink: TradeSink) -> None:
        """Deliver trades to ``sink`` until ``stop``."""
        ...

    def stop(self) -> None: ...

    def figures(self) -> FeedFigures: ...

    def waiting_for(self) -> str | None:
        """What keeps the feed from delivering (its exchange out of reach), for ``/readyz``;
        None when nothing does. Called from the probes' thread: plain attributes only."""
        ...
