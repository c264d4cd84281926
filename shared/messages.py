"""The message a fire travels in, matcher -> RabbitMQ -> notifier.

JSON, ``content_type=application/json``, persistent, ``message_id`` = ``<alert_id>:<seq>``. The
second version (DESIGN.md, "The message, second version")::

    {"alert_id", "user_id", "symbol", "trigger_condition", "target_price", "triggered_price",
     "triggered_at", "email", "seq", "percent", "window", "reference_price", "base_price",
     "frequency", "cooldown_seconds",
     "channels": {"email": ..., "webhook": {"url", "format"}, "telegram": chat},
     "params": {"percent": "5", "window": "1h"}}

Prices and percents are decimal strings (``target_price`` is null for a percent move), the time
ISO 8601 UTC. ``seq`` numbers the fires of one alert from 1; ``base_price`` is the window's low
(``up_pct``) or high (``down_pct``) the move was measured from. ``channels`` holds only the
channels the alert has (``email`` is also kept at the top, as in the first version, null when
the alert has no email). ``params`` holds every field of the alert's kind but ``target_price``,
as text (``shared.vocabulary`` names them; ``percent`` and ``window`` stay at the top too, for a
reader of the second version). A first-version message (the first eight fields only) is still read:
it is fire 1 of a one-shot alert, mailed to ``email``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

V1_FIELDS = (
    "alert_id",
    "user_id",
    "symbol",
    "trigger_condition",
    "target_price",
    "triggered_price",
    "triggered_at",
    "email",
)


@dataclass(frozen=True, slots=True)
class AlertMessage:
    alert_id: int
    user_id: int
    symbol: str
    trigger_condition: str
    target_price: str | None
    triggered_price: str
    triggered_at: str
    email: str | None
    seq: int = 1
    percent: str | None = None
    window: str | None = None
    reference_price: str | None = None
    base_price: str | None = None
    frequency: str = "once"
    cooldown_seconds: int | None = None
    channels: dict[str, Any] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def message_id(self) -> str:
        """One per fire: RabbitMQ's ``message_id``, and the key deliveries are kept under."""
        return f"{self.alert_id}:{self.seq}"

    @property
    def fire(self) -> tuple[int, int]:
        return self.alert_id, self.seq

    @classmethod
    def from_fire(
        cls,
        *,
        id: int,
        user_id: int,
        symbol: str,
        trigger_condition: str,
        target_price: Decimal | None,
        price: Decimal,
        fired_at: datetime,
        seq: int,
        params: Mapping[str, str],
        channels: Mapping[str, Any],
        reference_price: Decimal | None,
        base_price: Decimal | None,
        frequency: str,
        cooldown_seconds: int | None,
    ) -> AlertMessage:
        """From a claimed fire, its columns by name (``matcher.store`` reads them with
        ``kwargs_row``): the alert's ``params`` and ``channels`` as the database keeps them."""
        entries = dict(channels)
        if "telegram" in entries:
            entries["telegram"] = _chat(entries["telegram"])
        return cls(
            alert_id=id,
            user_id=user_id,
            symbol=symbol,
            trigger_condition=trigger_condition,
            target_price=_text(target_price),
            triggered_price=format(price, "f"),
            triggered_at=fired_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            email=entries.get("email"),
            seq=seq,
            percent=params.get("percent"),
            window=params.get("window"),
            reference_price=_text(reference_price),
            base_price=_text(base_price),
            frequency=frequency,
            cooldown_seconds=cooldown_seconds,
            channels=entries,
            params=dict(params),
        )

    def to_json(self) -> bytes:
        return orjson.dumps(self)  # orjson writes a dataclass's fields in order, natively

    @classmethod
    def from_json(cls, body: bytes) -> AlertMessage:
        """Either version; raises ValueError for anything but a well-formed alert message."""
        try:
            fields = orjson.loads(body)
            if not isinstance(fields, dict):
                raise TypeError("not a JSON object")
            message = cls(**fields)
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"not an alert message: {exc}") from None
        if not isinstance(message.alert_id, int):
            raise ValueError("not an alert message: alert_id must be an integer")
        if not isinstance(message.seq, int) or message.seq < 1:
            raise ValueError("not an alert message: seq must be a positive integer")
        if not isinstance(message.channels, dict):
            raise ValueError("not an alert message: channels must be an object")
        if not isinstance(message.params, dict):
            raise ValueError("not an alert message: params must be an object")
        if not message.channels:  # a first-version message: its one channel is the email
            if not isinstance(message.email, str):
                raise ValueError("not an alert message: no channel to deliver to")
            message = _with_channels(message, {"email": message.email})
        return message


def _with_channels(message: AlertMessage, channels: dict[str, Any]) -> AlertMessage:
    values = {name: getattr(message, name) for name in message.__dataclass_fields__}
    values["channels"] = channels
    return AlertMessage(**values)


def _chat(chat_id: str) -> int | str:
    """A Telegram chat as its API takes it: an integer id, or an @channelname."""
    return chat_id if chat_id.startswith("@") else int(chat_id)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")
