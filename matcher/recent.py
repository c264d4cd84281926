"""RecentTrades: each symbol's trades of the last minute or so, as the highs and lows of short
buckets, for the alerts the matcher learns of after trades that count for them.

An alert is live from the commit that creates it: a trade whose exchange time is at or after
its ``created_at`` is matched against it, even when the matcher hears of the alert later (the
NOTIFY comes after the trade; after a lost database connection the reload comes seconds later).
When such an alert enters the book (``AlertBook.add``, ``load``), its kind asks this record what
its symbol traded since (``since``): the buckets from the one holding ``created_at - SKEW_MS`` on,
each with its highest and lowest trade and their times; and the last trade at or before
``created_at`` (the reference a ``crossing`` alert takes, as far as the buckets tell: the close
of the newest bucket that ended by then) with the buckets after it, which count for that
crossing. The first bucket whose high (low) reaches a level fires it at that high (low): a trade
at or beyond its target, at that trade's time.

The tick's half is not here: the current bucket of each symbol is kept in its price slot
(``matcher.prices.Minute``: ``bucket_high``, ``bucket_low`` and their times), updated in place by
``Tick.trade`` only when a trade goes beyond them, so a quiet tick costs what it did (no call, no
allocation). A trade in a new bucket (once per bucket per symbol at most) hands the finished one
to ``push``, which writes it into the symbol's ring: arrays grown to ``SLOTS`` buckets, then
overwritten oldest first. O(1) per bucket, O(b) per ``since`` for the b buckets it reads.

The sizes, and why:

- ``BUCKET_MS`` = 200: a crossing is dated to its bucket's extreme, and the trades counted start
  at most one bucket before ``created_at - SKEW_MS``; a fifth of a second is finer than the price
  a person sees when creating the alert (the API's prices are written once a second). A symbol
  hands at most five buckets a second to ``push``.
- ``SLOTS`` = 300: 60 s of buckets for a symbol trading in every bucket (a quieter one keeps
  longer). The latest the matcher learns of an alert is after a lost connection: it probes
  PostgreSQL about every second (``matcher.sync``), then loads its shard (about 3 s for 10^6
  alerts, ``benchmarks.matcher_service``), then applies the notifications that came meanwhile;
  60 s covers that more than five times over. An alert created earlier than the ring reaches
  (a paused one resumed, any alert at a start) is not checked: it was live in the book, or the
  gap's record (``matcher.gap``) covers the outage.
- ``SKEW_MS`` = 1000: ``created_at`` is PostgreSQL's clock, a trade's time the exchange's. Both
  are NTP-synchronised (within milliseconds as a rule); a second allows a server whose clock
  runs up to 1 s ahead, so that no trade after the commit is dated before it. The cost: a trade
  up to 1.2 s before the commit may fire a level, which is no earlier than the price the API
  shows at creation (written once a second), so it is the price "now" as the creator saw it.
  A crossing's reference is the last trade at or before ``created_at`` itself, the side the
  price was on when the alert was made (as its bucket tells): with the database's clock ahead
  by d, a trade in the d after the commit could be taken for it, d being milliseconds with NTP.
- A reference older than ``HORIZON_MS`` before ``created_at`` is not taken: the feed stops
  following a symbol without alerts, so an older last trade may not be the last one.

Pure: no I/O, no clock, no logging; times are the exchange's trade times (epoch ms).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from typing import NamedTuple, Protocol

BUCKET_MS = 200
SLOTS = 300
HORIZON_MS = BUCKET_MS * SLOTS
SKEW_MS = 1000
_NONE = -(1 << 62)  # no bucket


class Bucket(Protocol):
    """A symbol's current bucket, as its price slot holds it (``matcher.prices.Minute``)."""

    bucket_start_ms: int
    bucket_high: float
    bucket_high_ms: int
    bucket_low: float
    bucket_low_ms: int
    close: float
    at_ms: int


# One bucket as ``since`` gives it: its highest trade and time, its lowest trade and time.
Extremes = tuple[float, int, float, int]


class Since(NamedTuple):
    """What a symbol traded around an alert's creation at ``created_ms``, oldest first:
    ``counted``, the buckets from the one holding ``created_ms - SKEW_MS`` on; ``reference``, the
    last trade at or before ``created_ms`` as far as the buckets tell (the close of the newest
    bucket that ended by then; None if unknown, or older than ``HORIZON_MS``); ``after``, the
    buckets after the reference's."""

    counted: list[Extremes]
    reference: float | None
    after: list[Extremes]


class _Ring:
    """One symbol's finished buckets, oldest first from ``head`` once full."""

    __slots__ = (
        "close_ms",
        "closes",
        "evicted_close",
        "evicted_close_ms",
        "evicted_start",
        "head",
        "high_ms",
        "highs",
        "low_ms",
        "lows",
        "starts",
    )

    def __init__(self) -> None:
        self.starts = array("q")
        self.highs = array("d")
        self.high_ms = array("q")
        self.lows = array("d")
        self.low_ms = array("q")
        self.closes = array("d")
        self.close_ms = array("q")
        self.head = 0  # the oldest slot, once all SLOTS are used
        self.evicted_start = _NONE  # the newest bucket overwritten, and its last trade
        self.evicted_close = math.nan
        self.evicted_close_ms = _NONE

    def push(self, bucket: Bucket) -> None:
        if len(self.starts) < SLOTS:
            self.starts.append(bucket.bucket_start_ms)
            self.highs.append(bucket.bucket_high)
            self.high_ms.append(bucket.bucket_high_ms)
            self.lows.append(bucket.bucket_low)
            self.low_ms.append(bucket.bucket_low_ms)
            self.closes.append(bucket.close)
            self.close_ms.append(bucket.at_ms)
            return
        slot = self.head
        self.evicted_start = self.starts[slot]
        self.evicted_close = self.closes[slot]
        self.evicted_close_ms = self.close_ms[slot]
        self.starts[slot] = bucket.bucket_start_ms
        self.highs[slot] = bucket.bucket_high
        self.high_ms[slot] = bucket.bucket_high_ms
        self.lows[slot] = bucket.bucket_low
        self.low_ms[slot] = bucket.bucket_low_ms
        self.closes[slot] = bucket.close
        self.close_ms[slot] = bucket.at_ms
        self.head = (slot + 1) % SLOTS

    def order(self) -> list[int]:
        """The slots, oldest first."""
        used = len(self.starts)
        return [(self.head + i) % used for i in range(used)]


class RecentTrades:
    """The rings of every symbol the tick saw, and (``current``) the price slots that hold each
    symbol's bucket in progress."""

    __slots__ = ("_current", "_rings")

    def __init__(self, current: Mapping[str, Bucket]) -> None:
        self._current = current
        self._rings: dict[str, _Ring] = {}

    def push(self, symbol: str, bucket: Bucket) -> None:
        """A finished bucket of ``symbol`` (the tick is in a later one now). O(1)."""
        ring = self._rings.get(symbol)
        if ring is None:
            ring = self._rings[symbol] = _Ring()
        ring.push(bucket)

    def latest_ms(self, symbol: str) -> int | None:
        """The time of ``symbol``'s latest trade, None before any. O(1)."""
        current = self._current.get(symbol)
        return None if current is None else current.at_ms

    def reach(self) -> dict[str, int]:
        """Per symbol, the earliest creation time ``since`` answers for (``HORIZON_MS`` before
        its latest trade): a load hands only the rows created from then on to ``add``.
        O(symbols)."""
        return {symbol: bucket.at_ms - HORIZON_MS for symbol, bucket in self._current.items()}

    def since(self, symbol: str, created_ms: int) -> Since | None:
        """What ``symbol`` traded around ``created_ms`` (``Since``); None when the ring does not
        hold all of it (it reaches back less far, or saw no trade), or when ``created_ms`` is
        more than ``HORIZON_MS`` before the symbol's latest trade. O(b) for the b buckets
        kept."""
        current = self._current.get(symbol)
        if current is None or created_ms < current.at_ms - HORIZON_MS:
            return None
        start = created_ms - SKEW_MS
        start -= start % BUCKET_MS
        counted: list[Extremes] = []
        after: list[Extremes] = []
        reference, reference_ms = math.nan, _NONE
        ring = self._rings.get(symbol)
        if ring is not None:
            if ring.evicted_start != _NONE:
                if ring.evicted_start >= start or ring.evicted_close_ms > created_ms:
                    return None  # trades that count are gone
                reference, reference_ms = ring.evicted_close, ring.evicted_close_ms
            for slot in ring.order():
                extremes = (
                    ring.highs[slot],
                    ring.high_ms[slot],
                    ring.lows[slot],
                    ring.low_ms[slot],
                )
                if ring.close_ms[slot] <= created_ms:
                    reference, reference_ms = ring.closes[slot], ring.close_ms[slot]
                    after = []
                else:
                    after.append(extremes)
                if ring.starts[slot] >= start:
                    counted.append(extremes)
        extremes = (
            current.bucket_high,
            current.bucket_high_ms,
            current.bucket_low,
            current.bucket_low_ms,
        )
        if current.at_ms <= created_ms:
            reference, reference_ms = current.close, current.at_ms
            after = []
        else:
            after.append(extremes)
        if current.bucket_start_ms >= start:
            counted.append(extremes)
        if reference_ms >= created_ms - HORIZON_MS and 0 < reference < math.inf:
            return Since(counted, reference, after)
        # Too old to be the last (the feed stops following a symbol without alerts), or no
        # trade price (NaN, zero): not known.
        return Since(counted, None, [])
