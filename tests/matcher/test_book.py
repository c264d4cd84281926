"""AlertBook against a naive oracle that compares exact decimals, so these tests also check the
claim that float keys order Binance prices correctly."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from matcher.book import MAX_ALERT_ID, AlertBook

SYMBOLS = ["BTCUSDT", "ETHUSDT", "PEPEUSDT"]

# Decimals as Binance writes them: at most 8 decimals and 15 significant digits.
decimals = st.builds(
    lambda digits, scale: Decimal(digits).scaleb(-scale),
    st.integers(1, 10**15 - 1),
    st.integers(0, 8),
)
# A small pool makes equal targets and prices exactly at a target common.
pool = st.sampled_from(
    [
        Decimal(t)
        for t in ("0.00000001", "0.00000123", "1", "1.5", "49999.99", "50000", "50000.00000001")
    ]
)
prices = st.one_of(pool, decimals)


class Oracle:
    """The obvious model: a dict, scanned in full on every tick."""

    def __init__(self) -> None:
        self.alerts: dict[int, tuple[str, str, Decimal]] = {}

    def match(self, symbol: str, price: Decimal) -> list[int]:
        crossed = [
            alert_id
            for alert_id, (s, condition, target) in self.alerts.items()
            if s == symbol
            and (
                (condition == "above" and target <= price)
                or (condition == "below" and target >= price)
            )
        ]
        for alert_id in crossed:
            del self.alerts[alert_id]
        return sorted(crossed)


class BookMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = AlertBook(block_size=4)  # tiny blocks: splits and multi-block runs happen
        self.oracle = Oracle()

    @rule(
        alert_id=st.integers(1, 60),
        symbol=st.sampled_from(SYMBOLS),
        condition=st.sampled_from(["above", "below"]),
        target_price=st.one_of(pool, decimals),
    )
    def add(self, alert_id: int, symbol: str, condition: str, target_price: Decimal) -> None:
        self.book.add(alert_id, symbol, condition, float(target_price))
        self.oracle.alerts[alert_id] = (symbol, condition, target_price)

    @rule(
        rows=st.lists(
            st.tuples(
                st.integers(1, 60),
                st.sampled_from(SYMBOLS),
                st.sampled_from(["above", "below"]),
                st.one_of(pool, decimals),
            ),
            max_size=40,
        )
    )
    def load(self, rows: list[tuple[int, str, str, Decimal]]) -> None:
        count = self.book.load((i, s, c, float(t)) for i, s, c, t in rows)
        assert count == len(rows)
        for alert_id, symbol, condition, target in rows:
            self.oracle.alerts[alert_id] = (symbol, condition, target)

    @rule(alert_id=st.integers(1, 60))
    def remove(self, alert_id: int) -> None:
        assert self.book.remove(alert_id) == (self.oracle.alerts.pop(alert_id, None) is not None)

    @rule(symbol=st.sampled_from([*SYMBOLS, "NOALERTS"]), price=prices)
    def match(self, symbol: str, price: Decimal) -> None:
        assert sorted(self.book.match(symbol, float(price))) == self.oracle.match(symbol, price)

    @precondition(lambda self: self.oracle.alerts)
    @rule(data=st.data())
    def match_exactly_at_a_target(self, data: st.DataObject) -> None:
        symbol, _, target = data.draw(st.sampled_from(sorted(self.oracle.alerts.values())))
        assert sorted(self.book.match(symbol, float(target))) == self.oracle.match(symbol, target)

    @invariant()
    def agrees_with_the_oracle(self) -> None:
        self.book._check()
        assert len(self.book) == len(self.oracle.alerts)
        assert set(self.book.symbols) == {s for s, _, _ in self.oracle.alerts.values()}
        for symbol in SYMBOLS:
            expected = sum(1 for s, _, _ in self.oracle.alerts.values() if s == symbol)
            assert self.book.count(symbol) == expected


TestBookAgainstOracle = BookMachine.TestCase
TestBookAgainstOracle.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)


@settings(max_examples=2000, deadline=None)
@given(condition=st.sampled_from(["above", "below"]), target=decimals, price=decimals)
def test_float_keys_order_decimals_exactly(condition: str, target: Decimal, price: Decimal) -> None:
    book = AlertBook()
    book.add(1, "BTCUSDT", condition, float(target))
    fires = target <= price if condition == "above" else target >= price
    assert book.match("BTCUSDT", float(price)) == ([1] if fires else [])


@settings(max_examples=500, deadline=None)
@given(target=decimals)
def test_float_keys_fire_at_exactly_the_target_and_not_one_unit_before(target: Decimal) -> None:
    unit = Decimal(1).scaleb(target.as_tuple().exponent)  # one in the last written digit
    assume(target - unit > 0)
    book = AlertBook()
    book.add(1, "BTCUSDT", "above", float(target))
    book.add(2, "BTCUSDT", "below", float(target))
    assert book.match("BTCUSDT", float(target - unit)) == [2]
    assert book.match("BTCUSDT", float(target)) == [1]


def test_a_trade_exactly_at_the_target_fires_both_sides() -> None:
    book = AlertBook()
    book.add(1, "BTCUSDT", "above", 50000.0)
    book.add(2, "BTCUSDT", "below", 50000.0)
    assert sorted(book.match("BTCUSDT", 50000.0)) == [1, 2]
    assert len(book) == 0


def test_a_quiet_tick_leaves_everything_in_place() -> None:
    book = AlertBook()
    book.add(1, "BTCUSDT", "above", 51000.0)
    book.add(2, "BTCUSDT", "below", 49000.0)
    assert book.match("BTCUSDT", 50000.0) == []
    assert book.match("ETHUSDT", 1.0) == []
    assert len(book) == 2


def test_a_spike_crosses_the_whole_run_and_only_it() -> None:
    book = AlertBook(block_size=2)
    book.load((i, "BTCUSDT", "above", float(100 + i)) for i in range(1, 21))
    assert book.match("BTCUSDT", 110.0) == list(range(1, 11))
    assert book.match("BTCUSDT", 110.0) == []
    assert book.match("BTCUSDT", 1e9) == list(range(11, 21))
    assert book.symbols == set()
    book._check()


def test_an_alert_fires_at_most_once_and_a_removed_one_never() -> None:
    book = AlertBook()
    book.add(1, "BTCUSDT", "below", 10.0)
    book.add(2, "BTCUSDT", "below", 10.0)
    assert book.remove(2)
    assert not book.remove(2)
    assert book.match("BTCUSDT", 9.0) == [1]
    assert book.match("BTCUSDT", 8.0) == []
    assert not book.remove(1)


def test_add_with_a_known_id_replaces_the_alert() -> None:
    book = AlertBook()
    book.add(7, "BTCUSDT", "above", 100.0)
    book.add(7, "ETHUSDT", "below", 5.0)
    assert len(book) == 1
    assert book.match("BTCUSDT", 1000.0) == []
    assert book.match("ETHUSDT", 5.0) == [7]
    book._check()


def test_a_symbol_without_alerts_vanishes_and_its_slot_is_reused() -> None:
    book = AlertBook()
    book.add(1, "BTCUSDT", "above", 1.0)
    book.remove(1)
    assert "BTCUSDT" not in book.symbols
    book.add(2, "ETHUSDT", "above", 1.0)
    book._check()


def test_extremes_follow_removals_of_the_extreme() -> None:
    book = AlertBook()
    book.add(1, "BTCUSDT", "above", 100.0)
    book.add(2, "BTCUSDT", "above", 200.0)
    book.add(3, "BTCUSDT", "below", 50.0)
    book.add(4, "BTCUSDT", "below", 10.0)
    book.remove(1)
    book.remove(3)
    assert book.match("BTCUSDT", 150.0) == []  # the 100 alert is gone: 150 is quiet now
    assert book.match("BTCUSDT", 40.0) == []
    assert book.match("BTCUSDT", 200.0) == [2]
    assert book.match("BTCUSDT", 10.0) == [4]


@pytest.mark.parametrize("price", [math.nan, 0.0, -1.0])
def test_a_price_that_is_no_price_crosses_nothing(price: float) -> None:
    book = AlertBook()
    book.add(1, "BTCUSDT", "below", 10.0)
    assert book.match("BTCUSDT", price) == []
    assert len(book) == 1


@pytest.mark.parametrize(
    ("alert_id", "condition", "target", "message"),
    [
        (1, "sideways", 1.0, "condition must be"),
        (1, "above", 0.0, "target must be a finite positive number"),
        (1, "above", -3.0, "target must be a finite positive number"),
        (1, "above", math.inf, "target must be a finite positive number"),
        (1, "above", math.nan, "target must be a finite positive number"),
        (0, "above", 1.0, "alert id must be"),
        (MAX_ALERT_ID + 1, "above", 1.0, "alert id must be"),
    ],
)
def test_invalid_alerts_are_refused_and_change_nothing(
    alert_id: int, condition: str, target: float, message: str
) -> None:
    book = AlertBook()
    with pytest.raises(ValueError, match=message):
        book.add(alert_id, "BTCUSDT", condition, target)
    with pytest.raises(ValueError, match=message):
        book.load([(alert_id, "BTCUSDT", condition, target)])
    assert len(book) == 0


def test_the_largest_alert_id_round_trips() -> None:
    book = AlertBook()
    book.add(MAX_ALERT_ID, "BTCUSDT", "below", 1e-8)
    assert book.match("BTCUSDT", 1e-8) == [MAX_ALERT_ID]


def test_load_merges_into_a_book_that_has_alerts() -> None:
    book = AlertBook(block_size=2)
    book.add(1, "BTCUSDT", "above", 5.0)
    book.load(
        [(2, "BTCUSDT", "above", 3.0), (3, "BTCUSDT", "above", 7.0), (1, "BTCUSDT", "above", 9.0)]
    )
    book._check()
    assert book.match("BTCUSDT", 7.0) == [2, 3]
    assert book.match("BTCUSDT", 9.0) == [1]
