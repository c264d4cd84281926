"""Waiting for the schema: what is waited for, said once (not every poll), and ready once every
migration this code ships is applied, whatever a newer version added."""

from __future__ import annotations

import asyncio
import logging

import psycopg
import pytest

from shared.migrate import migrate
from shared.schema import SchemaGate, required_version, required_versions, schema_problem

WAIT = 10.0


async def test_an_empty_database_is_not_ready_and_says_what_to_run(
    empty_database_url: str,
) -> None:
    problem = await schema_problem(empty_database_url)
    assert problem is not None
    assert problem.startswith("database schema lacks migration 0001, ")
    assert f"this code needs version {required_version()}" in problem
    assert problem.endswith("run 'pricealert migrate'")


async def test_an_unreachable_database_is_said_so() -> None:
    problem = await schema_problem("postgresql://postgres@127.0.0.1:1/none")
    assert problem is not None
    assert problem.startswith("database unreachable: ")


async def test_a_missing_migration_is_named_and_a_newer_one_is_fine(
    empty_database_url: str,
) -> None:
    await migrate(empty_database_url)
    assert await schema_problem(empty_database_url) is None
    newest = max(required_versions())
    async with await psycopg.AsyncConnection.connect(empty_database_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, 'newer', 'x')",
            (newest + 1,),
        )
        assert await schema_problem(empty_database_url) is None  # a newer version's schema
        await conn.execute("DELETE FROM schema_migrations WHERE version = %s", (newest,))
    problem = await schema_problem(empty_database_url)
    assert problem is not None
    assert problem.startswith(f"database schema lacks migration {newest:04d} ")


async def test_the_wait_is_logged_once_not_at_every_look_then_ends_after_migrate(
    empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    gate = SchemaGate(empty_database_url, name="test", poll_seconds=0.01, log_every_seconds=60)
    with caplog.at_level(logging.INFO, logger="shared.schema"):
        waiting = asyncio.create_task(gate.wait())
        async with asyncio.timeout(WAIT):
            await gate.checks.until(lambda: gate.checks.value >= 10)
        assert not waiting.done()
        assert gate.waiting_for is not None
        assert caplog.messages == ["not ready: waiting for the database schema"]
        await migrate(empty_database_url)
        await asyncio.wait_for(waiting, WAIT)
    assert gate.ready
    assert gate.waiting_for is None
    assert caplog.messages[-1] == "database schema ready: starting"
