"""A fake Binance for the tests, speaking the real protocol on loopback.

WebSocket: raw (``/ws/<stream>``) and combined (``/stream?streams=a/b``) paths, SUBSCRIBE,
UNSUBSCRIBE and LIST_SUBSCRIPTIONS, Binance's limits (1024 streams a connection, 5 incoming
messages a second), pings answered, and faults on demand: abrupt drops, silent stalls.

REST, on the same port: ``exchangeInfo``, ``ticker/price`` and 1-minute ``klines``, with a
429 (``Retry-After``) on demand."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from picows import (
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

MAX_STREAMS = 1024
MAX_INCOMING_PER_SECOND = 5


@dataclass
class Client:
    transport: WSTransport
    combined: bool
    streams: set[str] = field(default_factory=set)
    incoming: deque[float] = field(default_factory=deque)  # times of the last messages
    requests: list[dict[str, Any]] = field(default_factory=list)


class FakeBinance:
    def __init__(self) -> None:
        self.clients: list[Client] = []
        self.connections = 0  # accepted over the server's life
        self.rate_violations = 0
        self.stalled = False  # no pongs, no data: a connection that went silent
        self.changed = asyncio.Event()  # set on every connect, disconnect and (un)subscribe
        self._server: asyncio.Server | None = None
        self._trade_id = 0
        # What exchangeInfo lists, read at each request: change them at any time.
        self.listed = {"BTCUSDT", "ETHUSDT", "BNBUSDT"}  # status TRADING
        self.halted: set[str] = set()  # status BREAK
        self.prices: dict[str, str] = {}  # the last trade's price, for ticker/price
        self.klines: dict[str, list[tuple[int, str, str]]] = {}  # (open ms, high, low)
        self.rate_limit_next = 0  # REST requests still to answer 429
        self.rest_requests: list[str] = []

    async def start(self, port: int = 0) -> None:
        """Listen on ``port`` of loopback (0: a free one, see ``url``)."""
        self._server = await ws_create_server(
            self._route,
            "127.0.0.1",
            port,
            enable_auto_pong=False,  # answered by hand, so that a stall can withhold them
        )

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def close(self) -> None:
        self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _route(self, request: WSUpgradeRequest) -> Any:
        if "upgrade" in request.headers:
            return _ServerListener(self, request)
        return WSUpgradeResponseWithListener(self._rest(request.path.decode()), None)

    def _rest(self, path: str) -> Any:
        self.rest_requests.append(path)
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            return WSUpgradeResponse.create_error_response(
                429, b'{"code": -1003, "msg": "Too many requests"}', {"Retry-After": "0.1"}
            )
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/api/v3/exchangeInfo":
            symbols = [{"symbol": s, "status": "TRADING"} for s in self.listed]
            symbols += [{"symbol": s, "status": "BREAK"} for s in self.halted - self.listed]
            if "symbolStatus" in query:
                symbols = [s for s in symbols if s["status"] == query["symbolStatus"]]
            body: Any = {"symbols": symbols}
        elif parts.path == "/api/v3/ticker/price":
            wanted = orjson.loads(query["symbols"])
            body = [{"symbol": s, "price": self.prices[s]} for s in wanted if s in self.prices]
        elif parts.path == "/api/v3/klines":
            start, end = int(query["startTime"]), int(query["endTime"])
            body = [
                [at, "0", high, low, "0", "1", at + 59_999]
                for at, high, low in self.klines.get(query["symbol"], [])
                if start <= at <= end
            ]
        else:
            return WSUpgradeResponse.create_error_response(404, b'{"code": -1}')
        return WSUpgradeResponse.create_ok_response(
            orjson.dumps(body), {"Content-Type": "application/json"}
        )

    def traded_meanwhile(self, symbol: str, high: str, low: str, minutes_ago: int = 0) -> None:
        """A 1-minute kline, of the current minute or one ``minutes_ago``: what traded while
        a client was away, or before it came."""
        minute = (int(time.time() * 1000) // 60_000 - minutes_ago) * 60_000
        self.klines.setdefault(symbol, []).append((minute, high, low))

    @property
    def rest_url(self) -> str:
        return self.url.replace("ws://", "http://")

    def subscribed(self) -> set[str]:
        return {stream for client in self.clients for stream in client.streams}

    async def until(self, condition: Any, timeout: float = 15) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    def trade(
        self, symbol: str, price: str, kind: str = "aggTrade", time_ms: int | None = None
    ) -> int:
        """Send one trade (at ``time_ms``, now by default) to every client subscribed to it;
        how many got it."""
        self._trade_id += 1
        self.prices[symbol] = price
        now = int(time.time() * 1000) if time_ms is None else time_ms
        stream = f"{symbol.lower()}@{kind}"
        data: dict[str, Any] = {"e": kind, "E": now, "s": symbol, "p": price, "q": "0.1"}
        data |= {"a": self._trade_id, "f": self._trade_id, "l": self._trade_id}
        data |= {"T": now, "m": True, "M": True}
        return self.send_event(stream, data)

    def send_event(self, stream: str, data: Any) -> int:
        sent = 0
        for client in self.clients:
            if stream in client.streams and not self.stalled:
                payload = {"stream": stream, "data": data} if client.combined else data
                client.transport.send(WSMsgType.TEXT, orjson.dumps(payload))
                sent += 1
        return sent

    def send_raw(self, payload: bytes) -> None:
        """Any bytes, as one text frame, to every client."""
        for client in self.clients:
            client.transport.send(WSMsgType.TEXT, payload)

    def drop_all(self) -> None:
        """Cut every connection without a close frame, as a network failure does."""
        for client in list(self.clients):
            client.transport.disconnect(graceful=False)


class _ServerListener(WSListener):
    def __init__(self, server: FakeBinance, request: WSUpgradeRequest) -> None:
        self._server = server
        self._path = request.path.decode()
        self._client: Client | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        parts = urlsplit(self._path)
        client = Client(transport, combined=parts.path.startswith("/stream"))
        if parts.path.startswith("/ws/"):
            client.streams.update(parts.path[4:].split("/"))
        for streams in parse_qs(parts.query).get("streams", []):
            client.streams.update(s for s in streams.split("/") if s)
        self._client = client
        self._server.clients.append(client)
        self._server.connections += 1
        self._server.changed.set()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._client in self._server.clients:
            self._server.clients.remove(self._client)
        self._server.changed.set()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        client = self._client
        assert client is not None
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if not self._within_rate(client):
            return
        if frame.msg_type == WSMsgType.PING:
            if not self._server.stalled:
                transport.send_pong(frame.get_payload_as_bytes())
            return
        if frame.msg_type != WSMsgType.TEXT:
            return
        try:
            request = orjson.loads(frame.get_payload_as_bytes())
            method, request_id = request["method"], request["id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            transport.send(WSMsgType.TEXT, b'{"code": 3, "msg": "Invalid JSON"}')
            return
        client.requests.append(request)
        params = request.get("params", [])
        if method == "SUBSCRIBE":
            if len(client.streams | set(params)) > MAX_STREAMS:
                reply = {"error": {"code": 2, "msg": "too many streams"}, "id": request_id}
                transport.send(WSMsgType.TEXT, orjson.dumps(reply))
                return
            client.streams.update(params)
            transport.send(WSMsgType.TEXT, orjson.dumps({"result": None, "id": request_id}))
        elif method == "UNSUBSCRIBE":
            client.streams.difference_update(params)
            transport.send(WSMsgType.TEXT, orjson.dumps({"result": None, "id": request_id}))
        elif method == "LIST_SUBSCRIPTIONS":
            reply = {"result": sorted(client.streams), "id": request_id}
            transport.send(WSMsgType.TEXT, orjson.dumps(reply))
        else:
            reply = {"error": {"code": 1, "msg": f"unknown method {method}"}, "id": request_id}
            transport.send(WSMsgType.TEXT, orjson.dumps(reply))
        self._server.changed.set()

    def _within_rate(self, client: Client) -> bool:
        """Binance's limit: more than 5 incoming messages in a second disconnects."""
        now = time.monotonic()
        client.incoming.append(now)
        while client.incoming and client.incoming[0] < now - 1:
            client.incoming.popleft()
        if len(client.incoming) > MAX_INCOMING_PER_SECOND:
            self._server.rate_violations += 1
            client.transport.disconnect(graceful=False)
            return False
        return True
