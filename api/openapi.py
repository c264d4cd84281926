"""The OpenAPI 3.1 description of the API, served at ``/openapi.json``.

Written out by hand: the API is small, and a spec that is data can be read and checked (and fed
to schemathesis) without running the code that serves it.
"""

from __future__ import annotations

from typing import Any

from api import validation

_ERROR = {"$ref": "#/components/schemas/Error"}
_PRICE = {
    "type": "string",
    "pattern": r"^\d{1,15}(\.\d{1,8})?$",
    "description": "A positive decimal, at most 8 decimals and 15 significant digits.",
    "examples": ["50000", "0.00000123"],
}
_TOKENS = {
    "type": "object",
    "required": ["access", "refresh"],
    "properties": {
        "access": {"type": "string", "description": "JWT for 'Authorization: Bearer'."},
        "refresh": {"type": "string", "description": "Single-use token for /api/token/refresh/."},
    },
}
_CREDENTIALS = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "username": {"type": "string", "pattern": r"^[\w.@+-]{1,150}$"},
        "password": {
            "type": "string",
            "minLength": validation.PASSWORD_MIN,
            "maxLength": validation.PASSWORD_MAX,
        },
    },
}
_REFRESH_BODY = {
    "type": "object",
    "required": ["refresh"],
    "properties": {"refresh": {"type": "string"}},
}
_ALERT = {
    "type": "object",
    "required": [
        "id",
        "symbol",
        "target_price",
        "trigger_condition",
        "email",
        "state",
        "created_at",
        "triggered_at",
        "triggered_price",
    ],
    "properties": {
        "id": {"type": "integer"},
        "symbol": {"type": "string"},
        "target_price": _PRICE,
        "trigger_condition": {"enum": list(validation.CONDITIONS)},
        "email": {"type": "string", "format": "email"},
        "state": {"enum": list(validation.STATES)},
        "created_at": {"type": "string", "format": "date-time"},
        "triggered_at": {"type": ["string", "null"], "format": "date-time"},
        "triggered_price": {"type": ["string", "null"]},
    },
}
_NEW_ALERT = {
    "type": "object",
    "required": ["target_price", "trigger_condition", "email"],
    "properties": {
        "target_price": _PRICE,
        "trigger_condition": {"enum": list(validation.CONDITIONS)},
        "email": {"type": "string", "format": "email", "maxLength": validation.EMAIL_MAX},
        "symbol": {
            "type": "string",
            "pattern": "^[A-Za-z0-9]{2,20}$",
            "default": validation.DEFAULT_SYMBOL,
            "description": "A Binance spot symbol; upper-cased.",
        },
    },
}
_DELETE = {
    "type": "object",
    "required": ["alert_id"],
    "properties": {"alert_id": {"type": "integer", "minimum": 1}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_UNAUTHORIZED = {
    **_json(_ERROR, "Missing, invalid or expired access token."),
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
}
_BAD = _json(_ERROR, "Invalid input; nothing changed.")


def _post(summary: str, body: dict[str, Any], responses: dict[str, Any], **extra: Any) -> Any:
    return {
        "post": {"summary": summary, "requestBody": _body(body), "responses": responses, **extra}
    }


_SECURED: dict[str, Any] = {"security": [{"bearer": []}]}

_OPERATIONS: dict[str, dict[str, Any]] = {
    "signup": _post(
        "Create an account",
        _CREDENTIALS,
        {
            "201": _json(
                {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}, "username": {"type": "string"}},
                },
                "Account created.",
            ),
            "400": _json(_ERROR, "Username taken, or a field missing or invalid."),
        },
    ),
    "login": _post(
        "Log in: get an access and a refresh token",
        _CREDENTIALS,
        {"200": _json(_TOKENS, "Tokens."), "400": _json(_ERROR, "Invalid credentials.")},
    ),
    "refresh": _post(
        "Trade a refresh token for new tokens (the refresh token rotates; reuse revokes all)",
        _REFRESH_BODY,
        {"200": _json(_TOKENS, "New tokens."), "401": _UNAUTHORIZED},
    ),
    "logout": _post(
        "Revoke a refresh token's whole family",
        _REFRESH_BODY,
        {"204": {"description": "Logged out."}, "401": _UNAUTHORIZED},
    ),
    "create": _post(
        "Create an alert",
        _NEW_ALERT,
        {"201": _json(_ALERT, "The alert."), "400": _BAD, "401": _UNAUTHORIZED},
        **_SECURED,
    ),
    "delete": _post(
        "Delete an alert (its state becomes 'deleted'; it never fires)",
        _DELETE,
        {
            "200": _json(_ALERT, "The deleted alert."),
            "400": _BAD,
            "401": _UNAUTHORIZED,
            "404": _json(_ERROR, "No such alert of yours."),
        },
        **_SECURED,
    ),
    "fetch": {
        "get": {
            "summary": "List your alerts, newest first",
            "parameters": [
                {"name": "state", "in": "query", "schema": {"enum": list(validation.STATES)}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                },
                {"name": "before_id", "in": "query", "schema": {"type": "integer", "minimum": 1}},
            ],
            "responses": {
                "200": {
                    **_json({"type": "array", "items": _ALERT}, "A page of alerts."),
                    "headers": {
                        "Link": {
                            "description": 'rel="next": the next page.',
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
}


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, operation in PATHS.items():
        spec = _OPERATIONS[operation]
        paths[path] = {
            method: {**details, "operationId": f"{operation}_{path.strip('/').replace('/', '_')}"}
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
