"""Matcher replicas record their shard with a heartbeat; every replica reports the buckets no
live replica owns and the ones owned by replicas that disagree on N."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence

import psycopg
import pytest
from prometheus_client import generate_latest

from matcher.feeds import QueueFeed
from matcher.replicas import Coverage, coverage
from matcher.service import Matcher
from shared.messages import AlertMessage
from shared.migrate import migrate
from shared.settings import Shard
from shared.sharding import SHARD_BUCKETS

WAIT = 10.0
ODD = tuple(range(1, SHARD_BUCKETS, 2))


def test_two_halves_cover_every_bucket() -> None:
    seen = coverage([Shard(0, 2), Shard(1, 2)])
    assert seen == Coverage(2, (2,), (), (), ())
    assert seen.complete


def test_a_missing_shard_leaves_its_buckets_unowned() -> None:
    seen = coverage([Shard(0, 2)])
    assert seen.unowned == ODD
    assert seen.missing == ("1/2",)
    assert not seen.complete


def test_a_shard_run_twice_is_still_one_owning_n() -> None:
    assert coverage([Shard(0, 1), Shard(0, 1)]).complete


def test_replicas_that_disagree_on_n() -> None:
    # 0/2 and 1/2 still running while 2/3 has started: the 2/3 buckets are owned twice, by
    # replicas that disagree on N; 0/3 and 1/3 are missing, but their buckets are the halves'.
    seen = coverage([Shard(0, 2), Shard(1, 2), Shard(2, 3)])
    assert seen.unowned == ()
    assert seen.contested == tuple(range(2, SHARD_BUCKETS, 3))
    assert seen.missing == ("0/3", "1/3")
    # Alone, 0/2 and 2/3 leave the buckets 1 and 3 modulo 6 to nobody.
    alone = coverage([Shard(0, 2), Shard(2, 3)])
    assert alone.unowned == tuple(b for b in range(SHARD_BUCKETS) if b % 6 in (1, 3))
    assert alone.contested == tuple(range(2, SHARD_BUCKETS, 6))


def test_no_replica_owns_nothing() -> None:
    assert coverage([]).unowned == tuple(range(SHARD_BUCKETS))


class Confirming:
    async def publish(self, messages: Sequence[AlertMessage]) -> list[tuple[int, int]]:
        return [m.fire for m in messages]


@pytest.fixture
async def replicas_database(empty_database_url: str) -> str:
    """A database of its own: no other test's replicas in its table."""
    await migrate(empty_database_url)
    return empty_database_url


@pytest.fixture
async def start(
    replicas_database: str,
) -> AsyncIterator[Callable[[Shard], asyncio.Future[Matcher]]]:
    running: list[tuple[Matcher, asyncio.Task[None]]] = []

    async def start_replica(shard: Shard) -> Matcher:
        matcher = Matcher(
            replicas_database,
            shard,
            Confirming(),
            heartbeat_seconds=0.05,
            replica_timeout_seconds=1.0,
        )
        task = asyncio.create_task(matcher.run(QueueFeed()))
        await asyncio.wait_for(matcher.ready.wait(), WAIT)
        running.append((matcher, task))
        return matcher

    yield start_replica  # type: ignore[misc]
    for matcher, task in running:
        matcher.stop()
        await asyncio.wait_for(task, WAIT)


async def until(matcher: Matcher, condition: Callable[[Coverage], bool]) -> Coverage:
    """Wait until ``matcher`` has seen a coverage that satisfies ``condition``."""
    async with asyncio.timeout(WAIT):
        await matcher.replicas.changes.until(
            lambda: matcher.replicas.coverage is not None and condition(matcher.replicas.coverage)
        )
    assert matcher.replicas.coverage is not None
    return matcher.replicas.coverage


async def test_stopping_a_replica_reports_its_buckets_unowned(
    start: Callable[[Shard], asyncio.Future[Matcher]], caplog: pytest.LogCaptureFixture
) -> None:
    first = await start(Shard(0, 2))
    second = await start(Shard(1, 2))
    for replica in (first, second):
        await until(replica, lambda seen: seen.live_replicas == 2 and seen.complete)
    assert first.figures().unowned_buckets == 0

    # (The first replica said, at its start, that the second's buckets had no owner yet.)
    logged_before = len(caplog.records)
    with caplog.at_level(logging.ERROR, logger="matcher.replicas"):
        second.stop()
        seen = await until(first, lambda seen: seen.live_replicas == 1)
    assert seen.unowned == ODD
    assert seen.missing == ("1/2",)
    assert first.figures().unowned_buckets == len(ODD)
    assert first.waiting_for() is None  # its own shard is served: it is ready, and says the rest
    text = generate_latest(first.metrics.registry).decode()
    assert f"pricealert_matcher_unowned_buckets {len(ODD)}.0" in text
    assert "pricealert_matcher_live_replicas 1.0" in text
    errors = [r for r in caplog.records[logged_before:] if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "shard buckets without a live owner: their alerts do not fire"
    ]
    assert errors[0].__dict__["missing_shards"] == ["1/2"]


async def test_a_replica_whose_heartbeat_lapsed_is_not_an_owner(
    start: Callable[[Shard], asyncio.Future[Matcher]], replicas_database: str
) -> None:
    first = await start(Shard(0, 2))
    async with await psycopg.AsyncConnection.connect(replicas_database, autocommit=True) as conn:
        # A replica 1/2 that died an hour ago (never deregistered), and a live 2/3 (the new N
        # of a rolling update); the hand-made 2/3 beats into the future so it stays live.
        await conn.execute(
            "INSERT INTO matcher_replicas (replica_id, shard_index, shard_count, host,"
            " heartbeat_at) VALUES (gen_random_uuid(), 1, 2, 'dead', now() - interval '1 hour'),"
            " (gen_random_uuid(), 2, 3, 'new', now() + interval '1 hour')"
        )
    seen = await until(first, lambda seen: seen.live_replicas == 2)
    assert seen.unowned == tuple(b for b in range(SHARD_BUCKETS) if b % 6 in (1, 3))
    assert seen.contested == tuple(range(2, SHARD_BUCKETS, 6))
    assert first.figures().contested_buckets == len(seen.contested)


async def test_a_clean_stop_marks_the_replica_left(replicas_database: str) -> None:
    replica = Matcher(replicas_database, Shard(0, 1), Confirming(), heartbeat_seconds=0.05)
    running = asyncio.create_task(replica.run(QueueFeed()))
    await asyncio.wait_for(replica.ready.wait(), WAIT)
    await until(replica, lambda seen: seen.complete)
    replica.stop()
    await asyncio.wait_for(running, WAIT)
    async with await psycopg.AsyncConnection.connect(replicas_database) as conn:
        cursor = await conn.execute("SELECT left_at IS NOT NULL FROM matcher_replicas")
        assert await cursor.fetchall() == [(True,)]
