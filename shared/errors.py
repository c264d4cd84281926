"""The whole exception tree of pricealert, in one place.

Domain errors are raised where the rule lives; the API turns them into HTTP in one place
(``api.app``), so a handler never builds an error response itself.
"""

from __future__ import annotations


class PriceAlertError(Exception):
    """Base of every error pricealert raises on purpose."""


# Start-up


class SettingsError(PriceAlertError):
    """A setting is missing or malformed; the message is one line naming the variable."""


class MigrationError(PriceAlertError):
    """The schema cannot be brought up to date (for example an applied migration was edited)."""


# Running


class PartStopped(PriceAlertError):
    """A part a service runs beside its main loop ended on its own: the service stops with it
    (a non-zero exit) rather than go on without it."""


# Requests: each maps to one HTTP status


class ValidationError(PriceAlertError):
    """The input breaks a rule; nothing was changed (400)."""


class Conflict(PriceAlertError):
    """The request clashes with the current state, e.g. a username taken (400 by the contract)."""


class NotFound(PriceAlertError):
    """No such resource for this user (404)."""


class Unauthorized(PriceAlertError):
    """Missing, invalid, expired or revoked credentials (401)."""


class PayloadTooLarge(PriceAlertError):
    """The request body is over the size cap (413)."""


class RequestTimeout(PriceAlertError):
    """The request's body did not arrive in time (408); the connection is closed after it."""


class RetryLater(PriceAlertError):
    """Refused for now, not for good: the answer carries ``Retry-After``."""

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Throttled(RetryLater):
    """Too many attempts from this client or for this account (429)."""


class Overloaded(RetryLater):
    """The server has too much of this work waiting already (503)."""


# Outside services


class DatabaseUnavailable(RetryLater):
    """PostgreSQL is away (restarting, unreachable): try again shortly (503)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after_seconds=1)
