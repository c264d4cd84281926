"""SortedKeys beside sortedcontainers' SortedList, the structure DESIGN.md names for the indexes.

The matcher's crossing removes the k smallest keys of an index. SortedList does that with a
positional slice deletion, which deletes item by item and rebuilds its positional index;
SortedKeys.pop_upto cuts whole blocks. Both are also timed on add, the other frequent operation.

    .venv/bin/python -m benchmarks.sorted_keys
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from sortedcontainers import SortedList

from matcher.sorted_keys import SortedKeys

N = 1_000_000
T = TypeVar("T")


def median_us(structure: T, run: Callable[[T, int], object], repeats: int) -> float:
    """Median microseconds of ``run(structure, r)`` for r = 1 .. repeats, on one structure in
    steady state, as the matcher uses it (call 0 is a warm-up: the first operation after a
    build pays a one-off cold start of tens of microseconds, in both structures). The garbage
    collector is held off while timing, so no call pays for a collection of the big lists."""
    run(structure, 0)
    samples = []
    gc.collect()
    gc.disable()
    try:
        for r in range(1, repeats + 1):
            started = time.perf_counter_ns()
            run(structure, r)
            samples.append((time.perf_counter_ns() - started) / 1000)
    finally:
        gc.enable()
    return statistics.median(samples)


def new_sorted_keys(keys: list[int]) -> SortedKeys:
    sorted_keys = SortedKeys()
    sorted_keys.extend_sorted(keys)
    return sorted_keys


def cut_front(sorted_list: SortedList, _round: int, k: int) -> None:
    del sorted_list[:k]


def pop_front(sorted_keys: SortedKeys, round_: int, k: int, keys: list[int]) -> None:
    """Remove the k smallest keys left: in round r those are keys[r*k : (r+1)*k]."""
    assert len(sorted_keys.pop_upto(keys[(round_ + 1) * k - 1])) == k


def main() -> int:
    rng = random.Random(1)
    keys = sorted(rng.getrandbits(119) for _ in range(N))
    fresh = [rng.getrandbits(119) for _ in range(20_000)]
    print(f"n = {N:,} keys of 119 bits; median of repeated runs")
    print(f"{'operation':<28}{'SortedList us':>15}{'SortedKeys us':>15}{'ratio':>9}")
    for k in (1, 100, 10_000):
        slow = median_us(SortedList(keys), partial(cut_front, k=k), 7)
        fast = median_us(new_sorted_keys(keys), partial(pop_front, k=k, keys=keys), 7)
        print(f"{f'remove the {k:,} smallest':<28}{slow:>15,.1f}{fast:>15,.1f}{slow / fast:>8.1f}x")

    sorted_list = SortedList(keys)
    sorted_keys = new_sorted_keys(keys)
    started = time.perf_counter_ns()
    for key in fresh:
        sorted_list.add(key)
    slow = (time.perf_counter_ns() - started) / 1000 / len(fresh)
    started = time.perf_counter_ns()
    for key in fresh:
        sorted_keys.add(key)
    fast = (time.perf_counter_ns() - started) / 1000 / len(fresh)
    print(f"{'add one key':<28}{slow:>15,.2f}{fast:>15,.2f}{slow / fast:>8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
