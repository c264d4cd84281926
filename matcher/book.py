"""AlertBook: every live alert of a replica in memory, matched against trade prices.

Pure: no I/O, no clock, no logging. Per symbol, two sorted indexes (``above`` alerts, ``below``
alerts) and their cached extremes: the lowest ``above`` target and the highest ``below`` target.
A trade price between the two crosses nothing, and ``match`` answers after one dict lookup and two
float comparisons, O(1) whatever the number of alerts. A price past an extreme removes the whole
crossed run from the front of that side's index at once: O(log n + k) for k crossed alerts.

Keys. Each alert is one int in its side's index, laid out (high bits to low) as::

    [ order: 63 bits ][ symbol slot: 14 ][ side: 1 ][ alert id: 41 ]

``order`` is the IEEE-754 bit pattern of the target, which for positive doubles sorts exactly like
the values themselves; on the ``below`` side it is inverted, so that on both sides the crossed
alerts are the smallest keys. The id tie-breaks equal targets, and the slot and side bits let a
removal by id find the index from the key alone. One 119-bit int is 40 bytes, and no float object
is kept per alert.

Why float targets compare correctly. Binance prices carry at most 8 decimals, and the API and
the database hold targets to at most 8 decimals and 15 significant digits. A double represents
every decimal of at most 15 significant digits closely enough to round-trip it (DBL_DIG = 15), so
two different such decimals never become the same double; and rounding to the nearest double never
reverses an order. So for a price and a target both given as such decimals, ``price >= target``
on their doubles is exactly ``price >= target`` on the decimals, equality included: a trade at
exactly the target fires the alert.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, KeysView

from matcher.sorted_keys import BLOCK_SIZE, SortedKeys

ABOVE, BELOW = "above", "below"
ID_BITS, SIDE_BITS, SLOT_BITS = 41, 1, 14
MAX_ALERT_ID = (1 << ID_BITS) - 1
MAX_SYMBOLS = 1 << SLOT_BITS
_LOW_BITS = ID_BITS + SIDE_BITS + SLOT_BITS
_LOW_MASK = (1 << _LOW_BITS) - 1
_ORDER_MASK = (1 << 63) - 1
_SIDE_BIT = 1 << ID_BITS
_ID_MASK = MAX_ALERT_ID
_DOUBLE = struct.Struct("<d")
_UINT64 = struct.Struct("<Q")

Row = tuple[int, str, str, float]  # (alert_id, symbol, condition, target)


def _bits(value: float) -> int:
    """The IEEE-754 bit pattern of a positive double: ordered as the values are."""
    return int(_UINT64.unpack(_DOUBLE.pack(value))[0])


def _value(bits: int) -> float:
    return float(_DOUBLE.unpack(_UINT64.pack(bits))[0])


class _SymbolBook:
    """One symbol's two indexes and their cached extremes."""

    __slots__ = ("above", "below", "highest_below", "lowest_above", "slot", "symbol")

    def __init__(self, symbol: str, slot: int, block_size: int) -> None:
        self.symbol = symbol
        self.slot = slot
        self.above = SortedKeys(block_size)
        self.below = SortedKeys(block_size)
        self.lowest_above = math.inf
        self.highest_below = -math.inf

    def refresh_above(self) -> None:
        first = self.above.first
        self.lowest_above = math.inf if first is None else _value(first >> _LOW_BITS)

    def refresh_below(self) -> None:
        first = self.below.first
        self.highest_below = (
            -math.inf if first is None else _value(~(first >> _LOW_BITS) & _ORDER_MASK)
        )


class AlertBook:
    """The live alerts of one replica, by symbol. ``n`` is the number of alerts in the book,
    ``k`` the number a call adds, removes or returns."""

    __slots__ = ("_block_size", "_books", "_free_slots", "_keys", "_slots")

    def __init__(self, *, block_size: int = BLOCK_SIZE) -> None:
        self._block_size = block_size
        self._books: dict[str, _SymbolBook] = {}
        self._slots: list[_SymbolBook | None] = []
        self._free_slots: list[int] = []
        self._keys: dict[int, int] = {}  # alert id -> its key

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._keys

    @property
    def symbols(self) -> KeysView[str]:
        """The symbols with at least one alert (a live view)."""
        return self._books.keys()

    def nearest(self, symbol: str) -> tuple[float, float]:
        """The highest ``below`` target and the lowest ``above`` target of ``symbol`` (-inf and
        inf where a side is empty): the next prices that would cross something. O(1)."""
        book = self._books.get(symbol)
        if book is None:
            return -math.inf, math.inf
        return book.highest_below, book.lowest_above

    def count(self, symbol: str) -> int:
        """How many alerts ``symbol`` has. O(1)."""
        book = self._books.get(symbol)
        return 0 if book is None else len(book.above) + len(book.below)

    def match(self, symbol: str, price: float) -> list[int]:
        """Remove and return the ids of every alert ``price`` crosses: ``above`` alerts with
        target <= price, ``below`` alerts with target >= price. O(1) when none is crossed;
        O(log n + k) for k crossed."""
        book = self._books.get(symbol)
        if book is None or book.highest_below < price < book.lowest_above:
            return []
        return self._cross(book, price)

    def add(self, alert_id: int, symbol: str, condition: str, target: float) -> None:
        """Add an alert, or replace the one with this id. O(log n).

        Raises ValueError for a condition other than ``above``/``below``, a target that is not
        a finite positive number, or an id outside 1 .. 2**41 - 1.
        """
        self._validate(alert_id, condition, target)
        if alert_id in self._keys:
            self.remove(alert_id)
        book = self._book_for(symbol)
        key = self._key(book.slot, alert_id, condition, target)
        self._keys[alert_id] = key
        if condition == ABOVE:
            book.above.add(key)
            if target < book.lowest_above:
                book.lowest_above = target
        else:
            book.below.add(key)
            if target > book.highest_below:
                book.highest_below = target

    def remove(self, alert_id: int) -> bool:
        """Remove the alert with this id; whether it was in the book. O(log n)."""
        key = self._keys.pop(alert_id, None)
        if key is None:
            return False
        book = self._unindex(key, {})
        if key & _SIDE_BIT:
            book.refresh_below()
        else:
            book.refresh_above()
        self._drop_if_empty(book)
        return True

    def load(self, rows: Iterable[Row]) -> int:
        """Add many alerts at once, sorting each index once: far faster than ``add`` per row.
        Rows are ``(alert_id, symbol, condition, target)``; an id already in the book (or seen
        earlier in ``rows``) is replaced. Returns how many rows were read. O(n + m log m) for
        m rows."""
        pending: dict[_SymbolBook, tuple[list[int], list[int]]] = {}
        replaced: list[_SymbolBook] = []
        keys = self._keys
        count = 0
        for alert_id, symbol, condition, target in rows:
            count += 1
            self._validate(alert_id, condition, target)
            old = keys.get(alert_id)
            if old is not None:
                replaced.append(self._unindex(old, pending))
            book = self._books.get(symbol) or self._book_for(symbol)
            lists = pending.get(book)
            if lists is None:
                lists = pending[book] = ([], [])
            key = self._key(book.slot, alert_id, condition, target)
            keys[alert_id] = key
            lists[1 if key & _SIDE_BIT else 0].append(key)
        for book, (above, below) in pending.items():
            if above:
                book.above.extend_sorted(above)
            if below:
                book.below.extend_sorted(below)
        for book in {*pending, *replaced}:
            book.refresh_above()
            book.refresh_below()
            if self._books.get(book.symbol) is book:
                self._drop_if_empty(book)
        return count

    def _unindex(
        self, key: int, pending: dict[_SymbolBook, tuple[list[int], list[int]]]
    ) -> _SymbolBook:
        """Take ``key`` out of its index, or out of ``pending`` if a load has not indexed it
        yet; the symbol book it was in. Extremes and empty books are the caller's to fix."""
        book = self._slots[(key >> (ID_BITS + SIDE_BITS)) & (MAX_SYMBOLS - 1)]
        assert book is not None
        below = bool(key & _SIDE_BIT)
        if not (book.below if below else book.above).discard(key):
            pending[book][1 if below else 0].remove(key)
        return book

    def _cross(self, book: _SymbolBook, price: float) -> list[int]:
        if not price > 0:  # NaN, zero or negative: no trade price, crosses nothing
            return []
        keys = self._keys
        crossed: list[int] = []
        if price >= book.lowest_above:
            taken = book.above.pop_upto((_bits(price) << _LOW_BITS) | _LOW_MASK)
            crossed += [key & _ID_MASK for key in taken]
            book.refresh_above()
        if price <= book.highest_below:
            order = ~_bits(price) & _ORDER_MASK
            taken = book.below.pop_upto((order << _LOW_BITS) | _LOW_MASK)
            crossed += [key & _ID_MASK for key in taken]
            book.refresh_below()
        for alert_id in crossed:
            del keys[alert_id]
        self._drop_if_empty(book)
        return crossed

    def _book_for(self, symbol: str) -> _SymbolBook:
        book = self._books.get(symbol)
        if book is not None:
            return book
        if self._free_slots:
            slot = self._free_slots.pop()
        elif len(self._slots) < MAX_SYMBOLS:
            slot = len(self._slots)
            self._slots.append(None)
        else:
            raise ValueError(f"the book holds at most {MAX_SYMBOLS} symbols")
        book = self._books[symbol] = _SymbolBook(symbol, slot, self._block_size)
        self._slots[slot] = book
        return book

    def _drop_if_empty(self, book: _SymbolBook) -> None:
        if not book.above and not book.below:
            del self._books[book.symbol]
            self._slots[book.slot] = None
            self._free_slots.append(book.slot)

    @staticmethod
    def _key(slot: int, alert_id: int, condition: str, target: float) -> int:
        if condition == ABOVE:
            return (_bits(target) << _LOW_BITS) | (slot << (ID_BITS + SIDE_BITS)) | alert_id
        order = ~_bits(target) & _ORDER_MASK
        return (order << _LOW_BITS) | (slot << (ID_BITS + SIDE_BITS)) | _SIDE_BIT | alert_id

    @staticmethod
    def _validate(alert_id: int, condition: str, target: float) -> None:
        if condition != ABOVE and condition != BELOW:
            raise ValueError(f"condition must be 'above' or 'below', got {condition!r}")
        if not 0 < target < math.inf:
            raise ValueError(f"target must be a finite positive number, got {target!r}")
        if not 0 < alert_id <= MAX_ALERT_ID:
            raise ValueError(f"alert id must be in 1 .. {MAX_ALERT_ID}, got {alert_id!r}")

    def _check(self) -> None:
        """Assert every internal invariant (for tests)."""
        seen = 0
        for symbol, book in self._books.items():
            assert book.symbol == symbol
            assert self._slots[book.slot] is book
            assert book.above or book.below, "no empty symbol book"
            for side, is_below in ((book.above, False), (book.below, True)):
                side._check()
                for key in side:
                    assert bool(key & _SIDE_BIT) == is_below
                    assert (key >> (ID_BITS + SIDE_BITS)) & (MAX_SYMBOLS - 1) == book.slot
                    assert self._keys[key & _ID_MASK] == key
                    seen += 1
            expected_low = math.inf
            if book.above.first is not None:
                expected_low = _value(book.above.first >> _LOW_BITS)
            assert book.lowest_above == expected_low
            expected_high = -math.inf
            if book.below.first is not None:
                expected_high = _value(~(book.below.first >> _LOW_BITS) & _ORDER_MASK)
            assert book.highest_below == expected_high
        assert seen == len(self._keys)
        free = set(self._free_slots)
        assert all((slot in free) == (book is None) for slot, book in enumerate(self._slots))
