"""The percent thresholds: the float bounds of the quiet band are on the safe side of the exact
decimal threshold, and the slow path's largest reached percent is exact."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from matcher.kinds.percent import down_bound, reached_down, reached_up, up_bound

decimals = st.builds(
    lambda digits, scale: Decimal(digits).scaleb(-scale),
    st.integers(1, 10**15 - 1),
    st.integers(0, 8),
)
percents = st.integers(1, 10_000_000)


def _threshold_up(low: Decimal, percent_e4: int) -> Fraction:
    return (1 + Fraction(percent_e4, 10**6)) * Fraction(low)


def _threshold_down(high: Decimal, percent_e4: int) -> Fraction:
    return (1 - Fraction(percent_e4, 10**6)) * Fraction(high)


@settings(max_examples=3000, deadline=None)
@given(low=decimals, percent_e4=percents, price=decimals)
@example(low=Decimal(100), percent_e4=100_000, price=Decimal(110))
def test_up_is_decided_exactly_and_the_band_never_hides_a_fire(
    low: Decimal, percent_e4: int, price: Decimal
) -> None:
    fires = Fraction(price) >= _threshold_up(low, percent_e4)
    assert (reached_up(float(price), float(low)) >= percent_e4) == fires
    if fires:
        assert not float(price) < up_bound(float(low), percent_e4)


@settings(max_examples=3000, deadline=None)
@given(high=decimals, percent_e4=percents, price=decimals)
@example(high=Decimal("3.3"), percent_e4=100_000, price=Decimal("2.97"))
def test_down_is_decided_exactly_and_the_band_never_hides_a_fire(
    high: Decimal, percent_e4: int, price: Decimal
) -> None:
    fires = Fraction(price) <= _threshold_down(high, percent_e4)
    assert (reached_down(float(price), float(high)) >= percent_e4) == fires
    if fires:
        assert not float(price) > down_bound(float(high), percent_e4)


@settings(max_examples=2000, deadline=None)
@given(extreme=decimals, percent_e4=percents)
def test_a_price_at_exactly_a_written_threshold_reaches_it(
    extreme: Decimal, percent_e4: int
) -> None:
    up = _threshold_up(extreme, percent_e4)
    price = Decimal(up.numerator) / Decimal(up.denominator)
    if Fraction(price) == up and len(price.normalize().as_tuple().digits) <= 15:
        assert reached_up(float(price), float(extreme)) == percent_e4
