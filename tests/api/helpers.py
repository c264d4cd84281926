"""Helpers the API's tests share: users signed up through the API, apps with other caps, and
the app served by uvicorn on loopback for tests that need real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import uvicorn
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette

from api.app import create_app
from api.serving import uvicorn_options
from shared.settings import Settings

JWT_SECRET = "cGblXQUQ7RuE57lfdPnHA5PqWcElSfZa-wkCo6-D-vScn8MK9R1hGp5IBDmj3ccK"  # random, for tests
PASSWORD = "correct horse battery"
# The options `pricealert api` gives uvicorn, for the servers the tests start.
SERVING = uvicorn_options(Settings())


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


@asynccontextmanager
async def serve(app: Starlette, **options: Any) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a loopback port of its own; yields its base URL.

    The socket listens before uvicorn starts, so a client may connect at once: the connection
    waits in the backlog until the server accepts it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", **(SERVING | options)
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class _QuietServer(uvicorn.Server):
    """uvicorn inside the test process: signals stay pytest's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def until(condition: Callable[[], Awaitable[bool]], *, within: float = 10.0) -> None:
    """Waits until ``condition()`` holds, checking its public state every few milliseconds: for
    what has no event to wait on (a backend waiting for a lock, say)."""
    async with asyncio.timeout(within):
        while not await condition():  # noqa: ASYNC110 (no event exists for these states)
            await asyncio.sleep(0.005)


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


async def read_response(reader: asyncio.StreamReader) -> RawResponse:
    """One HTTP/1.1 response with a Content-Length, read off a raw connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RawResponse(int(status_line.split()[1]), headers, body)
