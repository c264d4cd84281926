"""Which alerts have had their email accepted: the notifier's guard against mailing twice.

Checks and records are batched (``shared.batching``): under load one statement serves every
message that arrived while the previous one ran. The record is written after the SMTP server
accepted the mail and before the message is acked, so the one way to a second email is a crash
in between (see the README).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from shared.batching import Batcher
from shared.db import GatedPool

log = logging.getLogger(__name__)

_ALREADY_SENT = "SELECT alert_id FROM alert_emails WHERE alert_id = ANY(%s)"
_RECORD = """
INSERT INTO alert_emails (alert_id) SELECT unnest(%s::bigint[])
ON CONFLICT (alert_id) DO NOTHING
"""


class SentLog(Protocol):
    async def was_sent(self, alert_id: int) -> bool: ...

    async def record(self, alert_id: int) -> None: ...

    async def until_available(self) -> None:
        """Returns once the log is believed reachable again after a failure."""
        ...


class DatabaseSentLog:
    """Kept in PostgreSQL, shared by every notifier replica and surviving restarts."""

    def __init__(self, pool: GatedPool) -> None:
        self._pool = pool
        self._checks: Batcher[int, bool] = Batcher(self._check, max_batch=1000, in_flight=2)
        self._records: Batcher[int, None] = Batcher(self._record, max_batch=1000, in_flight=2)

    async def was_sent(self, alert_id: int) -> bool:
        return await self._checks.submit(alert_id)

    async def record(self, alert_id: int) -> None:
        await self._records.submit(alert_id)

    async def until_available(self) -> None:
        await self._pool.until_available()

    async def _check(self, alert_ids: list[int]) -> Sequence[bool]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(_ALREADY_SENT, (alert_ids,))
            sent = {row[0] for row in await cursor.fetchall()}
        return [alert_id in sent for alert_id in alert_ids]

    async def _record(self, alert_ids: list[int]) -> Sequence[None]:
        async with self._pool.connection() as conn:
            await conn.execute(_RECORD, (alert_ids,))
        return [None] * len(alert_ids)


class MemorySentLog:
    """The last ``capacity`` alerts sent by this process: for running without a database."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._sent: OrderedDict[int, None] = OrderedDict()

    async def was_sent(self, alert_id: int) -> bool:
        return alert_id in self._sent

    async def until_available(self) -> None:
        return None

    async def record(self, alert_id: int) -> None:
        self._sent[alert_id] = None
        if len(self._sent) > self._capacity:
            self._sent.popitem(last=False)
