"""Binance's recorded streams, for ``matcher --replay``: one JSON object a line, a raw
``trade``/``aggTrade`` event (``{"s": "BTCUSDT", "p": "50000.1", ...}``) or a combined-stream
wrapper (``{"stream": ..., "data": {...}}``), at its trade time ``T`` (or its event time ``E``,
or now when it has neither)."""

from __future__ import annotations

import orjson

from matcher.feeds import Trade, now_ms


def recorded_trade(line: bytes) -> Trade | None:
    """The trade of one recorded line, or None when it is not one."""
    try:
        event = orjson.loads(line)
        if "data" in event:
            event = event["data"]
        price = float(event["p"])
        symbol = event["s"]
        time_ms = event.get("T", event.get("E"))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
    if not isinstance(symbol, str) or not price > 0:
        return None
    if not isinstance(time_ms, int) or isinstance(time_ms, bool):
        time_ms = now_ms()
    return symbol, price, time_ms
