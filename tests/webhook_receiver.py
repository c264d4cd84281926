"""A webhook receiver for the tests: real HTTP/1.1 on loopback that checks Standard Webhooks
signatures and answers each path from a script.

HTTP/1.1 is spoken by h11 (the protocol engine under uvicorn's and httpx's HTTP/1.1) over an
asyncio socket server in the test's event loop, rather than by an ASGI app, because a fake
endpoint has to do at the socket what ASGI cannot: leave a request unanswered, notice that the
client gave up, or drop the connection without a response. Keep-alive, ``Content-Length`` and
chunked bodies work as in any server.

Signatures are checked by ``standardwebhooks``, the spec authors' Python library, so the check
is independent of the notifier's signer: HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.
{body}`` keyed with the base64-decoded secret after ``whsec_``, any of the space-separated
``v1,<base64>`` signatures, compared in constant time, the timestamp within 5 minutes of now. On
top of it the timestamp must be an integer, as the spec says (the library also takes a float).

What a path answers is a plan of steps, in order: ``Reply`` (a status, with ``Retry-After`` or
``Location`` if asked), ``Hang`` (answer nothing for some seconds or until ``release()``, then
reply) and ``Drop`` (reset the connection without answering). Once a path's plan is used up it
answers its ``then`` step, 200 unless told otherwise."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import h11
import orjson
from standardwebhooks import Webhook, WebhookVerificationError

WAIT = 10.0  # seconds wait_for waits before it fails the test
_INTEGER = re.compile(r"[0-9]+")


def new_secret(size: int = 32) -> str:
    """A secret as accounts get them: ``whsec_`` + base64 of ``size`` random bytes (24 to 64)."""
    return "whsec_" + base64.b64encode(os.urandom(size)).decode()


@dataclass(frozen=True)
class Reply:
    """Answer ``status``; ``retry_after`` (seconds, or an HTTP date) and ``location`` become
    the ``Retry-After`` and ``Location`` headers."""

    status: int = 200
    retry_after: float | str | None = None
    location: str | None = None
    body: bytes = b""


@dataclass(frozen=True)
class Drop:
    """Reset the connection without answering, as a server that crashed mid-request does."""


@dataclass(frozen=True)
class Hang:
    """Answer nothing for ``seconds`` (None: until ``release()``), then do ``then``. A client
    that gives up meanwhile is noticed: its request keeps ``status`` None."""

    seconds: float | None = None
    then: Reply | Drop = Reply()


Step: TypeAlias = Reply | Hang | Drop


@dataclass
class Received:
    """One request as it arrived, and what it was answered."""

    path: str
    method: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes  # the raw bytes, as signed
    json: Any  # the body parsed, or None when it is not JSON
    verified: bool  # a valid Standard Webhooks signature with the path's secret
    error: str | None  # why it did not verify
    at: float  # time.time() when the body was in: compare with webhook-timestamp
    perf: float  # time.perf_counter() then: for the intervals between attempts
    status: int | None = None  # the status answered; None if dropped or the client left first

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    @property
    def delivered(self) -> bool:
        """Answered with a 2xx: the sender may count it as delivered."""
        return self.status is not None and 200 <= self.status < 300


class WebhookReceiver:
    """``secret``: the secret of every path that has none of its own (see ``endpoint``)."""

    def __init__(self, *, secret: str | None = None) -> None:
        self.received: list[Received] = []
        self._default = None if secret is None else Webhook(secret)
        self._webhooks: dict[str, Webhook] = {}
        self._plans: dict[str, deque[Step]] = {}
        self._then: dict[str, Step] = {}
        self._hanging: dict[asyncio.Event, str] = {}  # released by release(), per path
        self._changed = asyncio.Condition()  # notified on every request recorded
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    # Life: start, close, or ``async with``.

    async def start(self) -> str:
        """Listen on an ephemeral port of 127.0.0.1; returns the base URL."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the receiver first"
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        """Stop listening and cut every connection, hanging ones included."""
        if self._server is not None:
            self._server.close()
        # Aborted, not cancelled: each handler sees the end of its stream and returns (on 3.11
        # asyncio logs an error for a cancelled connection handler).
        for writer in list(self._connections.values()):
            writer.transport.abort()
        await asyncio.gather(*self._connections)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> WebhookReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # Script: what each path answers.

    def endpoint(self, path: str, *, secret: str) -> None:
        """Check the signatures of requests to ``path`` with ``secret``."""
        self._webhooks[path] = Webhook(secret)

    def plan(self, path: str, steps: Iterable[Step], *, then: Step = Reply()) -> None:
        """Answer the next requests to ``path`` with ``steps`` in order, then always ``then``."""
        self._plans[path] = deque(steps)
        self._then[path] = then

    def release(self, path: str | None = None) -> int:
        """End the hangs under way (on ``path``, or everywhere); how many there were."""
        events = [event for event, at in self._hanging.items() if path in (None, at)]
        for event in events:
            event.set()
        return len(events)

    # State: what arrived.

    def requests(self, path: str | None = None) -> list[Received]:
        return [r for r in self.received if path in (None, r.path)]

    async def wait_for(
        self,
        count: int,
        *,
        path: str | None = None,
        timeout: float = WAIT,  # noqa: ASYNC109
    ) -> list[Received]:
        """Until ``count`` requests (to ``path``) arrived; those requests. Fails the test after
        ``timeout`` seconds, saying what did arrive. A request is recorded as soon as its body
        is in, before it is answered: a test can wait for a hanging request, then release it."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.requests(path)) >= count)
        except TimeoutError:
            got = [(r.method, r.path, r.webhook_id, r.status) for r in self.requests(path)]
            where = f" to {path}" if path else ""
            raise AssertionError(
                f"waited {timeout} s for {count} requests{where}; {len(got)} came: {got}"
            ) from None
        return self.requests(path)

    def by_webhook_id(self, path: str | None = None) -> dict[str | None, list[Received]]:
        """The requests grouped by ``webhook-id``, each group in arrival order: one event's
        attempts (the id is the same on every retry)."""
        groups: dict[str | None, list[Received]] = defaultdict(list)
        for received in self.requests(path):
            groups[received.webhook_id].append(received)
        return dict(groups)

    def delivered_twice(self, path: str | None = None) -> list[str | None]:
        """The ``webhook-id`` answered 2xx more than once: what a sender must never do."""
        return [
            webhook_id
            for webhook_id, group in self.by_webhook_id(path).items()
            if sum(r.delivered for r in group) > 1
        ]

    # The server.

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        conn = h11.Connection(h11.SERVER)
        try:
            while await self._exchange(conn, reader, writer):
                conn.start_next_cycle()
            writer.close()
        except (ConnectionError, h11.ProtocolError):  # the client left, or spoke no HTTP/1.1
            writer.transport.abort()
        finally:
            del self._connections[task]

    async def _exchange(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """One request and its answer; whether the connection can carry another."""
        request = await _next_event(conn, reader)
        if not isinstance(request, h11.Request):
            return False  # closed between requests
        body = bytearray()
        while isinstance(event := await _next_event(conn, reader), h11.Data):
            body += event.data
        received = await self._record(request, bytes(body))
        step = self._next_step(received.path)
        if isinstance(step, Hang):
            if not await self._hang(step, received.path, conn, reader):
                return False
            step = step.then
        if isinstance(step, Drop):
            writer.transport.abort()
            return False
        received.status = step.status
        writer.write(_response(conn, step))
        await writer.drain()
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _record(self, request: h11.Request, body: bytes) -> Received:
        headers: dict[str, str] = {}
        for name, value in request.headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        path = urlsplit(request.target.decode("latin-1")).path
        error = _verify(self._webhooks.get(path, self._default), headers, body)
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        received = Received(
            path=path,
            method=request.method.decode("latin-1"),
            headers=headers,
            body=body,
            json=parsed,
            verified=error is None,
            error=error,
            at=time.time(),
            perf=time.perf_counter(),
        )
        async with self._changed:
            self.received.append(received)
            self._changed.notify_all()
        return received

    def _next_step(self, path: str) -> Step:
        plan = self._plans.get(path)
        return plan.popleft() if plan else self._then.get(path, Reply())

    async def _hang(
        self, step: Hang, path: str, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> bool:
        """Wait out ``step``, watching the socket; False if the client left first."""
        loop = asyncio.get_running_loop()
        deadline = None if step.seconds is None else loop.time() + step.seconds
        released = asyncio.Event()
        self._hanging[released] = path
        waiting = asyncio.ensure_future(released.wait())
        reading: asyncio.Future[bytes] | None = None
        try:
            while not waiting.done():
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                reading = reading or asyncio.ensure_future(reader.read(65536))
                either: set[asyncio.Future[Any]] = {waiting, reading}
                await asyncio.wait(either, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                if reading.done():
                    data = reading.result()
                    if not data:
                        return False
                    conn.receive_data(data)  # pipelined: kept for after the answer
                    reading = None
        finally:
            waiting.cancel()
            if reading is not None:
                reading.cancel()
            del self._hanging[released]
        return True


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    while (event := conn.next_event()) is h11.NEED_DATA:
        conn.receive_data(await reader.read(65536))
    return event


def _response(conn: h11.Connection, reply: Reply) -> bytes:
    headers = [("content-type", "text/plain; charset=utf-8")] if reply.body else []
    if reply.status not in (204, 304):  # which must carry no Content-Length
        headers.append(("content-length", str(len(reply.body))))
    if reply.retry_after is not None:
        value = reply.retry_after
        headers.append(("retry-after", value if isinstance(value, str) else f"{value:g}"))
    if reply.location is not None:
        headers.append(("location", reply.location))
    parts = [conn.send(h11.Response(status_code=reply.status, headers=headers))]
    if reply.body:
        parts.append(conn.send(h11.Data(data=reply.body)))
    parts.append(conn.send(h11.EndOfMessage()))
    return b"".join(part or b"" for part in parts)


def _verify(webhook: Webhook | None, headers: dict[str, str], body: bytes) -> str | None:
    """None when ``body`` and ``headers`` carry a valid signature made with the key of
    ``webhook``; else why not."""
    if webhook is None:
        return "no secret configured for this path"
    timestamp = headers.get("webhook-timestamp")
    if timestamp is not None and not _INTEGER.fullmatch(timestamp):
        return f"webhook-timestamp is not an integer: {timestamp!r}"
    try:
        webhook.verify(body, headers, json_parse=False)
    except WebhookVerificationError as exc:
        return str(exc)
    except ValueError as exc:  # a signature without a comma, bad base64, a body not UTF-8
        return f"malformed: {exc!r}"
    return None
