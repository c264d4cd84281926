"""The OpenAPI 3.1 description of the API, served at ``/openapi.json``.

Written out by hand: the API is small, and a spec that is data can be read and checked (and fed
to schemathesis) without running the code that serves it.
"""

from __future__ import annotations

from typing import Any

from api import validation
from api.fields import body_schema, query_parameters
from shared import fields, vocabulary

_ERROR = {"$ref": "#/components/schemas/Error"}
_PRICE_TEXT = {"type": "string", "description": "A decimal, as written when it was created."}
_TOKENS = {
    "type": "object",
    "required": ["access", "refresh"],
    "properties": {
        "access": {"type": "string", "description": "JWT for 'Authorization: Bearer'."},
        "refresh": {"type": "string", "description": "Single-use token for /api/token/refresh/."},
    },
}
_MAYBE_PRICE = {"anyOf": [_PRICE_TEXT, {"type": "null"}]}
_MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}
_ALERT_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "symbol": {"type": "string"},
    "target_price": _MAYBE_PRICE,
    "trigger_condition": {"enum": list(vocabulary.KINDS)},
    "email": {"type": ["string", "null"]},
    "state": {"enum": list(vocabulary.STATES)},
    "created_at": {"type": "string", "format": "date-time"},
    "triggered_at": {**_MAYBE_TIME, "description": "The trade time of the latest fire."},
    "triggered_price": {**_MAYBE_PRICE, "description": "The price of the latest fire."},
    "percent": _MAYBE_PRICE,
    "window": {"enum": [*vocabulary.WINDOWS, None]},
    "frequency": {"enum": list(vocabulary.FREQUENCIES)},
    "cooldown_seconds": {"type": ["integer", "null"]},
    "expires_at": _MAYBE_TIME,
    "webhook_url": {"type": ["string", "null"]},
    "webhook_format": {"enum": [*vocabulary.WEBHOOK_FORMATS, None]},
    "telegram_chat_id": {"type": ["string", "null"]},
    "channels": {
        "type": "object",
        "description": "Every channel the alert has, by name; the flat fields above say the same.",
        "propertyNames": {"enum": list(vocabulary.CHANNELS)},
    },
    "reference_price": {
        **_MAYBE_PRICE,
        "description": "crossing: the last trade price when it went live, recorded once.",
    },
    "fire_count": {"type": "integer", "minimum": 0},
    "current_price": {
        **_MAYBE_PRICE,
        "description": "The last trade price of its symbol the matcher wrote (at most a second"
        " old while a matcher follows it); null when none is known.",
    },
    "current_price_at": {
        **_MAYBE_TIME,
        "description": "The time of the trade current_price is (Binance's trade time): a price"
        " no matcher follows any more keeps its time, so an old one reads as stale.",
    },
}
_ALERT = {"type": "object", "required": list(_ALERT_PROPERTIES), "properties": _ALERT_PROPERTIES}
_EVENTS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["seq", "price", "at", "deliveries"],
        "properties": {
            "seq": {"type": "integer", "minimum": 1},
            "price": _PRICE_TEXT,
            "at": {"type": "string", "format": "date-time"},
            "deliveries": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["channel", "status", "attempts", "last_error", "sent_at"],
                    "properties": {
                        "channel": {"enum": list(vocabulary.CHANNELS)},
                        "status": {"enum": list(vocabulary.SHOWN_DELIVERY_STATUSES)},
                        "attempts": {"type": "integer", "minimum": 0},
                        "last_error": {"type": ["string", "null"]},
                        "sent_at": _MAYBE_TIME,
                    },
                },
            },
        },
    },
}
_ACCOUNT = {
    "type": "object",
    "required": ["id", "username", "webhook_secret"],
    "properties": {
        "id": {"type": "integer"},
        "username": {"type": "string"},
        "webhook_secret": {
            "type": "string",
            "pattern": "^whsec_",
            "description": "Signs your standard webhooks (Standard Webhooks): whsec_ + base64.",
        },
    },
}
_PRICES = {
    "type": "object",
    "description": "Symbol -> its last trade, for the symbols that have a known price.",
    "additionalProperties": {
        "type": "object",
        "required": ["price", "at"],
        "properties": {
            "price": {"type": "string", "description": "The last trade price, a decimal."},
            "at": {"type": "string", "format": "date-time", "description": "Its trade time."},
        },
    },
}
_HISTORY = {
    "type": "array",
    "description": "One entry per minute that had trades, oldest first.",
    "items": {
        "type": "object",
        "required": ["at", "open", "high", "low", "close"],
        "properties": {
            "at": {"type": "string", "format": "date-time", "description": "The minute's start."},
            "open": _PRICE_TEXT,
            "high": _PRICE_TEXT,
            "low": _PRICE_TEXT,
            "close": _PRICE_TEXT,
        },
    },
}
_SYMBOL_PARAMETER = {
    "name": "symbol",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": f"^(?:{fields.SYMBOL_PATTERN.pattern})$"},
    "description": "A Binance spot symbol, such as BTCUSDT (upper-cased).",
}
_ALERT_ID_PARAMETER = {
    "name": "alert_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_UNAUTHORIZED = {
    **_json(_ERROR, "Missing, invalid or expired token."),
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
}
_BAD = _json(_ERROR, "Invalid input, or a body that is not a JSON object; nothing changed.")
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
_THROTTLED = {**_json(_ERROR, "Too many attempts: wait Retry-After."), "headers": _RETRY_AFTER}
_BUSY = {**_json(_ERROR, "Too many passwords to check: wait Retry-After."), "headers": _RETRY_AFTER}
# Every operation with a body may meet these, whatever its own answers.
_BODY_ERRORS = {
    "400": _BAD,
    "408": _json(_ERROR, "The body did not arrive in time."),
    "413": _json(_ERROR, "The body is over 64 KiB."),
}


def _post(summary: str, body: dict[str, Any], responses: dict[str, Any], **extra: Any) -> Any:
    return {
        "post": {
            "summary": summary,
            "requestBody": _body(body),
            "responses": _BODY_ERRORS | responses,
            **extra,
        }
    }


_SECURED: dict[str, Any] = {"security": [{"bearer": []}]}

_OPERATIONS: dict[str, dict[str, Any]] = {
    "signup": _post(
        "Create an account",
        body_schema(validation.SIGNUP),
        {
            "201": _json(
                {
                    "type": "object",
                    "required": ["id", "username"],
                    "properties": {"id": {"type": "integer"}, "username": {"type": "string"}},
                },
                "Account created; the username as stored (NFKC-normalised).",
            ),
            "400": _json(_ERROR, "Username taken, or a field missing or invalid."),
            "429": _THROTTLED,
            "503": _BUSY,
        },
    ),
    "login": _post(
        "Log in: get an access and a refresh token",
        body_schema(validation.LOGIN),
        {
            "200": _json(_TOKENS, "Tokens."),
            "400": _json(_ERROR, "Invalid credentials, or a field missing or invalid."),
            "429": _THROTTLED,
            "503": _BUSY,
        },
    ),
    "refresh": _post(
        "Trade a refresh token for new tokens (the refresh token rotates; reuse revokes all)",
        body_schema(validation.REFRESH),
        {"200": _json(_TOKENS, "New tokens."), "401": _UNAUTHORIZED},
    ),
    "logout": _post(
        "Revoke a refresh token's whole family",
        body_schema(validation.REFRESH),
        {"204": {"description": "Logged out."}, "401": _UNAUTHORIZED},
    ),
    "create": _post(
        "Create an alert of any kind, with one or more channels",
        body_schema(validation.NEW_ALERT),
        {"201": _json(_ALERT, "The alert."), "401": _UNAUTHORIZED},
        **_SECURED,
    ),
    "delete": _post(
        "Delete an alert (its state becomes 'deleted'; it never fires)",
        body_schema(validation.DELETE),
        {
            "200": _json(_ALERT, "The deleted alert."),
            "400": _json(_ERROR, "Not an integer id, or the alert is already deleted."),
            "401": _UNAUTHORIZED,
            "404": _json(_ERROR, "No such alert of yours."),
        },
        **_SECURED,
    ),
    "fetch": {
        "get": {
            "summary": "List your alerts, newest first",
            "parameters": query_parameters(validation.FETCH),
            "responses": {
                "200": {
                    **_json({"type": "array", "items": _ALERT}, "A page of alerts."),
                    "headers": {
                        "Link": {
                            "description": 'rel="next": the next page, as a relative reference.',
                            "schema": {"type": "string"},
                        }
                    },
                },
                "400": _BAD,
                "401": _UNAUTHORIZED,
            },
            **_SECURED,
        }
    },
}

_NOT_YOURS = _json(_ERROR, "No such alert of yours.")


def _on_alert(method: str, summary: str, ok: dict[str, Any], **responses: Any) -> Any:
    return {
        method: {
            "summary": summary,
            "parameters": [_ALERT_ID_PARAMETER],
            "responses": {"200": ok, "401": _UNAUTHORIZED, "404": _NOT_YOURS, **responses},
            **_SECURED,
        }
    }


_OPERATIONS |= {
    "alert": _on_alert("get", "One alert", _json(_ALERT, "The alert.")),
    "events": {
        "get": {
            "summary": "An alert's fires, newest first, with the delivery of each channel",
            "parameters": [_ALERT_ID_PARAMETER, *query_parameters(validation.EVENTS)],
            "responses": {
                "200": _json(_EVENTS, "A page of fires."),
                "400": _BAD,
                "401": _UNAUTHORIZED,
                "404": _NOT_YOURS,
            },
            **_SECURED,
        }
    },
    "pause": _on_alert(
        "post",
        "Pause a live alert (it leaves the book and the cap until resumed)",
        _json(_ALERT, "The alert, now paused."),
        **{"400": _json(_ERROR, "The alert is not live.")},
    ),
    "resume": _on_alert(
        "post",
        "Resume a paused alert",
        _json(_ALERT, "The alert, live again."),
        **{"400": _json(_ERROR, "The alert is not paused, has expired, or the cap is full.")},
    ),
    "account": {
        "get": {
            "summary": "Your account, with the secret that signs your webhooks",
            "responses": {"200": _json(_ACCOUNT, "The account."), "401": _UNAUTHORIZED},
            **_SECURED,
        }
    },
    "rotate_secret": {
        "post": {
            "summary": "Make a new webhook secret (the old one signs nothing from now on)",
            "responses": {"200": _json(_ACCOUNT, "The account."), "401": _UNAUTHORIZED},
            **_SECURED,
        }
    },
    "prices": {
        "get": {
            "summary": "The last trade price of symbols (no token needed)",
            "description": "Written by the matcher at most once a second for the symbols it"
            " follows (those with live alerts).",
            "parameters": query_parameters(validation.PRICES),
            "responses": {
                "200": _json(_PRICES, "The symbols asked for that have a known price."),
                "400": _json(_ERROR, "symbols is malformed or names an unknown symbol."),
            },
        }
    },
    "price_history": {
        "get": {
            "summary": "A symbol's prices minute by minute (open, high, low, close; 7 days kept)",
            "parameters": [_SYMBOL_PARAMETER, *query_parameters(validation.HISTORY)],
            "responses": {
                "200": _json(_HISTORY, "The minutes, oldest first."),
                "400": _BAD,
                "404": _json(_ERROR, "No such symbol."),
            },
        }
    },
}

# Path -> operation. Both spellings of the seed lead to the same operation.
PATHS = {
    "/api/signup/": "signup",
    "/signup/": "signup",
    "/api/login/": "login",
    "/login/": "login",
    "/api/token/refresh/": "refresh",
    "/login/refresh/": "refresh",
    "/api/logout/": "logout",
    "/api/alerts/create/": "create",
    "/create_alert/": "create",
    "/api/alerts/delete/": "delete",
    "/delete_alert/": "delete",
    "/api/alerts/": "fetch",
    "/fetch_alerts/": "fetch",
    "/api/alerts/{alert_id}/": "alert",
    "/api/alerts/{alert_id}/events/": "events",
    "/api/alerts/{alert_id}/pause/": "pause",
    "/api/alerts/{alert_id}/resume/": "resume",
    "/api/account/": "account",
    "/api/account/webhook-secret/": "rotate_secret",
    "/api/prices/": "prices",
    "/api/prices/{symbol}/history/": "price_history",
}


# The web page's log-in (``api.session``): the refresh token in an HttpOnly cookie.
_SESSION_COOKIE = "pricealert_refresh"
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
        "description": f"{_SESSION_COOKIE}=<refresh token>; HttpOnly; Secure; SameSite=Strict;"
        " Path=/api/session/ (cleared by logout).",
    }
}
_COOKIE_PARAMETER = {
    "name": _SESSION_COOKIE,
    "in": "cookie",
    "required": False,
    "schema": {"type": "string"},
    "description": "The session cookie set by /api/session/login/; a browser sends it itself.",
}
SESSION_PATHS: dict[str, dict[str, Any]] = {
    "/api/session/login/": {
        "post": {
            "summary": "For the web page: log in; the refresh token goes into an HttpOnly cookie"
            " (send the body as application/json)",
            "requestBody": _body(body_schema(validation.LOGIN)),
            "responses": _BODY_ERRORS
            | {
                "200": {
                    **_json(_SESSION, "The access token; the cookie set."),
                    "headers": _SET_COOKIE,
                },
                "400": _json(
                    _ERROR, "Invalid credentials, a field missing or invalid, or not JSON."
                ),
                "429": _THROTTLED,
                "503": _BUSY,
            },
        }
    },
    "/api/session/refresh/": {
        "post": {
            "summary": "For the web page: a new access token for the session cookie, which rotates",
            "parameters": [_COOKIE_PARAMETER],
            "responses": {
                "200": {
                    **_json(_SESSION, "A new access token; a new cookie."),
                    "headers": _SET_COOKIE,
                },
                "400": _BAD,
                "401": _UNAUTHORIZED,
            },
        }
    },
    "/api/session/logout/": {
        "post": {
            "summary": "For the web page: revoke the session cookie's token and clear the cookie",
            "parameters": [_COOKIE_PARAMETER],
            "responses": {"204": {"description": "Logged out.", "headers": _SET_COOKIE}},
        }
    },
}


def _path_id(path: str) -> str:
    return path.strip("/").replace("/", "_").replace("{", "").replace("}", "")


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, operation in PATHS.items():
        spec = _OPERATIONS[operation]
        paths[path] = {
            method: {**details, "operationId": f"{operation}_{_path_id(path)}"}
            for method, details in spec.items()
        }
    for path, spec in SESSION_PATHS.items():
        paths[path] = {
            method: {**details, "operationId": f"session_{_path_id(path)}"}
            for method, details in spec.items()
        }
    paths["/healthz"] = {
        "get": {"summary": "The process is up", "responses": {"200": {"description": "Up."}}}
    }
    paths["/readyz"] = {
        "get": {
            "summary": "The database answers",
            "responses": {"200": {"description": "Ready."}, "503": _json(_ERROR, "Not ready.")},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pricealert",
            "version": "0.1.0",
            "description": "Cryptocurrency price alerts on Binance trades.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                }
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
