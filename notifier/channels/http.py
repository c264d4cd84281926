"""A lean HTTP/1.1 client for webhooks: POST a body, get the status, headers and the start of
the answer, over kept-alive connections, to checked addresses only.

Hand-written for speed, on asyncio's transports with httptools (the C parser uvicorn uses) for
the answers: ``benchmarks/webhooks.py`` measures its rate in every run, beside a naive sender
and the receiver's ceiling. It does what webhooks need and no more: POST, ``Content-Length`` bodies,
keep-alive, TLS with the host name checked, no redirects, no proxies, no cookies.

Answers of every framing are read (``tests/notifier/test_http_framings.py`` tests each against a
real server): ``Content-Length``, chunked, and a body that ends when the server closes the
connection (no length, as HTTP/1.0 servers and many small receivers send; httptools cannot be
told the stream ended, so ``connection_lost`` ends that body itself). Any 1xx before the final
answer (100 Continue, 103 Early Hints) is skipped; 204, 304 and 1xx have no body whatever their
headers say. Of a body the first ``MAX_KEPT_BODY`` bytes are kept; past ``MAX_BODY`` the
connection is closed rather than read to the end (the status and headers are the answer). An
answer cut short (fewer bytes than its ``Content-Length`` or its chunks promised, headers not
finished, or a reset) is a ``ConnectionResetError``, never an answer. A connection is kept only
after an answer that allows it (HTTP/1.1 without ``Connection: close``, HTTP/1.0 with
``keep-alive``) and ends where its framing says; after a body ended by the close, or a message
the server sent out of turn, it is closed, never reused.

Safety (SSRF) lives here because this client both resolves and connects: ``resolve`` returns
the addresses a host may be reached at (or raises ``UnsafeAddress``), and the connection is
made to one of exactly those, so no second resolution can slip in another address.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

MAX_KEPT_BODY = 1000  # bytes of an answer's body kept (for the reason of a refusal)
MAX_BODY = 1 << 20  # a longer answer ends its connection rather than being read to the end
IDLE_SECONDS = 30.0  # a kept connection unused this long is closed

Resolve = Callable[[str, int], Awaitable[list[str]]]


class UnsafeAddress(OSError):
    """The host is, or resolves to, an address webhooks may not reach."""


@dataclass
class Answer:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""  # the first MAX_KEPT_BODY bytes


class _Connection(asyncio.Protocol):
    """One connection, one request at a time."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._answer: Answer | None = None  # of the message being parsed
        self._body_seen = 0
        self._done: asyncio.Future[Answer] | None = None  # while a request awaits its answer
        self.answered = False  # a byte arrived since the last request was written
        self.closed = False
        self.idle_since = time.monotonic()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ConnectionError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"not an HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self._answer
        if exc is not None:
            self._fail(exc)
        elif answer is None:
            self._fail(ConnectionResetError("the server closed the connection without answering"))
        elif answer.status and _ends_at_close(answer):
            self._finish(keep=False)
        else:
            self._fail(ConnectionResetError("the server closed the connection mid-answer"))

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self._done is None or self._done.done():
            self.close()  # a message out of turn: what comes next on it cannot be trusted
        self._answer = Answer(0, "")
        self._body_seen = 0

    def on_status(self, reason: bytes) -> None:
        assert self._answer is not None
        self._answer.reason += reason.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._answer is not None
        self._answer.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        assert self._answer is not None
        self._answer.status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        assert self._answer is not None
        room = MAX_KEPT_BODY - len(self._answer.body)
        if room > 0:
            self._answer.body += body[:room]
        self._body_seen += len(body)
        if self._body_seen > MAX_BODY:
            self._finish(keep=False)

    def on_message_complete(self) -> None:
        assert self._answer is not None
        if self._answer.status < 200:
            return  # 1xx: the final answer follows (after a 101 httptools raises the upgrade)
        self._finish(keep=self._parser.should_keep_alive())

    # the request

    async def exchange(self, request: bytes) -> Answer:
        assert self._transport is not None
        self._done = asyncio.get_running_loop().create_future()
        self._answer = None
        self.answered = False
        self._transport.write(request)
        try:
            return await self._done
        finally:
            self._done = None
            self.idle_since = time.monotonic()

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _finish(self, *, keep: bool) -> None:
        if not keep:
            self.close()
        if self._done is not None and not self._done.done() and self._answer is not None:
            self._done.set_result(self._answer)

    def _fail(self, error: BaseException) -> None:
        self.close()
        if self._done is not None and not self._done.done():
            self._done.set_exception(error)


class HttpClient:
    """POST over kept-alive connections, at most ``per_host`` at once to each host.

    A POST is sent again (once, on a new connection) only when it went out on a reused kept
    connection and that connection was lost before any byte of the answer arrived: the server
    closed it while idle, as servers do, and the request crossed the close. Otherwise a lost
    connection is the caller's error, even when the server may have acted (a fresh connection
    reset, an answer cut short): the webhook channel's retries send it again later, and
    receivers drop the repeat by its ``webhook-id``, the same on every attempt.
    """

    def __init__(self, resolve: Resolve, *, per_host: int = 32) -> None:
        self._resolve = resolve
        self._per_host = per_host
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._slots: dict[tuple[str, str, int], asyncio.Semaphore] = {}
        self._tls = ssl.create_default_context()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """The answer to one POST; raises ``UnsafeAddress``, ``OSError`` (cannot connect,
        connection lost) or ``ValueError`` (not an http(s) URL). Bound it with a timeout."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http or https URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        key = (parts.scheme, parts.hostname, port)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        host = parts.netloc.rpartition("@")[2]  # no credentials in the Host header
        if any(ord(c) <= 32 or ord(c) == 127 for c in target + host):
            raise ValueError("a URL with spaces or control characters")
        request = _request(target, host, headers, body)
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = asyncio.Semaphore(self._per_host)
        async with slots:
            connection = self._kept(key)
            if connection is not None:
                try:
                    return await self._exchange(key, connection, request)
                except OSError:
                    if connection.answered:
                        raise
                    # closed by the server as the request crossed: once more, on a fresh one
            connection = await self._connect(key)
            return await self._exchange(key, connection, request)

    async def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    async def _exchange(
        self, key: tuple[str, str, int], connection: _Connection, request: bytes
    ) -> Answer:
        try:
            answer = await connection.exchange(request)
        except BaseException:
            connection.close()
            raise
        if not connection.closed:
            self._idle.setdefault(key, []).append(connection)
        return answer

    def _kept(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
        return None

    async def _connect(self, key: tuple[str, str, int]) -> _Connection:
        scheme, hostname, port = key
        addresses = await self._resolve(hostname, port)
        loop = asyncio.get_running_loop()
        error: OSError | None = None
        for address in addresses:
            try:
                _, connection = await loop.create_connection(
                    _Connection,
                    address,
                    port,
                    ssl=self._tls if scheme == "https" else None,
                    server_hostname=hostname if scheme == "https" else None,
                )
            except OSError as exc:
                error = exc
                continue
            return connection  # asyncio sets TCP_NODELAY on it
        raise error or OSError(f"{hostname} has no address")


def _ends_at_close(answer: Answer) -> bool:
    """Whether the answer's body is framed by the server closing the connection: neither a
    length nor chunks, and a status that has a body (RFC 9112, section 6.3)."""
    if answer.status < 200 or answer.status in (204, 304) or "content-length" in answer.headers:
        return False
    coding = answer.headers.get("transfer-encoding", "")
    return coding.rpartition(",")[2].strip().lower() != "chunked"


def _request(target: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("latin-1") + body
