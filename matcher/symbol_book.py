"""SymbolBook: one symbol's alerts in every phase, the band a quiet tick is checked against, and
the slow path of a tick that leaves the band.

Pure: no I/O, no clock, no logging. A symbol has up to fifteen sorted indexes (``matcher.keys``:
the ``UP`` and ``DOWN`` levels, the undecided crossings, twelve percent indexes), a cooling index
of fired repeating alerts sorted by the end of their cooldown, and, when it has percent alerts,
its minute windows (``matcher.windows``).

The band. ``AlertBook.match`` answers a trade without looking further when
``lo < price < hi and time_ms < next_event_ms``. These three numbers hold:

- ``hi``: the lowest price that may change anything: the lowest ``UP`` level (an ``above``
  target, a crossing's, or a ``below`` watcher's), every ``up_pct`` index's float bound (its
  smallest percent's threshold over its window's low, rounded to the safe side), and, when the
  symbol tracks minutes, the double just above the current minute's high;
- ``lo``: the same downwards;
- ``next_event_ms``: the end of the current minute (when the symbol tracks minutes: a new minute
  moves every window), the earliest end of a cooldown, or -inf while a crossing alert waits for
  its reference (its first trade must take the slow path).

A price inside the current minute's range moves no window's low or high, so with everything
else unchanged no threshold moves either: the band is exact for levels and safe for percents.
Everything else takes the slow path, ``trade``: it merges the trade into the minute buckets,
ends the cooldowns that are due, takes the crossed runs off the front of the indexes
(O(log n + k)), moves fired repeating alerts to their next phase, decides undecided crossings,
and rebuilds the band: O(log n + k) in all, plus O(log s) per live percent index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matcher.keys import (
    COOLDOWN_MASK,
    COOLDOWN_SHIFT,
    CROSSING_BIT,
    DOWN,
    ID_MASK,
    INDEXES,
    LIVE_BITS,
    LIVE_MASK,
    LOW_MASK,
    ORDER_MASK,
    ORDER_SHIFT,
    PERCENT,
    SLOT_MASK,
    SLOT_SHIFT,
    UNDECIDED,
    UP,
    WATCHER_BIT,
    bits,
    cooldown_ms,
    index_of,
    level_threshold,
    value,
)
from matcher.kinds.crossing import decided
from matcher.kinds.level import flipped, rearmed, watcher
from matcher.kinds.percent import (
    IS_DOWN,
    WINDOW_OF,
    WINDOWS,
    down_bound,
    reached_down,
    reached_up,
    up_bound,
)
from matcher.sorted_keys import SortedKeys
from matcher.windows import NO_MINUTE, MinuteWindows

MINUTE_MS = 60_000
NEVER = 1 << 62  # next_event_ms with nothing due (an int: the tick compares ints to ints)
NOW = -NEVER  # next_event_ms when the next trade must take the slow path, whatever its time
_COOLDOWN_FIELD = COOLDOWN_MASK << COOLDOWN_SHIFT
_FIRED_MORE = WATCHER_BIT | _COOLDOWN_FIELD  # keys that do more than leave when crossed
_PERCENT_INDEXES = range(PERCENT, INDEXES)
_UP_INDEXES = range(PERCENT, INDEXES, 2)
_DOWN_INDEXES = range(PERCENT + 1, INDEXES, 2)


def _first(keys: SortedKeys) -> int:
    first = keys.first
    assert first is not None, "only called on a non-empty index"
    return first


def _above(price: float) -> float:
    """The double just above ``price``: price <= x is price < _above(x)."""
    return value(bits(price) + 1) if price < math.inf else math.inf


def _below(price: float) -> float:
    """The double just below ``price``: price >= x is price > _below(x)."""
    return value(bits(price) - 1) if 0 < price < math.inf else -math.inf


class SymbolBook:
    """One symbol's alerts. ``keys`` is the book's alert id -> key map, which the slow path
    keeps up to date for the alerts it moves."""

    __slots__ = (
        "_block_size",
        "_down_first",
        "_up_first",
        "_wanted",
        "cooling",
        "down_ceiling",
        "hi",
        "highest_down",
        "indexes",
        "lo",
        "lowest_up",
        "nearest_above",
        "nearest_below",
        "next_event_ms",
        "size",
        "slot",
        "symbol",
        "up_floor",
        "window_alerts",
        "windows",
    )

    def __init__(self, symbol: str, slot: int, block_size: int, wanted: dict[str, int]) -> None:
        self.symbol = symbol
        self.slot = slot
        self.size = 0  # alerts in every phase
        self.indexes: list[SortedKeys | None] = [None] * INDEXES
        self.cooling = SortedKeys(block_size)
        self.windows: MinuteWindows | None = None
        self.window_alerts = [0] * len(WINDOWS)  # percent alerts per window, every phase
        self.lowest_up = math.inf  # the level of the first UP key, and of the first DOWN key
        self.highest_down = -math.inf
        self._up_first: int | None = None
        self._down_first: int | None = None
        self.lo = -math.inf
        self.hi = math.inf
        self.next_event_ms = NEVER
        self.nearest_below = -math.inf
        self.nearest_above = math.inf
        self.up_floor = math.inf  # the lowest up_pct bound of the band, and the highest down_pct
        self.down_ceiling = -math.inf
        self._block_size = block_size
        self._wanted = wanted  # the book's symbol -> minutes of history wanted

    # Where alerts are kept ---------------------------------------------------------------------

    def where(self, entry: int) -> tuple[SortedKeys, int]:
        """The index that keeps ``entry`` (a key, or a key with the end of its cooldown above
        it) and the int it keeps for it: a cooling alert is kept whole in the cooling index, a
        watcher as its key in a level index."""
        if entry > LIVE_MASK:
            if not entry & WATCHER_BIT:
                return self.cooling, entry
            key = entry & LIVE_MASK
        else:
            key = entry  # the very int the book maps the id to: one object per alert
        index = index_of(key)
        keys = self.indexes[index]
        if keys is None:
            keys = self.indexes[index] = SortedKeys(self._block_size)
        return keys, key

    def counted(self, entry: int, step: int) -> None:
        """Count an alert in (step 1) or out (-1); a percent alert follows its window."""
        self.size += step
        index = index_of(entry)
        if index >= PERCENT:
            number = (index - PERCENT) >> 1
            self.window_alerts[number] += step
            if self.window_alerts[number] == (1 if step > 0 else 0):  # a window starts or ends
                self._fit_windows()

    def place(self, entry: int) -> None:
        """Add one alert in any phase. O(log n). The band is the caller's to rebuild."""
        keys, kept = self.where(entry)
        keys.add(kept)
        self.counted(entry, 1)

    def unplace(self, entry: int) -> None:
        """Remove one alert in any phase. O(log n). The band is the caller's to rebuild."""
        keys, kept = self.where(entry)
        found = keys.discard(kept)
        assert found, "every alert of the book is in its index"
        self.counted(entry, -1)

    def _fit_windows(self) -> None:
        span = max((WINDOWS[n] for n, count in enumerate(self.window_alerts) if count), default=0)
        windows = self.windows
        if not span:
            self.windows = None
            self._wanted.pop(self.symbol, None)
        elif windows is None or span > windows.span:
            self._wanted[self.symbol] = span  # the windows start without their history
            if windows is None:
                self.windows = MinuteWindows(span)
            else:
                windows.resize(span)
        elif span < windows.span:
            windows.resize(span)

    # The slow path ----------------------------------------------------------------------------

    def trade(
        self,
        price: float,
        time_ms: int,
        keys: dict[int, int],
        fired: list[int],
        references: list[tuple[int, float]],
        bases: dict[int, float],
    ) -> None:
        """A trade outside the band: append the ids it fires to ``fired``, the crossing
        decisions it makes to ``references`` and, for each percent alert it fires, the window's
        low or high the move was measured from to ``bases``; move every alert it concerns,
        rebuild the band.
        O(log n + k) for k alerts moved, plus O(log s) per live percent index."""
        # A window's threshold can only drop below its bound in the band through this trade
        # becoming the window's new low (high), which cannot fire it: a percent direction whose
        # every bound this price is short of fires nothing, unless cooled alerts came back.
        up_floor, down_ceiling = self.up_floor, self.down_ceiling
        windows = self.windows
        if windows is not None:
            windows.see(time_ms // MINUTE_MS, price, price)
        first_cooling = self.cooling.first
        if first_cooling is not None and time_ms >= first_cooling >> LIVE_BITS:
            self._end_cooldowns(time_ms, keys)
            up_floor, down_ceiling = -math.inf, math.inf
        if price >= self.lowest_up:
            self._cross_level(UP, price, time_ms, keys, fired)
        if price <= self.highest_down:
            self._cross_level(DOWN, price, time_ms, keys, fired)
        if windows is not None and (price >= up_floor or price <= down_ceiling):
            directions = _UP_INDEXES if price >= up_floor else ()
            if price <= down_ceiling:
                directions = _PERCENT_INDEXES if directions else _DOWN_INDEXES
            self._cross_percents(windows, directions, price, time_ms, keys, fired, bases)
        if self.indexes[UNDECIDED]:
            self._decide(price, keys, references)  # after the crossings: it must not fire now
        self.rebuild()

    def _end_cooldowns(self, time_ms: int, keys: dict[int, int]) -> None:
        done = self.cooling.pop_upto(((time_ms + 1) << LIVE_BITS) - 1)
        live = [entry & LIVE_MASK for entry in done]
        for key in live:
            keys[key & ID_MASK] = key
        self._insert(live)
        self.refresh_levels()

    def _cross_level(
        self, index: int, price: float, time_ms: int, keys: dict[int, int], fired: list[int]
    ) -> None:
        level = self.indexes[index]
        assert level is not None, "a finite extreme has an index"
        crossed = level.pop_upto(level_threshold(index, price))
        moved: list[int] = []  # keys back in an index: watchers, re-armed alerts
        cooling: list[int] = []
        for key in crossed:
            alert_id = key & ID_MASK
            if not key & _FIRED_MORE:  # a once alert: fires and leaves
                fired.append(alert_id)
                del keys[alert_id]
                self.size -= 1  # (a level key: no window to count out)
            elif key & WATCHER_BIT:  # the price went back across: re-armed, or cooling still
                end = keys[alert_id] >> LIVE_BITS
                live = rearmed(key)
                if time_ms >= end:
                    keys[alert_id] = live
                    moved.append(live)
                else:
                    keys[alert_id] = entry = (end << LIVE_BITS) | live
                    cooling.append(entry)
            else:  # a repeating alert fires
                fired.append(alert_id)
                end = time_ms + cooldown_ms(key)
                if key & CROSSING_BIT:  # next fire on the other side, after the cooldown
                    keys[alert_id] = entry = (end << LIVE_BITS) | flipped(key)
                    cooling.append(entry)
                else:  # next fire after the price has gone back, and the cooldown
                    watching = watcher(key)
                    keys[alert_id] = (end << LIVE_BITS) | watching
                    moved.append(watching)
        if moved:
            self._insert(moved)
            self.refresh_levels()
        elif index == UP:
            self._refresh_up()
        else:
            self._refresh_down()
        if cooling:
            cooling.sort()
            self.cooling.insert_sorted(cooling)

    def _cross_percents(
        self,
        windows: MinuteWindows,
        directions: Sequence[int],
        price: float,
        time_ms: int,
        keys: dict[int, int],
        fired: list[int],
        bases: dict[int, float],
    ) -> None:
        indexes = self.indexes
        cooling: list[int] = []
        for index in directions:
            percents = indexes[index]
            if not percents:
                continue
            smallest = _first(percents) >> ORDER_SHIFT
            if IS_DOWN[index]:
                base = windows.highest(WINDOW_OF[index])
                if price > down_bound(base, smallest):
                    continue
                reached = reached_down(price, base)
            else:
                base = windows.lowest(WINDOW_OF[index])
                if price < up_bound(base, smallest):
                    continue
                reached = reached_up(price, base)
            if reached < smallest:
                continue
            left = 0  # once alerts, which leave the book
            for key in percents.pop_upto((min(reached, ORDER_MASK) << ORDER_SHIFT) | LOW_MASK):
                alert_id = key & ID_MASK
                fired.append(alert_id)
                bases[alert_id] = base
                if key & _COOLDOWN_FIELD:
                    entry = ((time_ms + cooldown_ms(key)) << LIVE_BITS) | key
                    keys[alert_id] = entry
                    cooling.append(entry)
                else:
                    del keys[alert_id]
                    left += 1
            if left:
                number = (index - PERCENT) >> 1
                self.size -= left
                self.window_alerts[number] -= left
                if not self.window_alerts[number]:
                    self._fit_windows()
        if cooling:
            cooling.sort()
            self.cooling.insert_sorted(cooling)

    def _decide(
        self, price: float, keys: dict[int, int], references: list[tuple[int, float]]
    ) -> None:
        undecided = self.indexes[UNDECIDED]
        assert undecided is not None
        live = [decided(key, price) for key in undecided.pop_upto(LIVE_MASK)]
        for key in live:
            keys[key & ID_MASK] = key
            references.append((key & ID_MASK, price))
        self._insert(live)
        self.refresh_levels()

    def _insert(self, moved: list[int]) -> None:
        """Put keys back into their indexes, each index's share in one sorted merge."""
        if not moved:
            return
        if len(moved) == 1:
            keys, kept = self.where(moved[0])
            keys.add(kept)
            return
        by_index: dict[int, list[int]] = {}
        for key in moved:
            by_index.setdefault(index_of(key), []).append(key)
        for share in by_index.values():
            share.sort()
            self.where(share[0])[0].insert_sorted(share)

    # The band ---------------------------------------------------------------------------------

    def refresh_levels(self) -> None:
        """The level extremes, from the first keys of ``UP`` and ``DOWN``. O(1)."""
        self._refresh_up()
        self._refresh_down()

    def _refresh_up(self) -> None:
        up = self.indexes[UP]
        first = up.first if up is not None else None
        if first != self._up_first:  # decoding the level is the dearer part
            self._up_first = first
            self.lowest_up = math.inf if first is None else value(first >> ORDER_SHIFT)

    def _refresh_down(self) -> None:
        down = self.indexes[DOWN]
        first = down.first if down is not None else None
        if first != self._down_first:
            self._down_first = first
            self.highest_down = (
                -math.inf if first is None else value(~(first >> ORDER_SHIFT) & ORDER_MASK)
            )

    def rebuild(self) -> None:
        """Recompute the band from the indexes, the cooling index and the windows.
        O(1) plus O(log s) per live percent index."""
        first_cooling = self.cooling.first
        next_event_ms = NEVER if first_cooling is None else first_cooling >> LIVE_BITS
        windows = self.windows
        if windows is None:  # levels only: the band is their extremes
            self.up_floor, self.down_ceiling = math.inf, -math.inf
            lo = self.nearest_below = self.highest_down
            hi = self.nearest_above = self.lowest_up
            if self.indexes[UNDECIDED]:
                next_event_ms = NOW
            self.lo, self.hi, self.next_event_ms = lo, hi, next_event_ms
            return
        up_floor, down_ceiling = math.inf, -math.inf
        indexes = self.indexes
        for index in _PERCENT_INDEXES:
            percents = indexes[index]
            if not percents:
                continue
            smallest = _first(percents) >> ORDER_SHIFT
            if IS_DOWN[index]:
                bound = down_bound(windows.highest(WINDOW_OF[index]), smallest)
                if bound > down_ceiling:
                    down_ceiling = bound
            else:
                bound = up_bound(windows.lowest(WINDOW_OF[index]), smallest)
                if bound < up_floor:
                    up_floor = bound
        self.up_floor, self.down_ceiling = up_floor, down_ceiling
        lo = self.nearest_below = max(self.highest_down, down_ceiling)
        hi = self.nearest_above = min(self.lowest_up, up_floor)
        if windows.minute == NO_MINUTE or indexes[UNDECIDED]:
            next_event_ms = NOW
        else:  # a new minute moves the windows; inside this one's range, nothing moves
            next_event_ms = min(next_event_ms, (windows.minute + 1) * MINUTE_MS)
            lo = max(lo, _below(windows.low))
            hi = min(hi, _above(windows.high))
        self.lo, self.hi, self.next_event_ms = lo, hi, next_event_ms

    def _check(self, keys: dict[int, int]) -> int:
        """Assert every invariant of this symbol's alerts (for tests); how many it holds."""
        seen = 0
        window_alerts = [0] * len(WINDOWS)
        for index, index_keys in enumerate(self.indexes):
            if index_keys is None:
                continue
            index_keys._check()
            for key in index_keys:
                seen += 1
                assert index_of(key) == index
                assert (key >> SLOT_SHIFT) & SLOT_MASK == self.slot
                entry = keys[key & ID_MASK]
                if key & WATCHER_BIT:
                    assert index in (UP, DOWN)
                    assert not key & CROSSING_BIT
                    assert entry & LIVE_MASK == key
                    assert entry >> LIVE_BITS > 0
                    assert cooldown_ms(key), "only repeating alerts watch"
                else:
                    assert entry == key
                if index == UNDECIDED:
                    assert key & CROSSING_BIT
                if index >= PERCENT:
                    window_alerts[(index - PERCENT) >> 1] += 1
        self.cooling._check()
        for entry in self.cooling:
            seen += 1
            key = entry & LIVE_MASK
            assert keys[key & ID_MASK] == entry
            assert entry >> LIVE_BITS > 0
            assert not key & WATCHER_BIT
            assert cooldown_ms(key)
            assert (key >> SLOT_SHIFT) & SLOT_MASK == self.slot
            assert index_of(key) in (UP, DOWN) or index_of(key) >= PERCENT
            if index_of(key) >= PERCENT:
                window_alerts[(index_of(key) - PERCENT) >> 1] += 1
        assert seen == self.size
        assert window_alerts == self.window_alerts
        span = max((WINDOWS[n] for n, count in enumerate(window_alerts) if count), default=0)
        if span:
            assert self.windows is not None
            assert self.windows.span == span
            self.windows._check()
        else:
            assert self.windows is None
        band = (self.lo, self.hi, self.next_event_ms, self.up_floor, self.down_ceiling)
        levels = (self.lowest_up, self.highest_down)
        self.refresh_levels()
        self.rebuild()
        assert band == (self.lo, self.hi, self.next_event_ms, self.up_floor, self.down_ceiling)
        assert levels == (self.lowest_up, self.highest_down)
        return seen
