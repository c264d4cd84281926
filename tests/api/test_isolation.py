"""One request never hurts another: a poisoned create fails alone inside a busy batch, and a 500
is an ordinary answer on a keep-alive connection that stays usable. Over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette

from api.alerts import Alerts
from api.app import create_app
from shared.settings import Settings
from tests.api.helpers import User, read_response, serve, until

ALERT = {"target_price": "50000", "trigger_condition": "above"}
POISON = "poison@example.com"

# The database refuses one email: a value the API's checks let through (as a NUL byte once did).
CREATE_POISON = [
    f"""
    CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.channels ->> 'email' = '{POISON}' THEN
            RAISE EXCEPTION 'poisoned' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER refuse_poison BEFORE INSERT ON alerts "
    "FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
]
DROP_POISON = ["DROP TRIGGER refuse_poison ON alerts", "DROP FUNCTION refuse_poison()"]
LOCK_WAITS = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


@pytest.fixture
async def poison(pool: AsyncConnectionPool) -> AsyncIterator[None]:
    async with pool.connection() as conn:
        for statement in CREATE_POISON:
            await conn.execute(statement)
    yield
    async with pool.connection() as conn:
        for statement in DROP_POISON:
            await conn.execute(statement)


async def test_a_poisoned_create_fails_alone_inside_a_busy_batch(
    settings: Settings, pool: AsyncConnectionPool, alice: User, bob: User, poison: None
) -> None:
    app = create_app(replace(settings, max_live_alerts_per_user=1000), pool=pool)
    alerts: Alerts = app.state.alerts

    def waiting_for_locks(n: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            async with pool.connection() as conn:
                row = await (await conn.execute(LOCK_WAITS)).fetchone()
            return row is not None and int(row[0]) >= n

        return check

    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:

        def create(user: User, email: str) -> asyncio.Task[httpx.Response]:
            body = ALERT | {"email": email}
            post = client.post("/api/alerts/create/", headers=user.headers, json=body)
            return asyncio.ensure_future(post)

        async with pool.connection() as locker, locker.transaction():
            # Alice's row locked: the batches in flight wait in the database, the rest queue.
            await locker.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (alice.id,))
            in_flight = []
            for waits in (1, 2):  # one batch in each of the two slots
                in_flight.append(create(alice, f"alice{waits}@example.com"))
                await until(waiting_for_locks(waits))
            queued = [
                create(alice if i % 2 else bob, POISON if i == 30 else f"user{i}@example.com")
                for i in range(58)
            ]

            async def all_queued() -> bool:
                return alerts.creates_waiting == len(queued)

            await until(all_queued)  # the 58 will leave as one batch, the poison in the middle
        responses = await asyncio.gather(*in_flight, *queued)

    statuses = [r.status_code for r in responses]
    assert statuses[2 + 30] == 400
    refused = responses[2 + 30].json()
    assert refused == {"error": "a value in this request was refused by the database"}
    assert statuses[: 2 + 30] + statuses[2 + 31 :] == [201] * 59
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT count(*) FROM alerts")).fetchone()
    assert row == (59,)


async def test_a_500_leaves_the_keep_alive_connection_usable(
    app: Starlette, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.state.alerts, "page", broken)
    async with serve(app) as base:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for path, expected in [("/api/alerts/", 500), ("/healthz", 200), ("/api/alerts/", 500)]:
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {alice.access}\r\n\r\n".encode()
                )
                response = await read_response(reader)
                assert response.status == expected
                assert response.headers.get("connection") != "close"
            assert response.body == b'{"error":"internal error: it has been logged"}'
        finally:
            writer.close()
