"""AlertBook: every live alert of a replica in memory, matched against trade prices and times.

Pure: no I/O, no clock, no logging. Time is the trade's (Binance ``T``, epoch milliseconds,
non-negative and non-decreasing per symbol), passed to ``match``.

The kinds (``matcher.kinds``): ``above``/``below`` levels; ``crossing`` (a level whose side
follows from a reference price, recorded once); ``up_pct``/``down_pct`` (a move of a percent over
a window of minutes); each once (fires, leaves the book) or repeating (fires, re-arms, fires
again; see ``matcher.kinds.level``). Every alert, in every phase, is one int key in one sorted
index of its symbol (``matcher.keys``); a kind only decides which, when the alert enters.

The tick. Per symbol a band (``matcher.symbol_book``): ``match`` answers a trade after one dict
lookup, ``lo < price < hi`` and ``time_ms < next_event_ms``, O(1) and without allocating,
whatever the number and the kinds of alerts. Anything else takes the slow path: O(log n + k) for
k alerts fired or moved.

Why float targets compare correctly. Binance prices carry at most 8 decimals, and the API and
the database hold targets to at most 8 decimals and 15 significant digits. A double represents
every decimal of at most 15 significant digits closely enough to round-trip it (DBL_DIG = 15), so
two different such decimals never become the same double; and rounding to the nearest double never
reverses an order. So for a price and a target both given as such decimals, ``price >= target``
on their doubles is exactly ``price >= target`` on the decimals, equality included: a trade at
exactly the target fires the alert. Percent thresholds are products, not exact in doubles: they
are decided on decimals (``matcher.kinds.percent``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, KeysView, Sequence
from itertools import takewhile

from matcher.keys import (
    LIVE_MASK,
    MAX_ALERT_ID,
    MAX_SYMBOLS,
    ORDER_SHIFT,
    PLACE_BITS,
    UNDECIDED,
    slot_of,
    value,
)
from matcher.kinds import KINDS, WINDOW_MINUTES, BookRow, Kind
from matcher.recent import HORIZON_MS, RecentTrades
from matcher.sorted_keys import BLOCK_SIZE
from matcher.symbol_book import Reactions, SymbolBook

__all__ = ["MAX_ALERT_ID", "WINDOW_MINUTES", "AlertBook", "BookRow"]

_QUIET: tuple[int, ...] = ()
_NEVER = 1 << 62  # a creation time no row reaches

# Fires of alerts added after the trade that fired them: (symbol, price, time_ms, alert ids).
LateFire = tuple[str, float, int, list[int]]


class AlertBook:
    """The alerts of one replica, by symbol. ``n`` is the number of alerts in the book, ``k``
    the number a call adds, removes, fires or moves."""

    __slots__ = (
        "_block_size",
        "_books",
        "_free_slots",
        "_gone",
        "_keys",
        "_late",
        "_out",
        "_recent",
        "_slots",
        "_wanted",
    )

    def __init__(self, *, block_size: int = BLOCK_SIZE, recent: RecentTrades | None = None) -> None:
        self._block_size = block_size
        # What each symbol traded lately (kept by the tick): an alert added after trades that
        # count for it is matched against them (``add``). None: every alert is taken as new.
        self._recent = recent
        self._late: list[LateFire] = []
        # Alerts removed lately (paused, deleted), with their symbol's latest trade time then:
        # one that comes back (resumed) is live from its return, not from its creation, so
        # the trades while it was away do not count. Kept while creations so old are caught up.
        self._gone: dict[int, int] = {}
        self._books: dict[str, SymbolBook] = {}
        self._slots: list[SymbolBook | None] = []
        self._free_slots: list[int] = []
        self._keys: dict[int, int] = {}  # alert id -> its key (with its end above, see keys)
        self._out = Reactions()  # the fired ids are a new list per slow path, the rest carry on
        self._wanted: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._keys

    @property
    def symbols(self) -> KeysView[str]:
        """The symbols with at least one alert in any phase (a live view)."""
        return self._books.keys()

    def count(self, symbol: str) -> int:
        """How many alerts ``symbol`` has, in every phase. O(1)."""
        book = self._books.get(symbol)
        return 0 if book is None else book.size

    def nearest(self, symbol: str) -> tuple[float, float]:
        """The highest price at or below which, and the lowest at or above which, something of
        ``symbol`` would fire or re-arm (-inf and inf where nothing would): a level's target, a
        percent threshold over its window (rounded to the safe side). O(1)."""
        book = self._books.get(symbol)
        if book is None:
            return -float("inf"), float("inf")
        return book.nearest_below, book.nearest_above

    def lowest_undecided(self, symbol: str) -> float:
        """The lowest target of ``symbol``'s crossing alerts that wait for their reference
        price (inf when none): ``nearest`` cannot say where they fire, as any trade decides
        them. O(1)."""
        book = self._books.get(symbol)
        waiting = None if book is None else book.indexes[UNDECIDED]
        first = None if waiting is None else waiting.first
        return math.inf if first is None else value(first >> ORDER_SHIFT)

    def match(self, symbol: str, price: float, time_ms: int) -> Sequence[int]:
        """The ids of the alerts that fire at this trade. A once alert that fires leaves the
        book; a repeating one stays, re-arming. O(1) and no allocation when the trade is inside
        its symbol's band; O(log n + k) otherwise."""
        book = self._books.get(symbol)
        if book is None or (book.lo < price < book.hi and time_ms < book.next_event_ms):
            return _QUIET
        if not price > 0:  # NaN, zero or negative: no trade price, crosses nothing
            return _QUIET
        out = self._out
        fired = out.fired = []
        book.trade(price, time_ms, self._keys, out)
        if not book.size:
            self._drop(book)
        return fired

    def take_references(self) -> list[tuple[int, float]]:
        """``(alert_id, reference_price)`` of the crossing alerts decided since the last call,
        for the service to record. O(1)."""
        references, self._out.references = self._out.references, []
        return references

    def take_late(self) -> list[LateFire]:
        """The fires of the alerts ``add`` and ``load`` caught up on since the last call, each
        at its own trade, for the service to claim. O(1)."""
        late, self._late = self._late, []
        return late

    def take_bases(self, fired: Sequence[int]) -> list[float | None]:
        """For each of ``fired`` (what ``match`` just returned), the window's low (up_pct) or
        high (down_pct) its move was measured from, None for a level alert. O(k)."""
        bases = self._out.bases
        if not bases:
            return [None] * len(fired)
        found = [bases.pop(alert_id, None) for alert_id in fired]
        bases.clear()
        return found

    def fill_minutes(self, symbol: str, minutes: Iterable[tuple[int, float, float]]) -> None:
        """Merge ``(minute_index, low, high)`` (1-minute klines) into ``symbol``'s windows, and
        stop wanting its history. A symbol without percent alerts keeps no minutes: ignored.
        O(m log s) for m minutes. Raises ValueError for a low or high that is no price."""
        self._wanted.pop(symbol, None)
        book = self._books.get(symbol)
        windows = None if book is None else book.windows
        if book is None or windows is None:
            return
        for minute, low, high in minutes:
            if not 0 < low <= high < float("inf"):
                raise ValueError(f"a minute needs 0 < low <= high, got {low!r}, {high!r}")
            windows.see(minute, low, high)
        book.rebuild()

    def history_wanted(self) -> dict[str, int]:
        """The symbols whose percent windows started without history (a first percent alert, or
        a longer window than before), with the minutes of history they want (their largest
        window); each is reported once, and not after ``fill_minutes``. O(1)."""
        wanted = dict(self._wanted)
        self._wanted.clear()  # the symbol books hold this very dict
        return wanted

    def add(self, row: BookRow) -> None:
        """Add an alert, or replace the one with this id. O(log n).

        Live from its commit: an alert that never fired, created (``created_ms``) within what
        the recent trades hold (``matcher.recent``), is matched against the trades of its
        symbol since then, and enters as it would be after them: a crossing alert without a
        reference takes the last trade at or before its creation; one that those trades crossed
        fires at the first such trade (``take_late``), and leaves (once) or enters as after
        that fire. O(b) more for the b buckets of those trades.

        Raises ValueError naming the field for a row its kind refuses (``matcher.kinds``); the
        book is then unchanged."""
        kind = self._kind(row.trigger_condition)
        place, key = kind.enter(row)
        recent = self._recent
        back = self._gone.pop(row.id, None) is not None if self._gone else False
        if recent is not None and row.created_ms is not None and not row.fire_count and not back:
            since = recent.since(row.symbol, row.created_ms)
            if since is not None:
                caught, fire = kind.catch_up(row, since)
                reference = caught.reference_price
                if reference is not None and row.reference_price is None:
                    self._out.references.append((row.id, reference))
                if fire is not None:
                    price, time_ms = fire
                    self._late.append((row.symbol, price, time_ms, [row.id]))
                    if not row.cooldown_seconds:  # a once alert: fired, not in the book
                        self._remove(row.id)
                        return
                    caught = caught._replace(fire_count=1, last_fired_ms=time_ms)
                if caught is not row:
                    place, key = kind.enter(caught)
        if row.id in self._keys:
            self._remove(row.id)
        book = self._book_for(row.symbol)
        entry = key | (book.placed.get(place) or book.place_bits(place))
        self._keys[row.id] = entry
        book.place(entry)
        book.settle()

    def remove(self, alert_id: int) -> bool:
        """Remove the alert with this id, in whatever phase it is; whether it was in the book.
        If it comes back (``add``, resumed), the trades meanwhile do not count for it. O(log n)
        (amortised, with the forgetting of alerts removed long ago)."""
        book = self._slots[slot_of(self._keys[alert_id])] if alert_id in self._keys else None
        removed = self._remove(alert_id)
        if removed and self._recent is not None and book is not None:
            now_ms = self._recent.latest_ms(book.symbol)
            gone = self._gone
            gone[alert_id] = 0 if now_ms is None else now_ms  # 0: forgotten at the next
            if now_ms is not None:
                floor = now_ms - HORIZON_MS  # removed before this: nothing caught up on them
                stale = [i for i, _ in takewhile(lambda item: item[1] < floor, gone.items())]
                for old_id in stale:  # oldest first: each is forgotten once
                    del gone[old_id]
        return removed

    def _remove(self, alert_id: int) -> bool:
        entry = self._keys.pop(alert_id, None)
        if entry is None:
            return False
        book = self._slots[slot_of(entry)]
        assert book is not None
        book.unplace(entry)
        if book.size:
            book.settle()
        else:
            self._drop(book)
        return True

    def load(self, rows: Iterable[BookRow]) -> int:
        """Add many alerts at once, sorting each index once: far faster than ``add`` per row.
        An id already in the book (or seen earlier in ``rows``) is replaced. Returns how many
        rows were read. O(n + m log m) for m rows. A refused row raises ValueError; the rows
        before it are in the book.

        Per row, O(1): the kind's key, the place's index bits (cached per symbol book), and
        the key appended to its index's share; each share is sorted into its index and counted
        in its room once, at the end. Fired repeating alerts (a cooldown's end above the key)
        are placed one by one: few, after a restart. So are the rows created within the
        recent trades' reach, through ``add`` (live from their commit): few too."""
        # Per symbol, the rows created before this go in as new: nothing to catch up on.
        reach = {} if self._recent is None else self._recent.reach()
        caught_up: dict[int, BookRow] = {}  # by id: the last row of an id wins, as below
        shares: dict[int, list[int]] = {}  # index and slot bits -> the live keys of that index
        share_books: dict[int, SymbolBook] = {}
        touched: set[SymbolBook] = set()
        keys, books, kinds = self._keys, self._books, KINDS
        count = 0
        try:
            for row in rows:
                count += 1
                if reach:  # none at a start: no trade seen yet
                    created_ms = row.created_ms
                    if created_ms is not None and created_ms >= reach.get(row.symbol, _NEVER):
                        caught_up[row.id] = row
                        continue
                    if caught_up:
                        caught_up.pop(row.id, None)
                if self._gone:
                    self._gone.pop(row.id, None)
                kind = kinds.get(row.trigger_condition) or self._kind(row.trigger_condition)
                place, key = kind.enter(row)
                alert_id = row.id
                old = keys.get(alert_id)
                if old is not None:
                    touched.add(self._unindex(old, shares))
                book = books.get(row.symbol) or self._book_for(row.symbol)
                bits = book.placed.get(place)
                if bits is None:
                    bits = book.place_bits(place)
                entry = keys[alert_id] = key | bits
                if entry > LIVE_MASK:
                    book.place(entry)
                    touched.add(book)
                    continue
                share = shares.get(bits)
                if share is None:
                    share = shares[bits] = []
                    share_books[bits] = book
                share.append(entry)
        finally:
            for bits, share in shares.items():
                book = share_books[bits]
                touched.add(book)
                book.place_sorted(share)
            for book in touched:
                if self._books.get(book.symbol) is not book:
                    continue
                if book.size:
                    book.settle()
                else:
                    self._drop(book)
            for row in caught_up.values():
                self.add(row)
        return count

    @staticmethod
    def _kind(condition: str) -> Kind:
        kind = KINDS.get(condition)
        if kind is None:
            raise ValueError(f"condition must be one of {', '.join(KINDS)}, got {condition!r}")
        return kind

    def _unindex(self, entry: int, shares: dict[int, list[int]]) -> SymbolBook:
        """Take ``entry`` out of its index, or out of its share if a load has not indexed it
        yet; the symbol book it was in. Its band is the caller's to rebuild."""
        book = self._slots[slot_of(entry)]
        assert book is not None
        index_keys, kept = book.where(entry)
        if index_keys.discard(kept):
            book.counted(entry, -1)
        else:
            shares[entry & PLACE_BITS].remove(entry)  # a replaced id of the same load: rare
        return book

    def _book_for(self, symbol: str) -> SymbolBook:
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
        book = self._books[symbol] = SymbolBook(symbol, slot, self._block_size, self._wanted)
        self._slots[slot] = book
        return book

    def _drop(self, book: SymbolBook) -> None:
        del self._books[book.symbol]
        self._slots[book.slot] = None
        self._free_slots.append(book.slot)
        self._wanted.pop(book.symbol, None)

    def _check(self) -> None:
        """Assert every internal invariant (for tests)."""
        seen = 0
        for symbol, book in self._books.items():
            assert book.symbol == symbol
            assert self._slots[book.slot] is book
            assert book.size, "no empty symbol book"
            seen += book._check(self._keys)
        assert seen == len(self._keys)
        for entry in self._keys.values():
            assert self._slots[slot_of(entry & LIVE_MASK)] is not None
        free = set(self._free_slots)
        assert len(free) == len(self._free_slots)
        assert all((slot in free) == (book is None) for slot, book in enumerate(self._slots))
        assert set(self._wanted) <= {s for s, b in self._books.items() if b.windows is not None}
