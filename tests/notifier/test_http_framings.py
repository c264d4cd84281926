"""The webhook client (``notifier.channels.http``) against a raw HTTP server on loopback that each
test scripts byte for byte: every framing of an answer, answers cut short, and when a POST is
sent again (only on a reused connection lost before any byte of the answer)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Literal

import pytest
from psycopg_pool import AsyncConnectionPool

from notifier.channels.http import MAX_BODY, MAX_KEPT_BODY, Answer, HttpClient
from notifier.channels.webhook import WebhookChannel
from notifier.webhook_secrets import NoWebhookSecrets
from tests.notifier.helpers import WAIT, StartNotifier, alert, publish_alerts

BODY = b'{"type": "alert.fired"}'
HEADERS = {"Content-Type": "application/json", "webhook-id": "alert-1-1"}
End = Literal["close", "reset"]  # a FIN or a RST
_LENGTH = re.compile(rb"\r\ncontent-length: *([0-9]+)\r\n", re.IGNORECASE)


@dataclass
class Peer:
    """The server's end of one connection the client made."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def request(self) -> bytes:
        """The next request, whole: its head and the body its ``Content-Length`` says."""
        async with asyncio.timeout(WAIT):
            head = await self.reader.readuntil(b"\r\n\r\n")
            length = _LENGTH.search(head)
            assert length is not None, head
            return head + await self.reader.readexactly(int(length[1]))

    async def send(self, data: bytes, *, bytewise: bool = False) -> None:
        """``data`` in one write, or one write (and one segment, no Nagle) for each byte."""
        pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
        for piece in pieces:
            self.writer.write(piece)
            await self.writer.drain()

    async def close(self) -> None:
        """Ends the connection as a server that is done does: a FIN."""
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    def reset(self) -> None:
        """Ends the connection abruptly: a RST."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def end(self, how: End) -> None:
        if how == "reset":
            self.reset()
        else:
            await self.close()

    async def closed_by_client(self) -> None:
        """Returns once the client has closed its end, having sent nothing more."""
        async with asyncio.timeout(WAIT):
            try:
                rest = await self.reader.read()
            except ConnectionResetError:
                return  # closed with the rest of an answer unread: a RST
        assert rest == b""


@dataclass
class RawServer:
    """An HTTP server on 127.0.0.1 that says only what the test writes: each connection the
    client makes waits in ``accept()`` for the test to read its requests and answer them."""

    url: str = ""
    connections: int = 0  # made by the client so far
    _accepted: asyncio.Queue[Peer] = field(default_factory=asyncio.Queue)
    _peers: list[Peer] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for peer in self._peers:
            peer.writer.transport.abort()
        await self._server.wait_closed()

    async def accept(self) -> Peer:
        async with asyncio.timeout(WAIT):
            return await self._accepted.get()

    def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = Peer(reader, writer)
        self.connections += 1
        self._peers.append(peer)
        self._accepted.put_nowait(peer)


async def _loopback(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    async with RawServer() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    client = HttpClient(_loopback)
    yield client
    await client.close()


def post(client: HttpClient, server: RawServer) -> asyncio.Task[Answer]:
    return asyncio.create_task(client.post(server.url, BODY, HEADERS))


async def answer_of(task: asyncio.Task[Answer]) -> Answer:
    async with asyncio.timeout(WAIT):
        return await task


async def exchange(client: HttpClient, server: RawServer, peer: Peer | None = None) -> Peer:
    """One POST answered 204, on ``peer`` (a kept connection) or else on a new connection; the
    server's end of the connection it went over."""
    sending = post(client, server)
    peer = peer or await server.accept()
    assert (await peer.request()).endswith(b"\r\n\r\n" + BODY)
    await peer.send(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert (await answer_of(sending)).status == 204
    return peer


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
LONG = bytes(range(256)) * (MAX_KEPT_BODY // 64)  # four times what is kept


def chunks(body: bytes, size: int) -> bytes:
    """``body`` as chunks of ``size`` bytes and the last chunk."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


# Framed answers that leave the connection open for the next request.
KEPT = {
    "content-length": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, b"hello"),
    "chunked, extensions and trailers": (
        CHUNKED + b"2;name=value\r\nhe\r\n3\r\nllo\r\n0\r\nX-Trailer: t\r\n\r\n",
        200,
        b"hello",
    ),
    "gzip, then chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunks(b"hello", 2),
        200,
        b"hello",
    ),
    "HTTP/1.0, keep-alive": (
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello",
        200,
        b"hello",
    ),
    "204, no body": (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b""),
    "204 with a length, no body": (
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        204,
        b"",
    ),
    "304 with a length, no body": (
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
        304,
        b"",
    ),
    "100 Continue first": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        200,
        b"hello",
    ),
    "103 Early Hints and 100 Continue first": (
        b"HTTP/1.1 103 Early Hints\r\nLink: </hints>; rel=preload\r\n\r\n"
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
        202,
        b"",
    ),
    "a 500 with a body longer than kept, by length": (
        b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n%s" % (len(LONG), LONG),
        500,
        LONG[:MAX_KEPT_BODY],
    ),
    "a 500 with a body longer than kept, chunked": (
        b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks(LONG, 700),
        500,
        LONG[:MAX_KEPT_BODY],
    ),
}

# Answers whose body ends where the server closes the connection.
CLOSED = {
    "HTTP/1.0, no length": (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthanks", 200),
    "Connection: close, no length": (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthanks", 200),
    "a coding but not chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nthanks", 200),
    "no length, no body": (b"HTTP/1.0 200 OK\r\n\r\n", 200),
    "a 503, its reason in the body": (b"HTTP/1.0 503 Service Unavailable\r\n\r\nbusy", 503),
    "a body longer than kept": (b"HTTP/1.0 500 Oops\r\n\r\n" + LONG, 500),
}

# Answers that say the connection ends with them: read, and the client closes it.
SAYS_CLOSE = {
    "Connection: close, with a length": (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    ),
    "HTTP/1.0, with a length": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "Connection: close, chunked": b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "204, Connection: close": b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
}

# Answers cut short: what the server sends before it ends the connection, and how it ends it.
CUT = {
    "in the status line": (b"HTTP/1.1 20", "close"),
    "in the headers": (b"HTTP/1.1 200 OK\r\nContent-Le", "close"),
    "short of its length": (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "close"),
    "in a chunk": (CHUNKED + b"5\r\nhe", "close"),
    "before the last chunk": (CHUNKED + b"2\r\nok\r\n", "close"),
    "after a 100 Continue": (b"HTTP/1.1 100 Continue\r\n\r\n", "close"),
    "framed by the close, then reset": (b"HTTP/1.0 200 OK\r\n\r\nthanks", "reset"),
    "with a length, then reset": (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "reset"),
}

# Ways an answer to a POST on a reused connection had begun before the connection was lost.
BEGUN = {
    "one byte": b"H",
    "the status line": b"HTTP/1.1 200 OK\r\n",
    "a 100 Continue": b"HTTP/1.1 100 Continue\r\n\r\n",
    "part of the body": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
}


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "a byte a write"])
@pytest.mark.parametrize(("sent", "status", "body"), KEPT.values(), ids=KEPT.keys())
async def test_a_framed_answer_is_read_and_its_connection_kept_for_the_next(
    client: HttpClient, server: RawServer, sent: bytes, status: int, body: bytes, bytewise: bool
) -> None:
    sending = post(client, server)
    peer = await server.accept()
    await peer.request()
    await peer.send(sent, bytewise=bytewise)
    answer = await answer_of(sending)
    assert (answer.status, answer.body) == (status, body)
    assert "link" not in answer.headers  # a 1xx's headers are not the answer's
    await exchange(client, server, peer)
    assert server.connections == 1


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "a byte a write"])
@pytest.mark.parametrize(("sent", "status"), CLOSED.values(), ids=CLOSED.keys())
async def test_an_answer_framed_by_the_close_is_read_and_its_connection_not_reused(
    client: HttpClient, server: RawServer, sent: bytes, status: int, bytewise: bool
) -> None:
    sending = post(client, server)
    peer = await server.accept()
    await peer.request()
    await peer.send(sent, bytewise=bytewise)
    await peer.close()
    answer = await answer_of(sending)
    body = sent.partition(b"\r\n\r\n")[2]
    assert (answer.status, answer.body) == (status, body[:MAX_KEPT_BODY])
    await exchange(client, server)
    assert server.connections == 2


@pytest.mark.parametrize("sent", SAYS_CLOSE.values(), ids=SAYS_CLOSE.keys())
async def test_an_answer_that_says_close_is_read_and_the_client_closes_its_connection(
    client: HttpClient, server: RawServer, sent: bytes
) -> None:
    sending = post(client, server)
    peer = await server.accept()
    await peer.request()
    await peer.send(sent)
    assert 200 <= (await answer_of(sending)).status < 300  # before the server closes
    await peer.closed_by_client()
    await exchange(client, server)
    assert server.connections == 2


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (2 * MAX_BODY),
        CHUNKED,
        b"HTTP/1.0 200 OK\r\n\r\n",
    ],
    ids=["content-length", "chunked", "framed by the close"],
)
async def test_a_body_longer_than_max_body_is_not_read_to_its_end(
    client: HttpClient, server: RawServer, head: bytes
) -> None:
    body = LONG * (2 * MAX_BODY // len(LONG) + 1)
    sending = post(client, server)
    peer = await server.accept()
    await peer.request()
    # Written without waiting for the client to read it: it stops reading at MAX_BODY.
    peer.writer.write(head + (chunks(body, 1 << 16) if head == CHUNKED else body))
    answer = await answer_of(sending)
    assert (answer.status, answer.body) == (200, body[:MAX_KEPT_BODY])
    await peer.closed_by_client()
    await exchange(client, server)
    assert server.connections == 2


@pytest.mark.parametrize(("sent", "how"), CUT.values(), ids=CUT.keys())
async def test_an_answer_cut_short_is_a_lost_connection_not_an_answer(
    client: HttpClient, server: RawServer, sent: bytes, how: End
) -> None:
    sending = post(client, server)
    peer = await server.accept()
    await peer.request()
    await peer.send(sent)
    await peer.end(how)
    with pytest.raises(ConnectionError):
        await answer_of(sending)
    assert server.connections == 1  # not sent again: bytes of the answer had arrived


async def test_a_switch_of_protocols_is_not_an_answer(
    client: HttpClient, server: RawServer
) -> None:
    sending = post(client, server)
    peer = await server.accept()
    await peer.request()
    await peer.send(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n"
    )
    with pytest.raises(ConnectionError, match="switched protocols"):
        await answer_of(sending)
    await peer.closed_by_client()


@pytest.mark.parametrize("later", [False, True], ids=["with the answer", "after it"])
async def test_a_message_out_of_turn_closes_the_connection(
    client: HttpClient, server: RawServer, later: bool
) -> None:
    extra = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n"
    sending = post(client, server)
    peer = await server.accept()
    await peer.request()
    await peer.send(b"HTTP/1.1 204 No Content\r\n\r\n" + (b"" if later else extra))
    assert (await answer_of(sending)).status == 204
    if later:
        await peer.send(extra)
    await peer.closed_by_client()
    await exchange(client, server)
    assert server.connections == 2


@pytest.mark.parametrize("how", ["close", "reset"])
async def test_a_post_on_a_new_connection_lost_before_any_byte_is_not_sent_again(
    client: HttpClient, server: RawServer, how: End
) -> None:
    sending = post(client, server)
    peer = await server.accept()
    await peer.request()
    await peer.end(how)
    with pytest.raises(ConnectionError):
        await answer_of(sending)  # the caller's retry sends it again, later
    assert server.connections == 1


@pytest.mark.parametrize("how", ["close", "reset"])
async def test_a_post_on_a_reused_connection_lost_before_any_byte_is_sent_once_more_on_a_new_one(
    client: HttpClient, server: RawServer, how: End
) -> None:
    kept = await exchange(client, server)
    sending = post(client, server)
    request = await kept.request()
    await kept.end(how)
    fresh = await server.accept()
    assert await fresh.request() == request
    await fresh.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert (await answer_of(sending)).status == 200
    assert server.connections == 2


async def test_a_post_sent_once_more_is_not_sent_a_third_time(
    client: HttpClient, server: RawServer
) -> None:
    kept = await exchange(client, server)
    sending = post(client, server)
    await kept.request()
    await kept.close()
    fresh = await server.accept()
    await fresh.request()
    await fresh.close()
    with pytest.raises(ConnectionError):
        await answer_of(sending)
    assert server.connections == 2


@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.parametrize("begun", BEGUN.values(), ids=BEGUN.keys())
async def test_a_post_whose_answer_had_begun_is_never_sent_again(
    client: HttpClient, server: RawServer, begun: bytes, how: End
) -> None:
    kept = await exchange(client, server)
    sending = post(client, server)
    await kept.request()
    await kept.send(begun)
    await kept.end(how)
    with pytest.raises(ConnectionError):
        await answer_of(sending)
    assert server.connections == 1


async def test_a_kept_connection_the_server_closed_while_idle_is_not_used_again(
    client: HttpClient, server: RawServer
) -> None:
    kept = await exchange(client, server)
    await kept.close()
    await exchange(client, server)
    assert server.connections == 2


@pytest.mark.usefixtures("clean_tables")
async def test_a_webhook_answered_200_by_closing_the_connection_is_sent_after_one_attempt(
    start_notifier: StartNotifier,
    server: RawServer,
    pool: AsyncConnectionPool,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    channel = WebhookChannel(NoWebhookSecrets(), timeout_seconds=WAIT, allow_private=True)
    running = await start_notifier(extra_channels=[channel])
    webhook = {"url": server.url, "format": "discord"}  # unsigned: no user, no secret
    await publish_alerts(
        rabbitmq_url, queue_name, [replace(alert(5, channels={"webhook": webhook}), email=None)]
    )
    peer = await server.accept()
    assert b'"content"' in await peer.request()
    await peer.send(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthanks")
    await peer.close()
    await running.until(lambda: running.count("sent") == 1)
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT status, attempts FROM deliveries WHERE alert_id = 5")
        assert await cursor.fetchall() == [("sent", 1)]
    assert running.count("retried") == 0
    assert server.connections == 1
