"""The Starlette application: routes, the one place errors become HTTP, and the pool's life."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api import health, routes, session
from api.accounts import Accounts
from api.alerts import Alerts
from api.openapi import openapi_document, routes_of
from api.page import page_routes
from api.passwords import Passwords, usable_cpus
from api.prices import Prices
from api.responses import JSONResponse, error_response
from api.security_headers import SecurityHeaders
from api.server_errors import ServerErrors
from api.throttle import Throttle
from api.tokens import AccessTokens
from shared.db import create_pool
from shared.errors import (
    Conflict,
    DatabaseUnavailable,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    PriceAlertError,
    RequestTimeout,
    RetryLater,
    Throttled,
    Unauthorized,
    ValidationError,
)
from shared.logs import configure_logging
from shared.schema import SchemaGate
from shared.settings import Settings

log = logging.getLogger(__name__)

# Each domain error's status; a subclass takes its nearest listed ancestor's.
_STATUS_OF: dict[type[PriceAlertError], int] = {
    ValidationError: 400,
    Conflict: 400,
    Unauthorized: 401,
    NotFound: 404,
    RequestTimeout: 408,
    PayloadTooLarge: 413,
    Throttled: 429,
    Overloaded: 503,
    DatabaseUnavailable: 503,
}
_HEADERS_OF: dict[int, dict[str, str]] = {
    401: {"WWW-Authenticate": 'Bearer error="invalid_token"'},
    # The rest of the body may still be on its way: the connection cannot carry another request.
    408: {"Connection": "close"},
}


async def _domain_error(request: Request, exc: Exception) -> Response:
    """Every error of ``shared.errors`` becomes its status here, and only here."""
    status = next((_STATUS_OF[k] for k in type(exc).__mro__ if k in _STATUS_OF), None)
    if status is None:  # an error with no HTTP meaning (settings, migrations): a bug here
        log.error("unexpected domain error", extra={"error": repr(exc)})
        return error_response(500, "internal error: it has been logged")
    headers = dict(_HEADERS_OF.get(status, {}))
    if isinstance(exc, RetryLater):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    return error_response(status, str(exc), headers=headers or None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, exc.detail, headers=headers)


async def _database_down(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable", extra={"error": str(exc), "path": request.url.path})
    return error_response(
        503, "the database is unavailable, try again shortly", headers={"Retry-After": "1"}
    )


async def _schema_missing(request: Request, exc: Exception) -> Response:
    """A table or function this code needs is not there: the schema is older than the code
    (``pricealert migrate`` has not run yet). Not the client's fault, and it passes."""
    log.warning("database schema not ready", extra={"error": str(exc), "path": request.url.path})
    return error_response(
        503,
        "the service is starting: its database schema is not ready yet, try again shortly",
        headers={"Retry-After": "5"},
    )


async def _database_refused(request: Request, exc: Exception) -> Response:
    """A value the checks above the database let through and the database refused: the request's
    fault, not the server's; logged, since a check in the API ought to have caught it."""
    log.warning("the database refused a value", extra={"error": str(exc), "path": request.url.path})
    return error_response(400, "a value in this request was refused by the database")


def _routes() -> list[BaseRoute]:
    """Every endpoint (each carries its own operation), ``/openapi.json`` built from them, and
    the page."""
    table = routes_of((*routes.ENDPOINTS, *session.ENDPOINTS, *health.ENDPOINTS))
    document = openapi_document(table)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    return [*table, Route("/openapi.json", openapi, methods=["GET"]), *page_routes()]


def create_app(settings: Settings, *, pool: AsyncConnectionPool | None = None) -> Starlette:
    """The API for ``settings``. Pass ``pool`` to share one the caller opens and closes; else
    the app opens its own on start-up and closes it on shutdown."""
    jwt_secret = settings.require_jwt_secret()
    owns_pool = pool is None
    app_pool = pool or create_pool(
        settings.require_database_url(), size=settings.database_pool_size, name="api"
    )

    passwords = Passwords(concurrency=settings.password_hash_concurrency or usable_cpus())
    schema = SchemaGate(settings.require_database_url(), name="api")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if owns_pool:
            await app_pool.open(wait=False)
        # Serves at once; /readyz says 503 until the schema is there, and this says so in the
        # log (then at most every 30 s) until `pricealert migrate` has run.
        waiting = asyncio.create_task(schema.wait(), name="schema")
        try:
            yield
        finally:
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            passwords.close()
            if owns_pool:
                await app_pool.close()

    app = Starlette(
        routes=_routes(),
        lifespan=lifespan,
        exception_handlers={
            PriceAlertError: _domain_error,
            HTTPException: _http_error,
            psycopg.OperationalError: _database_down,
            PoolTimeout: _database_down,
            psycopg.errors.UndefinedTable: _schema_missing,
            psycopg.errors.UndefinedFunction: _schema_missing,
            psycopg.errors.UndefinedColumn: _schema_missing,
            psycopg.DataError: _database_refused,
            psycopg.IntegrityError: _database_refused,
        },
        middleware=[Middleware(SecurityHeaders), Middleware(ServerErrors)],
    )
    access_tokens = AccessTokens(jwt_secret, ttl_seconds=settings.access_token_ttl_seconds)
    throttle = Throttle(
        app_pool,
        login_per_account_address=settings.login_failures_per_account_address,
        login_per_address=settings.login_failures_per_address,
        signup_per_address=settings.signups_per_address,
    )
    app.state.pool = app_pool
    app.state.schema = schema
    app.state.access_tokens = access_tokens
    app.state.trusted_proxies = settings.trusted_proxies
    app.state.body_timeout_seconds = settings.request_body_timeout_seconds
    app.state.passwords = passwords
    app.state.accounts = Accounts(
        app_pool,
        access_tokens,
        passwords=passwords,
        throttle=throttle,
        refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
    )
    app.state.refresh_ttl_seconds = settings.refresh_token_ttl_seconds
    app.state.alerts = Alerts(app_pool, max_live_per_user=settings.max_live_alerts_per_user)
    app.state.prices = Prices(app_pool)
    app.state.webhook_allow_private = settings.webhook_allow_private
    # The API needs no bot token, only to know whether the notifier has one.
    app.state.telegram_configured = settings.telegram_enabled or bool(settings.telegram_bot_token)
    return app


def app_from_environment() -> Starlette:
    """Factory for uvicorn workers: each builds the app from the same environment."""
    settings = Settings.from_env(os.environ, service="api")
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
