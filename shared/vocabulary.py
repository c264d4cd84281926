"""One vocabulary: every alert kind, channel and exchange, every window, frequency and state,
declared once. Everything that names one of them reads it from here:

- the API's parsing and errors, and ``/openapi.json`` (enums, titles, which fields a kind uses,
  examples), from which the page builds its form;
- the notifier's wording (``headline``, ``condition``, ``comparison`` and ``rearm`` are its
  sentences; ``notifier.facts`` writes what their placeholders stand for) and the message's
  fields;
- the database's CHECK lists (``shared.constraints`` writes them from these declarations when
  ``pricealert migrate`` runs; a test proves the schema holds exactly these names);
- the matcher's rooms: ``matcher/kinds/<kind>.py`` for each kind and ``matcher/exchanges/<name>/``
  for each exchange, found by name; ``notifier/channels/<channel>.py`` for each channel.

Pure data: no I/O, no clock, imports nothing but the standard library's ``dataclasses``, so the
matcher's pure book may read it too. The rule of each field (its parser, its JSON Schema, its
words) lives in ``shared.fields``, under the names the kinds and channels list here.

Placeholders in the sentences are field names (``{target_price}``, ``{percent}``, ``{window}``)
and these facts: ``{symbol}``, ``{direction}`` (" upwards" or " downwards": the side a crossing
alert's reference puts its first crossing on, "" when not known yet), and of a fire ``{price}``
(the trade's), ``{way}`` (the direction of this fire's crossing) and ``{moved}`` (the move that
happened, "5.2%").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar


@dataclass(frozen=True, slots=True)
class Window:
    """A span of whole minutes of trade time, for the moves within a window."""

    name: str  # as sent: "1h"
    minutes: int
    words: str  # "1 hour"


@dataclass(frozen=True, slots=True)
class Kind:
    """One ``trigger_condition``."""

    name: str
    title: str  # the choice, as a person reads it: "at or above a price"
    fields: tuple[str, ...]  # the fields it needs (shared.fields has each one's rule)
    summary: str  # the alert itself, as the page lists it: "at or above {target_price}"
    headline: str  # a fire: "{symbol} is above {target_price}"
    # The alert itself after "your alert:" in a message: "a rise of {percent} within {window}".
    condition: str
    comparison: str  # how the price meets the alert, without values: "at or above", "across"
    rearm: str  # when a repeating alert can fire again, after its cooldown
    # Whether the side the price is on when the alert goes live is recorded (reference_price).
    reference: bool = False
    example: Mapping[str, object] = field(default_factory=dict)  # its fields in a create body


@dataclass(frozen=True, slots=True)
class Channel:
    """One way a fire is delivered: a key of the message's ``channels`` and of ``deliveries``."""

    name: str
    title: str  # "Email"
    # Its fields in a create body -> the key each fills in its entry of the alert's ``channels``
    # ("" when the field is the whole entry, as an email address is).
    fields: Mapping[str, str]
    # Offered only when the server has it (a setting names it): None when always offered.
    requires: str | None = None


@dataclass(frozen=True, slots=True)
class Exchange:
    """A market whose trades the matcher follows."""

    name: str
    title: str
    ws_url: str  # the default of <NAME>_WS_URL
    rest_url: str  # the default of <NAME>_REST_URL
    symbol_example: str  # a symbol as this exchange spells it


Declared = TypeVar("Declared", Window, Kind, Channel, Exchange)


def _by_name(*items: Declared) -> Mapping[str, Declared]:
    found = {item.name: item for item in items}
    assert len(found) == len(items), "each name is declared once"
    return MappingProxyType(found)


WINDOWS = _by_name(
    Window("1m", 1, "1 minute"),
    Window("5m", 5, "5 minutes"),
    Window("15m", 15, "15 minutes"),
    Window("1h", 60, "1 hour"),
    Window("4h", 240, "4 hours"),
    Window("1d", 1440, "1 day"),
)

KINDS = _by_name(
    Kind(
        "above",
        "at or above a price",
        ("target_price",),
        summary="at or above {target_price}",
        headline="{symbol} is above {target_price}",
        condition="at or above {target_price}",
        comparison="at or above",
        rearm="once the price has gone back below {target_price}",
        example={"target_price": "50000"},
    ),
    Kind(
        "below",
        "at or below a price",
        ("target_price",),
        summary="at or below {target_price}",
        headline="{symbol} is below {target_price}",
        condition="at or below {target_price}",
        comparison="at or below",
        rearm="once the price has gone back above {target_price}",
        example={"target_price": "40000"},
    ),
    Kind(
        "crossing",
        "crosses a price",
        ("target_price",),
        summary="crosses {target_price}{direction}",
        headline="{symbol} crossed {target_price}{way}, to {price}",
        condition="crossing {target_price}",
        comparison="across",
        rearm="when the price crosses back",
        reference=True,
        example={"target_price": "100000"},
    ),
    Kind(
        "up_pct",
        "rises by a percentage",
        ("percent", "window"),
        summary="rises {percent} within {window}",
        headline="{symbol} rose {moved} within {window}, to {price}",
        condition="a rise of {percent} within {window}",
        comparison="a rise of",
        rearm="when the move happens again",
        example={"percent": "5", "window": "1h"},
    ),
    Kind(
        "down_pct",
        "falls by a percentage",
        ("percent", "window"),
        summary="falls {percent} within {window}",
        headline="{symbol} fell {moved} within {window}, to {price}",
        condition="a fall of {percent} within {window}",
        comparison="a fall of",
        rearm="when the move happens again",
        example={"percent": "5", "window": "1h"},
    ),
)

CHANNELS = _by_name(
    Channel("email", "Email", {"email": ""}),
    Channel("webhook", "Webhook", {"webhook_url": "url", "webhook_format": "format"}),
    Channel("telegram", "Telegram", {"telegram_chat_id": ""}, requires="telegram"),
)

EXCHANGES = _by_name(
    Exchange(
        "binance",
        "Binance",
        ws_url="wss://stream.binance.com:9443",
        rest_url="https://api.binance.com",
        symbol_example="BTCUSDT",
    ),
)
DEFAULT_EXCHANGE = "binance"

STATES = ("created", "triggered", "paused", "expired", "deleted")
FREQUENCIES = ("once", "repeat")
WEBHOOK_FORMATS = ("standard", "discord", "slack")
# What the notifier records of a delivery; "pending" is shown for one with no record yet.
DELIVERY_STATUSES = ("sent", "retrying", "parked")
SHOWN_DELIVERY_STATUSES = ("pending", *DELIVERY_STATUSES)


def kinds_with(field_name: str) -> tuple[str, ...]:
    """The kinds that use ``field_name``, in declaration order."""
    return tuple(kind.name for kind in KINDS.values() if field_name in kind.fields)


def kind_fields() -> tuple[str, ...]:
    """Every field some kind uses, each once, in declaration order."""
    return tuple(dict.fromkeys(name for kind in KINDS.values() for name in kind.fields))


def channel_fields() -> tuple[str, ...]:
    """Every channel's fields in a create body, in declaration order."""
    return tuple(name for channel in CHANNELS.values() for name in channel.fields)
