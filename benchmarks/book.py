"""The matcher's book beside what a user would build instead, measured in one run.

For n alerts spread over 1,000 symbols with a Zipf share per symbol (the most popular symbol
holds about 13% of them), it measures:

- ``match`` on quiet ticks (the common case), beside the bare check it is built around: a dict
  lookup and two float comparisons in a plain function, and beside three baselines:
  the seed's design (every created alert fetched from PostgreSQL and checked, on each tick), an
  in-memory Python scan of the symbol's alerts, and one indexed SQL query per tick;
- ``match`` on ticks that cross k = 1, 100 and 10,000 alerts;
- bulk load, add and remove throughput, and bytes per alert (tracemalloc, every object the book
  keeps, ids included).

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

from matcher.book import AlertBook, Row
from shared.migrate import migrate

SYMBOLS = 1000
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

    def rows(self, start: int = 0, stop: int | None = None) -> Iterator[Row]:
        stop = len(self.ids) if stop is None else stop
        names = [symbol_name(i) for i in range(SYMBOLS)]
        ids, symbols, above, targets = self.ids, self.symbols, self.above, self.targets
        for i in range(start, stop):
            yield ids[i], names[symbols[i]], "above" if above[i] else "below", targets[i]

    def quiet_ticks(self, count: int, rng: random.Random) -> list[tuple[str, float]]:
        picks = rng.choices(range(SYMBOLS), weights=self.symbol_weights, k=count)
        return [(symbol_name(s), self.base_price[s]) for s in picks]


def new_alerts(seed: int) -> Alerts:
    rng = random.Random(seed)
    weights = [1 / rank for rank in range(1, SYMBOLS + 1)]
    prices = [binance_decimal(10 ** rng.uniform(-4, 5)) for _ in range(SYMBOLS)]
    return Alerts(weights, prices)


def per_call_ns(calls: list[tuple[str, float]], function: Callable[[str, float], object]) -> float:
    """Best of three passes over ``calls``: nanoseconds per call."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter_ns()
        for symbol, price in calls:
            function(symbol, price)
        best = min(best, (time.perf_counter_ns() - started) / len(calls))
    return best


def bare_check(book: AlertBook) -> Callable[[str, float], bool]:
    """The floor ``match`` is built around: one dict lookup, two float comparisons."""
    extremes = {
        symbol: (b.highest_below, b.lowest_above)
        for symbol, b in book._books.items()  # the same extremes the book caches
    }
    get = extremes.get

    def check(symbol: str, price: float) -> bool:
        bounds = get(symbol)
        return bounds is None or bounds[0] < price < bounds[1]

    return check


def memory_scan(alerts: Alerts) -> Callable[[str, float], list[int]]:
    """Baseline 2: each symbol's alerts in a Python list, scanned on every tick."""
    by_symbol: dict[str, list[tuple[int, bool, float]]] = {}
    for alert_id, symbol, condition, target in alerts.rows():
        by_symbol.setdefault(symbol, []).append((alert_id, condition == "above", target))

    def scan(symbol: str, price: float) -> list[int]:
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
    targets = sorted(t for _, s, c, t in alerts.rows() if s == busiest and c == "above")
    if len(targets) < k:
        return float("nan"), 0
    price = targets[k - 1]
    crossed_count = bisect_right(targets, price)
    rows_by_id = {r[0]: r for r in alerts.rows() if r[1] == busiest}
    samples = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        crossed = book.match(busiest, price)
        samples.append((time.perf_counter_ns() - started) / 1000)
        assert len(crossed) == crossed_count
        for alert_id in crossed:
            book.add(*rows_by_id[alert_id])
    return statistics.median(samples), crossed_count


def bytes_per_alert(alerts: Alerts) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    book = AlertBook()
    book.load(alerts.rows())
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del book
    return used / len(alerts.ids)


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
        columns = "id, user_id, symbol, trigger_condition, target_price, email"
        with cursor.copy(f"COPY alerts ({columns}) FROM STDIN") as copy:
            for alert_id, symbol, condition, target in alerts.rows(self.rows):
                copy.write_row((alert_id, 1, symbol, condition, repr(target), "a@example.com"))
        self.rows = len(alerts.ids)
        self.conn.execute("VACUUM ANALYZE alerts")

    def indexed_query(self) -> Callable[[str, float], list[Any]]:
        def query(symbol: str, price: float) -> list[Any]:
            params = {"symbol": symbol, "price": Decimal(repr(price))}
            return self.conn.execute(INDEXED_SELECT, params, prepare=True).fetchall()

        return query

    def seed_rescan(self) -> Callable[[str, float], list[int]]:
        """Baseline 1, the seed's monitor: fetch every created alert, check each one."""

        def rescan(symbol: str, price: float) -> list[int]:
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
    result["bytes_per_alert"] = bytes_per_alert(alerts) if n <= args.memory_max_n else float("nan")

    ticks = alerts.quiet_ticks(200_000, rng)
    assert all(not book.match(s, p) for s, p in ticks[:1000])
    result["quiet_ns"] = per_call_ns(ticks, book.match)
    result["bare_ns"] = per_call_ns(ticks, bare_check(book))
    for k, repeats in ((1, 200), (100, 50), (10_000, 5)):
        result[f"cross_{k}_us"], _ = crossing_us(book, alerts, k, repeats)

    base = len(alerts.ids)
    extra_count = 20_000
    more = new_alerts(n + 1)
    more.extend(extra_count, rng)
    fresh = [(base + i + 1, s, c, t) for i, (_, s, c, t) in enumerate(more.rows())]
    started = time.perf_counter()
    for row in fresh:
        book.add(*row)
    result["add_per_s"] = extra_count / (time.perf_counter() - started)
    started = time.perf_counter()
    for row in fresh:
        book.remove(row[0])
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
    print_table(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "book.json").write_text(json.dumps(results, indent=1) + "\n")
    if plot(results, RESULTS / "book.png"):
        print(f"\nplot: {RESULTS / 'book.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
