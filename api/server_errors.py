"""The last resort: an exception no handler took becomes a logged 500 JSON answer.

Starlette's own ``ServerErrorMiddleware`` sends its 500 and then re-raises, and uvicorn answers a
raising application by closing the connection: a keep-alive client then finds its next request
reset. This middleware sits inside it and does not re-raise, so a 500 is a normal answer on a
connection that stays usable.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.responses import error_response

log = logging.getLogger(__name__)


class ServerErrors:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, tracking_send)
        except Exception:
            log.exception("internal error", extra={"path": scope["path"]})
            if started:  # half an answer is out: only a closed connection can say it failed
                raise
            response = error_response(500, "internal error: it has been logged")
            await response(scope, receive, send)
