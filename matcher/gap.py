"""The prices that traded while the book may have been stale (its database sync was lost).

While the matcher cannot hear PostgreSQL's notifications it may miss alerts created meanwhile;
the reload that follows brings them in, and this record lets them fire on what traded before
the reload was applied, as the Binance feed does with klines after its own outages.

Per symbol it keeps the trades that set a new high or a new low since the gap began, in time
order. That is enough to give every alert its first crossing trade: the first trade at or above
an ``above`` target is a new high (every trade before it was below the target), and the first
at or below a ``below`` target a new low. So replaying the records through the book fires each
alert at the price and time of the trade that first crossed it. A random walk sets O(log t)
records in t trades; a steady trend sets one per trade, so the memory is bounded by the gap's
trades and is usually far smaller.

Pure: no I/O, no clock (a trade's time is Binance's ``T``, epoch milliseconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterator


class _Records:
    __slots__ = ("high", "low", "trades")

    def __init__(self) -> None:
        self.high = -math.inf
        self.low = math.inf
        self.trades: list[tuple[float, int]] = []


class GapPrices:
    """Record highs and lows per symbol, from the gap's start until ``crossings`` is read."""

    __slots__ = ("_symbols",)

    def __init__(self) -> None:
        self._symbols: dict[str, _Records] = {}

    def __len__(self) -> int:
        """How many record trades are kept."""
        return sum(len(records.trades) for records in self._symbols.values())

    def see(self, symbol: str, price: float, time_ms: int) -> None:
        """One trade. O(1); allocates only for a new high or low."""
        records = self._symbols.get(symbol)
        if records is None:
            records = self._symbols[symbol] = _Records()
        if price > records.high or price < records.low:
            records.high = max(records.high, price)
            records.low = min(records.low, price)
            records.trades.append((price, time_ms))

    def crossings(self) -> Iterator[tuple[str, float, int]]:
        """Every record trade as ``(symbol, price, time_ms)``, each symbol's in time order."""
        for symbol, records in self._symbols.items():
            for price, at in records.trades:
                yield symbol, price, at
