"""What every kind shares: the row an alert enters the book as, the two small protocols a kind's
module implements, and the checks of the fields every kind has.

- A ``Kind`` turns a row into a key, once, when the alert enters the book: which ``Room`` keeps
  it, in which of the room's groups (a window, a direction), and the key itself.
- A ``Room`` is one family of one symbol's alerts (``matcher.symbol_book`` holds one per family
  the symbol has): the indexes it keeps, the band its alerts allow a quiet trade (``band``),
  and what it does with a trade outside the band (``trade``). The tick never sees a room: the
  symbol's band is the narrowest of its rooms', computed when something moves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ClassVar, NamedTuple, Protocol

from matcher.keys import LIVE_BITS, MAX_ALERT_ID, UP, cooldown_ms

if TYPE_CHECKING:
    from matcher.recent import Extremes, Since
    from matcher.symbol_book import Reactions, SymbolBook

MIN_REPEAT_COOLDOWN_SECONDS = 60
MAX_REPEAT_COOLDOWN_SECONDS = 604_800


class BookRow(NamedTuple):
    """One alert as it enters the book, its fields named as the database's columns are
    (``matcher.store.BOOK_COLUMNS``): prices as floats, the kind's own fields as text."""

    id: int
    symbol: str
    trigger_condition: str
    target_price: float | None
    # The kind's fields but target_price (shared.vocabulary); None when it has none.
    params: Mapping[str, str] | None
    cooldown_seconds: int  # 0 for a once alert
    reference_price: float | None
    fire_count: int
    last_fired_ms: int | None  # the trade time of its latest fire
    # created_at in epoch ms (PostgreSQL's clock): trades from then on count (matcher.recent).
    created_ms: int | None = None


class Room(Protocol):
    """One family of a symbol's alerts. ``book`` is the symbol's; the room keeps its alerts in
    ``book.indexes`` under the index numbers it owns, and its cooling ones in ``book.cooling``."""

    rank: ClassVar[int]  # rooms react to a trade in rank order

    def index_for(self, group: int) -> int:
        """The index number of one of its groups, made on first use."""
        ...

    def counted(self, index: int, step: int) -> None:
        """An alert of index ``index`` counted in (step 1) or out (-1), in any phase."""
        ...

    @property
    def size(self) -> int:
        """Its alerts, in every phase: at 0 the symbol book drops the room."""
        ...

    @property
    def span(self) -> int:
        """The minutes of the symbol's trade history its alerts need (0: none)."""
        ...

    def refresh(self) -> None:
        """Keys went into its indexes behind its back (cooldowns ended): look again. O(1)."""
        ...

    def band(self) -> tuple[float, float, int]:
        """(lo, hi, next_event_ms): a trade with lo < price < hi before next_event_ms changes
        nothing of this room. O(1) per group it has."""
        ...

    def trade(
        self, price: float, time_ms: int, rearmed: bool, keys: dict[int, int], out: Reactions
    ) -> None:
        """A trade outside the symbol's band: fire and move what it concerns (appending to
        ``out``), keeping ``keys`` (alert id -> key) up to date. ``rearmed``: cooled alerts
        came back into the indexes just now. O(log n + k)."""
        ...

    def check(self, keys: dict[int, int]) -> int:
        """Assert its invariants (for tests); how many live keys its indexes hold."""
        ...


# A room's class: the symbol book makes one per family it holds.
RoomClass = Callable[["SymbolBook"], Room]
# Where an alert goes: its room's class and the room's group (a kind keeps one constant tuple
# per place, which the symbol book caches the index bits of).
Place = tuple[RoomClass, int]
# An alert entering: its place and its key.
Entry = tuple[Place, int]
# The trade an alert added late fires at: its price and time (epoch ms).
Trade = tuple[float, int]


class Kind(Protocol):
    """How one ``trigger_condition`` enters the book. Everything a kind decides is decided
    here, once: the tick path reads only the bits of the key this returns."""

    name: str

    def enter(self, row: BookRow) -> Entry:
        """(place, key): where the alert goes, and its key without symbol slot and index (with
        its phase's end time above it, see ``matcher.keys``). Raises ValueError naming the field
        for a row this kind refuses."""
        ...

    def catch_up(self, row: BookRow, since: Since) -> tuple[BookRow, Trade | None]:
        """An alert that never fired entering after trades that count for it (``since``, what
        its symbol traded from its creation on, ``matcher.recent``; ``row`` already passed
        ``enter``): the row to enter (a reference decided from ``since.reference``, if the kind
        takes one and has none) and the first of those trades that fires it, if one does.
        O(b) for the b buckets of ``since``."""
        ...


def first_reach(index: int, target: float, buckets: list[Extremes]) -> Trade | None:
    """The first bucket's extreme at or beyond ``target``: a high at or above it for the ``UP``
    index, a low at or below it for ``DOWN``. O(b)."""
    if index == UP:
        for high, high_ms, _, _ in buckets:
            if high >= target:
                return high, high_ms
    else:
        for _, _, low, low_ms in buckets:
            if low <= target:
                return low, low_ms
    return None


def check_common(row: BookRow) -> None:
    """The fields every kind has: id, cooldown, fire count and last fire time."""
    if not 0 < row.id <= MAX_ALERT_ID:
        raise ValueError(f"alert id must be in 1 .. {MAX_ALERT_ID}, got {row.id!r}")
    cooldown = row.cooldown_seconds
    if cooldown != 0 and not (
        MIN_REPEAT_COOLDOWN_SECONDS <= cooldown <= MAX_REPEAT_COOLDOWN_SECONDS
    ):
        raise ValueError(
            f"cooldown_seconds must be 0 (once) or {MIN_REPEAT_COOLDOWN_SECONDS} .. "
            f"{MAX_REPEAT_COOLDOWN_SECONDS} (repeat), got {cooldown!r}"
        )
    if not row.fire_count >= 0:
        raise ValueError(f"fire_count must be >= 0, got {row.fire_count!r}")
    last_fired_ms = row.last_fired_ms
    if last_fired_ms is not None and (cooldown == 0 or not last_fired_ms >= 0):
        raise ValueError(
            "last_fired_ms must be None for a once alert (it leaves the book when it fires) "
            f"and >= 0 for a repeating one, got {last_fired_ms!r}"
        )


def check_price(name: str, price: float | None) -> float:
    if price is None or not 0 < price < math.inf:
        raise ValueError(f"{name} must be a finite positive number, got {price!r}")
    return price


def check_absent(name: str, field: object, condition: str) -> None:
    if field is not None:
        raise ValueError(f"{name} must be None for a {condition!r} alert, got {field!r}")


NO_PARAMS: frozenset[str] = frozenset()


def check_params(row: BookRow, names: frozenset[str]) -> Mapping[str, str]:
    """The row's params, which must be exactly ``names``."""
    params = row.params or {}
    if params.keys() != names:
        raise ValueError(
            f"params must be exactly {sorted(names)} for a {row.trigger_condition!r} alert, got "
            f"{sorted(params)}"
        )
    return params


def cooling(key: int, last_fired_ms: int | None) -> int:
    """``key`` as it re-enters after a restart: cooling until ``last_fired_ms`` + its cooldown,
    if it has fired."""
    if last_fired_ms is None:
        return key
    return ((last_fired_ms + cooldown_ms(key)) << LIVE_BITS) | key
