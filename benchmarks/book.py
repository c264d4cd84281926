"""The matcher's book beside what a user would build instead, measured in one run.

For n alerts spread over 1,000 symbols with a Zipf share per symbol (the most popular symbol
holds about 13% of them), it measures:

- ``match`` on quiet ticks (the common case), beside the bare check it is built around: a dict
  lookup and two float comparisons in a plain function, and beside three baselines:
  the seed's design (every created alert fetched from PostgreSQL and checked, on each tick), an
  in-memory Python scan of the symbol's alerts, and one indexed SQL query per tick;
- ``match`` on ticks that cross k = 1, 100 and 10,000 alerts;
- bulk load, add and remove throughput, and bytes per alert (tracemalloc, every object the book
  keeps, ids included);
- the same book with twelve percent alerts more per symbol, one in each (window, direction)
  index, so that every ticked symbol has its level indexes and all twelve percent indexes live:
  ``match`` on quiet ticks (inside the current minute's range and every threshold) beside the
  same bare check;
- a book of n percent alerts (windows and directions drawn evenly, percents 0.5% .. 50%):
  ``match`` on ticks that fire k = 1, 100 and 10,000 alerts of one ``up_pct`` index;
- at the largest n, bytes per alert for each kind and phase, each loaded alone.

Ticks are drawn with the same Zipf share as the alerts: busy symbols trade more.

    .venv/bin/python -m benchmarks.book                      # n = 10^3 .. 10^6
    .venv/bin/python -m benchmarks.book --max-n 10000000     # up to 10^7 (several minutes)

It prints a table with the ratios, and writes ``benchmarks/results/book.json`` and the log-log
plot ``benchmarks/results/book.png`` (with matplotlib, the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import statistics
import sys
import time
import tracemalloc
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from matcher.book import WINDOW_MINUTES, AlertBook, BookRow
from matcher.kinds.percent import percent_in_e4, reached_up
from shared.migrate import migrate

SYMBOLS = 1000
T0 = 1_764_000_000_000  # the trade time of the benchmark's ticks (ms), at a minute's start
RESULTS = Path(__file__).parent / "results"
ADMIN_URL = os.environ.get(
    "PRICEALERT_TEST_POSTGRES", "postgresql://postgres@localhost:5432/postgres"
)
SEED_SELECT = (
    "SELECT id, symbol, trigger_condition, target_price FROM alerts WHERE state = 'created'"
)
INDEXED_SELECT = """
SELECT id FROM alerts
WHERE state = 'created' AND symbol = %(symbol)s
  AND ((trigger_condition = 'above' AND target_price <= %(price)s)
    OR (trigger_condition = 'below' AND target_price >= %(price)s))
"""


def binance_decimal(value: float) -> float:
    """``value`` as Binance would write a price: 8 significant digits, at most 8 decimals."""
    return round(float(f"{value:.8g}"), 8)


def symbol_name(index: int) -> str:
    return f"S{index:04d}USDT"


@dataclass
class Alerts:
    """n alerts in compact arrays, so that generating rows allocates fresh objects like a
    database load would, and the data set itself weighs little."""

    symbol_weights: list[float]
    base_price: list[float]
    ids: array[int] = field(default_factory=lambda: array("q"))
    symbols: array[int] = field(default_factory=lambda: array("H"))
    above: bytearray = field(default_factory=bytearray)
    targets: array[float] = field(default_factory=lambda: array("d"))

    def extend(self, count: int, rng: random.Random) -> None:
        start = len(self.ids) + 1
        picks = rng.choices(range(SYMBOLS), weights=self.symbol_weights, k=count)
        for offset, symbol in enumerate(picks):
            is_above = rng.random() < 0.5
            spread = 0.01 + 0.49 * rng.random()
            price = self.base_price[symbol] * (1 + spread if is_above else 1 - spread)
            self.ids.append(start + offset)
            self.symbols.append(symbol)
            self.above.append(is_above)
            self.targets.append(binance_decimal(price))

    def rows(self, start: int = 0, stop: int | None = None) -> Iterator[BookRow]:
        stop = len(self.ids) if stop is None else stop
        names = [symbol_name(i) for i in range(SYMBOLS)]
        ids, symbols, above, targets = self.ids, self.symbols, self.above, self.targets
        for i in range(start, stop):
            condition = "above" if above[i] else "below"
            yield BookRow(ids[i], names[symbols[i]], condition, targets[i], None, 0, None, 0, None)

    def quiet_ticks(self, count: int, rng: random.Random) -> list[Tick]:
        picks = rng.choices(range(SYMBOLS), weights=self.symbol_weights, k=count)
        return [(symbol_name(s), self.base_price[s], T0 + i % 50_000) for i, s in enumerate(picks)]

    def percent_rows(self, count: int, first_id: int, seed: int) -> Iterator[BookRow]:
        """``count`` percent alerts with the alerts' Zipf share: windows and directions drawn
        evenly, percents from 0.5% to 50%."""
        rng = random.Random(seed)
        names = [symbol_name(i) for i in range(SYMBOLS)]
        windows = list(WINDOW_MINUTES)
        picks = rng.choices(range(SYMBOLS), weights=self.symbol_weights, k=count)
        for offset, symbol in enumerate(picks):
            condition = "up_pct" if rng.random() < 0.5 else "down_pct"
            percent = str(Decimal(rng.randrange(5_000, 500_001)).scaleb(-4))
            params = {"percent": percent, "window": rng.choice(windows)}
            yield BookRow(
                first_id + offset, names[symbol], condition, None, params, 0, None, 0, None
            )


def new_alerts(seed: int) -> Alerts:
    rng = random.Random(seed)
    weights = [1 / rank for rank in range(1, SYMBOLS + 1)]
    prices = [binance_decimal(10 ** rng.uniform(-4, 5)) for _ in range(SYMBOLS)]
    return Alerts(weights, prices)


Tick = tuple[str, float, int]  # symbol, price, trade time (ms)
Match = Callable[[str, float, int], object]


def per_call_ns(calls: list[Tick], function: Match) -> float:
    """Best of three passes over ``calls``: nanoseconds per call."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter_ns()
        for symbol, price, time_ms in calls:
            function(symbol, price, time_ms)
        best = min(best, (time.perf_counter_ns() - started) / len(calls))
    return best


def paired_ns(calls: list[Tick], function: Match, floor: Match) -> tuple[float, float]:
    """Nanoseconds per call of ``function`` and of ``floor``, best of five passes each, the
    passes alternating, so that a change in the machine's load weighs on both alike."""
    best = [float("inf"), float("inf")]
    for _ in range(5):
        for which, measured in enumerate((function, floor)):
            started = time.perf_counter_ns()
            for symbol, price, time_ms in calls:
                measured(symbol, price, time_ms)
            best[which] = min(best[which], (time.perf_counter_ns() - started) / len(calls))
    return best[0], best[1]


def bare_check(book: AlertBook) -> Callable[[str, float, int], bool]:
    """The floor ``match`` is built around: one dict lookup, two float comparisons (it takes
    the trade time as ``match`` does, and ignores it)."""
    extremes = {
        symbol: (b.lo, b.hi)
        for symbol, b in book._books.items()  # the same band the book caches
    }
    get = extremes.get

    def check(symbol: str, price: float, time_ms: int) -> bool:
        bounds = get(symbol)
        return bounds is None or bounds[0] < price < bounds[1]

    return check


def memory_scan(alerts: Alerts) -> Match:
    """Baseline 2: each symbol's alerts in a Python list, scanned on every tick."""
    by_symbol: dict[str, list[tuple[int, bool, float]]] = {}
    for alert_id, symbol, condition, target, *_ in alerts.rows():
        assert target is not None
        by_symbol.setdefault(symbol, []).append((alert_id, condition == "above", target))

    def scan(symbol: str, price: float, time_ms: int) -> list[int]:
        return [
            alert_id
            for alert_id, is_above, target in by_symbol.get(symbol, ())
            if (target <= price if is_above else target >= price)
        ]

    return scan


def crossing_us(book: AlertBook, alerts: Alerts, k: int, repeats: int) -> tuple[float, int]:
    """Median microseconds of a ``match`` that crosses k above alerts of the busiest symbol.
    The crossed alerts are put back with ``add`` between runs (``load`` would rebuild the whole
    index each time, and the next match would pay for that churn)."""
    busiest = symbol_name(0)
    targets = sorted(r[3] or 0.0 for r in alerts.rows() if r[1] == busiest and r[2] == "above")
    if len(targets) < k:
        return float("nan"), 0
    price = targets[k - 1]
    crossed_count = bisect_right(targets, price)
    rows_by_id = {r[0]: r for r in alerts.rows() if r[1] == busiest}
    samples = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        crossed = book.match(busiest, price, T0)
        samples.append((time.perf_counter_ns() - started) / 1000)
        assert len(crossed) == crossed_count
        for alert_id in crossed:
            book.add(rows_by_id[alert_id])
    return statistics.median(samples), crossed_count


def percent_crossing_us(
    book: AlertBook, rows: list[BookRow], k: int, repeats: int
) -> tuple[float, int]:
    """Median microseconds of a ``match`` that fires k alerts of the busiest symbol's ``up_pct``
    index of one hour, after a trade at 1000 made that the low of its window (the crossed alerts
    put back with ``add`` between runs)."""
    busiest, low = symbol_name(0), 1000.0
    index = [
        r
        for r in rows
        if r.symbol == busiest and r.trigger_condition == "up_pct" and r.params["window"] == "1h"
    ]
    percents = sorted(percent_in_e4(r.params["percent"]) for r in index)
    if len(percents) < k:
        return float("nan"), 0
    # The lowest price of 8 decimals that reaches the k-th smallest percent.
    price = float(math.ceil(low * (1_000_000 + percents[k - 1]) / 1_000_000 * 1e8) / 1e8)
    while reached_up(price, low) < percents[k - 1]:
        price = round(price + 1e-8, 8)
    crossed_count = bisect_right(percents, reached_up(price, low))
    rows_by_id = {r[0]: r for r in index}
    samples = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        crossed = book.match(busiest, price, T0 + 1)
        samples.append((time.perf_counter_ns() - started) / 1000)
        assert len(crossed) >= crossed_count, (len(crossed), crossed_count)
        for alert_id in crossed:
            book.add(rows_by_id[alert_id])
    return statistics.median(samples), crossed_count


def twelve_percent_rows(first_id: int) -> Iterator[BookRow]:
    """One percent alert in each of the twelve (window, direction) indexes of every symbol,
    5% to 60% away: nothing fires on the quiet ticks, every index is live."""
    alert_id = first_id
    for symbol in range(SYMBOLS):
        for number, window in enumerate(WINDOW_MINUTES):
            for condition in ("up_pct", "down_pct"):
                params = {"percent": str(5 * (number + 1)), "window": window}
                name = symbol_name(symbol)
                yield BookRow(alert_id, name, condition, None, params, 0, None, 0, None)
                alert_id += 1


def warm_minutes(book: AlertBook, alerts: Alerts) -> None:
    """Two trades per symbol make the current minute's range 0.999x .. 1.001x the base price,
    which the quiet ticks (at 1x) stay inside."""
    for s in range(SYMBOLS):
        base = alerts.base_price[s]
        for price in (binance_decimal(base * 0.999), binance_decimal(base * 1.001)):
            assert not book.match(symbol_name(s), price, T0)


def bytes_per_alert(rows: Callable[[], Iterator[BookRow]], count: int) -> float:
    """Bytes the book keeps per alert (tracemalloc: every object it holds) after loading the
    ``count`` rows that ``rows()`` makes."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    book = AlertBook()
    book.load(rows())
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(book) == count
    del book
    return used / count


def bytes_per_kind(alerts: Alerts, once_level: float) -> dict[str, float]:
    """Bytes per alert for each kind, n alerts of it alone over the same symbols, beside
    ``once_level`` (the main table's). A repeating or an undecided alert has the same key as a
    once one (the cooldown and the phase are key bits); a fired repeating level alert waiting
    to go back across keeps the end of its cooldown too."""
    n = len(alerts.ids)

    def watching() -> Iterator[BookRow]:
        fired = {"cooldown_seconds": 3600, "fire_count": 1, "last_fired_ms": T0}
        return (row._replace(**fired) for row in alerts.rows())

    def crossings() -> Iterator[BookRow]:
        for row in alerts.rows():
            assert row.target_price is not None
            above = row.trigger_condition == "above"
            reference = row.target_price * (0.9 if above else 1.1)
            yield row._replace(trigger_condition="crossing", reference_price=reference)

    def percents() -> Iterator[BookRow]:
        return alerts.percent_rows(n, 1, seed=5)

    kinds: dict[str, Callable[[], Iterator[BookRow]]] = {
        "crossing (reference decided)": crossings,
        "up_pct/down_pct": percents,
        "above/below, repeat, fired (watching)": watching,
    }
    sizes = {"above/below": once_level}
    sizes.update((name, bytes_per_alert(rows, n)) for name, rows in kinds.items())
    return sizes


class Database:
    """A benchmark database holding the same alerts, for baselines 1 and 3."""

    def __init__(self) -> None:
        self.name = f"pricealert_bookbench_{os.getpid()}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        self.url = make_conninfo(ADMIN_URL, dbname=self.name)
        asyncio.run(migrate(self.url))
        self.conn = psycopg.connect(self.url, autocommit=True)
        self.conn.execute("ALTER TABLE alerts DISABLE TRIGGER USER")  # no NOTIFY storm
        self.conn.execute(
            "CREATE INDEX alerts_match ON alerts (symbol, trigger_condition, target_price)"
            " WHERE state = 'created'"
        )
        self.conn.execute("INSERT INTO users (username, password_hash) VALUES ('bench', 'x')")
        with self.conn.cursor().copy("COPY symbols (symbol) FROM STDIN") as copy:
            for i in range(SYMBOLS):
                copy.write_row((symbol_name(i),))
        self.rows = 0

    def fill(self, alerts: Alerts) -> None:
        cursor = self.conn.cursor()
        columns = "id, user_id, symbol, trigger_condition, target_price, channels"
        channels = '{"email": "a@example.com"}'
        with cursor.copy(f"COPY alerts ({columns}) FROM STDIN") as copy:
            for alert_id, symbol, condition, target, *_ in alerts.rows(self.rows):
                copy.write_row((alert_id, 1, symbol, condition, repr(target), channels))
        self.rows = len(alerts.ids)
        self.conn.execute("VACUUM ANALYZE alerts")

    def indexed_query(self) -> Match:
        def query(symbol: str, price: float, time_ms: int) -> list[Any]:
            params = {"symbol": symbol, "price": Decimal(repr(price))}
            return self.conn.execute(INDEXED_SELECT, params, prepare=True).fetchall()

        return query

    def seed_rescan(self) -> Match:
        """Baseline 1, the seed's monitor: fetch every created alert, check each one."""

        def rescan(symbol: str, price: float, time_ms: int) -> list[int]:
            crossed = []
            value = Decimal(repr(price))
            with self.conn.transaction(), self.conn.cursor(name="seed") as cursor:
                cursor.itersize = 2000
                cursor.execute(SEED_SELECT)
                for alert_id, alert_symbol, condition, target in cursor:
                    if alert_symbol == symbol and (
                        value >= target if condition == "above" else value <= target
                    ):
                        crossed.append(alert_id)
            return crossed

        return rescan

    def drop(self) -> None:
        self.conn.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def measure(
    n: int, alerts: Alerts, database: Database | None, args: argparse.Namespace
) -> dict[str, float]:
    rng = random.Random(n)
    result: dict[str, float] = {"n": n}
    gc.collect()
    started = time.perf_counter()
    book = AlertBook()
    book.load(alerts.rows())
    result["load_s"] = time.perf_counter() - started
    result["bytes_per_alert"] = (
        bytes_per_alert(alerts.rows, n) if n <= args.memory_max_n else float("nan")
    )

    ticks = alerts.quiet_ticks(200_000, rng)
    assert all(not book.match(*tick) for tick in ticks[:1000])
    result["quiet_ns"], result["bare_ns"] = paired_ns(ticks, book.match, bare_check(book))
    for k, repeats in ((1, 200), (100, 50), (10_000, 5)):
        result[f"cross_{k}_us"], _ = crossing_us(book, alerts, k, repeats)

    # Every symbol with its level indexes and all twelve percent indexes live.
    book.load(twelve_percent_rows(10**9))
    warm_minutes(book, alerts)
    assert all(not book.match(*tick) for tick in ticks[:1000])
    result["quiet_pct_ns"], result["bare_pct_ns"] = paired_ns(ticks, book.match, bare_check(book))
    del book
    gc.collect()

    # The busiest symbol's other up_pct windows would fire with the measured one: left out.
    percent_rows = [
        row
        for row in alerts.percent_rows(n, 1, seed=n)
        if not (
            row.symbol == symbol_name(0)
            and row.trigger_condition == "up_pct"
            and row.params["window"] != "1h"
        )
    ]
    started = time.perf_counter()
    book = AlertBook()
    book.load(percent_rows)
    result["load_pct_s"] = time.perf_counter() - started
    assert not book.match(symbol_name(0), 1000.0, T0)  # the low of the busiest symbol's windows
    for k, repeats in ((1, 200), (100, 50), (10_000, 5)):
        result[f"pct_cross_{k}_us"], _ = percent_crossing_us(book, percent_rows, k, repeats)
    del book, percent_rows
    gc.collect()
    book = AlertBook()
    book.load(alerts.rows())

    base = len(alerts.ids)
    extra_count = 20_000
    more = new_alerts(n + 1)
    more.extend(extra_count, rng)
    fresh = [row._replace(id=base + i + 1) for i, row in enumerate(more.rows())]
    started = time.perf_counter()
    for row in fresh:
        book.add(row)
    result["add_per_s"] = extra_count / (time.perf_counter() - started)
    started = time.perf_counter()
    for row in fresh:
        book.remove(row.id)
    result["remove_per_s"] = extra_count / (time.perf_counter() - started)
    del book
    gc.collect()

    scan_ticks = ticks[: max(20, min(20_000, 2 * 10**8 // n))]
    result["memscan_ns"] = per_call_ns(scan_ticks, memory_scan(alerts))
    if database is not None and n <= args.sql_max_n:
        database.fill(alerts)
        result["sql_ns"] = per_call_ns(ticks[:2000], database.indexed_query())
        seed_ticks = ticks[: 3 if n <= 10**5 else 1]
        result["seed_ns"] = per_call_ns(seed_ticks, database.seed_rescan())
    else:
        result["sql_ns"] = result["seed_ns"] = float("nan")
    return result


def print_table(results: list[dict[str, float]]) -> None:
    def show(value: float, scale: float = 1.0, digits: int = 0) -> str:
        return "-" if value != value else f"{value / scale:,.{digits}f}"

    print(f"\nAlertBook, {os.cpu_count()} cores, Python {sys.version.split()[0]}; times per tick")
    head = (
        "n",
        "load s",
        "B/alert",
        "add/s",
        "remove/s",
        "quiet ns",
        "bare ns",
        "quiet/bare",
        "k=1 us",
        "k=100 us",
        "k=1e4 ms",
    )
    print("".join(f"{h:>11}" for h in head))
    for r in results:
        cells = (
            f"{int(r['n']):,}",
            show(r["load_s"], digits=2),
            show(r["bytes_per_alert"]),
            show(r["add_per_s"]),
            show(r["remove_per_s"]),
            show(r["quiet_ns"]),
            show(r["bare_ns"]),
            f"{r['quiet_ns'] / r['bare_ns']:.2f}x",
            show(r["cross_1_us"], digits=1),
            show(r["cross_100_us"], digits=1),
            show(r["cross_10000_us"], 1000, 2),
        )
        print("".join(f"{c:>11}" for c in cells))
    print("\nQuiet tick beside the baselines (how many times faster the book is)")
    head = ("n", "book ns", "mem scan ns", "x", "SQL ns", "x", "seed ns", "x", "ticks/s")
    print("".join(f"{h:>13}" for h in head))
    for r in results:
        q = r["quiet_ns"]
        cells = (
            f"{int(r['n']):,}",
            show(q),
            show(r["memscan_ns"]),
            show(r["memscan_ns"] / q),
            show(r["sql_ns"]),
            show(r["sql_ns"] / q),
            show(r["seed_ns"]),
            show(r["seed_ns"] / q),
            show(1e9 / q),
        )
        print("".join(f"{c:>13}" for c in cells))
    print(
        "\nPercent kinds: a quiet tick on symbols whose level indexes and all twelve percent"
        " indexes are live,\nbeside the same bare check; a tick firing k alerts of one up_pct"
        " index, in a book of n percent alerts"
    )
    head = ("n", "quiet ns", "bare ns", "quiet/bare", "load s", "k=1 us", "k=100 us", "k=1e4 ms")
    print("".join(f"{h:>11}" for h in head))
    for r in results:
        cells = (
            f"{int(r['n']):,}",
            show(r["quiet_pct_ns"]),
            show(r["bare_pct_ns"]),
            f"{r['quiet_pct_ns'] / r['bare_pct_ns']:.2f}x",
            show(r["load_pct_s"], digits=2),
            show(r["pct_cross_1_us"], digits=1),
            show(r["pct_cross_100_us"], digits=1),
            show(r["pct_cross_10000_us"], 1000, 2),
        )
        print("".join(f"{c:>11}" for c in cells))


def print_kinds(n: int, kinds: dict[str, float]) -> None:
    print(f"\nBytes per alert at n = {n:,}, each kind alone (tracemalloc: all the book keeps)")
    for name, size in kinds.items():
        print(f"{name:>40} {size:>6.0f}")


def plot(results: list[dict[str, float]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ns = [r["n"] for r in results]
    series = [
        ("book: quiet tick", "quiet_ns", 1.0),
        ("bare two-comparison check", "bare_ns", 1.0),
        ("book: crossing k=1", "cross_1_us", 1000.0),
        ("book: crossing k=100", "cross_100_us", 1000.0),
        ("book: crossing k=10,000", "cross_10000_us", 1000.0),
        ("book: quiet tick, 12 percent indexes live too", "quiet_pct_ns", 1.0),
        ("book: up_pct crossing k=100", "pct_cross_100_us", 1000.0),
        ("baseline: in-memory scan of the symbol", "memscan_ns", 1.0),
        ("baseline: one indexed SQL query", "sql_ns", 1.0),
        ("baseline: the seed (rescan all alerts)", "seed_ns", 1.0),
    ]
    figure, axes = plt.subplots(figsize=(9, 6))
    for label, key, scale in series:
        points = [(n, r[key] * scale) for n, r in zip(ns, results, strict=True) if r[key] == r[key]]
        if points:
            axes.plot(*zip(*points, strict=True), marker="o", label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("alerts in the book (n), over 1,000 symbols, Zipf share")
    axes.set_ylabel("nanoseconds per tick")
    axes.set_title("pricealert matcher: cost of one trade tick")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-n", type=int, default=10**6)
    parser.add_argument(
        "--sql-max-n",
        type=int,
        default=10**6,
        help="largest n for the PostgreSQL baselines (loading is slow)",
    )
    parser.add_argument("--memory-max-n", type=int, default=10**7)
    parser.add_argument("--no-sql", action="store_true", help="skip the PostgreSQL baselines")
    args = parser.parse_args()
    sizes = [n for n in (10**3, 10**4, 10**5, 10**6, 10**7) if n <= args.max_n]
    alerts = new_alerts(seed=1)
    database = None if args.no_sql else Database()
    rng = random.Random(7)
    results = []
    try:
        for n in sizes:
            alerts.extend(n - len(alerts.ids), rng)
            print(f"measuring n = {n:,} ...", file=sys.stderr, flush=True)
            results.append(measure(n, alerts, database, args))
    finally:
        if database is not None:
            database.drop()
    kinds = {}
    if sizes and sizes[-1] <= args.memory_max_n:
        print(f"bytes per kind at n = {sizes[-1]:,} ...", file=sys.stderr, flush=True)
        kinds = bytes_per_kind(alerts, results[-1]["bytes_per_alert"])
    print_table(results)
    if kinds:
        print_kinds(sizes[-1], kinds)
    RESULTS.mkdir(exist_ok=True)
    report = {"sizes": results, "bytes_per_kind": {"n": sizes[-1], **kinds}}
    (RESULTS / "book.json").write_text(json.dumps(report, indent=1) + "\n")
    if plot(results, RESULTS / "book.png"):
        print(f"\nplot: {RESULTS / 'book.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
