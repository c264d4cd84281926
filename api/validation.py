"""The rules for each input field. Each function returns the clean value or raises
ValidationError with a message that tells the caller what to send instead."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.errors import ValidationError

USERNAME_PATTERN = re.compile(r"^[\w.@+-]{1,150}$")
PASSWORD_MIN, PASSWORD_MAX = 8, 256
# Binance prices have at most 8 decimals; the matcher's float keys are exact up to 15 digits.
PRICE_MAX_DECIMALS, PRICE_MAX_DIGITS = 8, 15
_EMAIL_ATOM = r"[^@\s<>(),;:\"\[\]\\]+"
EMAIL_PATTERN = re.compile(rf"^{_EMAIL_ATOM}@{_EMAIL_ATOM}\.{_EMAIL_ATOM}$")
EMAIL_MAX = 254
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,20}$")
DEFAULT_SYMBOL = "BTCUSDT"
CONDITIONS = ("above", "below")
STATES = ("created", "triggered", "deleted")
BIGINT_MAX = 2**63 - 1


def required(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None or value == "":
        raise ValidationError(f"{name} is required")
    return value


def username(value: Any) -> str:
    if not isinstance(value, str) or not USERNAME_PATTERN.fullmatch(value):
        raise ValidationError(
            "username must be 1 to 150 characters of letters, digits and @ . + - _"
        )
    return value


def password(value: Any) -> str:
    if not isinstance(value, str) or not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise ValidationError(
            f"password must be a string of {PASSWORD_MIN} to {PASSWORD_MAX} characters"
        )
    return value


def target_price(value: Any) -> Decimal:
    """A finite positive decimal with at most 8 decimals and 15 significant digits. Strings keep
    their spelling ("0.00000123" comes back as written); JSON numbers are read as printed."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError('target_price must be a decimal string such as "50000.5"')
    text = value.strip() if isinstance(value, str) else repr(value)
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"target_price {text!r} is not a decimal number") from None
    if not price.is_finite() or price <= 0:
        raise ValidationError(f"target_price must be a finite positive number, got {text!r}")
    exponent = price.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, so not 'n'/'N'/'F'
    if -exponent > PRICE_MAX_DECIMALS:
        raise ValidationError(
            f"target_price may have at most {PRICE_MAX_DECIMALS} decimal places, got {text!r}"
        )
    if len(price.normalize().as_tuple().digits) > PRICE_MAX_DIGITS or price >= Decimal("1e15"):
        raise ValidationError(
            f"target_price may have at most {PRICE_MAX_DIGITS} significant digits, got {text!r}"
        )
    return price


def trigger_condition(value: Any) -> str:
    if value not in CONDITIONS:
        raise ValidationError(f'trigger_condition must be "above" or "below", got {value!r}')
    return str(value)


def email(value: Any) -> str:
    if not isinstance(value, str) or len(value) > EMAIL_MAX or not EMAIL_PATTERN.fullmatch(value):
        raise ValidationError(f"email must be an address such as name@example.com, got {value!r}")
    return value


def symbol(value: Any) -> str:
    if value is None:
        return DEFAULT_SYMBOL
    if not isinstance(value, str) or not SYMBOL_PATTERN.fullmatch(value.strip().upper()):
        raise ValidationError(
            f"symbol must be a Binance spot symbol such as BTCUSDT (2 to 20 letters or digits), "
            f"got {value!r}"
        )
    return value.strip().upper()


def positive_id(value: Any, name: str) -> int:
    """An integer id (a JSON integer or a string of digits). Ids beyond bigint can exist nowhere,
    so they come back as 0, which matches no row."""
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer, got {value!r}")
    return value if 0 < value <= BIGINT_MAX else 0


def state(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if value not in STATES:
        raise ValidationError(f"state must be one of created, triggered, deleted; got {value!r}")
    return value


def page_limit(value: str | None, *, default: int = 100, maximum: int = 1000) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise ValidationError(f"limit must be a whole number from 1 to {maximum}, got {value!r}")
    return int(value)


def before_id(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or not 0 < int(value) <= BIGINT_MAX:
        raise ValidationError(f"before_id must be a positive alert id, got {value!r}")
    return int(value)
