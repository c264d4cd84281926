"""The HTTP endpoints: parse the request, call the domain, shape the answer. Both path spellings
of the seed are routed to the same handlers (see ``api.app``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api import validation
from api.accounts import Accounts
from api.alerts import Alerts, NewAlert
from api.body import read_json_object
from api.responses import JSONResponse
from api.tokens import AccessTokens
from shared.errors import Unauthorized, ValidationError


def _accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


def _alerts(request: Request) -> Alerts:
    alerts: Alerts = request.app.state.alerts
    return alerts


def authenticated_user(request: Request) -> int:
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthorized("missing Authorization header: send 'Authorization: Bearer <access>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <access token>'")
    access_tokens: AccessTokens = request.app.state.access_tokens
    return access_tokens.user_id(token.strip())


def _string_field(body: dict[str, Any], name: str) -> str:
    value = validation.required(body, name)
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string")
    return value


async def sign_up(request: Request) -> Response:
    body = await read_json_object(request)
    username = validation.username(validation.required(body, "username"))
    password = validation.password(validation.required(body, "password"))
    user_id = await _accounts(request).sign_up(username, password)
    return JSONResponse({"id": user_id, "username": username}, status_code=201)


async def log_in(request: Request) -> Response:
    body = await read_json_object(request)
    username = _string_field(body, "username")
    password = _string_field(body, "password")
    tokens = await _accounts(request).log_in(username, password)
    return JSONResponse({"access": tokens.access, "refresh": tokens.refresh})


async def _refresh_token(request: Request) -> str:
    token = (await read_json_object(request)).get("refresh")
    if not isinstance(token, str) or not token:
        raise Unauthorized("refresh is required: send the refresh token from login")
    return token


async def refresh(request: Request) -> Response:
    tokens = await _accounts(request).refresh(await _refresh_token(request))
    return JSONResponse({"access": tokens.access, "refresh": tokens.refresh})


async def log_out(request: Request) -> Response:
    await _accounts(request).log_out(await _refresh_token(request))
    return Response(status_code=204)


async def create_alert(request: Request) -> Response:
    user_id = authenticated_user(request)
    body = await read_json_object(request)
    new = NewAlert(
        target_price=validation.target_price(validation.required(body, "target_price")),
        trigger_condition=validation.trigger_condition(
            validation.required(body, "trigger_condition")
        ),
        email=validation.email(validation.required(body, "email")),
        symbol=validation.symbol(body.get("symbol")),
    )
    alert = await _alerts(request).create(user_id, new)
    return JSONResponse(alert.to_json(), status_code=201)


async def delete_alert(request: Request) -> Response:
    user_id = authenticated_user(request)
    body = await read_json_object(request)
    alert_id = validation.positive_id(validation.required(body, "alert_id"), "alert_id")
    alert = await _alerts(request).delete(user_id, alert_id)
    return JSONResponse(alert.to_json())


async def fetch_alerts(request: Request) -> Response:
    user_id = authenticated_user(request)
    query = request.query_params
    state = validation.state(query.get("state"))
    limit = validation.page_limit(query.get("limit"))
    before_id = validation.before_id(query.get("before_id"))
    page = await _alerts(request).page(user_id, state=state, limit=limit, before_id=before_id)
    headers = {}
    if page.next_before_id is not None:
        next_url = request.url.include_query_params(before_id=page.next_before_id, limit=limit)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return JSONResponse([alert.to_json() for alert in page.alerts], headers=headers)
