"""Every exchange declared in ``shared.vocabulary.EXCHANGES`` has its room in
``matcher/exchanges/<name>/``, found by its name, and the room implements the protocol the feed
drives (``matcher.exchanges.common``): the room itself, its connections and its REST side, with
the protocol's signatures."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from matcher import exchanges
from matcher.exchanges.common import Connection, Rest, Room
from shared.settings import Settings
from shared.vocabulary import EXCHANGES


def members(protocol: type) -> set[str]:
    """The names a protocol declares: its attributes, properties and methods."""
    names = set(getattr(protocol, "__annotations__", {}))
    return names | {name for name in vars(protocol) if not name.startswith("_")}


def implements(thing: object, protocol: type) -> None:
    """``thing`` has every member of ``protocol``, its methods with the same parameters, as
    coroutines where the protocol's are."""
    for name in sorted(members(protocol)):
        assert hasattr(thing, name), f"{type(thing).__name__} has no {name!r}"
        declared = vars(protocol).get(name)
        if not inspect.isfunction(declared):
            continue
        actual = getattr(thing, name)
        assert inspect.iscoroutinefunction(actual) == inspect.iscoroutinefunction(declared), name
        wanted = list(inspect.signature(declared).parameters.values())[1:]  # without self
        found = list(inspect.signature(actual).parameters.values())
        assert [(p.name, p.kind) for p in found] == [(p.name, p.kind) for p in wanted], name


def test_every_declared_exchange_has_a_room_and_every_room_a_declaration() -> None:
    assert set(exchanges.ROOMS) == set(EXCHANGES)


@pytest.mark.parametrize("name", sorted(EXCHANGES))
def test_the_room_is_found_by_its_declared_name_in_its_own_package(name: str) -> None:
    room = exchanges.room(name)
    assert room.declared is EXCHANGES[name]
    assert type(room).__module__.split(".")[:3] == ["matcher", "exchanges", name]
    assert isinstance(room.symbols_per_connection, int)
    assert room.symbols_per_connection > 0


def test_an_exchange_without_a_room_is_a_clear_error() -> None:
    with pytest.raises(LookupError, match="'nosuch' \\(not declared\\) has no room"):
        exchanges.room("nosuch")


@pytest.mark.parametrize("name", sorted(EXCHANGES))
async def test_the_room_implements_the_protocol(name: str) -> None:
    room = exchanges.room(name)
    implements(room, Room)
    defaults = Settings.from_env({})
    assert room.ws_url(defaults) == EXCHANGES[name].ws_url  # <NAME>_WS_URL's default

    trades: list[tuple[Any, ...]] = []
    connection = room.connection(
        "ws://127.0.0.1:9", lambda *trade: trades.append(trade), name=f"{name}-0", on_gap=None
    )
    implements(connection, Connection)
    assert connection.name == f"{name}-0"
    assert (connection.connects, connection.failed_connects, connection.total_malformed) == (
        0,
        0,
        0,
    )

    rest = room.rest(defaults)
    try:
        implements(rest, Rest)
    finally:
        await rest.close()
