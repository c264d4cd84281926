"""The HTTP endpoints: parse the request, call the domain, shape the answer. Each handler
declares, with ``@endpoint``, the paths it is served at (both spellings of the seed, where it has
two) and its operation in ``/openapi.json``: one endpoint is one place."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from api import validation
from api.accounts import Accounts
from api.alerts import Alerts, Page
from api.body import read_json_object
from api.client_address import client_address, throttle_key
from api.fields import query_parameters
from api.openapi import endpoint
from api.prices import Prices
from api.responses import JSONResponse
from api.schemas import (
    ACCOUNT,
    ALERT,
    ALERT_ID_PARAMETER,
    BAD,
    BUSY,
    ERROR,
    EVENTS,
    HISTORY,
    NOT_YOURS,
    PRICES,
    SYMBOL_PARAMETER,
    THROTTLED,
    TOKENS,
    UNAUTHORIZED,
    json_answer,
)
from api.tokens import AccessTokens
from shared.errors import Unauthorized
from shared.fields import parse_symbol

CHANGES_TOKEN_HEADER = "X-Changes-Token"


def _accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


def _alerts(request: Request) -> Alerts:
    alerts: Alerts = request.app.state.alerts
    return alerts


def _prices(request: Request) -> Prices:
    prices: Prices = request.app.state.prices
    return prices


def _address(request: Request) -> str:
    return throttle_key(client_address(request, request.app.state.trusted_proxies))


def authenticated_user(request: Request) -> int:
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthorized("missing Authorization header: send 'Authorization: Bearer <access>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <access token>'")
    access_tokens: AccessTokens = request.app.state.access_tokens
    return access_tokens.user_id(token.strip())


@endpoint(
    "POST",
    "/api/signup/",
    "/signup/",
    name="signup",
    summary="Create an account",
    body=validation.SIGNUP,
    responses={
        "201": json_answer(
            {
                "type": "object",
                "required": ["id", "username"],
                "properties": {"id": {"type": "integer"}, "username": {"type": "string"}},
            },
            "Account created; the username as stored (NFKC-normalised).",
        ),
        "400": json_answer(ERROR, "Username taken, or a field missing or invalid."),
        "429": THROTTLED,
        "503": BUSY,
    },
)
async def sign_up(request: Request) -> Response:
    body = await read_json_object(request, validation.SIGNUP)
    username = validation.USERNAME.read(body)
    password = validation.PASSWORD.read(body)
    user_id = await _accounts(request).sign_up(username, password, address=_address(request))
    return JSONResponse({"id": user_id, "username": username}, status_code=201)


@endpoint(
    "POST",
    "/api/login/",
    "/login/",
    name="login",
    summary="Log in: get an access and a refresh token",
    body=validation.LOGIN,
    responses={
        "200": json_answer(TOKENS, "Tokens."),
        "400": json_answer(ERROR, "Invalid credentials, or a field missing or invalid."),
        "429": THROTTLED,
        "503": BUSY,
    },
)
async def log_in(request: Request) -> Response:
    body = await read_json_object(request, validation.LOGIN)
    username = validation.LOGIN_USERNAME.read(body)
    password = validation.LOGIN_PASSWORD.read(body)
    tokens = await _accounts(request).log_in(username, password, address=_address(request))
    return JSONResponse({"access": tokens.access, "refresh": tokens.refresh})


async def _refresh_token(request: Request) -> str:
    body = await read_json_object(request, validation.REFRESH)
    if body.get("refresh") in (None, ""):
        raise Unauthorized("refresh is required: send the refresh token from login")
    return validation.REFRESH_TOKEN.read(body)


@endpoint(
    "POST",
    "/api/token/refresh/",
    "/login/refresh/",
    name="refresh",
    summary="Trade a refresh token for new tokens (the refresh token rotates; reuse revokes all)",
    body=validation.REFRESH,
    responses={"200": json_answer(TOKENS, "New tokens."), "401": UNAUTHORIZED},
)
async def refresh(request: Request) -> Response:
    tokens = await _accounts(request).refresh(await _refresh_token(request))
    return JSONResponse({"access": tokens.access, "refresh": tokens.refresh})


@endpoint(
    "POST",
    "/api/logout/",
    name="logout",
    summary="Revoke a refresh token's whole family",
    body=validation.REFRESH,
    responses={"204": {"description": "Logged out."}, "401": UNAUTHORIZED},
)
async def log_out(request: Request) -> Response:
    await _accounts(request).log_out(await _refresh_token(request))
    return Response(status_code=204)


@endpoint(
    "POST",
    "/api/alerts/create/",
    "/create_alert/",
    name="create",
    summary="Create an alert of any kind, with one or more channels",
    body=validation.NEW_ALERT,
    responses={"201": json_answer(ALERT, "The alert."), "401": UNAUTHORIZED},
    secured=True,
)
async def create_alert(request: Request) -> Response:
    user_id = authenticated_user(request)
    body = await read_json_object(request, validation.NEW_ALERT)
    new = validation.new_alert(
        body,
        allow_private_webhooks=request.app.state.webhook_allow_private,
        telegram=request.app.state.telegram_configured,
    )
    alert = await _alerts(request).create(user_id, new)
    return JSONResponse(alert.to_json(), status_code=201)


def _path_alert_id(request: Request) -> int:
    return validation.parse_alert_id(request.path_params["alert_id"])


def _on_alert(responses: dict[str, Any]) -> dict[str, Any]:
    return {"401": UNAUTHORIZED, "404": NOT_YOURS} | responses


@endpoint(
    "GET",
    "/api/alerts/{alert_id:int}/",
    name="alert",
    summary="One alert",
    parameters=[ALERT_ID_PARAMETER],
    responses=_on_alert({"200": json_answer(ALERT, "The alert.")}),
    secured=True,
)
async def get_alert(request: Request) -> Response:
    user_id = authenticated_user(request)
    alert = await _alerts(request).get(user_id, _path_alert_id(request))
    return JSONResponse(alert.to_json())


@endpoint(
    "GET",
    "/api/alerts/{alert_id:int}/events/",
    name="events",
    summary="An alert's fires, newest first, with the delivery of each channel",
    parameters=[ALERT_ID_PARAMETER, *query_parameters(validation.EVENTS)],
    responses=_on_alert({"200": json_answer(EVENTS, "A page of fires."), "400": BAD}),
    secured=True,
)
async def alert_events(request: Request) -> Response:
    user_id = authenticated_user(request)
    query = request.query_params
    limit = validation.LIMIT.read(query)
    before_seq = validation.BEFORE_SEQ.read(query)
    events = await _alerts(request).events(
        user_id, _path_alert_id(request), limit=limit, before_seq=before_seq
    )
    headers = {}
    if len(events) == limit and events[-1]["seq"] > 1:
        params = {"before_seq": events[-1]["seq"], "limit": limit}
        headers["Link"] = f'<{request.url.path}?{urlencode(params)}>; rel="next"'
    return JSONResponse(events, headers=headers)


@endpoint(
    "POST",
    "/api/alerts/{alert_id:int}/pause/",
    name="pause",
    summary="Pause a live alert (it leaves the book and the cap until resumed)",
    parameters=[ALERT_ID_PARAMETER],
    responses=_on_alert(
        {
            "200": json_answer(ALERT, "The alert, now paused."),
            "400": json_answer(ERROR, "The alert is not live."),
        }
    ),
    secured=True,
)
async def pause_alert(request: Request) -> Response:
    user_id = authenticated_user(request)
    alert = await _alerts(request).pause(user_id, _path_alert_id(request))
    return JSONResponse(alert.to_json())


@endpoint(
    "POST",
    "/api/alerts/{alert_id:int}/resume/",
    name="resume",
    summary="Resume a paused alert",
    parameters=[ALERT_ID_PARAMETER],
    responses=_on_alert(
        {
            "200": json_answer(ALERT, "The alert, live again."),
            "400": json_answer(ERROR, "The alert is not paused, has expired, or the cap is full."),
        }
    ),
    secured=True,
)
async def resume_alert(request: Request) -> Response:
    user_id = authenticated_user(request)
    alert = await _alerts(request).resume(user_id, _path_alert_id(request))
    return JSONResponse(alert.to_json())


@endpoint(
    "GET",
    "/api/account/",
    name="account",
    summary="Your account, with the secret that signs your webhooks",
    responses={"200": json_answer(ACCOUNT, "The account."), "401": UNAUTHORIZED},
    secured=True,
)
async def account(request: Request) -> Response:
    user_id = authenticated_user(request)
    return JSONResponse((await _accounts(request).account(user_id)).to_json())


@endpoint(
    "POST",
    "/api/account/webhook-secret/",
    name="rotate_secret",
    summary="Make a new webhook secret (the old one signs nothing from now on)",
    responses={"200": json_answer(ACCOUNT, "The account."), "401": UNAUTHORIZED},
    secured=True,
)
async def rotate_webhook_secret(request: Request) -> Response:
    user_id = authenticated_user(request)
    return JSONResponse((await _accounts(request).account(user_id, rotate=True)).to_json())


@endpoint(
    "POST",
    "/api/alerts/delete/",
    "/delete_alert/",
    name="delete",
    summary="Delete an alert (its state becomes 'deleted'; it never fires)",
    body=validation.DELETE,
    responses={
        "200": json_answer(ALERT, "The deleted alert."),
        "400": json_answer(ERROR, "Not an integer id, or the alert is already deleted."),
        "401": UNAUTHORIZED,
        "404": NOT_YOURS,
    },
    secured=True,
)
async def delete_alert(request: Request) -> Response:
    user_id = authenticated_user(request)
    body = await read_json_object(request, validation.DELETE)
    alert_id = validation.ALERT_ID.read(body)
    alert = await _alerts(request).delete(user_id, alert_id)
    return JSONResponse(alert.to_json())


@endpoint(
    "GET",
    "/api/alerts/",
    "/fetch_alerts/",
    name="fetch",
    summary="List your alerts, newest first",
    parameters=query_parameters(validation.FETCH),
    responses={
        "200": {
            **json_answer(
                {"type": "array", "items": ALERT},
                "A page of alerts; with changed_since, every alert changed since the token.",
            ),
            "headers": {
                "Link": {
                    "description": 'rel="next": the next page, as a relative reference.',
                    "schema": {"type": "string"},
                },
                CHANGES_TOKEN_HEADER: {
                    "description": "The token to send as changed_since next time: what changes"
                    " after this answer was read. Of a list read in pages, keep the first's.",
                    "schema": {"type": "string"},
                },
            },
        },
        "400": json_answer(ERROR, "Invalid input, or changed_since not a token this server gave."),
        "401": UNAUTHORIZED,
    },
    secured=True,
    description="Poll with changed_since: each answer holds only the alerts created, changed"
    " or deleted (state 'deleted') since the token, each once, and the next token. Exact under"
    " concurrent writes: nothing is missed and nothing answered twice.",
)
async def fetch_alerts(request: Request) -> Response:
    user_id = authenticated_user(request)
    query = request.query_params
    since = validation.CHANGED_SINCE.read(query)
    if since is not None:
        validation.alone_with_changed_since(query)
        page = await _alerts(request).changes(user_id, since)
        return _listed(page, {})
    state = validation.STATE.read(query)
    limit = validation.LIMIT.read(query)
    before_id = validation.BEFORE_ID.read(query)
    page = await _alerts(request).page(user_id, state=state, limit=limit, before_id=before_id)
    headers = {}
    if page.next_before_id is not None:
        headers["Link"] = f'<{_next_page(request, page.next_before_id, limit)}>; rel="next"'
    return _listed(page, headers)


def _listed(page: Page, headers: dict[str, str]) -> Response:
    headers[CHANGES_TOKEN_HEADER] = page.changes_token
    return JSONResponse([alert.to_json() for alert in page.alerts], headers=headers)


def _next_page(request: Request, before_id: int, limit: int) -> str:
    """A relative reference (RFC 8288 resolves it against the request's URL): built from the
    path alone, never from the Host header a client chose."""
    params = {k: v for k, v in request.query_params.items() if k not in ("before_id", "limit")}
    return f"{request.url.path}?{urlencode(params | {'before_id': before_id, 'limit': limit})}"


@endpoint(
    "GET",
    "/api/prices/",
    name="prices",
    summary="The last trade price of symbols (no token needed)",
    description="Written by the matcher at most once a second for the symbols it follows"
    " (those with live alerts).",
    parameters=query_parameters(validation.PRICES),
    responses={
        "200": json_answer(PRICES, "The symbols asked for that have a known price."),
        "400": json_answer(ERROR, "symbols is malformed or names an unknown symbol."),
    },
)
async def prices(request: Request) -> Response:
    """No token needed: prices are public."""
    symbols = validation.SYMBOLS.read(request.query_params)
    return JSONResponse(await _prices(request).latest(symbols))


@endpoint(
    "GET",
    "/api/prices/{symbol}/history/",
    name="price_history",
    summary="A symbol's prices minute by minute (open, high, low, close; 7 days kept)",
    parameters=[SYMBOL_PARAMETER, *query_parameters(validation.HISTORY)],
    responses={
        "200": json_answer(HISTORY, "The minutes, oldest first."),
        "400": BAD,
        "404": json_answer(ERROR, "No such symbol."),
    },
)
async def price_history(request: Request) -> Response:
    symbol = parse_symbol(request.path_params["symbol"])
    minutes = validation.MINUTES.read(request.query_params)
    return JSONResponse(await _prices(request).history(symbol, minutes=minutes))


# In the order /openapi.json lists them.
ENDPOINTS = (
    sign_up,
    log_in,
    refresh,
    log_out,
    create_alert,
    delete_alert,
    fetch_alerts,
    get_alert,
    alert_events,
    pause_alert,
    resume_alert,
    account,
    rotate_webhook_secret,
    prices,
    price_history,
)
