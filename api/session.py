"""Log-in for the web page: the refresh token lives in a cookie the page's script cannot read.

``POST /api/session/login/`` takes the same body as ``/api/login/`` and answers
``{access, expires_in}``; the refresh token goes into an ``HttpOnly; Secure; SameSite=Strict``
cookie whose path is ``/api/session/``, so the browser sends it to these three endpoints and to
nothing else. ``refresh`` rotates it (the same reuse detection as ``/api/token/refresh/``) and
``logout`` revokes it and clears the cookie. The page keeps the access token in memory only.

A page opened with no session cookie at all asks ``refresh`` anyway (it cannot read the
``HttpOnly`` cookie to know): that answer is 204 with no token rather than 401, so a logged-out
visit makes no request that fails. A cookie that is there but bad, revoked or expired is a 401.

The JSON endpoints for API clients (``/api/login/``, ``/api/token/refresh/``) are unchanged.
Cross-site requests: SameSite=Strict keeps the cookie off them (so refresh and logout cannot be
forged), and login wants ``content-type: application/json``, which a cross-site form cannot send
without a CORS preflight that this API never grants (a log-in CSRF would need one). Refresh and
logout read no body.
"""

from __future__ import annotations

from contextlib import suppress

from starlette.requests import Request
from starlette.responses import Response

from api import validation
from api.accounts import Accounts, TokenPair
from api.body import read_json_object
from api.client_address import client_address, throttle_key
from api.openapi import endpoint
from api.responses import JSONResponse
from api.schemas import BAD, BUSY, ERROR, THROTTLED, UNAUTHORIZED, json_answer
from api.tokens import AccessTokens
from shared.errors import Unauthorized, ValidationError

COOKIE = "pricealert_refresh"
COOKIE_PATH = "/api/session/"

_SESSION = {
    "type": "object",
    "required": ["access", "expires_in"],
    "properties": {
        "access": {"type": "string", "description": "JWT for 'Authorization: Bearer'."},
        "expires_in": {"type": "integer", "description": "Seconds the access token lives."},
    },
}
_SET_COOKIE = {
    "Set-Cookie": {
        "schema": {"type": "string"},
        "description": f"{COOKIE}=<refresh token>; HttpOnly; Secure; SameSite=Strict;"
        f" Path={COOKIE_PATH} (cleared by logout).",
    }
}
_COOKIE_PARAMETER = {
    "name": COOKIE,
    "in": "cookie",
    "required": False,
    "schema": {"type": "string"},
    "description": f"The session cookie set by {COOKIE_PATH}login/; a browser sends it itself.",
}


def _accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


def _require_json(request: Request) -> None:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise ValidationError("send the body as content-type: application/json")


def _with_cookie(request: Request, tokens: TokenPair) -> Response:
    access_tokens: AccessTokens = request.app.state.access_tokens
    response = JSONResponse({"access": tokens.access, "expires_in": access_tokens.ttl_seconds})
    response.set_cookie(
        COOKIE,
        tokens.refresh,
        max_age=request.app.state.refresh_ttl_seconds,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


def _cookie_token(request: Request) -> str | None:
    """The session cookie's refresh token; None when the browser sent no cookie."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return validation.REFRESH_TOKEN.read({"refresh": token})


@endpoint(
    "POST",
    COOKIE_PATH + "login/",
    name="session",
    summary="For the web page: log in; the refresh token goes into an HttpOnly cookie"
    " (send the body as application/json)",
    body=validation.LOGIN,
    responses={
        "200": {
            **json_answer(_SESSION, "The access token; the cookie set."),
            "headers": _SET_COOKIE,
        },
        "400": json_answer(ERROR, "Invalid credentials, a field missing or invalid, or not JSON."),
        "429": THROTTLED,
        "503": BUSY,
    },
)
async def log_in(request: Request) -> Response:
    _require_json(request)
    body = await read_json_object(request, validation.LOGIN)
    username = validation.LOGIN_USERNAME.read(body)
    password = validation.LOGIN_PASSWORD.read(body)
    address = throttle_key(client_address(request, request.app.state.trusted_proxies))
    tokens = await _accounts(request).log_in(username, password, address=address)
    return _with_cookie(request, tokens)


@endpoint(
    "POST",
    COOKIE_PATH + "refresh/",
    name="session",
    summary="For the web page: a new access token for the session cookie, which rotates"
    " (204 when no cookie was sent)",
    parameters=[_COOKIE_PARAMETER],
    responses={
        "200": {
            **json_answer(_SESSION, "A new access token; a new cookie."),
            "headers": _SET_COOKIE,
        },
        "204": {"description": "No session cookie was sent: not logged in, and no token."},
        "400": BAD,
        "401": UNAUTHORIZED,
    },
)
async def refresh(request: Request) -> Response:
    token = _cookie_token(request)
    if token is None:
        return Response(status_code=204)
    tokens = await _accounts(request).refresh(token)
    return _with_cookie(request, tokens)


@endpoint(
    "POST",
    COOKIE_PATH + "logout/",
    name="session",
    summary="For the web page: revoke the session cookie's token and clear the cookie",
    parameters=[_COOKIE_PARAMETER],
    responses={"204": {"description": "Logged out.", "headers": _SET_COOKIE}},
)
async def log_out(request: Request) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        # already revoked or expired: logging out is done either way
        with suppress(Unauthorized, ValidationError):
            await _accounts(request).log_out(validation.REFRESH_TOKEN.read({"refresh": token}))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="strict")
    return response


ENDPOINTS = (log_in, refresh, log_out)
