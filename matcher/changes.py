"""The alerts change feed (``NOTIFY alerts``, see migrations 0001 and 0003) as book operations.

Two payloads: ``{"op": "insert", "alerts": [{"id", "bucket", "symbol", "condition", "target",
"state"}]}`` for inserted alerts, and ``{"op": "state", "ids": [...]}`` for alerts that left
``created`` (triggered or deleted, by anyone)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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
        if message["op"] == "state":
            return (Removed(alert_id) for alert_id in message["ids"])
        entries = message["alerts"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"not an alerts notification: {exc}") from None
    return _inserted(entries, shard)


def _inserted(entries: list[dict[str, Any]], shard: Shard) -> Iterator[Change]:
    for entry in entries:
        if entry["bucket"] % shard.count != shard.index:
            continue
        if entry["state"] == "created":
            yield Added(entry["id"], entry["symbol"], entry["condition"], float(entry["target"]))
        else:
            yield Removed(entry["id"])
