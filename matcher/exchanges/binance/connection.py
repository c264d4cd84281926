"""One combined-stream connection to Binance and the streams it should carry.

It connects, subscribes, keeps the connection alive and comes back after any failure:

- streams are (un)subscribed with batched SUBSCRIBE/UNSUBSCRIBE requests, at most
  ``REQUESTS_PER_SECOND`` of them (Binance drops a client past 5 incoming messages a second,
  pings and pongs included) and ``PARAMS_PER_REQUEST`` streams each (about 4 KB);
- picows pings the server when the connection has been idle ``ping_idle_seconds``, and drops it
  when no pong comes within ``ping_reply_seconds``: a silent connection is a dead one, whatever
  the trades are doing (quiet symbols are legitimately silent);
- after a drop, a refused connect, a ``serverShutdown`` event or ``max_age_seconds`` (Binance
  cuts every connection at 24 h) it reconnects with full-jitter exponential backoff and
  subscribes everything again;
- ``on_gap(started, ended)`` reports each interval during which this connection's streams were
  not being received, for the caller to recover what traded meanwhile;
- ``unreachable_since`` and ``last_error`` say since when, and why, it has had streams to carry
  and no session (for readiness, ``matcher.exchanges.reach``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import orjson
from picows import WSError, WSMsgType, WSTransport, ws_connect

from matcher.exchanges.binance.listener import StreamListener
from matcher.exchanges.common import OnGap, OnTrade
from shared.backoff import full_jitter
from shared.version import Version

log = logging.getLogger(__name__)

MAX_STREAMS = 1024
PARAMS_PER_REQUEST = 150  # "btcusdt@aggTrade" and quotes: about 3 KB a request
REQUESTS_PER_SECOND = 3  # of Binance's 5, leaving room for pings and pongs
HEALTHY_AFTER_SECONDS = 30.0
STREAM_KIND = "aggTrade"


def stream_name(symbol: str) -> str:
    return f"{symbol.lower()}@{STREAM_KIND}"


class StreamConnection:
    def __init__(
        self,
        base_url: str,
        on_trade: OnTrade,
        *,
        name: str = "binance-0",
        on_gap: OnGap | None = None,
        ping_idle_seconds: float = 10.0,
        ping_reply_seconds: float = 10.0,
        backoff_base_seconds: float = 0.5,
        backoff_cap_seconds: float = 30.0,
        max_age_seconds: float = 23.5 * 3600,
    ) -> None:
        if ping_reply_seconds > ping_idle_seconds:  # picows asserts this
            raise ValueError("ping_reply_seconds must not exceed ping_idle_seconds")
        self._base_url = base_url.rstrip("/")
        self._on_trade = on_trade
        self.on_gap = on_gap
        self.name = name
        self._log = {"connection": name}
        self._ping_idle = ping_idle_seconds
        self._ping_reply = ping_reply_seconds
        self._backoff_base = backoff_base_seconds
        self._backoff_cap = backoff_cap_seconds
        self._max_age = max_age_seconds
        self.wanted: set[str] = set()  # what this connection should carry
        self._subscribed: set[str] = set()  # what the server confirmed on this connection
        self._pending: dict[int, tuple[str, list[str]]] = {}  # request id -> (method, params)
        self._initial: set[str] = set()  # the streams named in the URL of the current session
        self._next_id = 1
        self._changed = Version()  # wanted streams or the server's subscriptions moved
        self._transport: WSTransport | None = None
        self._listener: StreamListener | None = None
        self._stopping = False
        self._down_since: float | None = time.time()
        self.unreachable_since: float | None = None  # streams to carry, no session
        self.last_error: str | None = None  # why the last connect failed or session ended
        self.connects = 0
        self.failed_connects = 0
        self.malformed = 0

    @property
    def total_malformed(self) -> int:
        return self.malformed + (self._listener.malformed if self._listener else 0)

    def set_symbols(self, symbols: Iterable[str]) -> None:
        """The symbols whose streams this connection should carry from now on (at most
        ``MAX_STREAMS``)."""
        wanted = {stream_name(symbol) for symbol in symbols}
        if len(wanted) > MAX_STREAMS:
            raise ValueError(f"{len(wanted)} streams on one connection; Binance allows 1024")
        self.wanted = wanted
        self._changed.bump()

    def pause_reading(self) -> None:
        if self._transport is not None:
            self._transport.underlying_transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None:
            self._transport.underlying_transport.resume_reading()

    def stop(self) -> None:
        self._stopping = True
        self._changed.bump()
        if self._transport is not None:
            self._transport.send_close()
            self._transport.disconnect()

    async def run(self) -> None:
        """Connect and stay connected until ``stop``."""
        failures = 0
        while not self._stopping:
            if not self.wanted:
                self.unreachable_since = None  # nothing to carry: nothing to reach
                await self._changed.changed(self._changed.value)
                continue
            if self.unreachable_since is None:
                self.unreachable_since = time.time()
            try:
                healthy = await self._session()
            except (TimeoutError, OSError, WSError) as exc:
                healthy = False
                self.failed_connects += 1
                self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.warning(
                    "Binance connect failed",
                    extra={"connection": self.name, "error": repr(exc), "failures": failures + 1},
                )
            if self._stopping:
                break
            failures = 0 if healthy else failures + 1
            await asyncio.sleep(
                full_jitter(failures, base=self._backoff_base, cap=self._backoff_cap)
            )

    async def _session(self) -> bool:
        """One connection, from connect to disconnect; whether it was healthy (it got as far
        as confirmed subscriptions)."""
        initial = sorted(self.wanted)[:PARAMS_PER_REQUEST]
        self._initial = set(initial)
        listener = StreamListener(
            self._on_trade, self._on_control, self._connected, self._disconnected
        )
        self._listener = listener  # frames can arrive before ws_connect returns
        transport, _ = await ws_connect(
            lambda: listener,
            f"{self._base_url}/stream?streams={'/'.join(initial)}",
            enable_auto_ping=True,
            auto_ping_idle_timeout=self._ping_idle,
            auto_ping_reply_timeout=self._ping_reply,
        )
        if transport is None:  # picows: the peer closed during the handshake
            raise ConnectionError("closed during the WebSocket handshake")
        opened = time.monotonic()
        requests = asyncio.create_task(self._send_requests(transport))
        try:
            async with asyncio.timeout(self._max_age):
                await transport.wait_disconnected()
        except TimeoutError:
            log.info(
                "Binance connection renewed before the 24-hour cut", extra={"connection": self.name}
            )
            transport.disconnect()
            await transport.wait_disconnected()
        finally:
            requests.cancel()
            # Healthy if it lived a while: the next failure starts the backoff afresh.
            healthy = time.monotonic() - opened >= HEALTHY_AFTER_SECONDS
            self.malformed += listener.malformed
            self._listener = None
        return healthy

    def _connected(self, transport: WSTransport) -> None:
        self._transport = transport
        now = time.time()
        if self._down_since is not None and self.on_gap is not None and self.connects > 0:
            self.on_gap(self._down_since, now)
        self._down_since = None
        self.unreachable_since = None
        self.last_error = None
        self._subscribed = {s for s in self.wanted if s in self._initial}
        self.connects += 1
        log.info(
            "Binance connected",
            extra={"connection": self.name, "streams": len(self.wanted), "connects": self.connects},
        )

    def _disconnected(self) -> None:
        self._transport = None
        self._subscribed = set()
        self._pending.clear()
        self._down_since = time.time()
        self.unreachable_since = self._down_since
        self.last_error = "connection lost"
        if not self._stopping:
            log.warning("Binance connection lost", extra={"connection": self.name})

    def _on_control(self, message: dict[str, Any]) -> None:
        if message.get("serverShutdown"):
            log.info("Binance announced a shutdown: reconnecting", extra={"connection": self.name})
            if self._transport is not None:
                self._transport.disconnect()
            return
        request = self._pending.pop(message.get("id", -1), None)
        if request is None:
            log.warning(
                "unexpected Binance reply", extra={"connection": self.name, "reply": message}
            )
            return
        method, params = request
        if "error" in message or "code" in message:
            log.error(
                "Binance refused a request",
                extra={"connection": self.name, "method": method, "reply": message},
            )
            return
        if method == "SUBSCRIBE":
            self._subscribed.update(params)
        else:
            self._subscribed.difference_update(params)
        self._changed.bump()

    async def _send_requests(self, transport: WSTransport) -> None:
        """Bring the server's subscriptions to ``wanted``, a rate-limited request at a time."""
        interval = 1 / REQUESTS_PER_SECOND
        seen = self._changed.value
        while True:
            in_flight = {p for _, params in self._pending.values() for p in params}
            to_add = sorted(self.wanted - self._subscribed - in_flight)
            to_remove = sorted((self._subscribed - self.wanted) - in_flight)
            if not to_add and not to_remove:
                seen = await self._changed.changed(seen)
                continue
            method, params = (
                ("SUBSCRIBE", to_add[:PARAMS_PER_REQUEST])
                if to_add
                else ("UNSUBSCRIBE", to_remove[:PARAMS_PER_REQUEST])
            )
            request_id = self._next_id
            self._next_id += 1
            self._pending[request_id] = (method, params)
            payload = {"method": method, "params": params, "id": request_id}
            transport.send(WSMsgType.TEXT, orjson.dumps(payload))
            await asyncio.sleep(interval)
