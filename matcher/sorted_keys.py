"""SortedKeys: ascending integers in blocks, with an O(log n + k) removal of the smallest k.

The layout of sortedcontainers' SortedList (a list of sorted blocks, bisected by their first
keys), without its positional index. The matcher removes the crossed run from the low end on
every crossing, and SortedList's slice deletion deletes item by item and invalidates that index:
at n = 10^6, removing the 100 smallest keys takes 44.5 us there and 4.7 us here, the 10,000
smallest 13.8 ms there and 0.32 ms here (``python -m benchmarks.sorted_keys``). Here
``pop_upto`` cuts whole blocks off the front with one list deletion and slices one block.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from itertools import chain

# Blocks hold up to 2 * BLOCK_SIZE keys; inserting into one moves at most 16 KB.
BLOCK_SIZE = 1000


class SortedKeys:
    """A sorted multiset of ints. ``n`` is its size, ``k`` the number of keys an operation
    returns."""

    __slots__ = ("_block_size", "_blocks", "_firsts", "_len")

    def __init__(self, block_size: int = BLOCK_SIZE) -> None:
        self._block_size = block_size
        self._blocks: list[list[int]] = []
        self._firsts: list[int] = []  # _firsts[i] == _blocks[i][0]
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[int]:
        return chain.from_iterable(self._blocks)

    @property
    def first(self) -> int | None:
        """The smallest key, or None when empty. O(1)."""
        return self._firsts[0] if self._firsts else None

    def add(self, key: int) -> None:
        """Insert ``key``. O(log n) comparisons, plus moving up to 2 * block_size pointers."""
        blocks, firsts = self._blocks, self._firsts
        self._len += 1
        if not blocks:
            blocks.append([key])
            firsts.append(key)
            return
        i = bisect_right(firsts, key) - 1
        if i < 0:
            i = 0
            blocks[0].insert(0, key)
            firsts[0] = key
        else:
            insort(blocks[i], key)
        block = blocks[i]
        half = self._block_size
        if len(block) > 2 * half:
            blocks.insert(i + 1, block[half:])
            firsts.insert(i + 1, block[half])
            del block[half:]

    def discard(self, key: int) -> bool:
        """Remove one ``key`` if present; whether it was. O(log n) plus moving one block."""
        firsts = self._firsts
        i = bisect_right(firsts, key) - 1
        if i < 0:
            return False
        block = self._blocks[i]
        j = bisect_left(block, key)
        if j == len(block) or block[j] != key:
            return False
        del block[j]
        self._len -= 1
        if not block:
            del self._blocks[i]
            del firsts[i]
        elif j == 0:
            firsts[i] = block[0]
        return True

    def pop_upto(self, threshold: int) -> list[int]:
        """Remove and return, ascending, every key ``<= threshold``. O(log n + k): whole blocks
        leave in one list deletion, and one block is sliced."""
        firsts = self._firsts
        whole = bisect_right(firsts, threshold) - 1  # blocks before this one go entirely
        if whole < 0:
            return []
        blocks = self._blocks
        partial = blocks[whole]
        cut = bisect_right(partial, threshold)
        if whole:
            taken = list(chain.from_iterable(blocks[:whole]))
            taken += partial[:cut]
            del blocks[:whole]
            del firsts[:whole]
        else:
            taken = partial[:cut]
        del partial[:cut]
        if partial:
            firsts[0] = partial[0]
        else:
            del blocks[0]
            del firsts[0]
        self._len -= len(taken)
        return taken

    def insert_sorted(self, run: list[int]) -> None:
        """Insert the ascending keys ``run``: each block they fall into takes its share in one
        sort (linear: two sorted runs merge) and is split if it grew past 2 * block_size.
        O(b log n + k + b * block_size) for k keys falling into b blocks; a run of neighbours,
        like the alerts one crossing moves to another index, touches few blocks."""
        if not run:
            return
        blocks, firsts, half = self._blocks, self._firsts, self._block_size
        self._len += len(run)
        if not blocks:
            self._blocks[:] = [run[i : i + half] for i in range(0, len(run), half)]
            firsts[:] = [block[0] for block in self._blocks]
            return
        end = len(run)
        while end:  # from the last block down, so the indexes of the blocks below stay valid
            i = max(bisect_right(firsts, run[end - 1]) - 1, 0)
            start = bisect_left(run, firsts[i], 0, end) if i else 0
            block = blocks[i]
            if end - start == 1:
                insort(block, run[start])
            else:
                block += run[start:end]
                block.sort()
            firsts[i] = block[0]
            if len(block) > 2 * half:
                parts = [block[j : j + half] for j in range(0, len(block), half)]
                blocks[i : i + 1] = parts
                firsts[i : i + 1] = [part[0] for part in parts]
            end = start

    def extend_sorted(self, keys: Iterable[int]) -> None:
        """Merge in many keys at once: one sort (linear when both runs are sorted), then blocks
        rebuilt. O(n + m log m) for m new keys; far faster than m calls of ``add``."""
        merged = list(chain.from_iterable(self._blocks))
        merged.extend(keys)
        merged.sort()
        size = self._block_size
        self._blocks = [merged[i : i + size] for i in range(0, len(merged), size)]
        self._firsts = [block[0] for block in self._blocks]
        self._len = len(merged)

    def _check(self) -> None:
        """Assert every internal invariant (for tests)."""
        assert len(self._blocks) == len(self._firsts)
        assert self._len == sum(len(block) for block in self._blocks)
        previous: int | None = None
        for block, first in zip(self._blocks, self._firsts, strict=True):
            assert block, "no empty block"
            assert len(block) <= 2 * self._block_size
            assert block[0] == first
            assert block == sorted(block)
            assert previous is None or previous <= block[0]
            previous = block[-1]
