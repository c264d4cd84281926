"""MinuteWindows: the low and the high of a symbol's trades over the last m minutes, for any m.

Pure: no I/O, no clock, no logging. Minutes are trade time (Binance ``T``) // 60,000; a window of
m minutes at current minute M is the minutes M - m .. M.

Every window ends at the current minute, so only *suffix* extremes matter: a minute whose low
is not below the low of some later minute can never be any window's low again (every window
that holds it holds the later one too, now and after). The lows are kept as a staircase: the
minutes whose low is below every later minute's, in time order, so their lows rise too. The
low of the window of m minutes is then the first step at or after minute M - m: one bisection.
The highs are the same staircase on negated prices.

A new minute low (a trade, or a kline merged in) drops the steps it undercuts and takes its
place among them: O(log s + d) for s steps, d dropped, and each step is dropped at most once.
A random walk leaves O(sqrt(m)) steps in m minutes; a steady trend at most m + 1.
"""

from __future__ import annotations

import math
from bisect import bisect_left

NO_MINUTE = -(1 << 62)  # before any trade or kline


class _Staircase:
    """Suffix minima of per-minute values: ``minutes`` ascending, ``values`` strictly rising."""

    __slots__ = ("minutes", "values")

    def __init__(self) -> None:
        self.minutes: list[int] = []
        self.values: list[float] = []

    def merge(self, minute: int, value: float) -> None:
        """Take ``value`` into ``minute``'s bucket. O(log s + d)."""
        minutes, values = self.minutes, self.values
        i = bisect_left(minutes, minute)
        if i < len(values) and values[i] <= value:
            return  # minute .. now already went as low
        j = i
        while j and values[j - 1] >= value:
            j -= 1  # earlier minutes no lower than this one: no window's extreme any more
        end = i + 1 if i < len(minutes) and minutes[i] == minute else i
        minutes[j:end] = (minute,)
        values[j:end] = (value,)

    def since(self, minute: int) -> float:
        """The least value of the minutes >= ``minute`` (inf if none). O(log s)."""
        i = bisect_left(self.minutes, minute)
        return self.values[i] if i < len(self.values) else math.inf

    def trim(self, minute: int) -> None:
        """Forget the minutes before ``minute``."""
        cut = bisect_left(self.minutes, minute)
        if cut:
            del self.minutes[:cut]
            del self.values[:cut]


class MinuteWindows:
    """A symbol's minute lows and highs, for windows of up to ``span`` minutes (the symbol's
    largest live window). ``minute`` is the latest minute seen; ``low`` and ``high`` are that
    minute's: a trade between them moves no window's low or high."""

    __slots__ = ("_highs", "_lows", "high", "low", "minute", "span")

    def __init__(self, span: int) -> None:
        self.span = span
        self.minute = NO_MINUTE
        self.low = math.inf
        self.high = -math.inf
        self._lows = _Staircase()
        self._highs = _Staircase()  # negated highs

    def see(self, minute: int, low: float, high: float) -> None:
        """A trade (``low == high == price``) or a kline in ``minute``. A later minute becomes
        the current one; one older than the span is ignored. O(log s + d)."""
        if minute > self.minute:
            self.minute = minute
            self.low = math.inf
            self.high = -math.inf
            self._trim()
        elif minute < self.minute - self.span:
            return
        if minute == self.minute:
            if low < self.low:
                self.low = low
            if high > self.high:
                self.high = high
        self._lows.merge(minute, low)
        self._highs.merge(minute, -high)

    def lowest(self, minutes: int) -> float:
        """The lowest price of the window of ``minutes`` (inf when it saw no trade). O(log s)."""
        return self._lows.since(self.minute - minutes)

    def highest(self, minutes: int) -> float:
        """The highest price of the window of ``minutes`` (-inf when it saw no trade)."""
        return -self._highs.since(self.minute - minutes)

    def resize(self, span: int) -> None:
        """Keep windows of up to ``span`` minutes from now on."""
        self.span = span
        self._trim()

    def _trim(self) -> None:
        self._lows.trim(self.minute - self.span)
        self._highs.trim(self.minute - self.span)

    def _check(self) -> None:
        """Assert every internal invariant (for tests)."""
        for stairs in (self._lows, self._highs):
            assert len(stairs.minutes) == len(stairs.values)
            assert all(a < b for a, b in zip(stairs.minutes, stairs.minutes[1:], strict=False))
            assert all(a < b for a, b in zip(stairs.values, stairs.values[1:], strict=False))
            assert all(self.minute - self.span <= m <= self.minute for m in stairs.minutes)
        if self.low < math.inf:
            assert self._lows.minutes[-1] == self.minute
            assert self._lows.values[-1] == self.low
            assert self._highs.values[-1] == -self.high
