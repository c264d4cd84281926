"""The kinds of alert, found by their ``trigger_condition`` (the names ``shared.vocabulary``
declares): each is a module behind the small ``Kind`` protocol (``matcher.kinds.common``), which
maps a row to its room, group and key once, when the alert enters the book, and the room
(``Room``) reacts to the trades outside the band. The tick path never asks for a kind."""

from __future__ import annotations

from matcher.kinds.common import BookRow, Kind, Room
from matcher.kinds.crossing import CROSSING
from matcher.kinds.level import ABOVE, BELOW
from matcher.kinds.percent import DOWN_PCT, UP_PCT, WINDOW_MINUTES

KINDS: dict[str, Kind] = {kind.name: kind for kind in (ABOVE, BELOW, CROSSING, UP_PCT, DOWN_PCT)}

__all__ = ["KINDS", "WINDOW_MINUTES", "BookRow", "Kind", "Room"]
