"""The rules for each input field, strict: one small parser per field, and the ``Field`` that
ties it to its name and JSON Schema (see ``api.fields``). Each parser returns the clean value or
raises ValidationError with a message that names the field and says what to send instead.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from api.fields import Field
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
CONDITIONS = ("above", "below")
STATES = ("created", "triggered", "deleted")
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
        raise ValidationError(f'trigger_condition must be "above" or "below", got {value!r}')
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

NEW_ALERT = (TARGET_PRICE, TRIGGER_CONDITION, EMAIL, SYMBOL)
DELETE = (ALERT_ID,)

# Query parameters: None when absent or empty.


def parse_state(value: str | None) -> str | None:
    if value is not None and value not in STATES:
        raise ValidationError(f"state must be one of created, triggered, deleted; got {value!r}")
    return value


def parse_page_limit(value: str | None) -> int:
    if value is None:
        return PAGE_DEFAULT
    if not re.fullmatch(r"[0-9]{1,4}", value) or not 1 <= int(value) <= PAGE_MAX:
        raise ValidationError(
            f"limit must be a whole number from 1 to {PAGE_MAX}, got {_short(value)}"
        )
    return int(value)


def parse_before_id(value: str | None) -> int | None:
    if value is None:
        return None
    if not re.fullmatch(rf"[0-9]{{1,{ID_DIGITS_MAX}}}", value) or not 0 < int(value) <= BIGINT_MAX:
        raise ValidationError(
            f"before_id must be a positive alert id of at most {BIGINT_MAX}, got {_short(value)}"
        )
    return int(value)


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


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."
