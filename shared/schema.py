"""Whether the database's schema is at the version this code needs, and waiting until it is.

In Kubernetes nothing orders a pod after the migrate Job: a service may start on an empty or an
older schema. It does not crash or serve errors then: it reports not ready (``/readyz``, 503
with what it waits for), logs what it waits for (once, then at most every
``log_every_seconds``), and starts by itself the moment ``pricealert migrate`` has run.

The schema is ready when every migration shipped with the package has been applied: a
database migrated by newer code (a rolling update) has more, and is fine, since migrations only
add. (Every one, not just the highest: two branches' migrations can land in either order.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import cache

import psycopg

from shared.constraints import missing_names, recorded_names
from shared.migrate import available_migrations
from shared.version import Version

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
LOG_EVERY_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 2.0
SCHEMA_TABLE = "SELECT to_regclass('schema_migrations') IS NOT NULL"
APPLIED_VERSIONS = "SELECT version FROM schema_migrations"


@cache
def required_versions() -> frozenset[int]:
    """The migrations this code needs applied: every one it ships."""
    return frozenset(m.version for m in available_migrations())


def required_version() -> int:
    """The schema version this code needs: its highest migration."""
    return max(required_versions())


async def applied_versions(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> set[int]:
    """The migrations applied to the database (none before the first ``migrate``)."""
    cursor = await conn.execute(SCHEMA_TABLE)
    row = await cursor.fetchone()
    if row is None or not row[0]:
        return set()
    cursor = await conn.execute(APPLIED_VERSIONS)
    return {int(str(version)) for (version,) in await cursor.fetchall()}


async def schema_problem(database_url: str, required: frozenset[int] | None = None) -> str | None:
    """What keeps the schema from being usable, in words; None when every migration of
    ``required`` (the code's own by default) is applied."""
    needed = required_versions() if required is None else required
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
                applied = await applied_versions(conn)
                vocabulary = await recorded_names(conn) if needed <= applied else {}
    except (OSError, TimeoutError, psycopg.Error) as exc:
        return f"database unreachable: {str(exc).strip() or type(exc).__name__}"
    missing = sorted(needed - applied)
    if missing:
        return (
            f"database schema lacks migration {', '.join(f'{v:04d}' for v in missing)} "
            f"(this code needs version {max(needed)}): run 'pricealert migrate'"
        )
    unknown = missing_names(vocabulary)
    if unknown:
        return f"database schema does not allow {', '.join(unknown)} yet: run 'pricealert migrate'"
    return None


class SchemaGate:
    """Knows whether the schema is ready, and waits for it. ``waiting_for`` is read by the
    readiness endpoints (from any thread): what is waited for, or None once it is there."""

    def __init__(
        self,
        database_url: str,
        *,
        name: str,
        required: frozenset[int] | None = None,
        poll_seconds: float = POLL_SECONDS,
        log_every_seconds: float = LOG_EVERY_SECONDS,
    ) -> None:
        self._url = database_url
        self._name = name
        self._required = required_versions() if required is None else required
        self._poll = poll_seconds
        self._log_every = log_every_seconds
        self.waiting_for: str | None = "checking the database schema"
        self._ready = False
        self.checks = Version()  # bumped after every look

    @property
    def ready(self) -> bool:
        return self._ready

    async def check(self) -> bool:
        """Look once; whether the schema is ready. Once ready it stays so (schemas only grow)."""
        if self._ready:
            return True
        problem = await schema_problem(self._url, self._required)
        if problem is None:
            self._ready = True
        self.waiting_for = problem
        self.checks.bump()
        return self._ready

    async def wait(self) -> None:
        """Returns once the schema is at the version needed. Logs what it waits for at once,
        then at most every ``log_every_seconds`` (or when the reason changes), and once when
        it is there. Cancel it to stop waiting."""
        logged_at: float | None = None
        logged: str | None = None
        started = time.monotonic()
        while not await self.check():
            now = time.monotonic()
            reason = (self.waiting_for or "").split(":")[0]  # its kind, not the error's words
            if logged_at is None or now - logged_at >= self._log_every or reason != logged:
                log.warning(
                    "not ready: waiting for the database schema",
                    extra={
                        "service": self._name,
                        "waiting_for": self.waiting_for,
                        "waited_s": round(now - started, 1),
                    },
                )
                logged_at, logged = now, reason
            await asyncio.sleep(self._poll)
        if logged_at is not None:
            log.warning(
                "database schema ready: starting",
                extra={
                    "service": self._name,
                    "version": max(self._required),
                    "waited_s": round(time.monotonic() - started, 1),
                },
            )
