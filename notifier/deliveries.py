"""What happened to each channel of each fire: the delivery log the events list shows, and the
notifier's guard against sending twice.

One row per (alert, seq, channel) in ``deliveries`` (migration 0006): ``sent`` once the channel
accepted it (the guard), ``retrying`` or ``parked`` with the attempts made and the last error;
no row yet means pending. Checks and records are batched (``shared.batching``): under load one
statement serves every message that arrived while the previous one ran. A ``sent`` record is
written after the channel accepted and before the message is acked, so the one way to a second
send is a crash in between (see the README).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from shared.batching import Batcher
from shared.db import GatedPool

log = logging.getLogger(__name__)

Fire = tuple[int, int]  # (alert id, seq)
Status = Literal["sent", "retrying", "parked"]

# The alerts and the seqs asked for, each as one array: a superset of the pairs asked (an
# alert's other fires among them are dropped by the caller). Cheaper to plan and run than a join
# with unnest (the batch's latency holds up every message behind it).
_ALREADY_SENT = """
SELECT alert_id, seq FROM deliveries
WHERE alert_id = ANY(%s::int8[]) AND seq = ANY(%s::int4[]) AND channel = %s AND status = 'sent'
"""
# A 'sent' row is final: a late 'retrying' or 'parked' of the same delivery never replaces it.
_RECORD = """
INSERT INTO deliveries (alert_id, seq, channel, status, attempts, last_error, sent_at)
SELECT alert_id, seq, channel, status, attempts, last_error,
       CASE WHEN status = 'sent' THEN now() END
FROM unnest(%s::int8[], %s::int4[], %s::text[], %s::text[], %s::int4[], %s::text[])
    AS r(alert_id, seq, channel, status, attempts, last_error)
ON CONFLICT (alert_id, seq, channel) DO UPDATE
SET status = EXCLUDED.status, attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error,
    sent_at = EXCLUDED.sent_at, updated_at = now()
WHERE deliveries.status <> 'sent'
"""
MAX_ERROR = 1000


@dataclass(frozen=True, slots=True)
class Outcome:
    fire: Fire
    channel: str
    status: Status
    attempts: int
    error: str | None = None


class DeliveryLog(Protocol):
    async def was_sent(self, fire: Fire, channel: str) -> bool: ...

    async def record(self, outcome: Outcome) -> None: ...

    async def until_available(self) -> None:
        """Returns once the log is believed reachable again after a failure."""
        ...


class DatabaseDeliveryLog:
    """Kept in PostgreSQL, shared by every notifier replica and surviving restarts."""

    def __init__(self, pool: GatedPool) -> None:
        self._pool = pool
        self._checks: Batcher[tuple[Fire, str], bool] = Batcher(
            self._check, max_batch=1000, in_flight=2
        )
        self._records: Batcher[Outcome, None] = Batcher(self._record, max_batch=1000, in_flight=2)

    async def was_sent(self, fire: Fire, channel: str) -> bool:
        return await self._checks.submit((fire, channel))

    async def record(self, outcome: Outcome) -> None:
        await self._records.submit(outcome)

    async def until_available(self) -> None:
        await self._pool.until_available()

    async def _check(self, asked: list[tuple[Fire, str]]) -> Sequence[bool]:
        sent: set[tuple[Fire, str]] = set()
        async with self._pool.connection() as conn:
            for channel in {channel for _, channel in asked}:
                fires = [fire for fire, c in asked if c == channel]
                cursor = await conn.execute(
                    _ALREADY_SENT,
                    (list({f[0] for f in fires}), list({f[1] for f in fires}), channel),
                )
                sent.update(((row[0], row[1]), channel) for row in await cursor.fetchall())
        return [item in sent for item in asked]

    async def _record(self, outcomes: list[Outcome]) -> Sequence[None]:
        # One row per delivery in a statement (ON CONFLICT cannot touch a row twice): a sent
        # outcome wins over any other of the same batch, else the latest.
        latest: dict[tuple[Fire, str], Outcome] = {}
        for outcome in outcomes:
            key = (outcome.fire, outcome.channel)
            if latest.get(key) is None or latest[key].status != "sent":
                latest[key] = outcome
        rows = list(latest.values())
        async with self._pool.connection() as conn:
            await conn.execute(
                _RECORD,
                (
                    [o.fire[0] for o in rows],
                    [o.fire[1] for o in rows],
                    [o.channel for o in rows],
                    [o.status for o in rows],
                    [o.attempts for o in rows],
                    [None if o.error is None else o.error[:MAX_ERROR] for o in rows],
                ),
            )
        return [None] * len(outcomes)


class MemoryDeliveryLog:
    """The last ``capacity`` deliveries sent by this process: for running without a database."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._sent: OrderedDict[tuple[Fire, str], None] = OrderedDict()

    async def was_sent(self, fire: Fire, channel: str) -> bool:
        return (fire, channel) in self._sent

    async def until_available(self) -> None:
        return None

    async def record(self, outcome: Outcome) -> None:
        if outcome.status != "sent":
            return
        self._sent[(outcome.fire, outcome.channel)] = None
        if len(self._sent) > self._capacity:
            self._sent.popitem(last=False)
