"""``pricealert migrate``: ordered, recorded, idempotent, safe to run from many replicas at once."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import psycopg
import pytest

from shared import migrate as migrate_module
from shared.errors import MigrationError
from shared.migrate import available_migrations, migrate


async def _history(url: str) -> list[tuple[int, str]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        return [(int(v), str(n)) for v, n in await cursor.fetchall()]


async def test_migrate_applies_every_migration_once(empty_database_url: str) -> None:
    shipped = available_migrations()
    assert [m.version for m in shipped] == sorted({m.version for m in shipped})

    first = await migrate(empty_database_url)
    second = await migrate(empty_database_url)

    assert [m.version for m in first] == [m.version for m in shipped]
    assert second == []
    assert await _history(empty_database_url) == [(m.version, m.name) for m in shipped]


async def test_concurrent_migrations_do_not_race(empty_database_url: str) -> None:
    results = await asyncio.gather(*(migrate(empty_database_url) for _ in range(5)))
    applied_counts = sorted(len(r) for r in results)
    assert applied_counts == [0, 0, 0, 0, len(available_migrations())]
    assert len(await _history(empty_database_url)) == len(available_migrations())


async def test_an_edited_applied_migration_is_refused(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await migrate(empty_database_url)
    edited = [replace(m, sql=m.sql + "\n-- edited") for m in available_migrations()]
    monkeypatch.setattr(migrate_module, "available_migrations", lambda: edited)
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        await migrate(empty_database_url)


async def test_a_failing_migration_leaves_nothing_half_done(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = available_migrations()
    broken = replace(
        shipped[-1],
        version=shipped[-1].version + 1,
        name="broken",
        sql="CREATE TABLE half_done (id int); SELECT no_such_function();",
    )
    monkeypatch.setattr(migrate_module, "available_migrations", lambda: [*shipped, broken])
    with pytest.raises(psycopg.errors.UndefinedFunction):
        await migrate(empty_database_url)
    assert len(await _history(empty_database_url)) == len(shipped)
    async with await psycopg.AsyncConnection.connect(empty_database_url) as conn:
        cursor = await conn.execute("SELECT to_regclass('half_done')")
        assert (await cursor.fetchone()) == (None,)
