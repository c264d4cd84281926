"""The matcher's jobs on the clock, beside the tick: republishing what was claimed and never
confirmed, and marking expired the alerts whose time is up. Each is one pass; the matcher runs
them every so often (``matcher.supervision.every``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg_pool import AsyncConnectionPool

from matcher import store
from matcher.pipeline import ClaimPipeline
from shared.errors import DatabaseUnavailable
from shared.settings import Shard
from shared.version import Version

log = logging.getLogger("matcher.service")  # the service's log, whichever part writes it

EXPIRE_EVERY_SECONDS = 5.0


class Upkeep:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        shard: Shard,
        pipeline: ClaimPipeline,
        *,
        republish_every_seconds: float,
        progress: Version,
    ) -> None:
        self._pool = pool
        self._shard = shard
        self._pipeline = pipeline
        self.republish_every = republish_every_seconds
        self._progress = progress
        self.republish_checks = 0

    async def republish_all(self) -> None:
        """Everything claimed before now and never confirmed (a crash between claim and
        confirm), queued for publishing: at start, before the first tick."""
        await self._republish_pass(datetime.now(UTC))

    async def republish_waited(self) -> None:
        """What was claimed a full period ago and is still unconfirmed: a publish merely in
        progress is not doubled."""
        await self._republish_pass(datetime.now(UTC) - timedelta(seconds=self.republish_every))

    async def _republish_pass(self, cutoff: datetime) -> None:
        try:
            found = await self._republish(cutoff)
            if found:
                log.info("republishing claimed but unconfirmed alerts", extra={"alerts": found})
        except (psycopg.OperationalError, DatabaseUnavailable) as exc:
            log.warning("republish check failed", extra={"error": str(exc).strip()})
        self.republish_checks += 1
        self._progress.bump()

    async def _republish(self, cutoff: datetime) -> int:
        found = 0
        after = (0, 0)
        async with self._pool.connection() as conn:
            while batch := await store.unpublished(
                conn, self._shard, claimed_before=cutoff, after=after
            ):
                self._pipeline.republish(batch)
                found += len(batch)
                after = batch[-1].fire
        return found

    async def expire(self) -> None:
        """Alerts whose ``expires_at`` has come are marked expired (and so leave the book by
        the change feed). Their claim already refuses any trade after that time: this only
        makes the state say so."""
        try:
            async with self._pool.connection() as conn:
                while (expired := await store.expire(conn, self._shard)) >= store.EXPIRE_BATCH:
                    log.info("alerts expired", extra={"alerts": expired})
            if expired:
                log.info("alerts expired", extra={"alerts": expired})
        except (psycopg.OperationalError, DatabaseUnavailable) as exc:
            log.warning("expiry sweep failed", extra={"error": str(exc).strip()})
