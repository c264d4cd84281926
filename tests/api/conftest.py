"""Fixtures of the API's tests: the app on this run's database, a client, signed-up users."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette

from api.app import create_app
from shared.settings import Rate, Settings
from tests.api.helpers import JWT_SECRET, MakeUser, User, sign_up

# Tests sign many users up from one address; the throttle tests set their own limits.
UNTHROTTLED = Rate(1_000_000, 1)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        max_live_alerts_per_user=5,
        login_failures_per_account_address=UNTHROTTLED,
        login_failures_per_address=UNTHROTTLED,
        signups_per_address=UNTHROTTLED,
    )


@pytest.fixture
async def clean_throttles(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        await conn.execute("TRUNCATE throttles")


@pytest.fixture
def app(
    settings: Settings, pool: AsyncConnectionPool, clean_tables: None, clean_throttles: None
) -> Starlette:
    return create_app(settings, pool=pool)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def make_user(client: httpx.AsyncClient) -> MakeUser:
    async def make(username: str) -> User:
        return await sign_up(client, username)

    return make


@pytest.fixture
async def alice(make_user: MakeUser) -> User:
    return await make_user("alice")


@pytest.fixture
async def bob(make_user: MakeUser) -> User:
    return await make_user("bob")
