"""The hot path: one Binance combined-stream frame in, one ``on_trade(symbol, price, quantity,
time_ms)`` out.

Nothing is counted here per frame (the matcher counts ticks); only the exceptions are.

picows hands each frame over as a memoryview of its read buffer; orjson parses it straight from
there, the price and quantity strings become floats, and the callback runs with the trade time
``T``, all
inside ``on_ws_frame`` with no queue, no task and no logging. Anything else (a control reply, an
unknown event, bad JSON, a fragmented message) leaves the fast path for ``_slow_path``, which
is rare by construction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from orjson import JSONDecodeError, loads
from picows import WSFrame, WSListener, WSMsgType, WSTransport

from matcher.exchanges.common import OnTrade

log = logging.getLogger(__name__)

OnControl = Callable[[dict[str, Any]], None]

_TEXT = WSMsgType.TEXT
_CONTINUATION = WSMsgType.CONTINUATION
_MAX_MESSAGE = 1 << 20  # a trade is about 200 bytes; a megabyte is certainly not one


class StreamListener(WSListener):
    """One connection's frames. Counts what it sees; never raises into picows."""

    def __init__(
        self,
        on_trade: OnTrade,
        on_control: OnControl,
        on_connected: Callable[[WSTransport], None],
        on_disconnected: Callable[[], None],
    ) -> None:
        self._on_trade = on_trade
        self._on_control = on_control
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._fragments: bytearray | None = None
        self.malformed = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._on_connected(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._on_disconnected()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.fin and self._fragments is None and frame.msg_type is _TEXT:
            try:
                data = loads(frame.get_payload_as_memoryview())["data"]
                self._on_trade(data["s"], float(data["p"]), float(data["q"]), data["T"])
                return
            except (KeyError, TypeError, ValueError):
                pass  # not a trade (or not JSON): the slow path sorts it out
            self._slow_path(frame.get_payload_as_bytes())
            return
        self._other_frame(transport, frame)

    def _other_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is _TEXT and not frame.fin:
            self._fragments = bytearray(frame.get_payload_as_memoryview())
        elif kind is _CONTINUATION and self._fragments is not None:
            self._fragments += frame.get_payload_as_memoryview()
            if len(self._fragments) > _MAX_MESSAGE:
                self._fragments = None
                self.malformed += 1
            elif frame.fin:
                message, self._fragments = bytes(self._fragments), None
                self._slow_path(message, parse_trade=True)
        elif kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        # BINARY and PONG frames carry nothing for us; picows answers PINGs itself.

    def _slow_path(self, payload: bytes, *, parse_trade: bool = False) -> None:
        try:
            message = loads(payload)
        except JSONDecodeError:
            self.malformed += 1
            return
        if not isinstance(message, dict):
            self.malformed += 1
            return
        data = message.get("data")
        if isinstance(data, dict):
            event = data.get("e")
            if event == "serverShutdown":
                self._on_control({"serverShutdown": True})
            elif parse_trade and event in ("trade", "aggTrade"):
                try:
                    self._on_trade(data["s"], float(data["p"]), float(data["q"]), data["T"])
                except (KeyError, TypeError, ValueError):
                    self.malformed += 1
            else:
                self.malformed += 1
        elif "id" in message or "code" in message:
            self._on_control(message)
        else:
            self.malformed += 1
