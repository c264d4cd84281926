"""The exchanges' rooms, one per exchange declared in ``shared.vocabulary.EXCHANGES``, found by
its declared name: ``room("binance")``. Each room (``matcher/exchanges/<name>/``) implements
``matcher.exchanges.common.Room``; ``matcher.exchanges.feed.ExchangeFeed`` drives any of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from matcher.exchanges.binance import BINANCE
from matcher.exchanges.common import Room
from shared.vocabulary import EXCHANGES

ROOMS: Mapping[str, Room] = MappingProxyType({room.declared.name: room for room in (BINANCE,)})


def room(name: str) -> Room:
    """The room of the exchange declared as ``name``."""
    try:
        return ROOMS[name]
    except KeyError:
        declared = "declared" if name in EXCHANGES else "not declared"
        raise LookupError(
            f"exchange {name!r} ({declared}) has no room in matcher.exchanges"
        ) from None
