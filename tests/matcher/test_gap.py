"""GapPrices: replaying its record trades through a book fires every alert at the first trade
that crossed it, as matching every trade of the gap one by one would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from matcher.book import AlertBook
from matcher.gap import GapPrices
from tests.matcher.helpers import level_row

prices = st.integers(min_value=1, max_value=60).map(lambda cents: cents / 4)
targets = st.lists(st.tuples(st.sampled_from(["above", "below"]), prices), min_size=1, max_size=20)


def _clock() -> tuple[GapPrices, list[datetime]]:
    times: list[datetime] = []
    start = datetime(2026, 11, 26, tzinfo=UTC)

    def now() -> datetime:
        times.append(start + timedelta(seconds=len(times)))
        return times[-1]

    return GapPrices(now), times


@given(trades=st.lists(prices, max_size=60), alerts=targets)
def test_replaying_the_records_fires_each_alert_at_its_first_crossing(
    trades: list[float], alerts: list[tuple[str, float]]
) -> None:
    gap, _ = _clock()
    for price in trades:
        gap.see("BTCUSDT", price)
    book = AlertBook()
    book.load([level_row(i, "BTCUSDT", side, target) for i, (side, target) in enumerate(alerts, 1)])
    fired = {}
    for symbol, price, at in gap.crossings():
        for alert_id in book.match(symbol, price, int(at.timestamp() * 1000)):
            fired[alert_id] = price

    expected = {}
    for i, (side, target) in enumerate(alerts, 1):
        first = next((p for p in trades if (p >= target if side == "above" else p <= target)), None)
        if first is not None:
            expected[i] = first
    assert fired == expected


def test_only_new_highs_and_lows_are_kept_with_their_times() -> None:
    gap, times = _clock()
    for price in (10.0, 11.0, 10.5, 9.0, 10.0, 12.0):
        gap.see("ETHUSDT", price)
    gap.see("BTCUSDT", 5.0)
    assert [(s, p) for s, p, _ in gap.crossings()] == [
        ("ETHUSDT", 10.0),
        ("ETHUSDT", 11.0),
        ("ETHUSDT", 9.0),
        ("ETHUSDT", 12.0),
        ("BTCUSDT", 5.0),
    ]
    assert [at for _, _, at in gap.crossings()] == times
    assert len(gap) == 5
