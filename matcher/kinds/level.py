"""``above`` and ``below``: one-shot or repeating price levels, and the ``Levels`` room they (and
decided ``crossing`` alerts) live in.

A level alert lives in its symbol's ``UP`` index (``above``: fires at price >= target) or
``DOWN`` index (``below``: fires at price <= target). When a repeating one fires at trade time t
it becomes a *watcher* in the opposite index (see ``matcher.keys``): for ``above`` it triggers at
the first trade strictly below the target, which is the price going back across. Then, if the
trade time has reached t + cooldown, the alert is live again at once; if not, it cools down until
then. So a price hovering at the target fires the alert at most once per cooldown, and only after
going back: no per-tick scan of fired alerts, no timer per alert, only keys moving between
indexes when the price or the time crosses something.

After a restart (``last_fired_ms`` given) a repeating level alert resumes as a watcher, with its
cooldown counted from its last fire: it never fires twice without the price going back.
"""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING, ClassVar

from matcher.keys import (
    COOLDOWN_MASK,
    COOLDOWN_SHIFT,
    CROSSING_BIT,
    DOWN,
    ID_MASK,
    INDEX_MASK,
    INDEX_SHIFT,
    LIVE_BITS,
    LIVE_MASK,
    LOW_MASK,
    MAX_ALERT_ID,
    ORDER_MASK,
    ORDER_SHIFT,
    UP,
    WATCHER_BIT,
    cooldown_ms,
    index_of,
    key,
    level_order,
    level_threshold,
    value,
)
from matcher.kinds.common import (
    NO_PARAMS,
    BookRow,
    Entry,
    Place,
    Trade,
    check_absent,
    check_common,
    check_params,
    check_price,
    first_reach,
)

if TYPE_CHECKING:
    from matcher.recent import Since
    from matcher.symbol_book import Reactions, SymbolBook

_LOW_NO_INDEX = LOW_MASK & ~(INDEX_MASK << INDEX_SHIFT) & ~WATCHER_BIT
_COOLDOWN_FIELD = COOLDOWN_MASK << COOLDOWN_SHIFT
_FIRED_MORE = WATCHER_BIT | _COOLDOWN_FIELD  # keys that do more than leave when crossed
NEVER = 1 << 62  # no event due (an int: the tick compares ints to ints)
_pack_double = struct.Struct("<d").pack  # matcher.keys.bits, inline
_unpack_uint64 = struct.Struct("<Q").unpack


class Levels:
    """A symbol's ``UP`` and ``DOWN`` indexes: above, below and decided crossing alerts, and
    the watchers of fired repeating ones. Its band is its two extremes, kept in O(1)."""

    rank: ClassVar[int] = 0
    __slots__ = ("_book", "_down_first", "_up_first", "alerts", "highest_down", "lowest_up")

    def __init__(self, book: SymbolBook) -> None:
        self._book = book
        self.alerts = 0
        self.lowest_up = math.inf  # the level of the first UP key, and of the first DOWN key
        self.highest_down = -math.inf
        self._up_first: int | None = None
        self._down_first: int | None = None
        book.own(UP, self)
        book.own(DOWN, self)

    def index_for(self, group: int) -> int:
        return group  # UP or DOWN: fixed numbers

    def counted(self, index: int, step: int) -> None:
        self.alerts += step

    @property
    def size(self) -> int:
        return self.alerts

    @property
    def span(self) -> int:
        return 0

    def band(self) -> tuple[float, float, int]:
        return self.highest_down, self.lowest_up, NEVER

    def trade(
        self, price: float, time_ms: int, rearmed: bool, keys: dict[int, int], out: Reactions
    ) -> None:
        if price >= self.lowest_up:
            self._cross(UP, price, time_ms, keys, out.fired)
        if price <= self.highest_down:
            self._cross(DOWN, price, time_ms, keys, out.fired)

    def _cross(
        self, index: int, price: float, time_ms: int, keys: dict[int, int], fired: list[int]
    ) -> None:
        book = self._book
        level = book.indexes[index]
        assert level is not None, "a finite extreme has an index"
        crossed = level.pop_upto(level_threshold(index, price))
        moved: list[int] = []  # keys back in an index: watchers, re-armed alerts
        cooling: list[int] = []
        for crossed_key in crossed:
            alert_id = crossed_key & ID_MASK
            if not crossed_key & _FIRED_MORE:  # a once alert: fires and leaves
                fired.append(alert_id)
                del keys[alert_id]
                self.alerts -= 1
                book.size -= 1
            elif crossed_key & WATCHER_BIT:  # the price went back across: re-armed, or cooling
                end = keys[alert_id] >> LIVE_BITS
                live = rearmed(crossed_key)
                if time_ms >= end:
                    keys[alert_id] = live
                    moved.append(live)
                else:
                    keys[alert_id] = entry = (end << LIVE_BITS) | live
                    cooling.append(entry)
            else:  # a repeating alert fires
                fired.append(alert_id)
                end = time_ms + cooldown_ms(crossed_key)
                if crossed_key & CROSSING_BIT:  # next fire on the other side, after cooling
                    keys[alert_id] = entry = (end << LIVE_BITS) | flipped(crossed_key)
                    cooling.append(entry)
                else:  # next fire after the price has gone back, and the cooldown
                    watching = watcher(crossed_key)
                    keys[alert_id] = (end << LIVE_BITS) | watching
                    moved.append(watching)
        if moved:
            book.insert(moved)
            self.refresh()
        elif index == UP:
            self._refresh_up()
        else:
            self._refresh_down()
        if cooling:
            book.cool(cooling)

    def refresh(self) -> None:
        """The extremes, from the first keys of ``UP`` and ``DOWN``. O(1)."""
        self._refresh_up()
        self._refresh_down()

    def _refresh_up(self) -> None:
        up = self._book.indexes[UP]
        first = up.first if up is not None else None
        if first != self._up_first:  # decoding the level is the dearer part
            self._up_first = first
            self.lowest_up = math.inf if first is None else value(first >> ORDER_SHIFT)

    def _refresh_down(self) -> None:
        down = self._book.indexes[DOWN]
        first = down.first if down is not None else None
        if first != self._down_first:
            self._down_first = first
            self.highest_down = (
                -math.inf if first is None else value(~(first >> ORDER_SHIFT) & ORDER_MASK)
            )

    def check(self, keys: dict[int, int]) -> int:
        seen = 0
        for index in (UP, DOWN):
            index_keys = self._book.indexes[index]
            for held in index_keys or ():
                seen += 1
                entry = keys[held & ID_MASK]
                if held & WATCHER_BIT:
                    assert not held & CROSSING_BIT
                    assert entry & LIVE_MASK == held
                    assert entry >> LIVE_BITS > 0
                    assert cooldown_ms(held), "only repeating alerts watch"
                else:
                    assert entry == held
        extremes = (self.lowest_up, self.highest_down)
        self.refresh()
        assert extremes == (self.lowest_up, self.highest_down)
        return seen


# The places of the levels' keys (constant objects: the symbol book caches their index bits).
PLACES: dict[int, Place] = {UP: (Levels, UP), DOWN: (Levels, DOWN)}


class Level:
    """``above`` (the ``UP`` index) or ``below`` (``DOWN``)."""

    def __init__(self, name: str, index: int) -> None:
        self.name = name
        self.index = index
        self._place = PLACES[index]
        self._index_bits = index << INDEX_SHIFT
        # level_order, as one XOR of the target's bits: a DOWN order is the inverted bits.
        self._flip = 0 if index == UP else ORDER_MASK

    def enter(self, row: BookRow) -> Entry:
        """O(1). A once alert, the most common row by far at a start-up, passes one test and
        has its key made inline: the load of 10^6 alerts is bound by this and decoding."""
        alert_id, _, _, target, params, cooldown, reference, fire_count, last_fired_ms, _ = row
        if (
            last_fired_ms is None
            and fire_count >= 0
            and params is None
            and reference is None
            and cooldown == 0
            and 0 < alert_id <= MAX_ALERT_ID
            and type(target) is float
            and 0 < target < math.inf
        ):
            order = _unpack_uint64(_pack_double(target))[0] ^ self._flip
            return self._place, (order << ORDER_SHIFT) | self._index_bits | alert_id
        check_common(row)
        target = check_price("target_price", target)
        check_params(row, NO_PARAMS)
        check_absent("reference_price", reference, self.name)
        live = key(level_order(self.index, target), self.index, alert_id, cooldown)
        if last_fired_ms is None:
            return self._place, live
        watching = watcher(live)
        end = last_fired_ms + cooldown_ms(live)
        return PLACES[index_of(watching)], (end << LIVE_BITS) | watching

    def catch_up(self, row: BookRow, since: Since) -> tuple[BookRow, Trade | None]:
        assert row.target_price is not None, "entered: a target"
        return row, first_reach(self.index, row.target_price, since.counted)


def watcher(live: int) -> int:
    """The watcher of a fired level alert: the strict opposite condition, in the opposite index.
    An ``UP`` alert at bits b watches ``DOWN`` at b - 1 (price < X is price <= the double below
    X); a ``DOWN`` one watches ``UP`` at b + 1."""
    order = live >> ORDER_SHIFT
    low = live & _LOW_NO_INDEX
    if index_of(live) == UP:
        order = ~(order - 1) & ORDER_MASK
        return (order << ORDER_SHIFT) | (DOWN << INDEX_SHIFT) | WATCHER_BIT | low
    order = (~order & ORDER_MASK) + 1
    return (order << ORDER_SHIFT) | (UP << INDEX_SHIFT) | WATCHER_BIT | low


def rearmed(watching: int) -> int:
    """The live alert a watcher stands for (the inverse of ``watcher``)."""
    order = watching >> ORDER_SHIFT
    low = watching & _LOW_NO_INDEX
    if index_of(watching) == DOWN:
        order = (~order & ORDER_MASK) + 1
        return (order << ORDER_SHIFT) | (UP << INDEX_SHIFT) | low
    order = ~(order - 1) & ORDER_MASK
    return (order << ORDER_SHIFT) | (DOWN << INDEX_SHIFT) | low


def flipped(live: int) -> int:
    """The same target on the other side: where a fired crossing alert waits next."""
    order = ~(live >> ORDER_SHIFT) & ORDER_MASK
    index = UP + DOWN - index_of(live)
    return (order << ORDER_SHIFT) | (index << INDEX_SHIFT) | (live & _LOW_NO_INDEX)


ABOVE = Level("above", UP)
BELOW = Level("below", DOWN)
