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
from typing import TYPE_CHECKING, ClassVar

from matcher.keys import (
    COOLDOWN_MASK,
    COOLDOWN_SHIFT,
    ID_MASK,
    LIVE_BITS,
    LIVE_MASK,
    LOW_MASK,
    ORDER_MASK,
    ORDER_SHIFT,
    cooldown_ms,
    index_of,
    key,
)
from matcher.kinds.common import (
    BookRow,
    Entry,
    Place,
    Trade,
    check_absent,
    check_common,
    check_params,
    cooling,
)
from matcher.sorted_keys import SortedKeys
from shared.vocabulary import WINDOWS

if TYPE_CHECKING:
    from matcher.recent import Since
    from matcher.symbol_book import Reactions, SymbolBook

WINDOW_MINUTES = {window.name: window.minutes for window in WINDOWS.values()}
SPANS = tuple(WINDOW_MINUTES.values())  # by window number
MAX_PERCENT_E4 = 1000 * 10_000  # 1000%
NEVER = 1 << 62
_COOLDOWN_FIELD = COOLDOWN_MASK << COOLDOWN_SHIFT
_FIELDS = frozenset(("percent", "window"))

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


class PercentMoves:
    """A symbol's percent alerts: one index per (window, direction) it has, keyed by
    ``percent_e4`` (the group is ``2 * window number + down``), measured against the symbol's
    minute windows, which it asks the symbol book to keep for its largest window."""

    rank: ClassVar[int] = 1
    __slots__ = (
        "_book",
        "_down_ceiling",
        "_groups",
        "_lanes",
        "_up_floor",
        "alerts",
        "down",
        "minutes",
        "window_alerts",
    )

    def __init__(self, book: SymbolBook) -> None:
        self._book = book
        self.alerts = 0
        self._groups: dict[int, int] = {}  # group -> its index number
        self.minutes: dict[int, int] = {}  # index number -> its window's minutes
        self.down: dict[int, bool] = {}  # index number -> whether it is down_pct
        # (index number, down, minutes) per group, what band() and trade() walk: a list read
        # in one step instead of three dict lookups per index.
        self._lanes: list[tuple[int, bool, int]] = []
        self.window_alerts = [0] * len(SPANS)  # alerts per window number, every phase
        self._up_floor = math.inf  # the lowest up_pct bound of the band, and the highest down
        self._down_ceiling = -math.inf

    def index_for(self, group: int) -> int:
        index = self._groups.get(group)
        if index is None:
            index = self._groups[group] = self._book.new_index(self)
            self.minutes[index] = SPANS[group >> 1]
            self.down[index] = bool(group & 1)
            self._lanes.append((index, bool(group & 1), SPANS[group >> 1]))
        return index

    def counted(self, index: int, step: int) -> None:
        self.alerts += step
        number = SPANS.index(self.minutes[index])
        before = self.window_alerts[number]
        self.window_alerts[number] += step
        if not before or not self.window_alerts[number]:  # a window starts or ends
            self._book.fit_windows()

    @property
    def size(self) -> int:
        return self.alerts

    @property
    def span(self) -> int:
        return max((SPANS[n] for n, count in enumerate(self.window_alerts) if count), default=0)

    def refresh(self) -> None:
        pass  # its bounds are the band's, which the symbol book rebuilds

    def band(self) -> tuple[float, float, int]:
        """O(log s) per index: each window's low or high, and its smallest percent's bound."""
        book = self._book
        windows = book.windows
        assert windows is not None, "a symbol with percent alerts keeps minutes"
        up_floor, down_ceiling = math.inf, -math.inf
        indexes = book.indexes
        for index, down, minutes in self._lanes:
            percents = indexes[index]
            if not percents:
                continue
            smallest = _first(percents) >> ORDER_SHIFT
            if down:
                bound = down_bound(windows.highest(minutes), smallest)
                if bound > down_ceiling:
                    down_ceiling = bound
            else:
                bound = up_bound(windows.lowest(minutes), smallest)
                if bound < up_floor:
                    up_floor = bound
        self._up_floor, self._down_ceiling = up_floor, down_ceiling
        return down_ceiling, up_floor, NEVER

    def trade(
        self, price: float, time_ms: int, rearmed: bool, keys: dict[int, int], out: Reactions
    ) -> None:
        # A window's threshold can only drop below its bound in the band through this trade
        # becoming the window's new low (high), which cannot fire it: a direction whose every
        # bound this price is short of fires nothing, unless cooled alerts came back.
        up_may_fire = rearmed or price >= self._up_floor
        down_may_fire = rearmed or price <= self._down_ceiling
        if not (up_may_fire or down_may_fire):
            return
        book = self._book
        windows = book.windows
        assert windows is not None
        cooling_entries: list[int] = []
        indexes = book.indexes
        for index, down, minutes in self._lanes:
            percents = indexes[index]
            if not percents or not (down_may_fire if down else up_may_fire):
                continue
            smallest = _first(percents) >> ORDER_SHIFT
            if down:
                base = windows.highest(minutes)
                if price > down_bound(base, smallest):
                    continue
                reached = reached_down(price, base)
            else:
                base = windows.lowest(minutes)
                if price < up_bound(base, smallest):
                    continue
                reached = reached_up(price, base)
            if reached < smallest:
                continue
            left = 0  # once alerts, which leave the book
            for crossed in percents.pop_upto((min(reached, ORDER_MASK) << ORDER_SHIFT) | LOW_MASK):
                alert_id = crossed & ID_MASK
                out.fired.append(alert_id)
                out.bases[alert_id] = base
                if crossed & _COOLDOWN_FIELD:
                    entry = ((time_ms + cooldown_ms(crossed)) << LIVE_BITS) | crossed
                    keys[alert_id] = entry
                    cooling_entries.append(entry)
                else:
                    del keys[alert_id]
                    left += 1
            if left:
                book.size -= left
                self.counted(index, -left)
        if cooling_entries:
            book.cool(cooling_entries)

    def check(self, keys: dict[int, int]) -> int:
        book = self._book
        seen = 0
        window_alerts = [0] * len(SPANS)
        for index in self._groups.values():
            assert book.owners[index] is self
            for held in book.indexes[index] or ():
                seen += 1
                assert keys[held & ID_MASK] == held
                window_alerts[SPANS.index(self.minutes[index])] += 1
        for entry in book.cooling:
            index = index_of(entry & LIVE_MASK)
            if book.owners[index] is self:
                window_alerts[SPANS.index(self.minutes[index])] += 1
        assert window_alerts == self.window_alerts
        assert self.alerts == sum(window_alerts)
        return seen


# One place per group (2 * window number + down): constant objects the symbol book caches.
_PLACES: tuple[Place, ...] = tuple((PercentMoves, group) for group in range(2 * len(SPANS)))


def _first(percents: SortedKeys) -> int:
    first = percents.first
    assert first is not None, "only called on a non-empty index"
    return first


class Percent:
    """``up_pct`` or ``down_pct``."""

    def __init__(self, name: str, down: bool) -> None:
        self.name = name
        self.down = down
        self._places = {
            window: _PLACES[2 * number + down] for number, window in enumerate(WINDOW_MINUTES)
        }

    def enter(self, row: BookRow) -> Entry:
        check_common(row)
        check_absent("target_price", row.target_price, self.name)
        check_absent("reference_price", row.reference_price, self.name)
        params = check_params(row, _FIELDS)
        percent_e4 = percent_in_e4(params["percent"])
        if not 0 < percent_e4 <= MAX_PERCENT_E4:
            raise ValueError(f"percent must be in 0.0001 .. 1000, got {params['percent']!r}")
        place = self._places.get(params["window"])
        if place is None:
            raise ValueError(
                f"window must be one of {list(WINDOW_MINUTES)}, got {params['window']!r}"
            )
        live = key(percent_e4, 0, row.id, row.cooldown_seconds)
        return place, cooling(live, row.last_fired_ms)

    def catch_up(self, row: BookRow, since: Since) -> tuple[BookRow, Trade | None]:
        """Not caught up yet: a move is measured against the window's low (high) as it was
        at each trade, which the buckets alone do not give once a later trade set a new one;
        the next trade that makes the move fires it."""
        return row, None


def percent_in_e4(text: str) -> int:
    """A percent's text ("2.5") in ten-thousandths (25000), exactly; ValueError if it has more
    than 4 decimals or is no number. Plain digits (what the database's check lets in) are read
    as two ints, 4x faster than a Decimal: a shard of a million percent alerts loads 0.5 s
    sooner (``python -m benchmarks.book``, the percent table's load)."""
    whole, dot, fraction = text.partition(".")
    if (
        whole.isascii()
        and whole.isdigit()
        and (not dot or (len(fraction) <= 4 and fraction.isascii() and fraction.isdigit()))
    ):
        return int(whole) * 10_000 + (int(fraction.ljust(4, "0")) if dot else 0)
    try:
        scaled = Decimal(text).scaleb(4)
    except ArithmeticError:
        raise ValueError(f"percent must be a decimal, got {text!r}") from None
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ValueError(f"percent must be a decimal of at most 4 decimals, got {text!r}")
    return int(scaled)


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
