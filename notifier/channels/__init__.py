"""The channels a fire is delivered to, each a module behind the ``Channel`` protocol: ``email``
(``notifier.channels.email``), ``webhook`` (standard, Discord, Slack) and ``telegram``. The
consumer delivers each channel of each fire on its own, found by the name the message uses in
its ``channels``; a new channel is a new module, not a branch in the consumer."""

from __future__ import annotations

from typing import Protocol

from shared.messages import AlertMessage


class Channel(Protocol):
    name: str  # the key of the message's "channels" it serves

    async def deliver(self, message: AlertMessage) -> None:
        """Returns once the channel accepted the fire; raises ``TransientSendError`` (with the
        wait it asked for, if any) or ``PermanentSendError``."""
        ...

    async def close(self) -> None: ...
