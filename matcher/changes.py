"""The alerts change feed (``NOTIFY alerts``, migration 0006): which alerts became live and
which left.

Two payloads, ids only: ``{"op": "live", "ids": [...]}`` for alerts that became ``created``
(inserted, or resumed from ``paused``), whose rows the matcher then reads (the rows of a load
and of a change come from one query), and ``{"op": "state", "ids": [...]}`` for alerts that
left ``created`` (fired once, paused, expired, deleted; by anyone)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class Change:
    """Alerts to read and add (``live``), and alerts to drop (``gone``)."""

    live: list[int]
    gone: list[int]


def change(payload: str | bytes) -> Change:
    """What one notification says; applying it is idempotent (a change a load already
    reflects does no harm). Raises ValueError for a payload that is not the trigger's."""
    try:
        message = orjson.loads(payload)
        op, ids = message["op"], message["ids"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"not an alerts notification: {exc}") from None
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise ValueError("not an alerts notification: ids must be a list of integers")
    if op == "live":
        return Change(live=ids, gone=[])
    if op == "state":
        return Change(live=[], gone=ids)
    raise ValueError(f"not an alerts notification: unknown op {op!r}")
