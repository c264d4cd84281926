"""Liveness (the process answers) and readiness (the database answers, with its schema at the
version this code needs)."""

from __future__ import annotations

import asyncio

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import Response

from api.openapi import endpoint
from api.responses import JSONResponse, error_response
from api.schemas import ERROR, json_answer
from shared.db import GatedPool
from shared.schema import SchemaGate

READY_TIMEOUT_SECONDS = 2.0


@endpoint(
    "GET",
    "/healthz",
    name=None,
    summary="The process is up",
    responses={"200": {"description": "Up."}},
)
async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@endpoint(
    "GET",
    "/readyz",
    name=None,
    summary="The database answers",
    responses={"200": {"description": "Ready."}, "503": json_answer(ERROR, "Not ready.")},
)
async def readyz(request: Request) -> Response:
    pool: AsyncConnectionPool = request.app.state.pool
    if isinstance(pool, GatedPool) and not pool.available:
        return error_response(503, "database unreachable: waiting for it to come back")
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
    except Exception as exc:  # any failure at all means "not ready", and says why
        reason = str(exc) or type(exc).__name__
        return error_response(503, f"database unreachable: {reason}")
    schema: SchemaGate | None = getattr(request.app.state, "schema", None)
    if schema is not None and not await schema.check():
        return error_response(503, f"not ready: {schema.waiting_for}")
    return JSONResponse({"status": "ready"})


ENDPOINTS = (healthz, readyz)
