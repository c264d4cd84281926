"""The channels a fire is delivered to, each a room behind the ``Channel`` protocol: the module
``notifier/channels/<name>.py`` of each channel ``shared.vocabulary`` declares (``email``,
``webhook`` for standard, Discord and Slack, ``telegram``). Each room has one door,
``open_channel`` (an ``Opens``): it makes the channel from the notifier's settings and the
parts the notifier opened, or says None when the server lacks what the channel needs.
``notifier.channels.rooms`` finds the rooms by the declared names and opens them.

The consumer delivers each channel of each fire on its own, found by the name the message uses
in its ``channels``; a new channel is its declaration and a new module, not a branch in the
consumer or a line in the wiring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shared.messages import AlertMessage
from shared.settings import Settings

if TYPE_CHECKING:
    from notifier.channels.email import Mailer
    from shared.db import GatedPool


class Channel(Protocol):
    name: str  # the key of the message's "channels" it serves

    async def deliver(self, message: AlertMessage) -> None:
        """Returns once the channel accepted the fire; raises ``TransientSendError`` (with the
        wait it asked for, if any) or ``PermanentSendError``."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Parts:
    """What the notifier opened that a channel may use."""

    pool: GatedPool | None = None  # the database; None without one
    mailer: Mailer | None = None  # stands in for SMTP (the outbox of ``pricealert up``)


class Opens(Protocol):
    """A room's door: its channel for these settings, or None when the server has not what
    the channel needs (Telegram without a bot token). Opens no connection: a channel connects
    on first use, and ``close`` ends what it opened."""

    def __call__(self, settings: Settings, parts: Parts) -> Channel | None: ...
