"""The async PostgreSQL connection pool every service shares the settings of."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

# Every connection speaks UTC, so timestamps leave the database already in UTC.
CONNECTION_OPTIONS = {"autocommit": True, "options": "-c timezone=UTC"}


async def _configure(conn: AsyncConnection[object]) -> None:
    # Statements the API runs on every request are prepared on their first use, not their fifth.
    conn.prepare_threshold = 0


def create_pool(database_url: str, *, size: int, name: str) -> AsyncConnectionPool:
    """An unopened pool of ``size`` autocommit connections; ``await pool.open()`` before use.

    Connections are autocommit: a single statement needs no BEGIN/COMMIT round trips, and code
    that needs a transaction says so with ``async with conn.transaction()``.
    """
    return AsyncConnectionPool(
        database_url,
        min_size=size,
        max_size=size,
        kwargs=CONNECTION_OPTIONS,
        configure=_configure,
        name=name,
        open=False,
        timeout=10.0,
    )
