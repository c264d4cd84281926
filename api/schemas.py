"""The JSON Schemas of the API's answers, and the answers many endpoints share (an error, a
missing token, a body's 400/408/413), for the operations each route declares beside its handler
(``api.openapi``). A request's own fields are ``shared.fields``' and ``api.validation``'s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared import fields, vocabulary

ERROR = {"$ref": "#/components/schemas/Error"}
_PRICE_TEXT = {"type": "string", "description": "A decimal, as written when it was created."}
TOKENS = {
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
    "symbol_status": {
        "enum": ["trading", "halted"],
        "description": "Whether the exchange still trades its symbol: a halted one cannot fire"
        " until the exchange lists it as trading again (new alerts on it are refused).",
    },
}
ALERT = {"type": "object", "required": list(_ALERT_PROPERTIES), "properties": _ALERT_PROPERTIES}
EVENTS = {
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
ACCOUNT = {
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
PRICES = {
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
HISTORY = {
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
SYMBOL_PARAMETER = {
    "name": "symbol",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": f"^(?:{fields.SYMBOL_PATTERN.pattern})$"},
    "description": "A Binance spot symbol, such as BTCUSDT (upper-cased).",
}
ALERT_ID_PARAMETER = {
    "name": "alert_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


def json_answer(schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    """An answer of ``schema`` in JSON."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


UNAUTHORIZED = {
    **json_answer(ERROR, "Missing, invalid or expired token."),
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
}
BAD = json_answer(ERROR, "Invalid input, or a body that is not a JSON object; nothing changed.")
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
THROTTLED = {**json_answer(ERROR, "Too many attempts: wait Retry-After."), "headers": _RETRY_AFTER}
BUSY = {
    **json_answer(ERROR, "Too many passwords to check: wait Retry-After."),
    "headers": _RETRY_AFTER,
}
# Every operation with a body may meet these, whatever its own answers.
BODY_ERRORS = {
    "400": BAD,
    "408": json_answer(ERROR, "The body did not arrive in time."),
    "413": json_answer(ERROR, "The body is over 64 KiB."),
}
NOT_YOURS = json_answer(ERROR, "No such alert of yours.")
