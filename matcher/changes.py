"""The alerts change feed (``NOTIFY alerts``, see migration 0001) as book operations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from shared.settings import Shard


@dataclass(frozen=True, slots=True)
class Added:
    alert_id: int
    symbol: str
    condition: str
    target: float


@dataclass(frozen=True, slots=True)
class Removed:
    alert_id: int


Change = Added | Removed


def changes(payload: str | bytes, shard: Shard) -> Iterator[Change]:
    """The changes one notification carries for ``shard``: an inserted live alert is Added, any
    alert whose state is no longer ``created`` is Removed. Applying them to a book is idempotent,
    so a change already reflected by a load does no harm. Raises ValueError for a payload that is
    not the trigger's."""
    try:
        message = orjson.loads(payload)
        entries = message["alerts"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"not an alerts notification: {exc}") from None
    for entry in entries:
        if entry["bucket"] % shard.count != shard.index:
            continue
        if entry["state"] == "created":
            yield Added(entry["id"], entry["symbol"], entry["condition"], float(entry["target"]))
        else:
            yield Removed(entry["id"])
