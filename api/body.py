"""Reading a request's JSON body: capped in size, always a JSON object."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from shared.errors import PayloadTooLarge, ValidationError

MAX_BODY_BYTES = 64 * 1024


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a dict; ValidationError for anything but a JSON object, PayloadTooLarge past
    ``MAX_BODY_BYTES`` (checked on the declared length and again while streaming)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is over {MAX_BODY_BYTES} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"request body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ValidationError("request body is empty: send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object")
    return body
