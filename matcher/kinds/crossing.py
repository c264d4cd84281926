"""``crossing``: fires at the first trade on the other side of the target from the reference
price (reaching the target counts), then, if repeating, on each crossing back and forth.

Once its reference is known a crossing alert *is* a level alert, in the ``Levels`` room:
``above`` if the reference is below the target, ``below`` otherwise, with the ``crossing`` bit
set so that a fire moves it to the other side (cooling down first) instead of making it a
watcher. Without a recorded reference it waits in the ``Undecided`` room, whose band makes every
trade of the symbol take the slow path; the first trade decides it (and does not fire it), and
the book reports the decision for the service to record. A recorded reference is never
re-decided: after ``fire_count`` fires the alert waits on the side ``fire_count`` flips away
from the first, cooling down until its last fire plus its cooldown.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

from matcher.keys import (
    CROSSING_BIT,
    DOWN,
    ID_MASK,
    INDEX_SHIFT,
    LIVE_MASK,
    LOW_MASK,
    ORDER_SHIFT,
    UNDECIDED,
    UP,
    bits,
    key,
    level_order,
    value,
)
from matcher.kinds.common import (
    NO_PARAMS,
    BookRow,
    Entry,
    Place,
    Trade,
    check_common,
    check_params,
    check_price,
    cooling,
    first_reach,
)
from matcher.kinds.level import PLACES, Levels

if TYPE_CHECKING:
    from matcher.recent import Since
    from matcher.symbol_book import Reactions, SymbolBook

NOW = -(1 << 62)  # next_event_ms: the next trade must take the slow path, whatever its time


class Undecided:
    """A symbol's crossing alerts that wait for their reference: any trade decides them."""

    rank: ClassVar[int] = 9  # after every other room: the deciding trade must not fire them
    __slots__ = ("_book", "alerts")

    def __init__(self, book: SymbolBook) -> None:
        self._book = book
        self.alerts = 0
        book.own(UNDECIDED, self)

    def index_for(self, group: int) -> int:
        return UNDECIDED

    def counted(self, index: int, step: int) -> None:
        self.alerts += step

    @property
    def size(self) -> int:
        return self.alerts

    @property
    def span(self) -> int:
        return 0

    def band(self) -> tuple[float, float, int]:
        return -math.inf, math.inf, NOW

    def refresh(self) -> None:
        pass

    def trade(
        self, price: float, time_ms: int, rearmed: bool, keys: dict[int, int], out: Reactions
    ) -> None:
        book = self._book
        undecided = book.indexes[UNDECIDED]
        assert undecided is not None
        live = [decided(waiting, price) for waiting in undecided.pop_upto(LIVE_MASK)]
        for decided_key in live:
            alert_id = decided_key & ID_MASK
            keys[alert_id] = decided_key
            out.references.append((alert_id, price))
        book.rehouse(live, self, Levels)

    def check(self, keys: dict[int, int]) -> int:
        waiting = self._book.indexes[UNDECIDED]
        for held in waiting or ():
            assert held & CROSSING_BIT
            assert keys[held & ID_MASK] == held
        return len(waiting or ())


_WAITING: Place = (Undecided, UNDECIDED)


class Crossing:
    name = "crossing"

    def enter(self, row: BookRow) -> Entry:
        check_common(row)
        target = check_price("target_price", row.target_price)
        check_params(row, NO_PARAMS)
        alert_id, cooldown, reference = row.id, row.cooldown_seconds, row.reference_price
        if reference is None:
            if row.fire_count or row.last_fired_ms is not None:
                raise ValueError("reference_price must be given for a crossing alert that fired")
            return _WAITING, key(bits(target), UNDECIDED, alert_id, cooldown, CROSSING_BIT)
        reference = check_price("reference_price", reference)
        index = (UP if reference < target else DOWN) ^ (row.fire_count & 1)
        live = key(level_order(index, target), index, alert_id, cooldown, CROSSING_BIT)
        return PLACES[index], cooling(live, row.last_fired_ms)

    def catch_up(self, row: BookRow, since: Since) -> tuple[BookRow, Trade | None]:
        """Without a recorded reference it takes the last trade at or before its creation, and
        the trades after that one count; without one known, the next trade decides, as for any
        crossing alert without a reference. Then it is a level from that side."""
        target, reference = row.target_price, row.reference_price
        assert target is not None, "entered: a target"
        counted = since.counted
        if reference is None:
            reference, counted = since.reference, since.after
            if reference is None:
                return row, None
            row = row._replace(reference_price=reference)
        return row, first_reach(UP if reference < target else DOWN, target, counted)


def decided(undecided: int, price: float) -> int:
    """The live key of an undecided crossing alert whose reference is ``price``."""
    target = value(undecided >> ORDER_SHIFT)
    index = UP if price < target else DOWN
    low = (undecided & LOW_MASK) ^ ((UNDECIDED ^ index) << INDEX_SHIFT)
    return (level_order(index, target) << ORDER_SHIFT) | low


CROSSING = Crossing()
