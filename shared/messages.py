"""The message a triggered alert travels in, matcher -> RabbitMQ -> notifier.

JSON, ``content_type=application/json``, persistent, ``message_id`` = the alert id::

    {"alert_id", "user_id", "symbol", "trigger_condition", "target_price", "triggered_price",
     "triggered_at", "email"}

Prices are decimal strings, the time ISO 8601 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import orjson


@dataclass(frozen=True, slots=True)
class AlertMessage:
    alert_id: int
    user_id: int
    symbol: str
    trigger_condition: str
    target_price: str
    triggered_price: str
    triggered_at: str
    email: str

    @classmethod
    def from_claim(
        cls,
        alert_id: int,
        user_id: int,
        symbol: str,
        trigger_condition: str,
        target_price: Decimal,
        triggered_price: Decimal,
        triggered_at: datetime,
        email: str,
    ) -> AlertMessage:
        """From a claimed row, in the column order of ``matcher.store.CLAIMED_COLUMNS``."""
        return cls(
            alert_id=alert_id,
            user_id=user_id,
            symbol=symbol,
            trigger_condition=trigger_condition,
            target_price=format(target_price, "f"),
            triggered_price=format(triggered_price, "f"),
            triggered_at=triggered_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            email=email,
        )

    def to_json(self) -> bytes:
        return orjson.dumps(self)  # orjson writes a dataclass's fields in order, natively

    @classmethod
    def from_json(cls, body: bytes) -> AlertMessage:
        """Raises ValueError for anything but a well-formed alert message."""
        try:
            fields = orjson.loads(body)
            message = cls(**fields)
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"not an alert message: {exc}") from None
        if not isinstance(message.alert_id, int) or not isinstance(message.email, str):
            raise ValueError("not an alert message: alert_id must be an integer, email a string")
        return message
