"""Helpers the API's tests share: users signed up through the API, and apps with other caps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import httpx
from psycopg_pool import AsyncConnectionPool

from api.app import create_app
from shared.settings import Settings

JWT_SECRET = "test-secret-that-is-long-enough-even-for-hs512-0123456789-abcdefghijklmnop"
PASSWORD = "correct horse battery"


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


@asynccontextmanager
async def client_with_cap(
    settings: Settings, pool: AsyncConnectionPool, cap: int
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose live-alert cap is ``cap``."""
    app = create_app(replace(settings, max_live_alerts_per_user=cap), pool=pool)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
