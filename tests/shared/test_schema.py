"""What the database itself enforces, and the change feed the matcher follows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from shared.sharding import SHARD_BUCKETS, shard_bucket

pytestmark = pytest.mark.usefixtures("clean_tables")


@pytest.fixture
async def listener(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    await conn.execute("LISTEN alerts")
    yield conn
    await conn.close()


@pytest.fixture
async def user_id(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "INSERT INTO users (username, password_hash) VALUES ('u', 'x') RETURNING id"
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _payloads(conn: psycopg.AsyncConnection[Any], count: int) -> list[dict[str, Any]]:
    received = [orjson.loads(n.payload) async for n in conn.notifies(timeout=5.0, stop_after=count)]
    assert len(received) == count, f"expected {count} notifications, got {received}"
    return received


async def _insert(
    pool: AsyncConnectionPool,
    user_id: int,
    rows: int,
    symbol: str = "BTCUSDT",
    target: str = "100.50",
) -> list[int]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            """INSERT INTO alerts (user_id, symbol, trigger_condition, target_price, channels)
               SELECT %s, %s, 'above', %s::numeric, '{"email": "a@example.com"}'
               FROM generate_series(1, %s)
               RETURNING id""",
            (user_id, symbol, target, rows),
        )
        return [int(r[0]) for r in await cursor.fetchall()]


async def test_insert_notifies_the_ids_of_live_alerts(
    pool: AsyncConnectionPool, listener: psycopg.AsyncConnection[Any], user_id: int
) -> None:
    (alert_id,) = await _insert(pool, user_id, 1, symbol="ETHUSDT")
    (payload,) = await _payloads(listener, 1)
    assert payload == {"op": "live", "ids": [alert_id]}


async def test_pause_and_resume_tell_the_matcher_to_drop_and_to_read_again(
    pool: AsyncConnectionPool, listener: psycopg.AsyncConnection[Any], user_id: int
) -> None:
    (alert_id,) = await _insert(pool, user_id, 1)
    await _payloads(listener, 1)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE alerts SET state = 'paused', paused_at = now() WHERE id = %s", (alert_id,)
        )
        await conn.execute(
            "UPDATE alerts SET state = 'created', paused_at = NULL WHERE id = %s", (alert_id,)
        )
    paused, resumed = await _payloads(listener, 2)
    assert paused == {"op": "state", "ids": [alert_id]}
    assert resumed == {"op": "live", "ids": [alert_id]}


async def test_state_changes_notify_and_other_updates_do_not(
    pool: AsyncConnectionPool, listener: psycopg.AsyncConnection[Any], user_id: int
) -> None:
    first, second = await _insert(pool, user_id, 2)
    await _payloads(listener, 1)
    async with pool.connection() as conn:
        await conn.execute(
            """UPDATE alerts SET channels = '{"email": "b@example.com"}'"""
        )  # no state change
        await conn.execute(
            "UPDATE alerts SET state = 'triggered', triggered_at = now(), triggered_price = 101,"
            " fire_count = 1"
            " WHERE id = %s",
            (first,),
        )
        await conn.execute(
            "UPDATE alerts SET state = 'deleted', deleted_at = now() WHERE id = %s", (second,)
        )
    triggered, deleted = await _payloads(listener, 2)
    assert triggered == {"op": "state", "ids": [first]}
    assert deleted == {"op": "state", "ids": [second]}


async def test_a_large_statement_is_batched_into_small_payloads(
    pool: AsyncConnectionPool, listener: psycopg.AsyncConnection[Any], user_id: int
) -> None:
    async with pool.connection() as conn:  # the longest ids there are, for the longest payloads
        await conn.execute("SELECT setval(pg_get_serial_sequence('alerts', 'id'), 9e18::bigint)")
    ids = await _insert(pool, user_id, 1000)
    payloads = await _payloads(listener, 4)
    assert [alert_id for p in payloads for alert_id in p["ids"]] == ids
    assert max(len(orjson.dumps(p)) for p in payloads) < 8000


async def test_a_large_state_change_is_batched_into_small_payloads(
    pool: AsyncConnectionPool, listener: psycopg.AsyncConnection[Any], user_id: int
) -> None:
    async with pool.connection() as conn:  # the longest ids there are, for the longest payloads
        await conn.execute("SELECT setval(pg_get_serial_sequence('alerts', 'id'), 9e18::bigint)")
    ids = await _insert(pool, user_id, 1000)
    await _payloads(listener, 4)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE alerts SET state = 'deleted', deleted_at = now() WHERE id = ANY(%s)", (ids,)
        )
    payloads = await _payloads(listener, 4)
    assert [alert_id for p in payloads for alert_id in p["ids"]] == ids
    assert max(len(orjson.dumps(p)) for p in payloads) < 8000


_INTO = {  # how a row gets into each state, within the table's rules
    "created": "state = 'created', paused_at = NULL",
    "triggered": "state = 'triggered', triggered_at = now(), triggered_price = 1, fire_count = 1",
    "paused": "state = 'paused', paused_at = now()",
    "expired": "state = 'expired', expired_at = now(), paused_at = NULL",
    "deleted": "state = 'deleted', deleted_at = now()",
}
_ALLOWED = {
    ("created", "triggered"),
    ("created", "paused"),
    ("created", "expired"),
    ("created", "deleted"),
    ("paused", "created"),
    ("paused", "expired"),
    ("paused", "deleted"),
    ("triggered", "deleted"),
    ("expired", "deleted"),
}
_PATHS = {
    "created": [],
    "triggered": ["triggered"],
    "paused": ["paused"],
    "expired": ["expired"],
    "deleted": ["deleted"],
}


@pytest.mark.parametrize("start", sorted(_INTO))
@pytest.mark.parametrize("end", sorted(_INTO))
async def test_the_database_allows_exactly_the_life_cycle(
    pool: AsyncConnectionPool, user_id: int, start: str, end: str
) -> None:
    if start == end:
        return
    (alert_id,) = await _insert(pool, user_id, 1)
    async with pool.connection() as conn:
        for step in _PATHS[start]:
            await conn.execute(f"UPDATE alerts SET {_INTO[step]} WHERE id = %s", (alert_id,))
        move = f"UPDATE alerts SET {_INTO[end]} WHERE id = %s"
        if (start, end) in _ALLOWED:
            await conn.execute(move, (alert_id,))
        else:
            with pytest.raises(psycopg.errors.CheckViolation):
                await conn.execute(move, (alert_id,))


@pytest.mark.parametrize(
    "columns",
    [
        "trigger_condition = 'up_pct'",  # a percent move with a target and no percent
        """params = '{"percent": "5", "window": "1h"}'""",  # a level alert with a percent
        """trigger_condition = 'up_pct', target_price = NULL,
           params = '{"percent": "5", "window": "2h"}'""",
        """trigger_condition = 'up_pct', target_price = NULL,
           params = '{"percent": "0", "window": "1h"}'""",
        """trigger_condition = 'up_pct', target_price = NULL,
           params = '{"percent": "1000.5", "window": "1h"}'""",
        """trigger_condition = 'up_pct', target_price = NULL,
           params = '{"percent": 5, "window": "1h"}'""",  # kept as text, never as a number
        """trigger_condition = 'up_pct', target_price = NULL,
           params = '{"percent": "5", "window": "1h", "other": "x"}'""",
        "frequency = 'repeat'",  # a repeat needs a cooldown
        "cooldown_seconds = 3600",  # and a cooldown a repeat
        "frequency = 'repeat', cooldown_seconds = 30",
        "trigger_condition = 'sideways'",
        "channels = '{}'",  # at least one channel
        """channels = '{"pager": "x"}'""",  # only the declared ones
        """channels = '{"webhook": {"url": "https://example.com/x"}}'""",  # with its format
        """channels = '{"webhook": {"url": "https://example.com/x", "format": "teams"}}'""",
        """channels = '{"telegram": "not a chat"}'""",
        """channels = '{"email": 5}'""",
    ],
)
async def test_the_database_refuses_impossible_kinds(
    pool: AsyncConnectionPool, user_id: int, columns: str
) -> None:
    (alert_id,) = await _insert(pool, user_id, 1)
    async with pool.connection() as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            await conn.execute(f"UPDATE alerts SET {columns} WHERE id = %s", (alert_id,))


@pytest.mark.parametrize(
    "target",
    ["0", "-1", "0.000000001", "1e15"],
)
async def test_the_database_refuses_impossible_targets(
    pool: AsyncConnectionPool, user_id: int, target: str
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        await _insert(pool, user_id, 1, target=target)


async def test_unknown_symbols_are_refused_by_the_database(
    pool: AsyncConnectionPool, user_id: int
) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        await _insert(pool, user_id, 1, symbol="NOSUCHCOIN")


async def test_shard_bucket_column_matches_the_python_hash(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT symbol FROM symbols")
        symbols = [str(row[0]) for row in await cursor.fetchall()]
        cursor = await conn.execute(
            """SELECT s, ('x' || substr(md5(s), 1, 8))::bit(32)::integer & 4095
               FROM unnest(%s::text[]) AS s""",
            (symbols,),
        )
        from_database = dict(await cursor.fetchall())
    assert len(symbols) > 50
    assert from_database == {s: shard_bucket(s) for s in symbols}
    assert all(0 <= b < SHARD_BUCKETS for b in from_database.values())
    assert len(set(from_database.values())) > len(symbols) * 0.9  # spread, not clumped


async def test_the_state_trigger_cannot_fall_into_a_quadratic_join(
    pool: AsyncConnectionPool,
) -> None:
    """Transition tables have no statistics; with nested loops allowed, a claim of 20,000 alerts
    took 25 s instead of 0.5 s (benchmarks/matcher_service.py)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT proconfig FROM pg_proc WHERE proname = 'alerts_check_and_notify_state'"
        )
        assert await cursor.fetchone() == (["enable_nestloop=off"],)
