"""JSON responses through orjson, and the one shape of every error body."""

from __future__ import annotations

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
