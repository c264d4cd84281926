"""What every kind shares: the row an alert enters the book as, the protocol of a kind, and the
checks of the fields every kind has."""

from __future__ import annotations

import math
from typing import Protocol

from matcher.keys import LIVE_BITS, MAX_ALERT_ID, cooldown_ms

# One alert as it enters the book (a plain tuple: rows come from a binary cursor, 10^6 of them):
# (alert_id, symbol, condition, target, percent_e4, window_minutes, cooldown_seconds,
#  reference, fire_count, last_fired_ms)
Row = tuple[int, str, str, float | None, int | None, int | None, int, float | None, int, int | None]

MIN_REPEAT_COOLDOWN_SECONDS = 60
MAX_REPEAT_COOLDOWN_SECONDS = 604_800


class Kind(Protocol):
    """How one ``trigger_condition`` enters the book. Everything a kind decides is decided
    here, once: the tick path reads only the bits of the key this returns."""

    def enter(self, row: Row) -> int:
        """The alert's key in symbol slot 0 (with its phase's end time above it, see
        ``matcher.keys``). Raises ValueError naming the field for a row this kind refuses."""
        ...


def check_common(row: Row) -> None:
    """The fields every kind has: id, cooldown, fire count and last fire time."""
    alert_id, _, _, _, _, _, cooldown, _, fire_count, last_fired_ms = row
    if not 0 < alert_id <= MAX_ALERT_ID:
        raise ValueError(f"alert id must be in 1 .. {MAX_ALERT_ID}, got {alert_id!r}")
    if cooldown != 0 and not (
        MIN_REPEAT_COOLDOWN_SECONDS <= cooldown <= MAX_REPEAT_COOLDOWN_SECONDS
    ):
        raise ValueError(
            f"cooldown_seconds must be 0 (once) or {MIN_REPEAT_COOLDOWN_SECONDS} .. "
            f"{MAX_REPEAT_COOLDOWN_SECONDS} (repeat), got {cooldown!r}"
        )
    if not fire_count >= 0:
        raise ValueError(f"fire_count must be >= 0, got {fire_count!r}")
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


def cooling(key: int, last_fired_ms: int | None) -> int:
    """``key`` as it re-enters after a restart: cooling until ``last_fired_ms`` + its cooldown,
    if it has fired."""
    if last_fired_ms is None:
        return key
    return ((last_fired_ms + cooldown_ms(key)) << LIVE_BITS) | key
