"""``above`` and ``below``: one-shot or repeating price levels, and how a fired repeating one
re-arms.

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

from matcher.keys import (
    DOWN,
    INDEX_MASK,
    INDEX_SHIFT,
    LIVE_BITS,
    LOW_MASK,
    ORDER_MASK,
    ORDER_SHIFT,
    UP,
    WATCHER_BIT,
    cooldown_ms,
    index_of,
    key,
    level_order,
)
from matcher.kinds.common import Row, check_absent, check_common, check_price

_LOW_NO_INDEX = LOW_MASK & ~(INDEX_MASK << INDEX_SHIFT) & ~WATCHER_BIT


class Level:
    """``above`` (the ``UP`` index) or ``below`` (``DOWN``)."""

    def __init__(self, condition: str, index: int) -> None:
        self.condition = condition
        self.index = index

    def enter(self, row: Row) -> int:
        check_common(row)
        alert_id, _, _, target, percent_e4, window, cooldown, reference, _, last_fired_ms = row
        target = check_price("target", target)
        if percent_e4 is not None or window is not None or reference is not None:
            check_absent("percent_e4", percent_e4, self.condition)
            check_absent("window_minutes", window, self.condition)
            check_absent("reference", reference, self.condition)
        live = key(level_order(self.index, target), self.index, alert_id, cooldown)
        if last_fired_ms is None:
            return live
        return ((last_fired_ms + cooldown_ms(live)) << LIVE_BITS) | watcher(live)


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
