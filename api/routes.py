"""The HTTP endpoints: parse the request, call the domain, shape the answer. Both path spellings
of the seed are routed to the same handlers (see ``api.app``)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from api import validation
from api.accounts import Accounts
from api.alerts import Alerts
from api.body import read_json_object
from api.client_address import client_address, throttle_key
from api.prices import Prices
from api.responses import JSONResponse
from api.tokens import AccessTokens
from shared.errors import Unauthorized
from shared.fields import parse_symbol


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


async def sign_up(request: Request) -> Response:
    body = await read_json_object(request, validation.SIGNUP)
    username = validation.USERNAME.read(body)
    password = validation.PASSWORD.read(body)
    user_id = await _accounts(request).sign_up(username, password, address=_address(request))
    return JSONResponse({"id": user_id, "username": username}, status_code=201)


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


async def refresh(request: Request) -> Response:
    tokens = await _accounts(request).refresh(await _refresh_token(request))
    return JSONResponse({"access": tokens.access, "refresh": tokens.refresh})


async def log_out(request: Request) -> Response:
    await _accounts(request).log_out(await _refresh_token(request))
    return Response(status_code=204)


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


async def get_alert(request: Request) -> Response:
    user_id = authenticated_user(request)
    alert = await _alerts(request).get(user_id, _path_alert_id(request))
    return JSONResponse(alert.to_json())


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


async def pause_alert(request: Request) -> Response:
    user_id = authenticated_user(request)
    alert = await _alerts(request).pause(user_id, _path_alert_id(request))
    return JSONResponse(alert.to_json())


async def resume_alert(request: Request) -> Response:
    user_id = authenticated_user(request)
    alert = await _alerts(request).resume(user_id, _path_alert_id(request))
    return JSONResponse(alert.to_json())


async def account(request: Request) -> Response:
    user_id = authenticated_user(request)
    return JSONResponse((await _accounts(request).account(user_id)).to_json())


async def rotate_webhook_secret(request: Request) -> Response:
    user_id = authenticated_user(request)
    return JSONResponse((await _accounts(request).account(user_id, rotate=True)).to_json())


async def delete_alert(request: Request) -> Response:
    user_id = authenticated_user(request)
    body = await read_json_object(request, validation.DELETE)
    alert_id = validation.ALERT_ID.read(body)
    alert = await _alerts(request).delete(user_id, alert_id)
    return JSONResponse(alert.to_json())


async def fetch_alerts(request: Request) -> Response:
    user_id = authenticated_user(request)
    query = request.query_params
    state = validation.STATE.read(query)
    limit = validation.LIMIT.read(query)
    before_id = validation.BEFORE_ID.read(query)
    page = await _alerts(request).page(user_id, state=state, limit=limit, before_id=before_id)
    headers = {}
    if page.next_before_id is not None:
        headers["Link"] = f'<{_next_page(request, page.next_before_id, limit)}>; rel="next"'
    return JSONResponse([alert.to_json() for alert in page.alerts], headers=headers)


def _next_page(request: Request, before_id: int, limit: int) -> str:
    """A relative reference (RFC 8288 resolves it against the request's URL): built from the
    path alone, never from the Host header a client chose."""
    params = {k: v for k, v in request.query_params.items() if k not in ("before_id", "limit")}
    return f"{request.url.path}?{urlencode(params | {'before_id': before_id, 'limit': limit})}"


async def prices(request: Request) -> Response:
    """No token needed: prices are public."""
    symbols = validation.SYMBOLS.read(request.query_params)
    return JSONResponse(await _prices(request).latest(symbols))


async def price_history(request: Request) -> Response:
    symbol = parse_symbol(request.path_params["symbol"])
    minutes = validation.MINUTES.read(request.query_params)
    return JSONResponse(await _prices(request).history(symbol, minutes=minutes))
