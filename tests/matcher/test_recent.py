"""RecentTrades, through the tick that keeps it: what an alert added late is matched against,
how far back the ring reaches, and what it does not take (a reference too old, an alert created
before what it holds)."""

from __future__ import annotations

from typing import cast

from matcher.book import AlertBook, BookRow
from matcher.pipeline import ClaimPipeline
from matcher.prices import PriceRecorder
from matcher.recent import BUCKET_MS, HORIZON_MS, SKEW_MS, SLOTS
from matcher.tick import Tick
from tests.matcher.helpers import Claims

T0 = 1_795_708_800_000  # a minute's start
SYMBOL = "BTCUSDT"


def ticking() -> tuple[Tick, Claims]:
    claims = Claims()
    return Tick(cast(ClaimPipeline, claims), PriceRecorder()), claims


def row(alert_id: int, condition: str, target: float, created_ms: int, **fields: object) -> BookRow:
    return BookRow(
        alert_id, SYMBOL, condition, target, None, 0, None, 0, None, created_ms
    )._replace(**fields)


def test_an_alert_heard_of_late_fires_at_the_first_bucket_that_crossed_it() -> None:
    tick, claims = ticking()
    for n, price in enumerate((100.0, 101.0, 103.0, 102.0, 104.0, 99.0)):
        tick.trade(SYMBOL, price, 0.0, T0 + n * BUCKET_MS + 7)
    created = T0 + 2 * BUCKET_MS + SKEW_MS  # counts from the third bucket on
    tick.book.add(row(1, "above", 102.5, created))
    tick.book.add(row(2, "below", 99.5, created))
    tick.book.add(row(3, "above", 104.5, created))  # never reached: waits in the book
    tick.offer_late()
    assert claims.taken() == (
        [([1], 103.0, T0 + 2 * BUCKET_MS + 7), ([2], 99.0, T0 + 5 * BUCKET_MS + 7)],
        [],
    )
    assert list(tick.book.symbols) == [SYMBOL]
    assert 3 in tick.book
    assert len(tick.book) == 1


def test_trades_before_the_skew_do_not_count() -> None:
    tick, claims = ticking()
    tick.trade(SYMBOL, 110.0, 0.0, T0)
    tick.trade(SYMBOL, 100.0, 0.0, T0 + 5_000)
    tick.book.add(row(1, "above", 105.0, T0 + SKEW_MS + BUCKET_MS))
    tick.offer_late()
    assert claims.taken() == ([], [])
    assert 1 in tick.book


def test_a_repeating_alert_heard_of_late_enters_as_after_its_fire() -> None:
    tick, claims = ticking()
    tick.trade(SYMBOL, 100.0, 0.0, T0)
    tick.trade(SYMBOL, 106.0, 0.0, T0 + 300)
    tick.book.add(row(1, "above", 105.0, T0, cooldown_seconds=60))
    tick.offer_late()
    assert claims.taken() == ([([1], 106.0, T0 + 300)], [])
    # Waiting to go back across, then for its cooldown: a higher trade does not fire it again.
    tick.trade(SYMBOL, 107.0, 0.0, T0 + 400)
    tick.trade(SYMBOL, 104.0, 0.0, T0 + 500)
    tick.trade(SYMBOL, 106.0, 0.0, T0 + 60_300)
    assert claims.taken() == ([([1], 106.0, T0 + 60_300)], [])


def test_a_crossing_alert_takes_the_price_at_its_creation_and_a_jump_through_fires_it() -> None:
    tick, claims = ticking()
    tick.trade(SYMBOL, 45_000.0, 0.0, T0)
    created = T0 + 300  # right after the trade: within the skew, still the reference
    tick.book.add(row(1, "crossing", 46_000.0, created))
    tick.offer_late()
    assert claims.taken() == ([], [(1, 45_000.0)])
    tick.trade(SYMBOL, 46_500.0, 0.0, created + 50)
    assert claims.taken() == ([([1], 46_500.0, created + 50)], [])


def test_a_crossing_alert_created_just_before_a_jump_through_fires_when_heard_of() -> None:
    tick, claims = ticking()
    tick.trade(SYMBOL, 45_000.0, 0.0, T0)
    tick.trade(SYMBOL, 46_500.0, 0.0, T0 + 2_000)  # before the NOTIFY came
    tick.book.add(row(1, "crossing", 46_000.0, T0 + 1_500))
    tick.offer_late()
    assert claims.taken() == ([([1], 46_500.0, T0 + 2_000)], [(1, 45_000.0)])
    assert 1 not in tick.book


def test_a_reference_older_than_the_horizon_is_not_taken() -> None:
    tick, claims = ticking()
    tick.trade(SYMBOL, 45_000.0, 0.0, T0)
    tick.book.add(row(1, "crossing", 46_000.0, T0 + HORIZON_MS + 1))
    tick.offer_late()
    assert claims.taken() == ([], [])
    tick.trade(SYMBOL, 46_500.0, 0.0, T0 + HORIZON_MS + 2)  # decides it, as before
    tick.note_references()
    assert claims.taken() == ([], [(1, 46_500.0)])


def test_an_alert_created_before_what_the_ring_holds_is_taken_as_new() -> None:
    tick, claims = ticking()
    for n in range(SLOTS + 10):  # a bucket each: the first ten are overwritten
        tick.trade(SYMBOL, 100.0 + n, 0.0, T0 + n * BUCKET_MS)
    latest = T0 + (SLOTS + 9) * BUCKET_MS
    tick.book.add(row(1, "above", 101.0, T0 + SKEW_MS))  # its first buckets are gone
    # Counted from the bucket a second before its creation, the 110th, which traded at 209.
    tick.book.add(row(2, "above", 150.0, T0 + 109 * BUCKET_MS + SKEW_MS))
    tick.book.add(row(3, "above", 101.0, latest - HORIZON_MS - 1))  # a resumed one: not checked
    tick.offer_late()
    assert claims.taken() == ([([2], 209.0, T0 + 109 * BUCKET_MS)], [])
    assert sorted(a for a in (1, 2, 3) if a in tick.book) == [1, 3]


def test_a_load_catches_up_on_the_rows_created_lately_only() -> None:
    tick, claims = ticking()
    tick.trade(SYMBOL, 100.0, 0.0, T0)
    tick.trade(SYMBOL, 110.0, 0.0, T0 + 3_000)
    book = AlertBook(recent=tick.recent)
    rows = [
        row(1, "above", 105.0, T0 + 1_000),
        row(2, "above", 105.0, T0 - HORIZON_MS - SKEW_MS - 1),  # long before: as new
        BookRow(3, SYMBOL, "above", 105.0, None, 0, None, 0, None),  # no creation time
    ]
    assert book.load(rows) == 3
    tick.book = book
    tick.offer_late()
    assert claims.taken() == ([([1], 110.0, T0 + 3_000)], [])
    assert sorted(a for a in (1, 2, 3) if a in book) == [2, 3]
    book._check()


def test_the_price_slot_keeps_its_minute_while_the_buckets_roll() -> None:
    tick, _ = ticking()
    for n, price in enumerate((100.0, 98.0, 104.0, 101.0)):
        tick.trade(SYMBOL, price, 0.0, T0 + n * 7_000)
    minute = tick._prices.minutes[SYMBOL]
    assert (minute.open, minute.high, minute.low, minute.close) == (100.0, 104.0, 98.0, 101.0)
    assert (minute.bucket_high, minute.bucket_low, minute.bucket_start_ms) == (
        101.0,
        101.0,
        T0 + 21_000,
    )
