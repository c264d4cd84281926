"""Binance's room: the ``<symbol>@aggTrade`` combined streams (``connection``, ``listener``) and
the REST calls for symbols, prices and 1-minute klines (``rest``). Its limits and message formats
are in ``../shared/BINANCE.md``.

``aggTrade`` rather than ``trade``: an aggregate trade is one taker order's fills at one price,
so every price that traded still arrives, in fewer messages (a cascade that sweeps a book sends
one message per price level instead of one per fill), with the fills' quantity summed.
"""

from __future__ import annotations

from typing import Any

from matcher.exchanges.binance.connection import MAX_STREAMS, StreamConnection, stream_name
from matcher.exchanges.binance.recorded import recorded_trade
from matcher.exchanges.binance.rest import BinanceRest
from matcher.exchanges.common import Connection, OnGap, OnTrade, Rest
from matcher.feeds import Trade
from shared.settings import Settings
from shared.vocabulary import EXCHANGES, Exchange

__all__ = ["BINANCE", "BinanceRoom", "stream_name"]


class BinanceRoom:
    declared: Exchange = EXCHANGES["binance"]
    symbols_per_connection = MAX_STREAMS

    def ws_url(self, settings: Settings) -> str:
        return settings.binance_ws_url

    def rest(self, settings: Settings) -> Rest:
        return BinanceRest(
            settings.binance_rest_url, weight_per_minute=settings.binance_rest_weight_per_minute
        )

    def connection(
        self, ws_url: str, on_trade: OnTrade, *, name: str, on_gap: OnGap | None, **options: Any
    ) -> Connection:
        return StreamConnection(ws_url, on_trade, name=name, on_gap=on_gap, **options)

    def recorded_trade(self, line: bytes) -> Trade | None:
        return recorded_trade(line)


BINANCE = BinanceRoom()
