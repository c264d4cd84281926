from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette

from api.app import create_app
from shared.settings import Settings

JWT_SECRET = "test-secret-that-is-long-enough-even-for-hs512-0123456789-abcdefghijklmnop"
PASSWORD = "correct horse battery"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, jwt_secret=JWT_SECRET, max_live_alerts_per_user=5)


@pytest.fixture
def app(settings: Settings, pool: AsyncConnectionPool, clean_tables: None) -> Starlette:
    return create_app(settings, pool=pool)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@dataclass(frozen=True)
class User:
    id: int
    username: str
    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


MakeUser = Callable[[str], Awaitable[User]]


async def sign_up(client: httpx.AsyncClient, username: str) -> User:
    """Signs a user up and logs them in through ``client``."""
    credentials = {"username": username, "password": PASSWORD}
    signup = await client.post("/api/signup/", json=credentials)
    assert signup.status_code == 201, signup.text
    login = await client.post("/api/login/", json=credentials)
    assert login.status_code == 200, login.text
    tokens = login.json()
    return User(signup.json()["id"], username, tokens["access"], tokens["refresh"])


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


@asynccontextmanager
async def client_with_cap(
    settings: Settings, pool: AsyncConnectionPool, cap: int
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose live-alert cap is ``cap``."""
    app = create_app(replace(settings, max_live_alerts_per_user=cap), pool=pool)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
