"""Reading a request's JSON body: capped in size, always a JSON object, with no key its
``Body`` does not declare."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request

from api.fields import Body
from shared.errors import PayloadTooLarge, RequestTimeout, ValidationError

MAX_BODY_BYTES = 64 * 1024


async def read_json_object(request: Request, accepts: Body) -> dict[str, Any]:
    """The body as a dict of ``accepts``' fields; ValidationError for anything but a JSON object
    or for a key that is not one of those fields (named), PayloadTooLarge past
    ``MAX_BODY_BYTES`` (checked on the declared length and again while streaming),
    RequestTimeout when the whole body has not arrived within the app's body timeout (a client
    trickling its body would otherwise hold its connection, and a worker's slot, for ever)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is over {MAX_BODY_BYTES} bytes")
    seconds: float = request.app.state.body_timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            raw = await _read_capped(request)
    except TimeoutError:
        raise RequestTimeout(f"the request body did not arrive within {seconds:g} s") from None
    if not raw.strip():
        raise ValidationError("request body is empty: send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object")
    accepts.refuse_unknown(body)
    return body


async def _read_capped(request: Request) -> bytes:
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"request body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
