"""Which matcher replicas are alive, and whether together they own every shard bucket.

Replica ``I/N`` owns the buckets with ``bucket % N == I``; nothing but the operator makes every
replica agree on N. ``kubectl scale`` without changing ``MATCHER_REPLICAS`` leaves buckets with
no owner, and a rolling update that changes N has replicas disagreeing on it for a while (a
bucket owned twice is still claimed once, but a bucket of nobody's is never matched). So each
replica records its shard in ``matcher_replicas`` (migration 0008) with a heartbeat, every
``heartbeat_seconds`` (one small statement on a pooled connection, beside the ticks), and reads
every live replica's shard back. From those, ``coverage`` computes:

- ``unowned``: buckets no live replica owns (their alerts never fire);
- ``contested``: buckets owned by live replicas that disagree on N;

which every replica exports (``pricealert_matcher_unowned_buckets``,
``_contested_buckets``, ``_live_replicas``) and logs at error level when they change, naming
the missing shards. A replica is live while its heartbeat is younger than
``timeout_seconds`` (on the database's clock, so the replicas' clocks need not agree); one that
stops cleanly marks its row left at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

from shared.db import GatedPool
from shared.errors import DatabaseUnavailable
from shared.settings import Shard
from shared.sharding import SHARD_BUCKETS
from shared.version import Version

log = logging.getLogger(__name__)

BEAT = """
INSERT INTO matcher_replicas (replica_id, shard_index, shard_count, host)
VALUES (%(id)s, %(index)s, %(count)s, %(host)s)
ON CONFLICT (replica_id) DO UPDATE SET heartbeat_at = now()
WHERE matcher_replicas.left_at IS NULL
"""
LIVE = """
SELECT shard_index, shard_count FROM matcher_replicas
WHERE left_at IS NULL AND heartbeat_at > now() - make_interval(secs => %s)
"""
SWEEP = """
DELETE FROM matcher_replicas
WHERE heartbeat_at < now() - interval '1 day' OR left_at < now() - interval '1 hour'
"""
# Not a DELETE: a heartbeat cancelled in flight may still reach the server after it.
LEAVE = "UPDATE matcher_replicas SET left_at = now() WHERE replica_id = %s"
LEAVE_TIMEOUT_SECONDS = 2.0
EXAMPLES = 10  # buckets named in a log line; the count says the rest


@dataclass(frozen=True, slots=True)
class Coverage:
    """Who owns the shard buckets, as the live replicas say."""

    live_replicas: int
    counts: tuple[int, ...]  # the distinct N of the live replicas, ascending
    unowned: tuple[int, ...]  # buckets no live replica owns
    contested: tuple[int, ...]  # buckets whose live owners disagree on N
    missing: tuple[str, ...]  # shards "I/N" of an N in use that no live replica runs

    @property
    def complete(self) -> bool:
        return not self.unowned and not self.contested


def coverage(shards: Iterable[Shard], buckets: int = SHARD_BUCKETS) -> Coverage:
    """The coverage of ``buckets`` by the live replicas ``shards`` (a shard may appear twice:
    two replicas run it). O(buckets x distinct N)."""
    live = list(shards)
    by_count: dict[int, set[int]] = {}  # N -> the indices running
    for shard in live:
        by_count.setdefault(shard.count, set()).add(shard.index)
    covered: dict[int, set[int]] = {
        count: {b for i in indices for b in range(i, buckets, count)}
        for count, indices in by_count.items()
    }
    owned: set[int] = set().union(*covered.values())
    contested: set[int] = set()
    counts = sorted(covered)
    for n, first in enumerate(counts):
        for second in counts[n + 1 :]:
            contested |= covered[first] & covered[second]
    missing = [
        f"{index}/{count}"
        for count in counts
        for index in range(count)
        if index not in by_count[count]
    ]
    return Coverage(
        live_replicas=len(live),
        counts=tuple(counts),
        unowned=tuple(sorted(set(range(buckets)) - owned)),
        contested=tuple(sorted(contested)),
        missing=tuple(missing),
    )


class Replicas:
    """This replica's heartbeat, and what it sees of all of them (``coverage``, None before
    the first beat). ``changes`` is bumped after every beat that read the replicas."""

    def __init__(
        self,
        pool: GatedPool,
        shard: Shard,
        *,
        heartbeat_seconds: float = 5.0,
        timeout_seconds: float = 30.0,
    ) -> None:
        self._pool = pool
        self._shard = shard
        self._every = heartbeat_seconds
        self._timeout = timeout_seconds
        self.id = uuid.uuid4()
        self._host = f"{socket.gethostname()} pid {os.getpid()}"
        self.coverage: Coverage | None = None
        self.changes = Version()
        self._failing = False
        self._swept = False

    async def run(self) -> None:
        """Beat every ``heartbeat_seconds`` until cancelled; a database away is said once and
        waited out (the heartbeat lapses, and the others report this shard missing)."""
        while True:
            try:
                await self.beat()
                if self._failing:
                    self._failing = False
                    log.info("replica heartbeat restored", extra={"shard": str(self._shard)})
            except (psycopg.OperationalError, DatabaseUnavailable) as exc:
                if not self._failing:
                    self._failing = True
                    log.warning(
                        "replica heartbeat failed: retrying",
                        extra={"shard": str(self._shard), "error": str(exc).strip()},
                    )
            await asyncio.sleep(self._every)

    async def beat(self) -> Coverage:
        """Record this replica alive, read the live ones, and log a change of coverage."""
        async with self._pool.connection() as conn:
            if not self._swept:
                await conn.execute(SWEEP)
                self._swept = True
            await conn.execute(
                BEAT,
                {
                    "id": self.id,
                    "index": self._shard.index,
                    "count": self._shard.count,
                    "host": self._host,
                },
            )
            cursor = await conn.execute(LIVE, (self._timeout,))
            shards = [Shard(int(i), int(n)) for i, n in await cursor.fetchall()]
        seen = coverage(shards)
        before, self.coverage = self.coverage, seen
        if before is None or (before.unowned, before.contested) != (seen.unowned, seen.contested):
            self._report(seen)
        self.changes.bump()
        return seen

    async def leave(self) -> None:
        """Mark this replica's row left (a clean stop): the others see its buckets go at once."""
        try:
            async with asyncio.timeout(LEAVE_TIMEOUT_SECONDS):
                async with self._pool.connection() as conn:
                    await conn.execute(LEAVE, (self.id,))
        except (TimeoutError, psycopg.OperationalError, DatabaseUnavailable) as exc:
            log.warning(
                "could not deregister the replica: it lapses by its heartbeat",
                extra={"shard": str(self._shard), "error": str(exc).strip() or repr(exc)},
            )

    def _report(self, seen: Coverage) -> None:
        fields = {
            "shard": str(self._shard),
            "live_replicas": seen.live_replicas,
            "replica_counts": list(seen.counts),
        }
        if seen.complete:
            log.info("every shard bucket has a live owner, all agreeing on N", extra=fields)
            return
        if seen.unowned:
            log.error(
                "shard buckets without a live owner: their alerts do not fire",
                extra={
                    **fields,
                    "unowned_buckets": len(seen.unowned),
                    "examples": list(seen.unowned[:EXAMPLES]),
                    "missing_shards": list(seen.missing),
                },
            )
        if seen.contested:
            log.error(
                "shard buckets owned by replicas that disagree on the replica count N",
                extra={
                    **fields,
                    "contested_buckets": len(seen.contested),
                    "examples": list(seen.contested[:EXAMPLES]),
                },
            )
