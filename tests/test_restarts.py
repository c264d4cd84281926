"""The whole pipeline while the real RabbitMQ or PostgreSQL restarts mid-stream: one trade
crosses a thousand alerts, the server restarts while their mails go out, and every alert is
mailed exactly once and recorded. (Real restarts: see ``tests/servers.py``.)"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from shared.db import GatedPool
from tests.fake_binance import FakeBinance
from tests.helpers import settings_on_servers, start_up
from tests.servers import restart_postgres, start_rabbitmq, stop_rabbitmq
from tests.smtp_sink import SmtpSink

ALERTS = 1000
WAIT = 60.0


async def restart_rabbitmq() -> None:
    try:
        await stop_rabbitmq()
    finally:
        await start_rabbitmq()


RESTARTS: dict[str, Callable[[], Awaitable[None]]] = {
    "rabbitmq": restart_rabbitmq,
    "postgres": restart_postgres,
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    server = FakeBinance()
    await server.start()
    yield server
    await server.close()


async def insert_alerts(pool: AsyncConnectionPool, count: int) -> list[int]:
    """``count`` BTCUSDT alerts above 40,000 and up: one trade at 50,000 crosses them all."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "INSERT INTO users (username, password_hash) VALUES ('many', 'x') RETURNING id"
        )
        user = await cursor.fetchone()
        assert user is not None
        cursor = await conn.execute(
            "INSERT INTO alerts (user_id, symbol, trigger_condition, target_price, channels)"
            " SELECT %s, 'BTCUSDT', 'above', 40000 + n,"
            " jsonb_build_object('email', 'user' || n || '@example.com')"
            " FROM generate_series(1, %s) AS n RETURNING id",
            (user[0], count),
        )
        return [row[0] for row in await cursor.fetchall()]


@pytest.mark.usefixtures("clean_tables")
@pytest.mark.parametrize("server", sorted(RESTARTS))
async def test_a_restart_mid_stream_mails_every_crossed_alert_exactly_once(
    server: str,
    tmp_path: Path,
    fake: FakeBinance,
    pool: GatedPool,
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
    smtp_sink: SmtpSink,
) -> None:
    ids = await insert_alerts(pool, ALERTS)
    settings = settings_on_servers(
        database_url=database_url,
        rabbitmq_url=rabbitmq_url,
        queue=queue_name,
        smtp_port=smtp_sink.port,
        fake=fake,
    )
    smtp_sink.behaviour.delay_seconds = 0.01  # a few seconds of mail: the restart lands in it
    up, task = await start_up(settings, tmp_path)
    try:
        await fake.until(lambda: fake.subscribed() == {"btcusdt@aggTrade"})
        fake.trade("BTCUSDT", "50000")
        await smtp_sink.wait_for(ALERTS // 4)
        await RESTARTS[server]()
        notifier = up.notifier
        async with asyncio.timeout(WAIT):
            await notifier.progress.until(lambda: notifier.metrics.value("sent") >= ALERTS)
    finally:
        up.stop()
        assert await asyncio.wait_for(task, WAIT) == 0
    twice = sorted(i for i, n in Counter(smtp_sink.alert_ids).items() if n > 1)
    assert twice == []
    assert sorted(smtp_sink.alert_ids) == sorted(ids)
    await asyncio.wait_for(pool.until_available(), WAIT)
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) FILTER (WHERE state = 'triggered'),"
            " (SELECT count(*) FROM deliveries WHERE status = 'sent') FROM alerts"
        )
        assert await cursor.fetchone() == (ALERTS, ALERTS)


async def created_once_answering(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    """Create an alert, through the API's 503s while the database is still coming back (a client
    waits as its ``Retry-After`` says: nothing else tells it the server is back)."""
    async with asyncio.timeout(WAIT):
        while (response := await client.post("/api/alerts/create/", json=body)).status_code == 503:  # noqa: ASYNC110
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
    assert response.status_code == 201, response.text


@pytest.mark.usefixtures("clean_tables")
async def test_alerts_created_right_after_a_postgres_restart_all_fire_on_the_next_trade(
    tmp_path: Path,
    fake: FakeBinance,
    pool: GatedPool,
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
    smtp_sink: SmtpSink,
) -> None:
    """The matcher reloads its shard after the restart and hears of the alerts created meanwhile
    late, after the trade that crosses them: each is matched against what traded since its
    commit, and fires once (issue 22: 6 of 100 stayed in the book)."""
    settings = settings_on_servers(
        database_url=database_url,
        rabbitmq_url=rabbitmq_url,
        queue=queue_name,
        smtp_port=smtp_sink.port,
        fake=fake,
    )
    up, task = await start_up(settings, tmp_path)
    count = 100
    try:
        async with httpx.AsyncClient(base_url=up.api_url, timeout=10) as client:
            credentials = {"username": "erin", "password": "long enough password"}
            assert (await client.post("/api/signup/", json=credentials)).status_code == 201
            tokens = (await client.post("/api/login/", json=credentials)).json()
            client.headers["Authorization"] = f"Bearer {tokens['access']}"
            far = {"symbol": "BTCUSDT", "trigger_condition": "above", "target_price": "90000000"}
            await created_once_answering(client, far | {"email": "never@example.com"})
            await fake.until(lambda: fake.subscribed() == {"btcusdt@aggTrade"})
            fake.trade("BTCUSDT", "40000")
            await restart_postgres()
            body = {"symbol": "BTCUSDT", "trigger_condition": "above", "target_price": "40001"}
            await asyncio.gather(
                *(
                    created_once_answering(client, body | {"email": f"after{n}@example.com"})
                    for n in range(count)
                )
            )
            assert fake.trade("BTCUSDT", "40002") == 1  # right after the last 201
        notifier = up.notifier
        async with asyncio.timeout(WAIT):
            await notifier.progress.until(lambda: notifier.metrics.value("sent") >= count)
    finally:
        up.stop()
        assert await asyncio.wait_for(task, WAIT) == 0
    mailed = Counter(r.recipients[0] for r in smtp_sink.received)
    assert mailed == Counter(f"after{n}@example.com" for n in range(count))
