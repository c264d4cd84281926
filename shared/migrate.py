"""Apply the SQL files of ``shared/migrations`` in order, once each, then the constraints the
vocabulary writes (``shared.constraints``).

Every migration runs in its own transaction and is recorded in ``schema_migrations`` with a
checksum. The whole run holds a session advisory lock, so replicas starting at once apply each
migration exactly once: the second waits, then finds nothing to do.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from importlib import resources

import psycopg

from shared import constraints
from shared.errors import MigrationError

log = logging.getLogger(__name__)

# Any fixed 64-bit number; it only has to be the same for every process migrating this database.
ADVISORY_LOCK_KEY = 0x70726963_65616C74  # "pricealt"

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

CREATE_HISTORY_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
SELECT_APPLIED = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
RECORD_APPLIED = "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    found = []
    for entry in resources.files("shared.migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number: {versions}")
    return found


async def migrate(database_url: str) -> list[Migration]:
    """Bring the schema up to date; return the migrations this call applied (often none)."""
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            applied = await _apply_pending(conn)
            replaced = await constraints.apply(conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    log.info(
        "schema up to date",
        extra={
            "applied": [f"{m.version:04d}_{m.name}" for m in applied],
            "vocabulary_constraints_written": replaced,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    return applied


async def _apply_pending(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> list[Migration]:
    await conn.execute(CREATE_HISTORY_TABLE)
    cursor = await conn.execute(SELECT_APPLIED)
    rows = await cursor.fetchall()
    done = {int(str(version)): str(checksum) for version, _name, checksum in rows}
    applied = []
    for migration in available_migrations():
        recorded = done.get(migration.version)
        if recorded is not None:
            if recorded != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} was changed after it was "
                    "applied; add a new migration instead of editing an applied one"
                )
            continue
        async with conn.transaction():
            await conn.execute(migration.sql.encode())
            await conn.execute(
                RECORD_APPLIED, (migration.version, migration.name, migration.checksum)
            )
        log.info(
            "migration applied", extra={"migration": f"{migration.version:04d}_{migration.name}"}
        )
        applied.append(migration)
    return applied
