"""SymbolBook: one symbol's alerts, in the rooms of their kinds, the band a quiet tick is checked
against, and the slow path of a tick that leaves the band.

Pure: no I/O, no clock, no logging. A symbol has one room per family of alerts it holds
(``matcher.kinds``: the levels, the undecided crossings, the percent moves), each keeping its
alerts in sorted indexes of the symbol (numbered in the keys, ``matcher.keys``); a cooling
index of fired repeating alerts of every room, sorted by the end of their cooldown; and, when a
room needs trade history, its minute windows (``matcher.windows``).

The band. ``AlertBook.match`` answers a trade without looking further when
``lo < price < hi and time_ms < next_event_ms``: ``lo`` and ``hi`` are the narrowest of the
rooms' bands, ``next_event_ms`` the earliest of their events, of the end of a cooldown, and,
when the symbol keeps minutes, of the end of the current minute (a new minute moves every
window); then lo and hi are also narrowed to the current minute's range, inside which no
window's low or high moves, so no threshold that depends on them does either.

Everything else takes the slow path, ``trade``: it merges the trade into the minute windows,
ends the cooldowns that are due, lets each room react in rank order (O(log n + k) for the k
alerts it fires or moves), and rebuilds the band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from matcher.keys import (
    FIRST_GROUP_INDEX,
    ID_MASK,
    INDEX_SHIFT,
    INDEXES,
    LIVE_BITS,
    LIVE_MASK,
    SLOT_MASK,
    SLOT_SHIFT,
    WATCHER_BIT,
    bits,
    cooldown_ms,
    index_of,
    value,
)
from matcher.kinds.common import Place, Room, RoomClass
from matcher.sorted_keys import SortedKeys
from matcher.windows import NO_MINUTE, MinuteWindows

MINUTE_MS = 60_000
NEVER = 1 << 62  # next_event_ms with nothing due (an int: the tick compares ints to ints)


@dataclass(slots=True)
class Reactions:
    """What the slow path of one trade hands back: the ids it fired, the references it decided,
    and for each percent fire the window's low or high it was measured from."""

    fired: list[int] = field(default_factory=list)
    references: list[tuple[int, float]] = field(default_factory=list)
    bases: dict[int, float] = field(default_factory=dict)


def _above(price: float) -> float:
    """The double just above ``price``: price <= x is price < _above(x)."""
    return value(bits(price) + 1) if price < math.inf else math.inf


def _below(price: float) -> float:
    """The double just below ``price``: price >= x is price > _below(x)."""
    return value(bits(price) - 1) if 0 < price < math.inf else -math.inf


class SymbolBook:
    """One symbol's alerts. ``keys`` (the book's alert id -> key map) is passed to the slow
    path, which keeps it up to date for the alerts it moves."""

    __slots__ = (
        "_block_size",
        "_free_indexes",
        "_wanted",
        "cooling",
        "hi",
        "indexes",
        "lo",
        "nearest_above",
        "nearest_below",
        "next_event_ms",
        "owners",
        "placed",
        "rooms",
        "size",
        "slot",
        "symbol",
        "windows",
    )

    def __init__(self, symbol: str, slot: int, block_size: int, wanted: dict[str, int]) -> None:
        self.symbol = symbol
        self.slot = slot
        self.size = 0  # alerts in every phase
        # Index number -> its keys, and its room: the fixed numbers, then one more per group
        # as the symbol's rooms ask (grown, not allocated whole: a symbol has a few).
        self.indexes: list[SortedKeys | None] = [None] * FIRST_GROUP_INDEX
        self.owners: list[Room | None] = [None] * FIRST_GROUP_INDEX
        self.rooms: dict[RoomClass, Room] = {}  # in rank order
        self.placed: dict[Place, int] = {}  # a place -> the index and slot bits of its keys
        self.cooling = SortedKeys(block_size)
        self.windows: MinuteWindows | None = None
        self.lo = -math.inf
        self.hi = math.inf
        self.next_event_ms = NEVER
        self.nearest_below = -math.inf
        self.nearest_above = math.inf
        self._free_indexes: list[int] = []  # group index numbers given back, reused first
        self._block_size = block_size
        self._wanted = wanted  # the book's symbol -> minutes of history wanted

    # Rooms and their indexes --------------------------------------------------------------

    def room(self, room_class: RoomClass) -> Room:
        """The symbol's room of this class, made (in rank order) if it has none yet."""
        room = self.rooms.get(room_class)
        if room is None:
            room = room_class(self)
            self.rooms[room_class] = room
            self.rooms = dict(sorted(self.rooms.items(), key=lambda item: item[1].rank))
        return room

    def own(self, index: int, room: Room) -> None:
        """A room takes one of the fixed index numbers."""
        assert self.owners[index] is None
        self.owners[index] = room

    def new_index(self, room: Room) -> int:
        """A free index number for a group of ``room``."""
        if self._free_indexes:
            index = self._free_indexes.pop()
            self.owners[index] = room
            return index
        index = len(self.indexes)
        if index == INDEXES:
            raise ValueError(f"{self.symbol} has {INDEXES} indexes already, the most a symbol has")
        self.indexes.append(None)
        self.owners.append(room)
        return index

    def _drop_empty_rooms(self) -> None:
        if all(room.size for room in self.rooms.values()):
            return
        for room_class, room in list(self.rooms.items()):
            if room.size:
                continue
            del self.rooms[room_class]
            self.placed = {
                place: bits for place, bits in self.placed.items() if place[0] is not room_class
            }
            for index, owner in enumerate(self.owners):
                if owner is room:
                    self.owners[index] = None
                    self.indexes[index] = None
                    if index >= FIRST_GROUP_INDEX:
                        self._free_indexes.append(index)
        self.fit_windows()

    def place_bits(self, place: Place) -> int:
        """The index and slot bits of a place's keys (``placed`` caches them: read it first),
        its room and index made if need be. O(1)."""
        room_class, group = place
        index = self.room(room_class).index_for(group)
        bits = self.placed[place] = (index << INDEX_SHIFT) | (self.slot << SLOT_SHIFT)
        return bits

    # Where alerts are kept ---------------------------------------------------------------

    def where(self, entry: int) -> tuple[SortedKeys, int]:
        """The index that keeps ``entry`` (a key, or a key with the end of its cooldown above
        it) and the int it keeps for it: a cooling alert is kept whole in the cooling index, a
        watcher as its key in a level index."""
        if entry > LIVE_MASK:
            if not entry & WATCHER_BIT:
                return self.cooling, entry
            key = entry & LIVE_MASK
        else:
            key = entry  # the very int the book maps the id to: one object per alert
        index = index_of(key)
        keys = self.indexes[index]
        if keys is None:
            keys = self.indexes[index] = SortedKeys(self._block_size)
        return keys, key

    def counted(self, entry: int, step: int) -> None:
        """Count an alert in (step 1) or out (-1), in its room."""
        self.size += step
        index = index_of(entry)
        owner = self.owners[index]
        assert owner is not None, "every index in use has a room"
        owner.counted(index, step)

    def place(self, entry: int) -> None:
        """Add one alert in any phase. O(log n). The band is the caller's to rebuild."""
        keys, kept = self.where(entry)
        keys.add(kept)
        self.counted(entry, 1)

    def place_sorted(self, live: list[int]) -> None:
        """Add many live keys of one index at once (a load's share): one sort, one count."""
        if not live:
            return
        index = index_of(live[0])
        keys = self.where(live[0])[0]
        keys.extend_sorted(live)
        self.size += len(live)
        owner = self.owners[index]
        assert owner is not None
        owner.counted(index, len(live))

    def unplace(self, entry: int) -> None:
        """Remove one alert in any phase. O(log n). The band is the caller's to rebuild."""
        keys, kept = self.where(entry)
        found = keys.discard(kept)
        assert found, "every alert of the book is in its index"
        self.counted(entry, -1)

    def insert(self, moved: list[int]) -> None:
        """Put keys back into their indexes, each index's share in one sorted merge."""
        if not moved:
            return
        if len(moved) == 1:
            keys, kept = self.where(moved[0])
            keys.add(kept)
            return
        by_index: dict[int, list[int]] = {}
        for key in moved:
            by_index.setdefault(index_of(key), []).append(key)
        for share in by_index.values():
            share.sort()
            self.where(share[0])[0].insert_sorted(share)

    def cool(self, entries: list[int]) -> None:
        """Fired repeating alerts (entries with their cooldown's end above the key) into the
        cooling index."""
        entries.sort()
        self.cooling.insert_sorted(entries)

    def rehouse(self, moved: list[int], leaving: Room, into: RoomClass) -> None:
        """Keys taken out of ``leaving``'s indexes go into the indexes of the ``into`` room."""
        room = self.room(into)
        for key in moved:
            leaving.counted(index_of(key), -1)
            room.counted(index_of(key), 1)
        self.insert(moved)
        room.refresh()

    def fit_windows(self) -> None:
        """Keep the minutes the rooms need: none, or their largest span."""
        span = max((room.span for room in self.rooms.values()), default=0)
        windows = self.windows
        if not span:
            self.windows = None
            self._wanted.pop(self.symbol, None)
        elif windows is None or span > windows.span:
            self._wanted[self.symbol] = span  # the windows start without their history
            if windows is None:
                self.windows = MinuteWindows(span)
            else:
                windows.resize(span)
        elif span < windows.span:
            windows.resize(span)

    # The slow path -----------------------------------------------------------------------

    def trade(self, price: float, time_ms: int, keys: dict[int, int], out: Reactions) -> None:
        """A trade outside the band: every room reacts, appending to ``out`` what it fired and
        decided; the band is rebuilt. O(log n + k) for k alerts moved, plus O(log s) per
        window index."""
        windows = self.windows
        if windows is not None:
            windows.see(time_ms // MINUTE_MS, price, price)
        first_cooling = self.cooling.first
        rearmed = first_cooling is not None and time_ms >= first_cooling >> LIVE_BITS
        if rearmed:
            self._end_cooldowns(time_ms, keys)
        for room in list(self.rooms.values()):
            room.trade(price, time_ms, rearmed, keys, out)
        self._drop_empty_rooms()
        self.rebuild()

    def _end_cooldowns(self, time_ms: int, keys: dict[int, int]) -> None:
        done = self.cooling.pop_upto(((time_ms + 1) << LIVE_BITS) - 1)
        live = [entry & LIVE_MASK for entry in done]
        for key in live:
            keys[key & ID_MASK] = key
        self.insert(live)
        for room in self.rooms.values():
            room.refresh()

    # The band ----------------------------------------------------------------------------

    def settle(self) -> None:
        """After alerts were added or removed: every room looks again, the empty ones go, and
        the band is rebuilt."""
        for room in self.rooms.values():
            room.refresh()
        self._drop_empty_rooms()
        self.rebuild()

    def rebuild(self) -> None:
        """Recompute the band from the rooms, the cooling index and the windows."""
        first_cooling = self.cooling.first
        next_event_ms = NEVER if first_cooling is None else first_cooling >> LIVE_BITS
        lo, hi = -math.inf, math.inf
        for room in self.rooms.values():
            room_lo, room_hi, room_next = room.band()
            if room_lo > lo:
                lo = room_lo
            if room_hi < hi:
                hi = room_hi
            if room_next < next_event_ms:
                next_event_ms = room_next
        self.nearest_below, self.nearest_above = lo, hi
        windows = self.windows
        if windows is not None:
            if windows.minute == NO_MINUTE:
                next_event_ms = -NEVER  # no trade seen yet: the first one must take the slow path
            else:  # a new minute moves the windows; inside this one's range, nothing moves
                next_event_ms = min(next_event_ms, (windows.minute + 1) * MINUTE_MS)
                lo = max(lo, _below(windows.low))
                hi = min(hi, _above(windows.high))
        self.lo, self.hi, self.next_event_ms = lo, hi, next_event_ms

    def _check(self, keys: dict[int, int]) -> int:
        """Assert every invariant of this symbol's alerts (for tests); how many it holds."""
        seen = 0
        for index, index_keys in enumerate(self.indexes):
            if index_keys is None:
                continue
            index_keys._check()
            assert self.owners[index] is not None, "every index has its room"
            for key in index_keys:
                assert index_of(key) == index
                assert (key >> SLOT_SHIFT) & SLOT_MASK == self.slot
        for room in self.rooms.values():
            assert room.size, "no empty room"
            seen += room.check(keys)
        self.cooling._check()
        for entry in self.cooling:
            seen += 1
            key = entry & LIVE_MASK
            assert keys[key & ID_MASK] == entry
            assert entry >> LIVE_BITS > 0
            assert not key & WATCHER_BIT
            assert cooldown_ms(key)
            assert (key >> SLOT_SHIFT) & SLOT_MASK == self.slot
            assert self.owners[index_of(key)] is not None
        assert seen == self.size == sum(room.size for room in self.rooms.values())
        span = max((room.span for room in self.rooms.values()), default=0)
        if span:
            assert self.windows is not None
            assert self.windows.span == span
            self.windows._check()
        else:
            assert self.windows is None
        band = (self.lo, self.hi, self.next_event_ms)
        self.rebuild()
        assert band == (self.lo, self.hi, self.next_event_ms)
        return seen
