"""The tick: one trade in, its price kept, the book matched, what fired handed to the claims.

The hot path, so it is one method (``Tick.trade``) that a push feed calls straight from its frame
callback, with the same four arguments every time: no I/O, no waiting, no logging, no allocation
for a quiet trade. The book it matches is replaced whole when the shard is reloaded
(``matcher.sync``), by assigning ``book``.
"""

from __future__ import annotations

from collections.abc import Sequence

from matcher.book import AlertBook
from matcher.feeds import Feed
from matcher.gap import GapPrices
from matcher.pipeline import ClaimPipeline
from matcher.prices import PriceRecorder
from matcher.sink import PushFeed, TradeSink


class Tick:
    def __init__(self, pipeline: ClaimPipeline, prices: PriceRecorder) -> None:
        self.recent = prices.recent  # what each symbol traded lately, for alerts added late
        self.book = AlertBook(recent=self.recent)
        self.count = 0  # trades matched
        # Open from a lost database sync until the reload is applied: what traded meanwhile.
        self.gap: GapPrices | None = None
        self._pipeline = pipeline
        self._prices = prices
        self._price_minutes = prices.minutes

    def trade(self, symbol: str, price: float, quantity: float, time_ms: int) -> bool:
        """One trade at the exchange's trade time: keep its price, match it and hand what fired
        to the claims. No I/O, no waiting; whether anything fired. O(1) for a quiet tick.
        ``quantity`` (base asset; 0 for a price that is not a trade) is not matched yet: the
        volume kinds will count it."""
        self.count += 1
        # The price slot (matcher.prices.Minute), updated in place; written once a second by
        # the price writer. Inline rather than a call: a call costs more than the update. Its
        # bucket's extremes (matcher.recent) lie within the minute's, so a trade inside them
        # costs the two comparisons it did before they were kept.
        minute = self._price_minutes.get(symbol)
        if minute is not None and time_ms < minute.bucket_end_ms:
            minute.close = price
            minute.at_ms = time_ms
            if price > minute.bucket_high:
                minute.bucket_high = price
                minute.bucket_high_ms = time_ms
                if price > minute.high:
                    minute.high = price
            elif price < minute.bucket_low:
                minute.bucket_low = price
                minute.bucket_low_ms = time_ms
                if price < minute.low:
                    minute.low = price
        else:  # a new symbol, or a new bucket (at most five a second)
            self._prices.open_bucket(symbol, price, time_ms)
        if self.gap is not None:
            self.gap.see(symbol, price, time_ms)
        fired = self.book.match(symbol, price, time_ms)
        if fired:
            self.offer(symbol, fired, price, time_ms)
            return True
        return False

    def offer(self, symbol: str, fired: Sequence[int], price: float, time_ms: int) -> None:
        """Hand alerts ``fired`` at ``price`` to the claims."""
        # A crossing alert's reference is recorded before any fire of it is claimed.
        self.note_references()
        self._pipeline.offer(fired, price, time_ms, self.book.take_bases(fired))

    def offer_late(self) -> None:
        """Hand the fires of alerts added after trades that crossed them (``AlertBook.add``,
        ``load``) to the claims, each at its own trade; and the references decided meanwhile."""
        for symbol, price, time_ms, fired in self.book.take_late():
            self.offer(symbol, fired, price, time_ms)
        self.note_references()

    def note_references(self) -> None:
        """Crossing references the book decided since the last call, to be recorded."""
        references = self.book.take_references()
        if references:
            self._pipeline.note_references(references)

    async def run(self, feed: Feed, sink: TradeSink) -> None:
        """Match ``feed`` until it ends: a push feed drives ``sink``; the trades of a pulled
        one are matched here, waiting for the claims only when they are far behind."""
        if isinstance(feed, PushFeed):
            try:
                await feed.drive(sink)
            finally:
                feed.stop()
            return
        trade, room = self.trade, self._pipeline.room
        async for symbol, price, time_ms in feed:
            if trade(symbol, price, 0.0, time_ms):
                await room()  # returns at once unless the claims are far behind
