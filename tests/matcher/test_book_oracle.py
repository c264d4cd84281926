"""AlertBook against an oracle that replays every trade on every alert with exact fractions and
the plain semantics of each kind, for sequences of adds, loads, removes (pauses and deletes),
trades, restarts (a load of rows carrying fire_count and last_fired_ms) and kline fills. The book
must fire exactly the same alerts at the same trades, and report the same crossing references.

The trades go through the tick (``matcher.tick.Tick``), which keeps what each symbol traded lately
(``matcher.recent``); alerts are also added late: created before trades the book already saw,
as when the matcher hears of an alert after trades that count for it. The oracle then matches
them against those trades by the buckets' rule (each bucket's highest and lowest trade, from the
bucket of ``created_at - SKEW_MS`` on) and takes a crossing's reference from the last trade
before them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import cast

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from matcher.book import WINDOW_MINUTES, AlertBook, BookRow
from matcher.pipeline import ClaimPipeline
from matcher.prices import PriceRecorder
from matcher.recent import BUCKET_MS, HORIZON_MS, SKEW_MS, SLOTS
from matcher.tick import Tick
from tests.matcher.helpers import Claims

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
MINUTE = 60_000
LEVELS = ("above", "below", "crossing")
PERCENTS = ("up_pct", "down_pct")

# Decimals as Binance writes them: at most 8 decimals and 15 significant digits.
decimals = st.builds(
    lambda digits, scale: Decimal(digits).scaleb(-scale),
    st.integers(1, 10**15 - 1),
    st.integers(0, 8),
)
# A small pool around 10 makes equal prices, prices at a target and percent thresholds common:
# 10 -> 11 is +10%, 10 -> 12.1 is +21%, 11 -> 9.9 is -10%.
pool = st.sampled_from(
    [Decimal(p) for p in ("9", "9.9", "10", "10.5", "11", "11.55", "12.1", "12.10000001")]
)
prices = st.one_of(pool, pool, pool, decimals)
percents = st.one_of(
    st.sampled_from([10_000, 50_000, 100_000, 102_500, 210_000, 1_000_000, 10_000_000]),
    st.integers(1, 10_000_000),
)
windows = st.sampled_from([1, 1, 5, 15, *WINDOW_MINUTES.values()])
WINDOW_NAMES = {minutes: name for name, minutes in WINDOW_MINUTES.items()}
cooldowns = st.sampled_from([0, 0, 60, 120, 3600])
steps = st.sampled_from([0, 1, 999, 30_000, 59_999, 60_000, 61_000, 300_000, 3_600_000])
# How long before the book hears of it an alert was created: within a bucket, the skew, the
# ring's reach, and beyond it.
lates = st.sampled_from([0, 1, 150, 199, 200, 999, 1000, 1001, 1500, 30_000, 61_000, 3_600_000])


@dataclass
class Alert:
    """One alert as the oracle sees it: its row's fields and its phase."""

    alert_id: int
    symbol: str
    condition: str
    target: Decimal | None
    percent_e4: int | None
    window: int | None
    cooldown_s: int
    reference: Decimal | None = None
    fire_count: int = 0
    last_fired_ms: int | None = None
    side_up: bool = True  # crossing: the side of its next fire
    end_ms: int | None = None  # the end of its cooldown, after a fire
    rearming: bool = False  # level: fired, waiting to go back across, then for end_ms
    back: bool = False  # level: has gone back across since its fire
    created_ms: int | None = None  # set for an alert the book hears of late

    def __post_init__(self) -> None:
        if self.condition == "crossing" and self.reference is not None:
            self.side_up = (self.reference < self.target) != bool(self.fire_count & 1)

    def row(self) -> BookRow:
        params = None
        if self.percent_e4 is not None and self.window is not None:
            params = {
                "percent": str(Decimal(self.percent_e4).scaleb(-4)),
                "window": WINDOW_NAMES[self.window],
            }
        return BookRow(
            self.alert_id,
            self.symbol,
            self.condition,
            None if self.target is None else float(self.target),
            params,
            self.cooldown_s,
            None if self.reference is None else float(self.reference),
            self.fire_count,
            self.last_fired_ms,
            self.created_ms,
        )

    def restarted(self) -> None:
        """What a reload keeps: a level alert that has fired waits to go back across again."""
        if self.condition in ("above", "below") and self.last_fired_ms is not None:
            self.rearming, self.back = True, False


class Oracle:
    """Every alert checked on every trade of its symbol; every trade kept for the windows."""

    def __init__(self) -> None:
        self.alerts: dict[int, Alert] = {}
        self.trades: dict[str, list[tuple[int, Fraction]]] = {s: [] for s in SYMBOLS}
        # Removed alerts by id, with their symbol's latest trade time then, for HORIZON_MS: one
        # that comes back (resumed) is live from then, not caught up on the trades meanwhile.
        self.gone: dict[int, int] = {}

    def remove(self, alert_id: int) -> bool:
        alert = self.alerts.pop(alert_id, None)
        if alert is None:
            return False
        trades = self.trades[alert.symbol]
        self.gone[alert_id] = trades[-1][0] if trades else 0
        if trades:
            now_ms = trades[-1][0]
            for old_id, at_ms in list(self.gone.items()):
                if at_ms >= now_ms - HORIZON_MS:
                    break
                del self.gone[old_id]
        return True

    def trade(
        self, symbol: str, written: Decimal, time_ms: int
    ) -> tuple[list[int], list[tuple[int, Decimal]]]:
        price = Fraction(written)
        self.trades[symbol].append((time_ms, price))
        fired: list[int] = []
        decided: list[tuple[int, Decimal]] = []
        for alert in sorted(self.alerts.values(), key=lambda a: a.alert_id):
            if alert.symbol != symbol:
                continue
            if alert.condition == "crossing" and alert.reference is None:
                alert.reference = written
                alert.side_up = written < alert.target  # type: ignore[operator]
                decided.append((alert.alert_id, written))
            elif self._fires(alert, price, time_ms):
                fired.append(alert.alert_id)
                self._fired(alert, time_ms)
        return fired, decided

    def _fires(self, alert: Alert, price: Fraction, time_ms: int) -> bool:
        condition = alert.condition
        if condition in LEVELS:
            target = Fraction(alert.target)  # type: ignore[arg-type]
            up = condition == "above" if condition != "crossing" else alert.side_up
            if alert.rearming and not alert.back:
                alert.back = price < target if up else price > target
                return False
            if alert.end_ms is not None and time_ms < alert.end_ms:
                return False
            return price >= target if up else price <= target
        if alert.end_ms is not None and time_ms < alert.end_ms:
            return False
        minute = time_ms // MINUTE
        in_window = [
            p
            for t, p in self.trades[alert.symbol]
            if minute - alert.window <= t // MINUTE  # type: ignore[operator]
        ]
        ratio = Fraction(alert.percent_e4, 10**6)  # type: ignore[arg-type]
        if condition == "up_pct":
            return price >= (1 + ratio) * min(in_window)
        return price <= (1 - ratio) * max(in_window)

    def _fired(self, alert: Alert, time_ms: int) -> None:
        if not alert.cooldown_s:
            del self.alerts[alert.alert_id]
            return
        alert.fire_count += 1
        alert.last_fired_ms = time_ms
        alert.end_ms = time_ms + alert.cooldown_s * 1000
        alert.rearming, alert.back = alert.condition in ("above", "below"), False
        alert.side_up = not alert.side_up

    def add_late(self, alert: Alert) -> tuple[tuple[float, int] | None, Decimal | None]:
        """An alert heard of after trades of its symbol since ``created_ms``: the trade it fires
        at, if one of them crosses it, and the reference it took, if it took one."""
        self.alerts.pop(alert.alert_id, None)
        self.alerts[alert.alert_id] = alert
        back = self.gone.pop(alert.alert_id, None) is not None
        trades = self.trades[alert.symbol]
        created_ms = alert.created_ms
        if back or not trades or created_ms is None or created_ms < trades[-1][0] - HORIZON_MS:
            return None, None
        if alert.condition in PERCENTS:
            return None, None
        start = created_ms - SKEW_MS
        start -= start % BUCKET_MS
        buckets: dict[int, list[tuple[int, Fraction]]] = {}
        for t, p in trades:
            buckets.setdefault(t // BUCKET_MS, []).append((t, p))
        if len(buckets) > SLOTS + 1 and sorted(buckets)[-SLOTS - 2] * BUCKET_MS >= start:
            return None, None  # the ring no longer holds the first buckets counted
        counted = [
            trades for number, trades in sorted(buckets.items()) if number * BUCKET_MS >= start
        ]
        decided = None
        if alert.condition == "crossing" and alert.reference is None:
            # The close of the newest bucket that ended by the creation, and the buckets after.
            ended = [n for n, in_bucket in buckets.items() if in_bucket[-1][0] <= created_ms]
            if not ended or buckets[max(ended)][-1][0] < created_ms - HORIZON_MS:
                return None, None  # the next trade decides
            close = buckets[max(ended)][-1][1]
            decided = alert.reference = Decimal(close.numerator) / Decimal(close.denominator)
            alert.side_up = decided < alert.target  # type: ignore[operator]
            counted = [trades for number, trades in sorted(buckets.items()) if number > max(ended)]
        target = Fraction(alert.target)  # type: ignore[arg-type]
        up = alert.condition == "above" if alert.condition != "crossing" else alert.side_up
        for in_bucket in counted:
            extreme = max(p for _, p in in_bucket) if up else min(p for _, p in in_bucket)
            if extreme >= target if up else extreme <= target:
                at = next(t for t, p in in_bucket if p == extreme)
                self._fired(alert, at)
                if alert.condition != "crossing":
                    alert.rearming, alert.back = True, False
                return (float(extreme), at), decided
        return None, decided

    def minutes(self, symbol: str, span: int) -> list[tuple[int, float, float]]:
        """The 1-minute klines of the last ``span`` minutes of ``symbol``'s trades."""
        trades = self.trades[symbol]
        if not trades:
            return []
        last = trades[-1][0] // MINUTE
        by_minute: dict[int, list[Fraction]] = {}
        for t, p in trades:
            if t // MINUTE >= last - span:
                by_minute.setdefault(t // MINUTE, []).append(p)
        return [(m, float(min(ps)), float(max(ps))) for m, ps in by_minute.items()]


@st.composite
def alerts(draw: st.DrawFn, alert_id: int | None = None) -> Alert:
    condition = draw(st.sampled_from([*LEVELS, *PERCENTS]))
    symbol = draw(st.sampled_from(SYMBOLS))
    alert_id = draw(st.integers(1, 40)) if alert_id is None else alert_id
    cooldown = draw(cooldowns)
    if condition in PERCENTS:
        return Alert(alert_id, symbol, condition, None, draw(percents), draw(windows), cooldown)
    target = draw(prices)
    reference = None
    if condition == "crossing" and draw(st.booleans()):
        reference = draw(prices)  # recorded by an earlier replica
    return Alert(alert_id, symbol, condition, target, None, None, cooldown, reference)


class BookMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.claims = Claims()
        self.tick = Tick(cast(ClaimPipeline, self.claims), PriceRecorder())
        self.book = self._new_book()
        self.oracle = Oracle()
        self.now = 1_700_000_000_000

    def _new_book(self) -> AlertBook:
        # Tiny blocks: splits and multi-block runs happen. The tick's recent trades carry on.
        self.tick.book = AlertBook(block_size=4, recent=self.tick.recent)
        return self.tick.book

    def _fill_history(self) -> None:
        """What the service does for the symbols whose windows start without history."""
        for symbol, span in self.book.history_wanted().items():
            self.book.fill_minutes(symbol, self.oracle.minutes(symbol, span))
        assert self.book.history_wanted() == {}

    @rule(alert=alerts())
    def add(self, alert: Alert) -> None:
        self.book.add(alert.row())
        self.oracle.alerts[alert.alert_id] = alert
        self.oracle.gone.pop(alert.alert_id, None)
        self._fill_history()

    @rule(alert=alerts(), late=lates)
    def add_late(self, alert: Alert, late: int) -> None:
        """An alert the book hears of ``late`` ms after its commit, trades having come since."""
        alert.created_ms = self.now - late
        self.book.add(alert.row())
        self._caught_up([alert])

    def _caught_up(self, new: list[Alert]) -> None:
        expected_fires, expected_references = [], []
        for alert in new:
            fire, decided = self.oracle.add_late(alert)
            if fire is not None:
                expected_fires.append(([alert.alert_id], *fire))
            if decided is not None:
                expected_references.append((alert.alert_id, float(decided)))
        self.tick.offer_late()
        fired, references = self.claims.taken()
        event(f"added late: {'fired' if fired else 'not fired'}")
        event(f"added late: {'a reference taken' if references else 'no reference taken'}")
        assert sorted(fired) == sorted(expected_fires)
        assert references == sorted(expected_references)
        self._fill_history()

    @rule(new=st.lists(alerts(), max_size=12), late=st.one_of(st.none(), lates))
    def load(self, new: list[Alert], late: int | None) -> None:
        if late is not None:
            new = list({a.alert_id: a for a in new}.values())  # a shard's rows: one per id
            for alert in new:
                alert.created_ms = self.now - late
        assert self.book.load(a.row() for a in new) == len(new)
        if late is not None:
            self._caught_up(new)
            return
        for alert in new:
            self.oracle.alerts[alert.alert_id] = alert
            self.oracle.gone.pop(alert.alert_id, None)
        self._fill_history()

    @rule(alert_id=st.integers(1, 40))
    def remove(self, alert_id: int) -> None:
        assert self.book.remove(alert_id) == self.oracle.remove(alert_id)

    @rule()
    def restart(self) -> None:
        """A new replica loads the alerts as the database has them: fire counts, last fires,
        references recorded."""
        self.book = self._new_book()
        self.oracle.gone.clear()
        for alert in self.oracle.alerts.values():
            alert.restarted()
            alert.created_ms = None  # created long before: nothing to catch up on
        self.book.load(a.row() for a in self.oracle.alerts.values())
        self._fill_history()

    @rule(symbol=st.sampled_from(SYMBOLS))
    def fill_again(self, symbol: str) -> None:
        """Klines of minutes the book has seen trades of change nothing."""
        self.book.fill_minutes(symbol, self.oracle.minutes(symbol, 1440))

    @rule(symbol=st.sampled_from(SYMBOLS), price=prices, step=steps)
    def trade(self, symbol: str, price: Decimal, step: int) -> None:
        self._trade(symbol, price, step)

    @precondition(lambda self: self.oracle.alerts)
    @rule(data=st.data(), step=steps)
    def trade_at_a_threshold(self, data: st.DataObject, step: int) -> None:
        """A price at an alert's target, or at a percent threshold rounded to 8 decimals."""
        alert = data.draw(
            st.sampled_from(sorted(self.oracle.alerts.values(), key=lambda a: a.alert_id))
        )
        if alert.target is not None:
            self._trade(alert.symbol, alert.target, step)
            return
        trades = self.oracle.trades[alert.symbol]
        if not trades:
            return
        minute = (self.now + step) // MINUTE
        in_window = [p for t, p in trades if minute - alert.window <= t // MINUTE]  # type: ignore[operator]
        if not in_window:
            return
        ratio = Fraction(alert.percent_e4, 10**6)  # type: ignore[arg-type]
        exact = (
            (1 + ratio) * min(in_window)
            if alert.condition == "up_pct"
            else ((1 - ratio) * max(in_window))
        )
        rounding = data.draw(st.sampled_from(["ROUND_FLOOR", "ROUND_CEILING"]))
        price = Decimal(exact.numerator) / Decimal(exact.denominator)
        last_digit = max(-8, price.adjusted() - 14)  # Binance: 8 decimals, 15 digits at most
        price = price.quantize(Decimal(1).scaleb(last_digit), rounding=rounding)
        if price > 0:
            self._trade(alert.symbol, price, step)

    def _trade(self, symbol: str, price: Decimal, step: int) -> None:
        self.now += step
        expected, decided = self.oracle.trade(symbol, price, self.now)
        self.tick.trade(symbol, float(price), 0.0, self.now)
        self.tick.note_references()
        fired, references = self.claims.taken()
        assert fired == ([(expected, float(price), self.now)] if expected else [])
        assert references == sorted((i, float(p)) for i, p in decided)

    @invariant()
    def agrees_with_the_oracle(self) -> None:
        self.book._check()
        alerts = self.oracle.alerts.values()
        assert len(self.book) == len(self.oracle.alerts)
        assert set(self.book.symbols) == {a.symbol for a in alerts}
        for symbol in SYMBOLS:
            assert self.book.count(symbol) == sum(1 for a in alerts if a.symbol == symbol)


TestBookAgainstOracle = BookMachine.TestCase
TestBookAgainstOracle.settings = settings(max_examples=400, stateful_step_count=60, deadline=None)
