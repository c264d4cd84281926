"""MinuteWindows against every minute's low and high kept in a dict."""

from __future__ import annotations

import math

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from matcher.windows import MinuteWindows

SPANS = [1, 5, 15, 60]
prices = st.integers(1, 40).map(float)


class WindowsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.windows = MinuteWindows(5)
        self.minutes: dict[int, tuple[float, float]] = {}
        self.now: int | None = None

    def _see(self, minute: int, low: float, high: float) -> None:
        self.windows.see(minute, low, high)
        if self.now is not None and minute < self.now - self.windows.span:
            return  # older than any window: ignored
        old_low, old_high = self.minutes.get(minute, (math.inf, -math.inf))
        self.minutes[minute] = (min(old_low, low), max(old_high, high))
        self.now = minute if self.now is None else max(self.now, minute)
        self._forget()

    def _forget(self) -> None:
        """What no window of the span can hold is gone for good, even if the span grows."""
        assert self.now is not None
        span = self.windows.span
        self.minutes = {m: v for m, v in self.minutes.items() if m >= self.now - span}

    @rule(step=st.sampled_from([0, 0, 0, 1, 2, 7, 100]), price=prices)
    def trade(self, step: int, price: float) -> None:
        self._see((self.now or 0) + step, price, price)

    @rule(back=st.integers(0, 70), low=prices, extra=st.integers(0, 5))
    def kline(self, back: int, low: float, extra: int) -> None:
        self._see((self.now or 0) - back, low, low + extra)

    @rule(span=st.sampled_from(SPANS))
    def resize(self, span: int) -> None:
        self.windows.resize(span)
        if self.now is not None:
            self._forget()

    @invariant()
    def agrees(self) -> None:
        self.windows._check()
        if self.now is None:
            return
        assert self.windows.minute == self.now
        current = self.minutes.get(self.now, (math.inf, -math.inf))
        assert (self.windows.low, self.windows.high) == current
        for m in range(self.windows.span + 1):
            inside = [v for minute, v in self.minutes.items() if minute >= self.now - m]
            assert self.windows.lowest(m) == min((lo for lo, _ in inside), default=math.inf)
            assert self.windows.highest(m) == max((hi for _, hi in inside), default=-math.inf)


TestWindows = WindowsMachine.TestCase
TestWindows.settings = settings(max_examples=300, stateful_step_count=50, deadline=None)
