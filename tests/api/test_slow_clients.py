"""Slow clients: a body trickled past the body timeout gets 408 and the connection is closed;
connections past the limit get 503. Over real sockets (uvicorn on loopback)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from psycopg_pool import AsyncConnectionPool

from api.app import create_app
from api.serving import uvicorn_options
from shared.settings import Settings
from tests.api.helpers import read_response, serve


async def _connect(base: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", int(base.rsplit(":", 1)[1]))


async def test_a_trickled_body_is_cut_off_with_408(
    settings: Settings, pool: AsyncConnectionPool, clean_tables: None
) -> None:
    app = create_app(replace(settings, request_body_timeout_seconds=0.3), pool=pool)
    async with serve(app) as base:
        reader, writer = await _connect(base)
        try:
            writer.write(
                b"POST /api/signup/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n{"username":'
            )
            await writer.drain()  # ... and nothing more: the rest never comes
            response = await asyncio.wait_for(read_response(reader), timeout=10)
            assert response.status == 408
            assert response.headers["connection"] == "close"
            assert response.body.startswith(b'{"error":"the request body did not arrive within')
            assert await asyncio.wait_for(reader.read(), timeout=10) == b""  # closed
        finally:
            writer.close()


async def test_connections_past_the_limit_get_503(
    settings: Settings, pool: AsyncConnectionPool
) -> None:
    limited = replace(settings, api_max_connections=2)
    app = create_app(limited, pool=pool)
    async with serve(app, **uvicorn_options(limited)) as base:
        idle = [await _connect(base) for _ in range(2)]
        reader, writer = await _connect(base)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            response = await asyncio.wait_for(read_response(reader), timeout=10)
            assert response.status == 503
        finally:
            writer.close()
            for _, idle_writer in idle:
                idle_writer.close()
