"""The API when PostgreSQL restarts or goes away: a quick 503 while it is away, and the first
request after it is back succeeds. The restart is the real server's (``tests/servers.py``); the
outage goes through a TCP proxy (cut and refusing), so it can last as long as the test wants."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from api.app import create_app
from shared.db import GatedPool
from shared.settings import Settings
from tests.api.helpers import PASSWORD, User
from tests.servers import restart_postgres
from tests.tcp_proxy import TcpProxy

CHECKOUT_TIMEOUT = 30.0  # how long a request may wait for a connection from the pool


async def test_the_first_requests_after_a_database_restart_succeed(
    client: httpx.AsyncClient, alice: User
) -> None:
    alert = {"target_price": "50000", "trigger_condition": "above", "email": "a@example.com"}
    assert (await client.get("/api/alerts/", headers=alice.headers)).status_code == 200
    await restart_postgres()
    # Every pooled connection died with the old server: none of them is handed out.
    answers = await asyncio.gather(
        *(client.post("/api/alerts/create/", json=alert, headers=alice.headers) for _ in range(5)),
        client.get("/api/alerts/", headers=alice.headers),
    )
    assert [answer.status_code for answer in answers] == [201] * 5 + [200]


@pytest.mark.usefixtures("clean_tables")
async def test_while_the_database_is_away_requests_get_a_quick_503_then_work_again(
    database_proxy: tuple[TcpProxy, str], settings: Settings
) -> None:
    proxy, url = database_proxy
    pool = GatedPool(url, size=3, name="api-outage", checkout_timeout_seconds=CHECKOUT_TIMEOUT)
    await pool.open()
    transport = httpx.ASGITransport(app=create_app(settings, pool=pool))
    credentials = {"username": "dana", "password": PASSWORD}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.post("/api/signup/", json=credentials)).status_code == 201
            proxy.refusing = True
            proxy.cut()
            # Far sooner than the checkout timeout: nobody waits for a server that is away.
            async with asyncio.timeout(CHECKOUT_TIMEOUT / 3):
                answers = [await client.post("/api/login/", json=credentials) for _ in range(3)]
                ready = await client.get("/readyz")
            assert [answer.status_code for answer in answers] == [503] * 3
            assert answers[-1].headers["retry-after"] == "1"
            assert "database" in answers[-1].json()["error"]
            assert ready.status_code == 503
            proxy.refusing = False
            await asyncio.wait_for(pool.until_available(), CHECKOUT_TIMEOUT)
            assert (await client.post("/api/login/", json=credentials)).status_code == 200
            assert (await client.get("/readyz")).status_code == 200
    finally:
        await pool.close()
