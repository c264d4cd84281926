"""The kinds of alert, found by their ``trigger_condition``: each is a module behind the small
``Kind`` protocol (``matcher.kinds.common``), which maps a row to its index and key once, when
the alert enters the book. The tick path never asks for a kind."""

from __future__ import annotations

from matcher.kinds.common import Kind, Row
from matcher.kinds.crossing import CROSSING
from matcher.kinds.level import ABOVE, BELOW
from matcher.kinds.percent import DOWN_PCT, UP_PCT, WINDOW_MINUTES

KINDS: dict[str, Kind] = {
    "above": ABOVE,
    "below": BELOW,
    "crossing": CROSSING,
    "up_pct": UP_PCT,
    "down_pct": DOWN_PCT,
}

__all__ = ["KINDS", "WINDOW_MINUTES", "Kind", "Row"]
