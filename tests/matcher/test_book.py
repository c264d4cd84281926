"""AlertBook by hand-made examples, one per rule of each kind, and the claim that float keys order
Binance prices exactly. ``test_book_oracle`` checks every kind against an oracle."""

from __future__ import annotations

import math
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from itertools import repeat

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from matcher.book import MAX_ALERT_ID, WINDOW_MINUTES, AlertBook, BookRow

T0 = 1_700_000_040_000  # a trade time in ms, at the start of a minute
SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

# Decimals as Binance writes them: at most 8 decimals and 15 significant digits.
decimals = st.builds(
    lambda digits, scale: Decimal(digits).scaleb(-scale),
    st.integers(1, 10**15 - 1),
    st.integers(0, 8),
)


def level(
    alert_id: int,
    condition: str,
    target: float,
    *,
    symbol: str = "BTCUSDT",
    cooldown: int = 0,
    last_fired_ms: int | None = None,
) -> BookRow:
    fire_count = 0 if last_fired_ms is None else 1
    return BookRow(
        alert_id, symbol, condition, target, None, cooldown, None, fire_count, last_fired_ms
    )


def crossing(
    alert_id: int,
    target: float,
    *,
    reference: float | None = None,
    cooldown: int = 0,
    fire_count: int = 0,
    last_fired_ms: int | None = None,
    symbol: str = "BTCUSDT",
) -> BookRow:
    return BookRow(
        alert_id, symbol, "crossing", target, None, cooldown, reference, fire_count, last_fired_ms
    )


def percent(
    alert_id: int,
    condition: str,
    percent: str,
    window: str = "1h",
    *,
    cooldown: int = 0,
    last_fired_ms: int | None = None,
    symbol: str = "BTCUSDT",
) -> BookRow:
    fire_count = 0 if last_fired_ms is None else 1
    params = {"percent": percent, "window": window}
    return BookRow(
        alert_id, symbol, condition, None, params, cooldown, None, fire_count, last_fired_ms
    )


def fires(book: AlertBook, price: float, time_ms: int = T0, symbol: str = "BTCUSDT") -> list[int]:
    fired = sorted(book.match(symbol, price, time_ms))
    book._check()
    return fired


# Levels: exactness --------------------------------------------------------------------------


@settings(max_examples=2000, deadline=None)
@given(condition=st.sampled_from(["above", "below"]), target=decimals, price=decimals)
def test_float_keys_order_decimals_exactly(condition: str, target: Decimal, price: Decimal) -> None:
    book = AlertBook()
    book.add(level(1, condition, float(target)))
    fires = target <= price if condition == "above" else target >= price
    assert list(book.match("BTCUSDT", float(price), T0)) == ([1] if fires else [])


@settings(max_examples=500, deadline=None)
@given(target=decimals)
def test_float_keys_fire_at_exactly_the_target_and_not_one_unit_before(target: Decimal) -> None:
    unit = Decimal(1).scaleb(target.as_tuple().exponent)  # one in the last written digit
    assume(target - unit > 0)
    book = AlertBook()
    book.add(level(1, "above", float(target)))
    book.add(level(2, "below", float(target)))
    assert fires(book, float(target - unit)) == [2]
    assert fires(book, float(target)) == [1]


def test_a_trade_exactly_at_the_target_fires_both_sides() -> None:
    book = AlertBook()
    book.add(level(1, "above", 50000.0))
    book.add(level(2, "below", 50000.0))
    assert fires(book, 50000.0) == [1, 2]
    assert len(book) == 0


def test_a_quiet_tick_leaves_everything_in_place() -> None:
    book = AlertBook()
    book.add(level(1, "above", 51000.0))
    book.add(level(2, "below", 49000.0))
    assert fires(book, 50000.0) == []
    assert fires(book, 1.0, symbol="ETHUSDT") == []
    assert len(book) == 2


def test_a_spike_crosses_the_whole_run_and_only_it() -> None:
    book = AlertBook(block_size=2)
    book.load(level(i, "above", float(100 + i)) for i in range(1, 21))
    assert fires(book, 110.0) == list(range(1, 11))
    assert fires(book, 110.0) == []
    assert fires(book, 1e9) == list(range(11, 21))
    assert book.symbols == set()
    book._check()


def test_an_alert_fires_at_most_once_and_a_removed_one_never() -> None:
    book = AlertBook()
    book.add(level(1, "below", 10.0))
    book.add(level(2, "below", 10.0))
    assert book.remove(2)
    assert not book.remove(2)
    assert fires(book, 9.0) == [1]
    assert fires(book, 8.0) == []
    assert not book.remove(1)


def test_add_with_a_known_id_replaces_the_alert() -> None:
    book = AlertBook()
    book.add(level(7, "above", 100.0))
    book.add(level(7, "below", 5.0, symbol="ETHUSDT"))
    assert len(book) == 1
    assert fires(book, 1000.0) == []
    assert fires(book, 5.0, symbol="ETHUSDT") == [7]
    book._check()


def test_a_symbol_without_alerts_vanishes_and_its_slot_is_reused() -> None:
    book = AlertBook()
    book.add(level(1, "above", 1.0))
    book.remove(1)
    assert "BTCUSDT" not in book.symbols
    book.add(level(2, "above", 1.0, symbol="ETHUSDT"))
    book._check()


def test_extremes_follow_removals_of_the_extreme() -> None:
    book = AlertBook()
    book.add(level(1, "above", 100.0))
    book.add(level(2, "above", 200.0))
    book.add(level(3, "below", 50.0))
    book.add(level(4, "below", 10.0))
    book.remove(1)
    book.remove(3)
    assert fires(book, 150.0) == []  # the 100 alert is gone: 150 is quiet now
    assert fires(book, 40.0) == []
    assert fires(book, 200.0) == [2]
    assert fires(book, 10.0) == [4]


@pytest.mark.parametrize("price", [math.nan, 0.0, -1.0])
def test_a_price_that_is_no_price_crosses_nothing(price: float) -> None:
    book = AlertBook()
    book.add(level(1, "below", 10.0))
    assert fires(book, price) == []
    assert len(book) == 1


def _with(row: BookRow, **fields: object) -> BookRow:
    return row._replace(**fields)


ABOVE = level(1, "above", 1.0)
CROSSING = crossing(1, 1.0)
UP_PCT = percent(1, "up_pct", "5")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            _with(ABOVE, trigger_condition="sideways"),
            "condition must be one of above, below, crossing",
        ),
        (_with(ABOVE, target_price=0.0), "target_price must be a finite positive number"),
        (_with(ABOVE, target_price=-3.0), "target_price must be a finite positive number"),
        (_with(ABOVE, target_price=math.inf), "target_price must be a finite positive number"),
        (_with(ABOVE, target_price=math.nan), "target_price must be a finite positive number"),
        (_with(ABOVE, target_price=None), "target_price must be a finite positive number"),
        (_with(ABOVE, id=0), "alert id must be"),
        (_with(ABOVE, id=MAX_ALERT_ID + 1), "alert id must be"),
        (_with(ABOVE, params={"percent": "5"}), r"params must be exactly \[\] for a 'above'"),
        (_with(ABOVE, params={"window": "1h"}), r"params must be exactly \[\]"),
        (_with(ABOVE, reference_price=1.0), "reference_price must be None for a 'above' alert"),
        (_with(ABOVE, cooldown_seconds=59), "cooldown_seconds must be 0"),
        (_with(ABOVE, cooldown_seconds=604_801), "cooldown_seconds must be 0"),
        (_with(ABOVE, fire_count=-1), "fire_count must be >= 0"),
        (_with(ABOVE, last_fired_ms=T0), "last_fired_ms must be None for a once alert"),
        (_with(ABOVE, cooldown_seconds=60, last_fired_ms=-1), "last_fired_ms"),
        (_with(CROSSING, reference_price=-1.0), "reference_price must be a finite positive"),
        (_with(CROSSING, fire_count=1), "reference_price must be given for a crossing alert"),
        (_with(CROSSING, params={"window": "5m"}), "params must be exactly"),
        (_with(UP_PCT, target_price=1.0), "target_price must be None for a 'up_pct' alert"),
        (_with(UP_PCT, reference_price=1.0), "reference_price must be None for a 'up_pct'"),
        (_with(UP_PCT, params={"percent": "0", "window": "1h"}), "percent must be in"),
        (_with(UP_PCT, params={"percent": "1000.0001", "window": "1h"}), "percent must be in"),
        (_with(UP_PCT, params={"percent": "5.00001", "window": "1h"}), "at most 4 decimals"),
        (_with(UP_PCT, params={"percent": "five", "window": "1h"}), "percent must be a decimal"),
        (_with(UP_PCT, params={"window": "1h"}), "params must be exactly"),
        (_with(UP_PCT, params={"percent": "5", "window": "2m"}), "window must be one of"),
        (_with(UP_PCT, params={"percent": "5"}), "params must be exactly"),
    ],
)
def test_invalid_alerts_are_refused_and_change_nothing(row: BookRow, message: str) -> None:
    book = AlertBook()
    book.add(level(2, "below", 1.0))
    with pytest.raises(ValueError, match=message):
        book.add(row)
    with pytest.raises(ValueError, match=message):
        book.load([row])
    assert len(book) == 1
    assert 1 not in book
    book._check()


def test_the_largest_alert_id_round_trips() -> None:
    book = AlertBook()
    book.add(level(MAX_ALERT_ID, "below", 1e-8))
    assert fires(book, 1e-8) == [MAX_ALERT_ID]


def test_load_merges_into_a_book_that_has_alerts() -> None:
    book = AlertBook(block_size=2)
    book.add(level(1, "above", 5.0))
    book.load([level(2, "above", 3.0), level(3, "above", 7.0), level(1, "above", 9.0)])
    book._check()
    assert fires(book, 7.0) == [2, 3]
    assert fires(book, 9.0) == [1]


def test_a_quiet_tick_allocates_nothing_and_returns_the_shared_empty_tuple() -> None:
    book = AlertBook()
    book.load([level(1, "above", 110.0), level(2, "below", 90.0)])
    book.load(
        percent(10 + i, kind, "5", window)
        for i, (kind, window) in enumerate(
            (k, w) for k in ("up_pct", "down_pct") for w in WINDOW_MINUTES
        )
    )
    assert fires(book, 100.0) == []
    assert fires(book, 100.5, T0 + 1) == []  # the current minute's range is 100 .. 100.5
    quiet = book.match("BTCUSDT", 100.2, T0 + 2)
    assert quiet == ()
    assert quiet is book.match("BTCUSDT", 100.3, T0 + 3)

    def nothing(symbol: str, price: float, time_ms: int) -> tuple[int, ...]:
        return ()

    # A loop of calls that allocate nothing has the same peak (the tracer's own frames).
    assert _allocated_by(book.match) == _allocated_by(nothing)


def _allocated_by(match: Callable[[str, float, int], object]) -> tuple[int, int]:
    """Bytes left allocated, and the peak, over 1000 quiet ticks."""
    price, time_ms = 100.25, T0 + 4
    tracemalloc.start()
    for _ in repeat(None, 1000):
        match("BTCUSDT", price, time_ms)
    allocated = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return allocated


# Repeating levels -------------------------------------------------------------------------------


def test_a_hovering_price_fires_a_repeating_above_alert_once_per_cooldown() -> None:
    book = AlertBook()
    book.add(level(1, "above", 100.0, cooldown=60))
    assert fires(book, 100.0, T0) == [1]
    assert fires(book, 100.0, T0 + 1 * SECOND) == []  # still at the target: no second fire
    assert fires(book, 99.99, T0 + 2 * SECOND) == []  # back across: re-arms after the cooldown
    assert fires(book, 100.0, T0 + 3 * SECOND) == []
    assert fires(book, 100.5, T0 + 59_999) == []
    assert fires(book, 100.0, T0 + 60 * SECOND) == [1]  # back across, and cooled down
    assert fires(book, 99.0, T0 + 61 * SECOND) == []
    assert fires(book, 100.0, T0 + 100 * SECOND) == []  # back across, still cooling
    assert fires(book, 100.0, T0 + 120 * SECOND) == [1]
    assert fires(book, 101.0, T0 + HOUR) == []  # never went back: never fires again
    assert len(book) == 1


def test_a_repeating_below_alert_rearms_only_strictly_above_its_target() -> None:
    book = AlertBook()
    book.add(level(1, "below", 100.0, cooldown=60))
    assert fires(book, 100.0, T0) == [1]
    assert fires(book, 100.0, T0 + HOUR) == []  # at the target is not back across
    assert fires(book, 100.00000001, T0 + HOUR) == []
    assert fires(book, 100.0, T0 + HOUR + 1) == [1]


def test_a_repeating_alert_that_goes_back_after_its_cooldown_is_live_at_once() -> None:
    book = AlertBook()
    book.add(level(1, "above", 100.0, cooldown=60))
    assert fires(book, 100.0, T0) == [1]
    assert fires(book, 99.0, T0 + HOUR) == []
    assert fires(book, 100.0, T0 + HOUR + 1) == [1]


def test_a_once_alert_leaves_the_book_and_a_repeating_one_stays_in_every_phase() -> None:
    book = AlertBook()
    book.load([level(1, "above", 100.0), level(2, "above", 100.0, cooldown=60)])
    assert fires(book, 100.0) == [1, 2]
    assert 1 not in book
    assert 2 in book
    assert book.count("BTCUSDT") == 1
    assert fires(book, 99.0, T0 + 1) == []  # 2 cools down now
    assert list(book.symbols) == ["BTCUSDT"]
    assert len(book) == 1


@pytest.mark.parametrize(
    ("row", "trades"),
    [
        (level(1, "above", 100.0, cooldown=60), [(100.0, 0)]),  # a watcher
        (level(1, "above", 100.0, cooldown=60), [(100.0, 0), (99.0, 1)]),  # cooling
        (crossing(1, 100.0, cooldown=60), []),  # undecided
        (crossing(1, 100.0, cooldown=60), [(90.0, 0), (100.0, 1)]),  # cooling, other side
        (percent(1, "up_pct", "10", cooldown=60), [(10.0, 0), (11.0, 1)]),  # cooling
    ],
)
def test_a_removed_alert_never_fires_whatever_its_phase(
    row: BookRow, trades: list[tuple[float, int]]
) -> None:
    book = AlertBook()
    book.add(row)
    for price, at in trades:
        book.match("BTCUSDT", price, T0 + at)
    assert book.remove(1)
    assert not book.remove(1)
    assert len(book) == 0
    assert not book.symbols
    for price in (1.0, 10.0, 11.0, 12.0, 90.0, 100.0, 1000.0):
        assert fires(book, price, T0 + HOUR) == []


# Crossing ---------------------------------------------------------------------------------------


def test_a_crossing_alert_decides_its_reference_at_the_first_trade_and_reports_it_once() -> None:
    book = AlertBook()
    book.add(crossing(1, 100.0))
    assert fires(book, 105.0) == []  # the reference: above the target, so it waits below
    assert book.take_references() == [(1, 105.0)]
    assert book.take_references() == []
    assert fires(book, 101.0, T0 + 1) == []
    assert book.take_references() == []
    assert fires(book, 100.0, T0 + 2) == [1]  # reaching the target counts
    assert len(book) == 0


def test_the_deciding_trade_does_not_fire_even_at_the_target() -> None:
    book = AlertBook()
    book.add(crossing(1, 100.0))
    assert fires(book, 100.0) == []  # reference >= target: a below alert from now on
    assert book.take_references() == [(1, 100.0)]
    assert fires(book, 100.0, T0 + 1) == [1]


def test_a_recorded_reference_is_never_decided_again() -> None:
    book = AlertBook()
    book.add(crossing(1, 100.0, reference=90.0))
    assert fires(book, 95.0) == []
    assert book.take_references() == []
    assert fires(book, 100.0, T0 + 1) == [1]


def test_a_repeating_crossing_alert_fires_on_each_crossing_alternating_sides() -> None:
    book = AlertBook()
    book.add(crossing(1, 100.0, reference=90.0, cooldown=60))
    assert fires(book, 100.0, T0) == [1]  # up
    assert fires(book, 99.0, T0 + 30 * SECOND) == []  # cooling
    assert fires(book, 99.0, T0 + 60 * SECOND) == [1]  # down, at the first trade after it
    assert fires(book, 98.0, T0 + 200 * SECOND) == []  # down again: not a crossing
    assert fires(book, 100.0, T0 + 201 * SECOND) == [1]  # up, reaching counts
    assert fires(book, 100.0, T0 + 261 * SECOND) == [1]  # down: reaching counts either way


# Percent ----------------------------------------------------------------------------------------


def test_a_percent_alert_at_exactly_its_threshold_fires() -> None:
    assert 100.0 * 1.1 > 110.0  # a threshold in floats may miss the exact one, upwards
    assert 3.3 * 0.9 < 2.97  # or downwards
    book = AlertBook()
    book.load([percent(1, "up_pct", "10", "1m"), percent(2, "down_pct", "10", "1m")])
    assert fires(book, 100.0) == []
    assert fires(book, 109.99999999, T0 + 1) == []
    assert fires(book, 110.0, T0 + 2) == [1]  # +10% from the low of 100
    book.load([percent(3, "down_pct", "10", "1m", symbol="ETHUSDT")])
    assert fires(book, 3.3, T0, "ETHUSDT") == []
    assert fires(book, 2.97000001, T0 + 1, "ETHUSDT") == []
    assert fires(book, 2.97, T0 + 2, "ETHUSDT") == [3]  # -10% from the high of 3.3


def test_a_percent_run_fires_the_smallest_percents_up_to_the_move() -> None:
    book = AlertBook(block_size=2)
    book.load(percent(i, "up_pct", str(i), "5m") for i in range(1, 21))
    assert fires(book, 100.0) == []
    assert fires(book, 110.0, T0 + 1) == list(range(1, 11))
    assert fires(book, 115.5, T0 + 2) == [11, 12, 13, 14, 15]  # the low is still 100
    assert book.count("BTCUSDT") == 5


def test_a_low_that_leaves_the_window_stops_counting() -> None:
    book = AlertBook()
    book.add(percent(1, "up_pct", "10", "1m"))
    assert fires(book, 10.0, T0) == []  # minute 0
    assert fires(book, 10.5, T0 + MINUTE) == []  # minute 1: the window is minutes 0 and 1
    assert fires(book, 11.0, T0 + 2 * MINUTE) == []  # minute 2: the low of 10 has left it
    assert fires(book, 11.55, T0 + 2 * MINUTE + 1) == [1]  # +10% from 10.5


def test_a_low_fires_while_it_is_in_the_window_to_its_last_millisecond() -> None:
    book = AlertBook()
    book.add(percent(1, "up_pct", "10", "1m"))
    assert fires(book, 10.0, T0) == []
    assert fires(book, 11.0, T0 + 2 * MINUTE - 1) == [1]


def test_trades_before_the_alert_count_when_the_symbol_already_tracks_minutes() -> None:
    book = AlertBook()
    book.add(percent(1, "up_pct", "50", "1h"))
    assert book.history_wanted() == {"BTCUSDT": 60}
    assert fires(book, 10.0, T0) == []
    book.add(percent(2, "up_pct", "10", "5m"))
    assert book.history_wanted() == {}  # the 1 h window already holds those 5 minutes
    assert fires(book, 11.0, T0 + 4 * MINUTE) == [2]


def test_trades_before_the_alert_count_through_the_history_the_book_asks_for() -> None:
    book = AlertBook()
    book.add(level(1, "above", 1000.0))
    assert fires(book, 10.0, T0) == []  # a level-only symbol keeps no minutes
    book.add(percent(2, "up_pct", "10", "15m"))
    assert book.history_wanted() == {"BTCUSDT": 15}
    assert book.history_wanted() == {}  # reported once
    minute = T0 // MINUTE
    book.fill_minutes("BTCUSDT", [(minute - 20, 5.0, 5.0), (minute - 3, 10.0, 10.4)])
    assert fires(book, 10.99, T0 + 1) == []
    assert fires(book, 11.0, T0 + 2) == [2]  # +10% from the kline's low; the older one is out


def test_filling_the_history_clears_the_wish_and_a_longer_window_wants_more() -> None:
    book = AlertBook()
    book.add(percent(1, "down_pct", "10", "5m"))
    book.fill_minutes("BTCUSDT", [])
    assert book.history_wanted() == {}
    book.add(percent(2, "down_pct", "10", "1d"))
    assert book.history_wanted() == {"BTCUSDT": 1440}
    book.remove(2)
    book.add(percent(3, "down_pct", "10", "1m"))
    assert book.history_wanted() == {}


def test_klines_for_a_symbol_without_percent_alerts_are_ignored_and_bad_ones_refused() -> None:
    book = AlertBook()
    book.fill_minutes("NOALERTS", [(1, 2.0, 1.0)])
    book.add(percent(1, "up_pct", "10"))
    with pytest.raises(ValueError, match="a minute needs 0 < low <= high"):
        book.fill_minutes("BTCUSDT", [(1, 2.0, 1.0)])


def test_an_alert_whose_condition_already_holds_fires_at_the_next_trade() -> None:
    book = AlertBook()
    book.add(percent(9, "up_pct", "100", "1d"))  # keeps the minutes, never fires here
    assert fires(book, 100.0, T0) == []
    assert fires(book, 115.0, T0 + 1) == []
    book.load([percent(1, "up_pct", "10", "5m"), level(2, "above", 110.0)])
    assert fires(book, 114.0, T0 + 2) == [1, 2]


def test_a_repeating_percent_alert_fires_again_at_the_first_trade_after_its_cooldown() -> None:
    book = AlertBook()
    book.add(percent(1, "up_pct", "10", "1h", cooldown=60))
    assert fires(book, 10.0, T0) == []
    assert fires(book, 11.0, T0 + 1) == [1]
    assert fires(book, 12.0, T0 + 30 * SECOND) == []  # cooling down
    assert fires(book, 12.0, T0 + 60 * SECOND) == []  # 60 s after the fire at T0 + 1: not yet
    assert fires(book, 10.5, T0 + 60 * SECOND + 1) == []  # cooled down; +5% only
    assert fires(book, 11.0, T0 + 60 * SECOND + 2) == [1]


# Restarts: rows with fire_count and last_fired_ms ---------------------------------------------


def test_a_reloaded_level_alert_waits_to_go_back_across_after_its_last_fire() -> None:
    book = AlertBook()
    book.load([level(1, "above", 100.0, cooldown=60, last_fired_ms=T0)])
    assert fires(book, 101.0, T0 + HOUR) == []  # it may have fired at this very price
    assert fires(book, 99.0, T0 + HOUR + 1) == []
    assert fires(book, 100.0, T0 + HOUR + 2) == [1]


def test_a_reloaded_level_alert_counts_its_cooldown_from_its_last_fire() -> None:
    book = AlertBook()
    book.load([level(1, "below", 100.0, cooldown=3600, last_fired_ms=T0)])
    assert fires(book, 101.0, T0 + 1) == []
    assert fires(book, 99.0, T0 + HOUR - 1) == []
    assert fires(book, 99.0, T0 + HOUR) == [1]


@pytest.mark.parametrize(("fire_count", "fires_at"), [(1, 99.0), (2, 101.0), (3, 99.0)])
def test_a_reloaded_crossing_alert_fires_next_on_the_side_opposite_its_last_fire(
    fire_count: int, fires_at: float
) -> None:
    book = AlertBook()
    row = crossing(1, 100.0, reference=90.0, cooldown=60, fire_count=fire_count, last_fired_ms=T0)
    book.load([row])
    other = 200.0 - fires_at
    assert fires(book, fires_at, T0 + 59_999) == []  # cooling down from its last fire
    assert fires(book, other, T0 + MINUTE) == []
    assert fires(book, fires_at, T0 + MINUTE + 1) == [1]
    assert book.take_references() == []


def test_a_reloaded_percent_alert_cools_down_from_its_last_fire() -> None:
    book = AlertBook()
    book.load([percent(1, "down_pct", "10", "1h", cooldown=60, last_fired_ms=T0)])
    book.fill_minutes("BTCUSDT", [(T0 // MINUTE, 10.0, 10.0)])
    assert fires(book, 9.0, T0 + 59_999) == []
    assert fires(book, 9.0, T0 + MINUTE) == [1]


# Nearest, for the simulator -------------------------------------------------------------------


def test_nearest_gives_the_next_prices_that_would_change_something() -> None:
    book = AlertBook()
    assert book.nearest("BTCUSDT") == (-math.inf, math.inf)
    book.load([level(1, "above", 110.0), level(2, "below", 90.0), level(3, "below", 80.0)])
    assert book.nearest("BTCUSDT") == (90.0, 110.0)
    book.add(percent(4, "up_pct", "5", "1m"))
    assert fires(book, 100.0) == []
    below, above = book.nearest("BTCUSDT")
    assert below == 90.0
    assert above == pytest.approx(105.0)
    assert above <= 105.0
