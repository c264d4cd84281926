"""GapPrices: replaying its record trades through a book fires every alert at the first trade
that crossed it, as matching every trade of the gap one by one would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from matcher.book import AlertBook
from matcher.gap import GapPrices
from tests.matcher.helpers import level_row

prices = st.integers(min_value=1, max_value=60).map(lambda cents: cents / 4)
targets = st.lists(st.tuples(st.sampled_from(["above", "below"]), prices), min_size=1, max_size=20)
START_MS = 1_795_708_800_000


@given(trades=st.lists(prices, max_size=60), alerts=targets)
def test_replaying_the_records_fires_each_alert_at_its_first_crossing(
    trades: list[float], alerts: list[tuple[str, float]]
) -> None:
    gap = GapPrices()
    for n, price in enumerate(trades):
        gap.see("BTCUSDT", price, START_MS + n)
    book = AlertBook()
    book.load([level_row(i, "BTCUSDT", side, target) for i, (side, target) in enumerate(alerts, 1)])
    fired = {}
    for symbol, price, time_ms in gap.crossings():
        for alert_id in book.match(symbol, price, time_ms):
            fired[alert_id] = (price, time_ms)

    expected = {}
    for i, (side, target) in enumerate(alerts, 1):
        first = next(
            (
                (p, START_MS + n)
                for n, p in enumerate(trades)
                if (p >= target if side == "above" else p <= target)
            ),
            None,
        )
        if first is not None:
            expected[i] = first
    assert fired == expected


def test_only_new_highs_and_lows_are_kept_with_their_times() -> None:
    gap = GapPrices()
    for n, price in enumerate((10.0, 11.0, 10.5, 9.0, 10.0, 12.0)):
        gap.see("ETHUSDT", price, 100 + n)
    gap.see("BTCUSDT", 5.0, 200)
    assert list(gap.crossings()) == [
        ("ETHUSDT", 10.0, 100),
        ("ETHUSDT", 11.0, 101),
        ("ETHUSDT", 9.0, 103),
        ("ETHUSDT", 12.0, 105),
        ("BTCUSDT", 5.0, 200),
    ]
    assert len(gap) == 5
