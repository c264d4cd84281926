"""The notifier's errors: how a channel's send can fail (worth another try later, or never
going to work), and a channel without its room at start."""

from __future__ import annotations

from shared.errors import PriceAlertError


class TransientSendError(Exception):
    """Worth another try later: the server is down, slow, or asked us to wait. ``retry_after``
    is the wait it asked for, in seconds, when it said."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSendError(Exception):
    """Will never be delivered as it is: the recipient or the message is refused for good."""


class ChannelRoomError(PriceAlertError):
    """The declared channels (``shared.vocabulary``) and the rooms of ``notifier.channels``
    differ: a channel without a room, or a room without a declaration. The notifier does not
    start."""
