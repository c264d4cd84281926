"""A matcher never waits forever on a part that died, nor goes on without it: in-process, on a
database of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import psycopg
import pytest

from matcher.feeds import QueueFeed
from matcher.service import Matcher
from shared.errors import PartStopped
from shared.messages import AlertMessage
from shared.migrate import migrate
from shared.schema import SchemaGate
from shared.settings import Shard

WAIT = 10.0


class Confirming:
    """A publisher that confirms everything at once."""

    async def publish(self, messages: Sequence[AlertMessage]) -> list[tuple[int, int]]:
        return [m.fire for m in messages]


@pytest.fixture
async def migrated(empty_database_url: str) -> str:
    await migrate(empty_database_url)
    return empty_database_url


async def test_a_change_follower_that_dies_stops_the_matcher_with_the_reason(
    migrated: str, caplog: pytest.LogCaptureFixture
) -> None:
    matcher = Matcher(migrated, Shard(0, 1), Confirming())
    running = asyncio.create_task(matcher.run(QueueFeed()))
    await asyncio.wait_for(matcher.ready.wait(), WAIT)
    assert matcher.waiting_for() is None
    # Not an outage (those are followed by a reload): an error it cannot recover from.
    async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as conn:
        await conn.execute("ALTER TABLE alerts RENAME TO alerts_elsewhere")
        await conn.execute("""SELECT pg_notify('alerts', '{"op": "live", "ids": [1]}')""")
    with pytest.raises(PartStopped, match=r"follow-changes.*UndefinedTable"):
        await asyncio.wait_for(running, WAIT)
    assert "a part of the matcher stopped: the matcher stops with it" in caplog.messages


async def test_stop_while_waiting_for_the_schema_returns_at_once(empty_database_url: str) -> None:
    gate = SchemaGate(empty_database_url, name="test", poll_seconds=0.05)
    matcher = Matcher(empty_database_url, Shard(0, 1), Confirming(), schema_gate=gate)
    running = asyncio.create_task(matcher.run(QueueFeed()))
    async with asyncio.timeout(WAIT):
        await gate.checks.until(lambda: "run 'pricealert migrate'" in (gate.waiting_for or ""))
    assert matcher.waiting_for() == gate.waiting_for
    matcher.stop()
    await asyncio.wait_for(running, WAIT)
    assert not matcher.ready.is_set()
