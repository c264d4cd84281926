"""``crossing``: fires at the first trade on the other side of the target from the reference
price (reaching the target counts), then, if repeating, on each crossing back and forth.

Once its reference is known a crossing alert *is* a level alert: ``above`` if the reference is
below the target, ``below`` otherwise, with the ``crossing`` bit set so that a fire moves it to
the other side (cooling down first) instead of making it a watcher. Without a recorded reference
it waits in its symbol's ``UNDECIDED`` index, which makes every trade of the symbol take the slow
path; the first trade decides it (and does not fire it), and the book reports the decision for
the service to record. A recorded reference is never re-decided: after ``fire_count`` fires the
alert waits on the side ``fire_count`` flips away from the first, cooling down until its last fire
plus its cooldown.
"""

from __future__ import annotations

from matcher.keys import (
    CROSSING_BIT,
    DOWN,
    INDEX_SHIFT,
    LOW_MASK,
    ORDER_SHIFT,
    UNDECIDED,
    UP,
    bits,
    key,
    level_order,
    value,
)
from matcher.kinds.common import Row, check_absent, check_common, check_price, cooling


class Crossing:
    condition = "crossing"

    def enter(self, row: Row) -> int:
        check_common(row)
        alert_id, _, _, target, percent_e4, window, cooldown, reference, fires, last_fired = row
        target = check_price("target", target)
        check_absent("percent_e4", percent_e4, self.condition)
        check_absent("window_minutes", window, self.condition)
        if reference is None:
            if fires or last_fired is not None:
                raise ValueError("reference must be given for a crossing alert that has fired")
            return key(bits(target), UNDECIDED, alert_id, cooldown, CROSSING_BIT)
        reference = check_price("reference", reference)
        index = (UP if reference < target else DOWN) ^ (fires & 1)
        return cooling(
            key(level_order(index, target), index, alert_id, cooldown, CROSSING_BIT), last_fired
        )


def decided(undecided: int, price: float) -> int:
    """The live key of an undecided crossing alert whose reference is ``price``."""
    target = value(undecided >> ORDER_SHIFT)
    index = UP if price < target else DOWN
    low = (undecided & LOW_MASK) ^ ((UNDECIDED ^ index) << INDEX_SHIFT)
    return (level_order(index, target) << ORDER_SHIFT) | low


CROSSING = Crossing()
