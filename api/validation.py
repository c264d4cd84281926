"""The rules for each input field, strict: one small parser per field, and the ``Field`` that
ties it to its name and JSON Schema (see ``api.fields``). Each parser returns the clean value or
raises ValidationError with a message that names the field and says what to send instead.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any
from urllib.parse import urlsplit

from api.fields import Field
from shared.addresses import ip_literal, is_public
from shared.errors import Unauthorized, ValidationError

# C0 and C1 control characters, NUL included: refused in every text field (PostgreSQL cannot
# store NUL, and a control character in an address would end up raw in a mail header).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NO_CONTROLS = r"^[^\x00-\x1f\x7f-\x9f]*$"

USERNAME_MAX = 150
USERNAME_PATTERN = re.compile(rf"[\w.@+-]{{1,{USERNAME_MAX}}}")
PASSWORD_MIN, PASSWORD_MAX = 8, 256

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
LEVEL_CONDITIONS = ("above", "below", "crossing")
MOVE_CONDITIONS = ("up_pct", "down_pct")
CONDITIONS = (*LEVEL_CONDITIONS, *MOVE_CONDITIONS)
STATES = ("created", "triggered", "paused", "expired", "deleted")
WINDOWS = ("1m", "5m", "15m", "1h", "4h", "1d")
FREQUENCIES = ("once", "repeat")
WEBHOOK_FORMATS = ("standard", "discord", "slack")
PERCENT_MAX, PERCENT_MAX_DECIMALS = 1000, 4
PERCENT_PATTERN = re.compile(r"(?:0|[1-9][0-9]{0,3})(?:\.[0-9]{1,4})?")
COOLDOWN_MIN, COOLDOWN_MAX, COOLDOWN_DEFAULT = 60, 604_800, 3_600
EXPIRY_MAX_DAYS = 366
WEBHOOK_URL_MAX = 2048
TELEGRAM_CHAT_PATTERN = re.compile(r"-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32}")
BIGINT_MAX = 2**63 - 1
ID_DIGITS_MAX = len(str(BIGINT_MAX))  # 19
PAGE_DEFAULT, PAGE_MAX = 100, 1000


def _anchored(pattern: str | re.Pattern[str]) -> str:
    """A Python pattern used with ``fullmatch``, as a JSON Schema pattern (which searches)."""
    text = pattern if isinstance(pattern, str) else pattern.pattern
    return f"^(?:{text})$"


def _text(value: Any, name: str) -> str:
    """A string without control characters."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string")
    if CONTROL_CHARACTERS.search(value):
        raise ValidationError(f"{name} must not contain control characters")
    return value


# Accounts


def parse_username(value: Any) -> str:
    """NFKC-normalised (so a fullwidth 'A' is an 'A'); unique without regard to case."""
    if isinstance(value, str) and not CONTROL_CHARACTERS.search(value):
        normal = unicodedata.normalize("NFKC", value)
        if USERNAME_PATTERN.fullmatch(normal):
            return normal
    raise ValidationError(
        f"username must be 1 to {USERNAME_MAX} characters of letters, digits and @ . + - _"
    )


def parse_login_username(value: Any) -> str:
    """Any name an account may have (older rules allowed others): only text is checked here."""
    return unicodedata.normalize("NFKC", _text(value, "username"))


def parse_password(value: Any) -> str:
    if (
        not isinstance(value, str)
        or not PASSWORD_MIN <= len(value) <= PASSWORD_MAX
        or CONTROL_CHARACTERS.search(value)
    ):
        raise ValidationError(
            f"password must be a string of {PASSWORD_MIN} to {PASSWORD_MAX} characters, "
            "without control characters"
        )
    return value


def parse_login_password(value: Any) -> str:
    """Compared, never stored: any string up to the longest a password may be."""
    if not isinstance(value, str) or len(value) > PASSWORD_MAX:
        raise ValidationError(f"password must be a string of at most {PASSWORD_MAX} characters")
    return value


def parse_refresh_token(value: Any) -> str:
    if not isinstance(value, str):
        raise Unauthorized("refresh is required: send the refresh token from login")
    return value


USERNAME = Field(
    "username",
    {"type": "string", "pattern": _anchored(USERNAME_PATTERN)},
    parse_username,
    description="Letters (any script), digits and @ . + - _, normalised to NFKC; "
    "unique without regard to case.",
)
PASSWORD = Field(
    "password",
    {
        "type": "string",
        "minLength": PASSWORD_MIN,
        "maxLength": PASSWORD_MAX,
        "pattern": _NO_CONTROLS,
    },
    parse_password,
)
LOGIN_USERNAME = Field(
    "username", {"type": "string", "minLength": 1, "pattern": _NO_CONTROLS}, parse_login_username
)
LOGIN_PASSWORD = Field(
    "password", {"type": "string", "minLength": 1, "maxLength": PASSWORD_MAX}, parse_login_password
)
REFRESH_TOKEN = Field(
    "refresh",
    {"type": "string", "minLength": 1},
    parse_refresh_token,
    description="The refresh token from login or the last refresh.",
)

SIGNUP = (USERNAME, PASSWORD)
LOGIN = (LOGIN_USERNAME, LOGIN_PASSWORD)
REFRESH = (REFRESH_TOKEN,)

# Alerts


def parse_target_price(value: Any) -> Decimal:
    """A decimal string in the one documented form, kept as written ("0.00000123" comes back as
    sent); or a JSON number, read as the nearest price (see ``_number_price``)."""
    if isinstance(value, str):
        if PRICE_PATTERN.fullmatch(value):
            return Decimal(value)
        raise ValidationError(_price_problem(value))
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 < value <= PRICE_MAX:
            return Decimal(value)
        raise ValidationError(f"target_price must be from {PRICE_MIN} to {PRICE_MAX}")
    if isinstance(value, float):
        return _number_price(value)
    raise ValidationError('target_price must be a decimal string such as "50000.5"')


def _number_price(value: float) -> Decimal:
    """A JSON number is a binary float, not a spelling: it is read as its shortest decimal
    (what the sender most likely wrote), rounded to 8 decimals and 15 significant digits, so
    0.30000000000000004 (0.1 + 0.2 in a client) means 0.3."""
    if not PRICE_MIN <= value <= PRICE_MAX:  # False for NaN too
        raise ValidationError(f"target_price must be from {PRICE_MIN} to {PRICE_MAX}")
    price = Decimal(repr(value))
    if PRICE_PATTERN.fullmatch(format(price, "f")):
        return price
    rounded = _FIFTEEN_DIGITS.plus(price.quantize(_EIGHT_DECIMALS, rounding=ROUND_HALF_EVEN))
    return rounded.normalize()


def _price_problem(text: str) -> str:
    """Why a price string is not in the documented form, in words."""
    shown = text if len(text) <= 40 else text[:40] + "..."
    example = 'such as "50000" or "0.00000123"'
    if not _PRICE_SHAPE.fullmatch(text):
        return (
            f"target_price must be a decimal of ASCII digits with an optional point, {example}"
            f" (no sign, exponent, spaces or separators), got {shown!r}"
        )
    whole, _, fraction = text.partition(".")
    if len(whole) > 1 and whole.startswith("0"):
        return f"target_price must not start with a zero, got {shown!r}"
    if len(fraction) > PRICE_MAX_DECIMALS:
        return f"target_price may have at most {PRICE_MAX_DECIMALS} decimal places, got {shown!r}"
    if not text.strip("0."):
        return f"target_price must be a positive number, got {shown!r}"
    return f"target_price may have at most {PRICE_MAX_DIGITS} significant digits, got {shown!r}"


def parse_trigger_condition(value: Any) -> str:
    if not isinstance(value, str) or value not in CONDITIONS:
        raise ValidationError(
            f"trigger_condition must be one of {', '.join(CONDITIONS)}, got {_short(value)}"
        )
    return value


def parse_optional_price(value: Any) -> Decimal | None:
    return None if value is None else parse_target_price(value)


def parse_percent(value: Any) -> Decimal | None:
    """0 < percent <= 1000, at most 4 decimals: a decimal string, or a JSON number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError('percent must be a decimal string such as "5" or "2.5"')
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, float) and text.endswith(".0"):
        text = text[:-2]
    if not PERCENT_PATTERN.fullmatch(text):
        raise ValidationError(
            f"percent must be a number above 0 and at most {PERCENT_MAX}, with at most "
            f"{PERCENT_MAX_DECIMALS} decimals, got {_short(value)}"
        )
    percent = Decimal(text)
    if not 0 < percent <= PERCENT_MAX:
        raise ValidationError(
            f"percent must be above 0 and at most {PERCENT_MAX}, got {_short(value)}"
        )
    return percent


def parse_window(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in WINDOWS:
        raise ValidationError(f"window must be one of {', '.join(WINDOWS)}, got {_short(value)}")
    return value


def parse_frequency(value: Any) -> str:
    if value is None:
        return "once"
    if not isinstance(value, str) or value not in FREQUENCIES:
        raise ValidationError(f'frequency must be "once" or "repeat", got {_short(value)}')
    return value


def parse_cooldown(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"cooldown_seconds must be a whole number, got {_short(value)}")
    if not COOLDOWN_MIN <= value <= COOLDOWN_MAX:
        raise ValidationError(
            f"cooldown_seconds must be from {COOLDOWN_MIN} to {COOLDOWN_MAX} (a week), got {value}"
        )
    return value


def parse_expires_at(value: Any) -> datetime | None:
    """ISO 8601 with a zone, in the future, at most 366 days ahead."""
    if value is None:
        return None
    text = _text(value, "expires_at")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ValidationError(
            f'expires_at must be an ISO 8601 time such as "2027-01-31T18:00:00Z", got '
            f"{_short(value)}"
        ) from None
    if when.tzinfo is None:
        raise ValidationError("expires_at must say its time zone (Z, or an offset like +02:00)")
    now = datetime.now(UTC)
    if when <= now:
        raise ValidationError("expires_at must be in the future")
    if when > now + timedelta(days=EXPIRY_MAX_DAYS):
        raise ValidationError(f"expires_at must be at most {EXPIRY_MAX_DAYS} days ahead")
    return when.astimezone(UTC)


def parse_optional_email(value: Any) -> str | None:
    return None if value is None else parse_email(value)


def parse_webhook_url(value: Any) -> str | None:
    """Syntax and scheme only; whether the host is public is checked again at each send, on
    every address it resolves to then."""
    if value is None:
        return None
    text = _text(value, "webhook_url")
    if len(text) > WEBHOOK_URL_MAX or not text.isascii() or " " in text:
        raise ValidationError(
            f"webhook_url must be an ASCII URL of at most {WEBHOOK_URL_MAX} characters, "
            "without spaces (percent-encode them)"
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"webhook_url is not a URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError(f"webhook_url must be an https:// URL, got {_short(value)}")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("webhook_url must not hold a user name or password")
    if port == 0:
        raise ValidationError("webhook_url has port 0")
    return text


def parse_webhook_format(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in WEBHOOK_FORMATS:
        raise ValidationError(
            f"webhook_format must be one of {', '.join(WEBHOOK_FORMATS)}, got {_short(value)}"
        )
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
            f"{_short(value)}"
        )
    return value


def parse_email(value: Any) -> str:
    text = _text(value, "email")
    if not text.isascii():
        raise ValidationError(
            "email must be an ASCII address: mail to non-ASCII addresses (SMTPUTF8) is not "
            "supported; for an internationalised domain give its xn-- form"
        )
    if len(text) > EMAIL_MAX or not EMAIL_PATTERN.fullmatch(text):
        raise ValidationError(f"email must be an address such as name@example.com, got {text!r}")
    return text


def parse_symbol(value: Any) -> str:
    if value is None:
        return DEFAULT_SYMBOL
    if not isinstance(value, str) or not SYMBOL_PATTERN.fullmatch(value):
        raise ValidationError(
            "symbol must be a Binance spot symbol such as BTCUSDT (2 to 20 ASCII letters or "
            f"digits), got {value!r}"
        )
    return value.upper()


def parse_alert_id(value: Any) -> int:
    """A JSON integer, or a string of ASCII digits. Integers no alert can have (0, negative,
    beyond bigint) come back as 0, which matches no row: the answer is 404."""
    if isinstance(value, str) and re.fullmatch(rf"[0-9]{{1,{ID_DIGITS_MAX}}}", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"alert_id must be an integer (or a string of at most {ID_DIGITS_MAX} digits), "
            f"got {_short(value)}"
        )
    return value if 0 < value <= BIGINT_MAX else 0


_PRICE_SCHEMA = {
    "anyOf": [
        {
            "type": "string",
            "pattern": _anchored(PRICE_PATTERN),
            "examples": ["50000", "0.00000123"],
        },
        {"type": "number", "minimum": float(PRICE_MIN), "maximum": int(PRICE_MAX)},
    ]
}
TARGET_PRICE = Field(
    "target_price",
    _PRICE_SCHEMA,
    parse_target_price,
    description=f"A positive decimal string, at most {PRICE_MAX_DECIMALS} decimals and "
    f"{PRICE_MAX_DIGITS} significant digits, ASCII digits, no leading zero, no exponent; kept as "
    f"written. A JSON number is read as the nearest such price.",
)
TRIGGER_CONDITION = Field(
    "trigger_condition", {"type": "string", "enum": list(CONDITIONS)}, parse_trigger_condition
)
EMAIL = Field(
    "email",
    {"type": "string", "maxLength": EMAIL_MAX, "pattern": _anchored(EMAIL_PATTERN)},
    parse_email,
    description="An ASCII address (an internationalised domain in its xn-- form).",
)
SYMBOL = Field(
    "symbol",
    {"type": ["string", "null"], "pattern": _anchored(SYMBOL_PATTERN)},
    parse_symbol,
    required=False,
    description=f"A Binance spot symbol, upper-cased; absent or null means {DEFAULT_SYMBOL}.",
)
ALERT_ID = Field(
    "alert_id",
    {
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX},
            {"type": "string", "pattern": rf"^[0-9]{{1,{ID_DIGITS_MAX}}}$"},
        ]
    },
    parse_alert_id,
)

OPTIONAL_TARGET_PRICE = Field(
    "target_price",
    {"anyOf": [*_PRICE_SCHEMA["anyOf"], {"type": "null"}]},
    parse_optional_price,
    required=False,
    description=f"{TARGET_PRICE.description} For above, below and crossing; not for a move.",
)
PERCENT = Field(
    "percent",
    {
        "anyOf": [
            {"type": "string", "pattern": _anchored(PERCENT_PATTERN), "examples": ["5", "2.5"]},
            {"type": "number", "exclusiveMinimum": 0, "maximum": PERCENT_MAX},
            {"type": "null"},
        ]
    },
    parse_percent,
    required=False,
    description=f"For up_pct and down_pct: the move, above 0 and at most {PERCENT_MAX}, at "
    f"most {PERCENT_MAX_DECIMALS} decimals.",
)
WINDOW = Field(
    "window",
    {"type": ["string", "null"], "enum": [*WINDOWS, None]},
    parse_window,
    required=False,
    description="For up_pct and down_pct: the window the move is measured within.",
)
FREQUENCY = Field(
    "frequency",
    {"type": ["string", "null"], "enum": [*FREQUENCIES, None], "default": "once"},
    parse_frequency,
    required=False,
    description="once (it fires once) or repeat (it fires again, never more than once per "
    "cooldown).",
)
COOLDOWN_SECONDS = Field(
    "cooldown_seconds",
    {"type": ["integer", "null"], "minimum": COOLDOWN_MIN, "maximum": COOLDOWN_MAX},
    parse_cooldown,
    required=False,
    description=f"For repeat only: the least time between two fires ({COOLDOWN_DEFAULT} "
    "when absent).",
)
EXPIRES_AT = Field(
    "expires_at",
    {"type": ["string", "null"], "format": "date-time"},
    parse_expires_at,
    required=False,
    description=f"ISO 8601 with a zone, in the future, at most {EXPIRY_MAX_DAYS} days ahead: "
    "from then on the alert is expired and never fires.",
)
OPTIONAL_EMAIL = Field(
    "email",
    {"anyOf": [EMAIL.schema, {"type": "null"}]},
    parse_optional_email,
    required=False,
    description="A channel: an ASCII address (an internationalised domain in its xn-- form).",
)
WEBHOOK_URL = Field(
    "webhook_url",
    {"type": ["string", "null"], "maxLength": WEBHOOK_URL_MAX, "format": "uri"},
    parse_webhook_url,
    required=False,
    description="A channel: an https URL that gets each fire as a POST (signed, for the "
    "standard format).",
)
WEBHOOK_FORMAT = Field(
    "webhook_format",
    {"type": ["string", "null"], "enum": [*WEBHOOK_FORMATS, None], "default": "standard"},
    parse_webhook_format,
    required=False,
    description="With webhook_url: standard (Standard Webhooks, signed), discord or slack.",
)
TELEGRAM_CHAT_ID = Field(
    "telegram_chat_id",
    {
        "anyOf": [
            {"type": "integer"},
            {"type": "string", "pattern": _anchored(TELEGRAM_CHAT_PATTERN)},
            {"type": "null"},
        ]
    },
    parse_telegram_chat_id,
    required=False,
    description="A channel: a Telegram chat id or @channelname the bot may write to.",
)

NEW_ALERT = (
    OPTIONAL_TARGET_PRICE,
    TRIGGER_CONDITION,
    OPTIONAL_EMAIL,
    SYMBOL,
    PERCENT,
    WINDOW,
    FREQUENCY,
    COOLDOWN_SECONDS,
    EXPIRES_AT,
    WEBHOOK_URL,
    WEBHOOK_FORMAT,
    TELEGRAM_CHAT_ID,
)


@dataclass(frozen=True, slots=True)
class AlertInput:
    """A create's fields, each parsed and the combination checked."""

    symbol: str
    trigger_condition: str
    target_price: Decimal | None
    percent: Decimal | None
    window: str | None
    frequency: str
    cooldown_seconds: int | None
    expires_at: datetime | None
    email: str | None
    webhook_url: str | None
    webhook_format: str | None
    telegram_chat_id: str | None


def new_alert(body: dict[str, Any], *, allow_private_webhooks: bool, telegram: bool) -> AlertInput:
    """The create's fields, each against its rule, then together: the fields of the kind and
    only those, a cooldown only for a repeat, at least one channel. Every refusal names the
    field."""
    alert = AlertInput(
        symbol=SYMBOL.read(body),
        trigger_condition=TRIGGER_CONDITION.read(body),
        target_price=OPTIONAL_TARGET_PRICE.read(body),
        percent=PERCENT.read(body),
        window=WINDOW.read(body),
        frequency=FREQUENCY.read(body),
        cooldown_seconds=COOLDOWN_SECONDS.read(body),
        expires_at=EXPIRES_AT.read(body),
        email=OPTIONAL_EMAIL.read(body),
        webhook_url=WEBHOOK_URL.read(body),
        webhook_format=WEBHOOK_FORMAT.read(body),
        telegram_chat_id=TELEGRAM_CHAT_ID.read(body),
    )
    kind = alert.trigger_condition
    if kind in LEVEL_CONDITIONS:
        if alert.target_price is None:
            raise ValidationError(f"target_price is required for a {kind} alert")
        for name, value in (("percent", alert.percent), ("window", alert.window)):
            if value is not None:
                raise ValidationError(f"{name} is for up_pct and down_pct, not for {kind}")
    else:
        if alert.target_price is not None:
            raise ValidationError(f"target_price is for level alerts, not for {kind}: give percent")
        if alert.percent is None:
            raise ValidationError(f"percent is required for a {kind} alert")
        if alert.window is None:
            raise ValidationError(f"window is required for a {kind} alert")
    cooldown = alert.cooldown_seconds
    if alert.frequency == "once" and cooldown is not None:
        raise ValidationError('cooldown_seconds is for frequency "repeat" only')
    if alert.frequency == "repeat" and cooldown is None:
        cooldown = COOLDOWN_DEFAULT
    if alert.webhook_format is not None and alert.webhook_url is None:
        raise ValidationError("webhook_format goes with webhook_url")
    webhook_format = alert.webhook_format
    if alert.webhook_url is not None:
        _check_webhook_address(alert.webhook_url, allow_private=allow_private_webhooks)
        webhook_format = webhook_format or "standard"
    if alert.telegram_chat_id is not None and not telegram:
        raise ValidationError(
            "telegram_chat_id cannot be used: this server has no Telegram bot configured"
        )
    if alert.email is None and alert.webhook_url is None and alert.telegram_chat_id is None:
        raise ValidationError(
            "email is required, or another channel: webhook_url or telegram_chat_id"
        )
    return AlertInput(
        **{
            **{name: getattr(alert, name) for name in AlertInput.__dataclass_fields__},
            "cooldown_seconds": cooldown,
            "webhook_format": webhook_format,
        }
    )


def _check_webhook_address(url: str, *, allow_private: bool) -> None:
    parts = urlsplit(url)
    if allow_private:
        return
    if parts.scheme != "https":
        raise ValidationError("webhook_url must be an https:// URL")
    literal = ip_literal(parts.hostname or "")
    if literal is not None and not is_public(literal):
        raise ValidationError(
            f"webhook_url must not point at {literal}: it is not a public address"
        )


DELETE = (ALERT_ID,)

# Query parameters: None when absent or empty.


def parse_state(value: str | None) -> str | None:
    if value is not None and value not in STATES:
        raise ValidationError(f"state must be one of {', '.join(STATES)}; got {_short(value)}")
    return value


def _counting_number(value: str, name: str, highest: int, what: str) -> int:
    """A query parameter's text as a number from 1 to ``highest``, ASCII digits only (no sign,
    no spaces, no digits of other scripts, which ``int`` would take); a 400 naming ``name``."""
    digits = len(str(highest))
    if not re.fullmatch(rf"[0-9]{{1,{digits}}}", value) or not 1 <= int(value) <= highest:
        raise ValidationError(f"{name} must be {what}, got {_short(value)}")
    return int(value)


def parse_page_limit(value: str | None) -> int:
    if value is None:
        return PAGE_DEFAULT
    return _counting_number(value, "limit", PAGE_MAX, f"a whole number from 1 to {PAGE_MAX}")


def parse_before_id(value: str | None) -> int | None:
    if value is None:
        return None
    what = f"a positive alert id of at most {BIGINT_MAX}"
    return _counting_number(value, "before_id", BIGINT_MAX, what)


STATE = Field(
    "state",
    {"type": "string", "enum": list(STATES)},
    parse_state,
    required=False,
    in_query=True,
    description="Only the alerts in this state; absent or empty for all.",
)
LIMIT = Field(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": PAGE_DEFAULT},
    parse_page_limit,
    required=False,
    in_query=True,
    description=f"Alerts per page; absent or empty for {PAGE_DEFAULT}.",
)
BEFORE_ID = Field(
    "before_id",
    {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX},
    parse_before_id,
    required=False,
    in_query=True,
    description="Only alerts with a smaller id (the next page); absent or empty for the newest.",
)

FETCH = (STATE, LIMIT, BEFORE_ID)


def parse_before_seq(value: str | None) -> int | None:
    if value is None:
        return None
    return _counting_number(value, "before_seq", 2**31 - 1, "a fire's number")


BEFORE_SEQ = Field(
    "before_seq",
    {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    parse_before_seq,
    required=False,
    in_query=True,
    description="Only fires with a smaller number (the next page); absent or empty for the newest.",
)
EVENTS = (LIMIT, BEFORE_SEQ)

# Prices

SYMBOLS_MAX = 100
MINUTES_DEFAULT, MINUTES_MAX = 60, 1440
_SYMBOL_LIST = re.compile(
    rf"{SYMBOL_PATTERN.pattern}(?:,{SYMBOL_PATTERN.pattern}){{0,{SYMBOLS_MAX - 1}}}"
)


def parse_symbols(value: str | None) -> list[str] | None:
    """Symbols separated by commas, each as ``symbol`` is read (upper-cased), at most
    ``SYMBOLS_MAX``, each once; None (every symbol) when absent or empty."""
    if value is None:
        return None
    if not _SYMBOL_LIST.fullmatch(value):
        raise ValidationError(
            "symbols must be Binance spot symbols (2 to 20 ASCII letters or digits each) "
            f"separated by commas, at most {SYMBOLS_MAX}, such as BTCUSDT,ETHUSDT; "
            f"got {_short(value)}"
        )
    return list(dict.fromkeys(value.upper().split(",")))


def parse_minutes(value: str | None) -> int:
    if value is None:
        return MINUTES_DEFAULT
    what = f"a whole number from 1 to {MINUTES_MAX}"
    return _counting_number(value, "minutes", MINUTES_MAX, what)


SYMBOLS = Field(
    "symbols",
    {"type": "string", "pattern": _anchored(_SYMBOL_LIST)},
    parse_symbols,
    required=False,
    in_query=True,
    description=f"Symbols separated by commas (at most {SYMBOLS_MAX}), such as BTCUSDT,ETHUSDT; "
    "absent or empty for every symbol with a price.",
)
MINUTES = Field(
    "minutes",
    {"type": "integer", "minimum": 1, "maximum": MINUTES_MAX, "default": MINUTES_DEFAULT},
    parse_minutes,
    required=False,
    in_query=True,
    description=f"How many minutes back, the current one included; absent or empty for "
    f"{MINUTES_DEFAULT}.",
)
PRICES = (SYMBOLS,)
HISTORY = (MINUTES,)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."
