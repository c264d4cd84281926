"""``up_pct`` and ``down_pct``: a move of at least a percent within a window of minutes.

``up_pct`` fires at the first trade whose price is at least (1 + percent/100) times the lowest
trade price of its window, ``down_pct`` at most (1 - percent/100) times the highest. Per symbol
there is one index per (window, direction), twelve in all, keyed by the percent in ten-thousandths
(``percent_e4``): at a given window low, the smallest percent is reached first, so a price that
reaches the smallest percent's threshold takes the crossed run off the front of the index, as a
level index does. A repeating percent alert cools down after a fire, then is back in its index.

Exactness. Thresholds are not exact in floats (10 x 1.1 = 11.000000000000002), so the book uses
two tests. The quiet band uses ``up_bound``/``down_bound``: floats provably on the safe side of
the exact decimal threshold (the error analysis is at ``_MARGIN``), so a price inside the band
never crosses. The slow path decides on exact decimals: ``reached_up``/``reached_down`` give the
largest percent a price reaches, computed on the decimals the doubles stand for (``repr`` of a
double made from a decimal of at most 15 significant digits gives that decimal back, DBL_DIG =
15) with exact ``decimal`` arithmetic: an alert at exactly its threshold fires.
"""

from __future__ import annotations

import math
from decimal import Context, Decimal

from matcher.keys import INDEXES, PERCENT, key
from matcher.kinds.common import Row, check_absent, check_common, cooling

WINDOW_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}
WINDOWS = tuple(WINDOW_MINUTES.values())
MAX_PERCENT_E4 = 1000 * 10_000  # 1000%
_WINDOW_NUMBER = {minutes: number for number, minutes in enumerate(WINDOWS)}

# The window (minutes) and whether it is down_pct, by index number (0 for other indexes).
WINDOW_OF = tuple(WINDOWS[(i - PERCENT) >> 1] if i >= PERCENT else 0 for i in range(INDEXES))
IS_DOWN = tuple(i >= PERCENT and bool((i - PERCENT) & 1) for i in range(INDEXES))

# A percent in ten-thousandths is a ratio in millionths: percent/100 = percent_e4 / 10^6.
_MILLION = 1_000_000

# How far the float bounds stay from the exact threshold. Between the decimals and the float
# bound lie at most five roundings of at most 2**-53 relative each: the double low (or high), the
# double price, and the product, the division and the margin's own product of the bound; less
# than 6e-16 in all. Moving the bound 1e-12 towards the safe side covers that over a thousand
# times, and sends to the slow path only prices within a millionth of a millionth of a threshold.
_MARGIN = 1e-12

# Exact for these operands: a difference of two decimals of at most 15 significant digits and
# 8 decimals has at most 23 digits, times 10^6 at most 29, and the integer part of its quotient
# fewer still. 60 digits leaves room for any finite doubles' reprs (17 digits, exponents aside).
_EXACT = Context(prec=60)
_MILLION_DECIMAL = Decimal(_MILLION)


class Percent:
    """``up_pct`` or ``down_pct``."""

    def __init__(self, condition: str, down: bool) -> None:
        self.condition = condition
        self.down = down

    def enter(self, row: Row) -> int:
        check_common(row)
        alert_id, _, _, target, percent_e4, window, cooldown, reference, _, last_fired_ms = row
        check_absent("target", target, self.condition)
        check_absent("reference", reference, self.condition)
        if type(percent_e4) is not int or not 0 < percent_e4 <= MAX_PERCENT_E4:
            raise ValueError(
                f"percent_e4 must be an int in 1 .. {MAX_PERCENT_E4}, got {percent_e4!r}"
            )
        number = None if window is None else _WINDOW_NUMBER.get(window)
        if number is None:
            raise ValueError(f"window_minutes must be one of {WINDOWS}, got {window!r}")
        index = PERCENT + 2 * number + self.down
        return cooling(key(percent_e4, index, alert_id, cooldown), last_fired_ms)


def up_bound(low: float, percent_e4: int) -> float:
    """A float at or below the exact ``up_pct`` threshold: a price below it does not fire."""
    return low * (_MILLION + percent_e4) / _MILLION * (1 - _MARGIN)


def down_bound(high: float, percent_e4: int) -> float:
    """A float at or above the exact ``down_pct`` threshold: a price above it does not fire."""
    if percent_e4 >= _MILLION:
        return -math.inf  # 100% or more down: no positive price
    return high * (_MILLION - percent_e4) / _MILLION * (1 + _MARGIN)


def reached_up(price: float, low: float) -> int:
    """The largest percent_e4 q with price >= (1 + q / 10^6) * low, exactly; -1 if none."""
    if not price >= low:
        return -1
    p, lowest = Decimal(repr(price)), Decimal(repr(low))
    rise = _EXACT.multiply(_EXACT.subtract(p, lowest), _MILLION_DECIMAL)
    return int(_EXACT.divide_int(rise, lowest))


def reached_down(price: float, high: float) -> int:
    """The largest percent_e4 q with price <= (1 - q / 10^6) * high, exactly; -1 if none."""
    if not price <= high:
        return -1
    p, highest = Decimal(repr(price)), Decimal(repr(high))
    fall = _EXACT.multiply(_EXACT.subtract(highest, p), _MILLION_DECIMAL)
    return int(_EXACT.divide_int(fall, highest))


UP_PCT = Percent("up_pct", down=False)
DOWN_PCT = Percent("down_pct", down=True)
