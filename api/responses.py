"""JSON responses through orjson, and the one shape of every error body."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z)


def error_response(
    status_code: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """``{"error": message}``: every error the API answers has this body."""
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


def decimal_text(value: Decimal | None) -> str | None:
    """A price or percent as the API writes it: a decimal string, never an exponent."""
    # format "f": str() would write 1E-7 for 0.0000001.
    return None if value is None else format(value, "f")


def time_text(value: datetime | None) -> str | None:
    """A time as the API writes it: ISO 8601 in UTC, with a Z."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")
