"""Finding the channels' rooms: each channel ``shared.vocabulary`` declares is the module of
``notifier.channels`` named as it, whose ``open_channel`` is its door (``Opens``). A declared
channel without a room, or a room no declaration names, stops the notifier at start, naming it.

Every module of the package is imported to look for rooms; those without an ``open_channel``
(the HTTP client, the signing) are helpers of the rooms.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from contextlib import AsyncExitStack

from notifier.channels import Channel, Opens, Parts
from notifier.errors import ChannelRoomError
from shared.settings import Settings
from shared.vocabulary import CHANNELS

DOOR = "open_channel"  # the attribute of a room's module that opens its channel


def find_rooms(
    package: str = "notifier.channels", declared: Mapping[str, object] = CHANNELS
) -> dict[str, Opens]:
    """The door of each declared channel, in declaration order. Raises ChannelRoomError when
    a declared channel has no room or a room is not declared."""
    found: dict[str, Opens] = {}
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        door = getattr(importlib.import_module(f"{package}.{module.name}"), DOOR, None)
        if door is not None:
            found[module.name] = door
    undeclared = sorted(set(found) - set(declared))
    if undeclared:
        raise ChannelRoomError(
            f"{package} has a room for {', '.join(undeclared)}, which shared.vocabulary's "
            "CHANNELS does not declare: declare it, or remove its module"
        )
    missing = [name for name in declared if name not in found]
    if missing:
        raise ChannelRoomError(
            f"no room in {package} for the declared channel {', '.join(missing)}: "
            f"a module {package}.<name> with {DOOR}(settings, parts)"
        )
    return {name: found[name] for name in declared}


def open_channels(settings: Settings, parts: Parts, stack: AsyncExitStack) -> dict[str, Channel]:
    """Every channel this server has, by name; each one's ``close`` is on ``stack`` as soon as
    it is made."""
    channels: dict[str, Channel] = {}
    for name, door in find_rooms().items():
        channel = door(settings, parts)
        if channel is None:
            continue
        stack.push_async_callback(channel.close)
        if channel.name != name:
            raise ChannelRoomError(f"the room {name} opened a channel named {channel.name!r}")
        channels[name] = channel
    return channels
