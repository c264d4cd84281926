"""The rule of every field an alert is made of, once: its name, its JSON Schema as
``/openapi.json`` shows it (and the page builds its form from), its strict parser, and how its
value is kept. The kinds and channels of ``shared.vocabulary`` name these fields; the API reads
bodies through them, the notifier words their values, ``shared.constraints`` checks them in the
database.

Each parser returns the clean value or raises ValidationError with a message that names the
field and says what to send instead.

Choices are JSON Schema ``oneOf`` lists of ``{"const", "title"}`` (the title is what a person
reads; a kind's also has ``x-fields``, ``x-summary``, the sentence it reads as, and
``x-reference``). A field a kind uses carries ``x-kinds`` (the kinds that use it) and
``x-words`` (how its value reads in a sentence: ``price``, ``percent``, ``window``); a channel's
field ``x-channel`` (its channel); a field used only with another ``x-with`` (its name) or only
with some frequencies ``x-frequencies``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from shared.errors import ValidationError
from shared.vocabulary import (
    CHANNELS,
    FREQUENCIES,
    KINDS,
    WEBHOOK_FORMATS,
    WINDOWS,
    kinds_with,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Field(Generic[T]):
    """A body field (or, with ``in_query``, a query parameter).

    ``parse`` gets the value as sent and returns the clean one or raises a domain error naming
    the field. A required field that is absent, null or empty is refused before ``parse``, and
    so is a query parameter given empty (``?limit=``: a value, or leave it out); an optional one
    that is absent or null reaches ``parse`` as None.
    """

    name: str
    schema: Mapping[str, Any]
    parse: Callable[[Any], T]
    required: bool = True
    in_query: bool = False
    description: str | None = None
    title: str | None = None  # the label a person reads

    def read(self, source: Mapping[str, Any]) -> T:
        value = source.get(self.name)
        if value == "" and self.in_query:
            raise ValidationError(f"{self.name} is empty: give it a value, or leave it out")
        if value is None or (value == "" and self.required):
            if self.required:
                raise ValidationError(f"{self.name} is required")
            value = None
        return self.parse(value)

    def documented(self) -> dict[str, Any]:
        """Its JSON Schema with its title and description."""
        schema = dict(self.schema)
        if self.title:
            schema["title"] = self.title
        if self.description:
            schema["description"] = self.description
        return schema


# C0 and C1 control characters, NUL included: refused in every text field (PostgreSQL cannot
# store NUL, and a control character in an address would end up raw in a mail header).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
NO_CONTROLS = r"^[^\x00-\x1f\x7f-\x9f]*$"

# Binance prices have at most 8 decimals; the matcher's float keys are exact up to 15 digits.
PRICE_MAX_DECIMALS, PRICE_MAX_DIGITS = 8, 15
PRICE_MIN = Decimal(1).scaleb(-PRICE_MAX_DECIMALS)  # 0.00000001
PRICE_MAX = Decimal(10) ** PRICE_MAX_DIGITS - 1  # 999999999999999


def _price_pattern(decimals: int, digits: int) -> str:
    """The exact set of price spellings: ASCII digits, no leading zero, an optional point with 1
    to ``decimals`` digits, a positive value, and at most ``digits`` significant digits (from the
    first non-zero digit to the last non-zero one). One alternative per position p of the last
    non-zero decimal, which leaves room for ``digits - p`` digits before the point."""
    whole = rf"[1-9][0-9]{{0,{digits - 1}}}(?:\.0{{1,{decimals}}})?"
    fractions = [
        rf"(?:0|[1-9][0-9]{{0,{digits - 1 - p}}})\.[0-9]{{{p - 1}}}[1-9]0{{0,{decimals - p}}}"
        for p in range(1, decimals + 1)
    ]
    return "|".join([whole, *fractions])


PRICE_PATTERN = re.compile(_price_pattern(PRICE_MAX_DECIMALS, PRICE_MAX_DIGITS))
_PRICE_SHAPE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# Floats are read to the precision prices have: 8 decimals, then 15 significant digits.
_FIFTEEN_DIGITS = Context(prec=PRICE_MAX_DIGITS, rounding=ROUND_HALF_EVEN)
_EIGHT_DECIMALS = Decimal(1).scaleb(-PRICE_MAX_DECIMALS)

EMAIL_MAX = 254
_EMAIL_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP_LABEL = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = re.compile(rf"{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*@(?:{_DOMAIN_LABEL}\.)+{_TOP_LABEL}")

SYMBOL_PATTERN = re.compile(r"[A-Za-z0-9]{2,20}")
DEFAULT_SYMBOL = "BTCUSDT"
PERCENT_MAX, PERCENT_MAX_DECIMALS = 1000, 4
PERCENT_PATTERN = re.compile(r"(?:0|[1-9][0-9]{0,3})(?:\.[0-9]{1,4})?")
COOLDOWN_MIN, COOLDOWN_MAX, COOLDOWN_DEFAULT = 60, 604_800, 3_600
EXPIRY_MAX_DAYS = 366
WEBHOOK_URL_MAX = 2048
TELEGRAM_CHAT_PATTERN = re.compile(r"-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32}")


def anchored(pattern: str | re.Pattern[str]) -> str:
    """A Python pattern used with ``fullmatch``, as a JSON Schema pattern (which searches)."""
    text = pattern if isinstance(pattern, str) else pattern.pattern
    return f"^(?:{text})$"


def text(value: Any, name: str) -> str:
    """A string without control characters."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string")
    if CONTROL_CHARACTERS.search(value):
        raise ValidationError(f"{name} must not contain control characters")
    return value


def short(value: Any) -> str:
    """A value as an error message shows it: its repr, cut at 40 characters."""
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:40] + "..."


def choices(values: Sequence[str], titles: Mapping[str, str]) -> list[dict[str, str]]:
    """A JSON Schema ``oneOf`` of the values, each with the title a person reads."""
    return [{"const": value, "title": titles.get(value, value)} for value in values]


def _kind_choices() -> list[dict[str, Any]]:
    """The kinds, each with its title, its fields and the sentence it reads as."""
    return [
        {
            "const": kind.name,
            "title": kind.title,
            "x-fields": list(kind.fields),
            "x-summary": kind.summary,
            "x-reference": kind.reference,
        }
        for kind in KINDS.values()
    ]


def listed(names: Sequence[str], last: str = "and") -> str:
    """Names as a sentence lists them: "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def one_of(name: str, values: Sequence[str]) -> str:
    return f"{name} must be one of {', '.join(values)}"


# Prices


def parse_price(value: Any, name: str = "target_price") -> Decimal:
    """A decimal string in the one documented form, kept as written ("0.00000123" comes back as
    sent); or a JSON number, read as the nearest price (see ``_number_price``)."""
    if isinstance(value, str):
        if PRICE_PATTERN.fullmatch(value):
            return Decimal(value)
        raise ValidationError(_price_problem(value, name))
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 < value <= PRICE_MAX:
            return Decimal(value)
        raise ValidationError(f"{name} must be from {PRICE_MIN} to {PRICE_MAX}")
    if isinstance(value, float):
        return _number_price(value, name)
    raise ValidationError(f'{name} must be a decimal string such as "50000.5"')


def _number_price(value: float, name: str) -> Decimal:
    """A JSON number is a binary float, not a spelling: it is read as its shortest decimal
    (what the sender most likely wrote), rounded to 8 decimals and 15 significant digits, so
    0.30000000000000004 (0.1 + 0.2 in a client) means 0.3."""
    if not PRICE_MIN <= value <= PRICE_MAX:  # False for NaN too
        raise ValidationError(f"{name} must be from {PRICE_MIN} to {PRICE_MAX}")
    price = Decimal(repr(value))
    if PRICE_PATTERN.fullmatch(format(price, "f")):
        return price
    rounded = _FIFTEEN_DIGITS.plus(price.quantize(_EIGHT_DECIMALS, rounding=ROUND_HALF_EVEN))
    return rounded.normalize()


def _price_problem(spelled: str, name: str) -> str:
    """Why a price string is not in the documented form, in words."""
    shown = spelled if len(spelled) <= 40 else spelled[:40] + "..."
    example = 'such as "50000" or "0.00000123"'
    if not _PRICE_SHAPE.fullmatch(spelled):
        return (
            f"{name} must be a decimal of ASCII digits with an optional point, {example}"
            f" (no sign, exponent, spaces or separators), got {shown!r}"
        )
    whole, _, fraction = spelled.partition(".")
    if len(whole) > 1 and whole.startswith("0"):
        return f"{name} must not start with a zero, got {shown!r}"
    if len(fraction) > PRICE_MAX_DECIMALS:
        return f"{name} may have at most {PRICE_MAX_DECIMALS} decimal places, got {shown!r}"
    if not spelled.strip("0."):
        return f"{name} must be a positive number, got {shown!r}"
    return f"{name} may have at most {PRICE_MAX_DIGITS} significant digits, got {shown!r}"


def parse_target_price(value: Any) -> Decimal:
    return parse_price(value)


def parse_optional_price(value: Any) -> Decimal | None:
    return None if value is None else parse_price(value)


PRICE_SCHEMA: Mapping[str, Any] = {
    "anyOf": [
        {
            "type": "string",
            "pattern": anchored(PRICE_PATTERN),
            "examples": ["50000", "0.00000123"],
        },
        {"type": "number", "minimum": float(PRICE_MIN), "maximum": int(PRICE_MAX)},
    ]
}
PRICE_WORDS = (
    f"A positive decimal string, at most {PRICE_MAX_DECIMALS} decimals and {PRICE_MAX_DIGITS} "
    "significant digits, ASCII digits, no leading zero, no exponent; kept as written. A JSON "
    "number is read as the nearest such price."
)

# The kind and its fields


def parse_trigger_condition(value: Any) -> str:
    if not isinstance(value, str) or value not in KINDS:
        raise ValidationError(f"{one_of('trigger_condition', list(KINDS))}, got {short(value)}")
    return value


def parse_percent(value: Any) -> Decimal | None:
    """0 < percent <= 1000, at most 4 decimals: a decimal string, or a JSON number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError('percent must be a decimal string such as "5" or "2.5"')
    spelled = value if isinstance(value, str) else repr(value)
    if isinstance(value, float) and spelled.endswith(".0"):
        spelled = spelled[:-2]
    if not PERCENT_PATTERN.fullmatch(spelled):
        raise ValidationError(
            f"percent must be a number above 0 and at most {PERCENT_MAX}, with at most "
            f"{PERCENT_MAX_DECIMALS} decimals, got {short(value)}"
        )
    percent = Decimal(spelled)
    if not 0 < percent <= PERCENT_MAX:
        raise ValidationError(
            f"percent must be above 0 and at most {PERCENT_MAX}, got {short(value)}"
        )
    return percent


def parse_window(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in WINDOWS:
        raise ValidationError(f"{one_of('window', list(WINDOWS))}, got {short(value)}")
    return value


def _for_kinds(name: str) -> str:
    return listed(kinds_with(name))


TRIGGER_CONDITION = Field(
    "trigger_condition",
    {"type": "string", "oneOf": _kind_choices()},
    parse_trigger_condition,
    title="Condition",
    description="What the price must do.",
)
TARGET_PRICE = Field(
    "target_price",
    {
        "anyOf": [*PRICE_SCHEMA["anyOf"], {"type": "null"}],
        "x-kinds": list(kinds_with("target_price")),
        "x-words": "price",
    },
    parse_optional_price,
    required=False,
    title="Target price",
    description=f"{PRICE_WORDS} For {_for_kinds('target_price')}.",
)
PERCENT = Field(
    "percent",
    {
        "anyOf": [
            {"type": "string", "pattern": anchored(PERCENT_PATTERN), "examples": ["5", "2.5"]},
            {"type": "number", "exclusiveMinimum": 0, "maximum": PERCENT_MAX},
            {"type": "null"},
        ],
        "x-kinds": list(kinds_with("percent")),
        "x-words": "percent",
    },
    parse_percent,
    required=False,
    title="Move (%)",
    description=f"For {_for_kinds('percent')}: the move, above 0 and at most {PERCENT_MAX}, "
    f"at most {PERCENT_MAX_DECIMALS} decimals.",
)
WINDOW = Field(
    "window",
    {
        "type": ["string", "null"],
        "oneOf": [
            *choices(list(WINDOWS), {w.name: w.words for w in WINDOWS.values()}),
            {"type": "null"},
        ],
        "x-kinds": list(kinds_with("window")),
        "x-words": "window",
    },
    parse_window,
    required=False,
    title="Within",
    description=f"For {_for_kinds('window')}: the window the move is measured within.",
)
# Each field a kind may use, by name: what ``shared.vocabulary.Kind.fields`` lists.
KIND_FIELDS: Mapping[str, Field[Any]] = {
    field.name: field for field in (TARGET_PRICE, PERCENT, WINDOW)
}

# What every alert has


def parse_symbol(value: Any) -> str:
    if value is None:
        return DEFAULT_SYMBOL
    if not isinstance(value, str) or not SYMBOL_PATTERN.fullmatch(value):
        raise ValidationError(
            "symbol must be a Binance spot symbol such as BTCUSDT (2 to 20 ASCII letters or "
            f"digits), got {value!r}"
        )
    return value.upper()


def parse_frequency(value: Any) -> str:
    if value is None:
        return "once"
    if not isinstance(value, str) or value not in FREQUENCIES:
        raise ValidationError(f'frequency must be "once" or "repeat", got {short(value)}')
    return value


def parse_cooldown(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"cooldown_seconds must be a whole number, got {short(value)}")
    if not COOLDOWN_MIN <= value <= COOLDOWN_MAX:
        raise ValidationError(
            f"cooldown_seconds must be from {COOLDOWN_MIN} to {COOLDOWN_MAX} (a week), got {value}"
        )
    return value


def parse_expires_at(value: Any) -> datetime | None:
    """ISO 8601 with a zone, in the future, at most 366 days ahead."""
    if value is None:
        return None
    spelled = text(value, "expires_at")
    try:
        when = datetime.fromisoformat(
            spelled.replace("Z", "+00:00") if spelled.endswith("Z") else spelled
        )
    except ValueError:
        raise ValidationError(
            f'expires_at must be an ISO 8601 time such as "2027-01-31T18:00:00Z", got '
            f"{short(value)}"
        ) from None
    if when.tzinfo is None:
        raise ValidationError("expires_at must say its time zone (Z, or an offset like +02:00)")
    now = datetime.now(UTC)
    if when <= now:
        raise ValidationError("expires_at must be in the future")
    if when > now + timedelta(days=EXPIRY_MAX_DAYS):
        raise ValidationError(f"expires_at must be at most {EXPIRY_MAX_DAYS} days ahead")
    return when.astimezone(UTC)


SYMBOL = Field(
    "symbol",
    {"type": ["string", "null"], "pattern": anchored(SYMBOL_PATTERN), "examples": [DEFAULT_SYMBOL]},
    parse_symbol,
    required=False,
    title="Symbol",
    description=f"A Binance spot symbol, upper-cased; absent or null means {DEFAULT_SYMBOL}.",
)
FREQUENCY = Field(
    "frequency",
    {
        "type": ["string", "null"],
        "oneOf": [*choices(FREQUENCIES, {}), {"type": "null"}],
        "default": "once",
    },
    parse_frequency,
    required=False,
    title="Frequency",
    description="once (it fires once) or repeat (it fires again, never more than once per "
    "cooldown).",
)
COOLDOWN_SECONDS = Field(
    "cooldown_seconds",
    {
        "type": ["integer", "null"],
        "minimum": COOLDOWN_MIN,
        "maximum": COOLDOWN_MAX,
        "x-frequencies": ["repeat"],
    },
    parse_cooldown,
    required=False,
    title="Cooldown (seconds)",
    description=f"For repeat only: the least time between two fires ({COOLDOWN_DEFAULT} "
    "when absent).",
)
EXPIRES_AT = Field(
    "expires_at",
    {"type": ["string", "null"], "format": "date-time"},
    parse_expires_at,
    required=False,
    title="Expires at",
    description=f"ISO 8601 with a zone, in the future, at most {EXPIRY_MAX_DAYS} days ahead: "
    "from then on the alert is expired and never fires.",
)

# Channels


def parse_email(value: Any) -> str:
    address = text(value, "email")
    if not address.isascii():
        raise ValidationError(
            "email must be an ASCII address: mail to non-ASCII addresses (SMTPUTF8) is not "
            "supported; for an internationalised domain give its xn-- form"
        )
    if len(address) > EMAIL_MAX or not EMAIL_PATTERN.fullmatch(address):
        raise ValidationError(f"email must be an address such as name@example.com, got {address!r}")
    return address


def parse_optional_email(value: Any) -> str | None:
    return None if value is None else parse_email(value)


def parse_webhook_url(value: Any) -> str | None:
    """Syntax and scheme only; whether the host is public is checked again at each send, on
    every address it resolves to then."""
    if value is None:
        return None
    url = text(value, "webhook_url")
    if len(url) > WEBHOOK_URL_MAX or not url.isascii() or " " in url:
        raise ValidationError(
            f"webhook_url must be an ASCII URL of at most {WEBHOOK_URL_MAX} characters, "
            "without spaces (percent-encode them)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"webhook_url is not a URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError(f"webhook_url must be an https:// URL, got {short(value)}")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("webhook_url must not hold a user name or password")
    if port == 0:
        raise ValidationError("webhook_url has port 0")
    return url


def parse_webhook_format(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in WEBHOOK_FORMATS:
        raise ValidationError(f"{one_of('webhook_format', WEBHOOK_FORMATS)}, got {short(value)}")
    return value


def parse_telegram_chat_id(value: Any) -> str | None:
    """A chat id (an integer, or its digits) or an @channelname; kept as text."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not TELEGRAM_CHAT_PATTERN.fullmatch(value):
        raise ValidationError(
            "telegram_chat_id must be a chat id (an integer) or an @channelname, got "
            f"{short(value)}"
        )
    return value


EMAIL_SCHEMA: Mapping[str, Any] = {
    "type": "string",
    "maxLength": EMAIL_MAX,
    "pattern": anchored(EMAIL_PATTERN),
}
EMAIL = Field(
    "email",
    {
        "anyOf": [EMAIL_SCHEMA, {"type": "null"}],
        "x-channel": "email",
        "x-autocomplete": "email",  # the page's input offers the browser's saved addresses
        "examples": ["you@example.com"],
    },
    parse_optional_email,
    required=False,
    title="Email",
    description="A channel: an ASCII address (an internationalised domain in its xn-- form).",
)
WEBHOOK_URL = Field(
    "webhook_url",
    {
        "type": ["string", "null"],
        "maxLength": WEBHOOK_URL_MAX,
        "format": "uri",
        "x-channel": "webhook",
        "examples": ["https://example.com/hooks/prices"],
    },
    parse_webhook_url,
    required=False,
    title="Webhook URL",
    description="A channel: an https URL that gets each fire as a POST (signed, for the "
    "standard format).",
)
WEBHOOK_FORMAT = Field(
    "webhook_format",
    {
        "type": ["string", "null"],
        "oneOf": [*choices(WEBHOOK_FORMATS, {}), {"type": "null"}],
        "default": "standard",
        "x-channel": "webhook",
        "x-with": "webhook_url",
    },
    parse_webhook_format,
    required=False,
    title="Webhook format",
    description="With webhook_url: standard (Standard Webhooks, signed), discord or slack.",
)
TELEGRAM_CHAT_ID = Field(
    "telegram_chat_id",
    {
        "anyOf": [
            {"type": "integer"},
            {"type": "string", "pattern": anchored(TELEGRAM_CHAT_PATTERN)},
            {"type": "null"},
        ],
        "x-channel": "telegram",
        "examples": ["@channel", "12345"],
    },
    parse_telegram_chat_id,
    required=False,
    title="Telegram chat id",
    description="A channel: a Telegram chat id or @channelname the bot may write to.",
)
# Each channel's fields in a create body, by name: what ``shared.vocabulary.Channel.fields``
# lists.
CHANNEL_FIELDS: Mapping[str, Field[Any]] = {
    field.name: field for field in (EMAIL, WEBHOOK_URL, WEBHOOK_FORMAT, TELEGRAM_CHAT_ID)
}


def stored(value: object) -> str:
    """How a kind field's clean value is kept in the alert's ``params``: its text (a decimal
    as written)."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def channel_entry(name: str, values: Mapping[str, Any]) -> object | None:
    """The alert's ``channels`` entry of channel ``name`` from its clean create fields (None when
    the create gives none of them): the one value of a one-field channel, else an object."""
    channel = CHANNELS[name]
    given = {
        key: values[field] for field, key in channel.fields.items() if values.get(field) is not None
    }
    if not given:
        return None
    entry: object = given.get("", given)
    return entry


def flat_channel_fields(channels: Mapping[str, Any]) -> dict[str, Any]:
    """The create fields an alert's ``channels`` stands for (None for those it lacks): the
    first waves' flat fields, which the alert's JSON still carries."""
    flat: dict[str, Any] = {}
    for channel in CHANNELS.values():
        entry = channels.get(channel.name)
        for field, key in channel.fields.items():
            if key == "":
                flat[field] = entry
            else:
                flat[field] = entry.get(key) if isinstance(entry, Mapping) else None
    return flat
