"""The book's keys: one int per alert, holding its index, its phase and its place in the index.

Pure: no I/O, no clock, no logging. Each alert is one int, laid out (high bits to low) as::

    [ order: <= 63 ][ slot: 14 ][ index: 8 ][ watcher: 1 ][ crossing: 1 ][ cooldown: 20 ][ id: 41 ]

- ``order`` sorts the index so that the alerts a price reaches first are its smallest keys:
  the IEEE-754 bits of the target for the ``UP`` level index (positive doubles sort like their
  bits), the inverted bits for ``DOWN``, the percent in ten-thousandths for a percent index.
- ``slot`` (the symbol) and ``index`` let a removal by id find the alert's index from its key alone.
  Indexes 0 to 2 are the levels' (``UP``, ``DOWN``, ``UNDECIDED``); the rooms of the other kinds
  (``matcher.kinds``) number theirs from ``FIRST_GROUP_INDEX`` as their symbol needs them.
- ``watcher`` marks a fired repeating level alert waiting for the price to go back across its
  target: it sits in the *opposite* level index, so the band check of a tick covers it for free.
  A watcher of an ``above`` alert at X must trigger at price < X, a ``DOWN`` condition that is
  strict: as a double, price < X is price <= the double just below X, so its order is that of
  the ``DOWN`` key at ``bits(X) - 1``. Likewise a ``below`` watcher is an ``UP`` key at
  ``bits(X) + 1``.
- ``crossing`` marks a crossing alert: after a fire it alternates sides instead of watching.
- ``cooldown`` seconds: 0 for a ``once`` alert, 60..604,800 (< 2**20) for a repeating one.

A level key is at most 148 bits: five 30-bit digits, 48 bytes with the allocator's rounding
(a percent key, 24 order bits, is 40). What the book keeps per alert id (``AlertBook._keys``) is
the key itself, or, for a fired repeating alert, the trade time in ms when its cooldown ends
above the key: ``(end_ms << LIVE_BITS) | key``. For a watcher the index holds the key and the
book the int with the end; an alert cooling down is in its symbol's cooling index as that very
int, which sorts by end. ``end_ms`` is never 0 (a cooldown is at least 60 s), so the high part
tells the phases apart. No other per-alert object exists.
"""

from __future__ import annotations

import struct

ID_BITS = 41
COOLDOWN_BITS = 20
INDEX_BITS = 8
SLOT_BITS = 14
ORDER_BITS = 63

MAX_ALERT_ID = (1 << ID_BITS) - 1
MAX_SYMBOLS = 1 << SLOT_BITS
MAX_COOLDOWN_SECONDS = (1 << COOLDOWN_BITS) - 1

COOLDOWN_SHIFT = ID_BITS
CROSSING_BIT = 1 << (COOLDOWN_SHIFT + COOLDOWN_BITS)
WATCHER_BIT = CROSSING_BIT << 1
INDEX_SHIFT = COOLDOWN_SHIFT + COOLDOWN_BITS + 2
SLOT_SHIFT = INDEX_SHIFT + INDEX_BITS
ORDER_SHIFT = SLOT_SHIFT + SLOT_BITS  # 85: every bit below the order
LIVE_BITS = ORDER_SHIFT + ORDER_BITS  # 148: every bit of a key; above them, a phase's number

ID_MASK = MAX_ALERT_ID
COOLDOWN_MASK = MAX_COOLDOWN_SECONDS
INDEX_MASK = (1 << INDEX_BITS) - 1
SLOT_MASK = MAX_SYMBOLS - 1
LOW_MASK = (1 << ORDER_SHIFT) - 1
ORDER_MASK = (1 << ORDER_BITS) - 1
LIVE_MASK = (1 << LIVE_BITS) - 1
PLACE_BITS = (INDEX_MASK << INDEX_SHIFT) | (SLOT_MASK << SLOT_SHIFT)  # which index of which symbol

# The indexes of a symbol, by number.
UP = 0  # fires at price >= the level: above, crossing from below, watchers of below alerts
DOWN = 1  # fires at price <= the level: below, crossing from above, watchers of above alerts
UNDECIDED = 2  # crossing alerts waiting for their reference price: any trade decides them
FIRST_GROUP_INDEX = 3  # the first index a room numbers for a group of its own (a window, ...)
INDEXES = 1 << INDEX_BITS

_DOUBLE = struct.Struct("<d")
_UINT64 = struct.Struct("<Q")


def bits(value: float) -> int:
    """The IEEE-754 bit pattern of a non-negative double: ordered as the values are."""
    return int(_UINT64.unpack(_DOUBLE.pack(value))[0])


def value(pattern: int) -> float:
    """The double of a bit pattern (inverse of ``bits``)."""
    return float(_DOUBLE.unpack(_UINT64.pack(pattern))[0])


def key(order: int, index: int, alert_id: int, cooldown_seconds: int, flags: int = 0) -> int:
    """A key in symbol slot 0 (the book ORs the slot in)."""
    return (
        (order << ORDER_SHIFT)
        | (index << INDEX_SHIFT)
        | flags
        | (cooldown_seconds << COOLDOWN_SHIFT)
        | alert_id
    )


def level_order(index: int, target: float) -> int:
    """The order of a level alert at ``target`` in the ``UP`` or ``DOWN`` index."""
    return bits(target) if index == UP else ~bits(target) & ORDER_MASK


def level_threshold(index: int, price: float) -> int:
    """The largest key of a level index that ``price`` reaches: ``pop_upto`` takes the rest."""
    return (level_order(index, price) << ORDER_SHIFT) | LOW_MASK


def index_of(key: int) -> int:
    return (key >> INDEX_SHIFT) & INDEX_MASK


def slot_of(key: int) -> int:
    return (key >> SLOT_SHIFT) & SLOT_MASK


def cooldown_ms(key: int) -> int:
    return ((key >> COOLDOWN_SHIFT) & COOLDOWN_MASK) * 1000
