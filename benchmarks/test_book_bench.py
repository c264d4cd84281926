"""pytest-benchmark suite for the book: the quiet tick beside its floor (levels only, and with
all twelve percent indexes live), and a crossing.

    .venv/bin/pytest benchmarks/test_book_bench.py --benchmark-only

The full comparison with the baselines (PostgreSQL, in-memory scan, the seed) is
``python -m benchmarks.book``; this suite is the quick check of the hot path.
"""

from __future__ import annotations

import random

import pytest

from benchmarks.book import (
    T0,
    Alerts,
    Match,
    Tick,
    bare_check,
    new_alerts,
    twelve_percent_rows,
    warm_minutes,
)
from matcher.book import AlertBook

N = 1_000_000
TICKS = 10_000


@pytest.fixture(scope="module")
def alerts() -> Alerts:
    data = new_alerts(seed=1)
    data.extend(N, random.Random(7))
    return data


@pytest.fixture(scope="module")
def book(alerts: Alerts) -> AlertBook:
    book = AlertBook()
    book.load(alerts.rows())
    return book


@pytest.fixture(scope="module")
def percent_book(alerts: Alerts) -> AlertBook:
    book = AlertBook()
    book.load(alerts.rows())
    book.load(twelve_percent_rows(10**9))
    warm_minutes(book, alerts)
    return book


@pytest.fixture(scope="module")
def ticks(alerts: Alerts) -> list[Tick]:
    return alerts.quiet_ticks(TICKS, random.Random(3))


def _run(ticks: list[Tick], check: Match) -> None:
    for symbol, price, time_ms in ticks:
        check(symbol, price, time_ms)


def test_quiet_ticks_in_the_book(benchmark, book: AlertBook, ticks) -> None:  # type: ignore[no-untyped-def]
    benchmark.extra_info["ticks_per_round"] = TICKS
    benchmark(_run, ticks, book.match)


def test_quiet_ticks_bare_two_comparison_check(benchmark, book: AlertBook, ticks) -> None:  # type: ignore[no-untyped-def]
    benchmark.extra_info["ticks_per_round"] = TICKS
    benchmark(_run, ticks, bare_check(book))


def test_quiet_ticks_with_twelve_percent_indexes_live(
    benchmark, percent_book: AlertBook, ticks
) -> None:  # type: ignore[no-untyped-def]
    benchmark.extra_info["ticks_per_round"] = TICKS
    benchmark(_run, ticks, percent_book.match)


def test_quiet_ticks_bare_check_of_the_percent_book(
    benchmark, percent_book: AlertBook, ticks
) -> None:  # type: ignore[no-untyped-def]
    benchmark.extra_info["ticks_per_round"] = TICKS
    benchmark(_run, ticks, bare_check(percent_book))


def test_crossing_100_alerts(benchmark, alerts: Alerts) -> None:  # type: ignore[no-untyped-def]
    rows = [r for r in alerts.rows(0, 200_000) if r[1] == "S0000USDT" and r[2] == "above"]
    price = sorted(r[3] or 0.0 for r in rows)[99]

    def setup() -> tuple[tuple[AlertBook, str, float], dict[str, object]]:
        book = AlertBook()
        book.load(rows)
        return (book, "S0000USDT", price), {}

    crossed = benchmark.pedantic(
        lambda book, symbol, p: book.match(symbol, p, T0), setup=setup, rounds=50
    )
    assert len(crossed) >= 100
