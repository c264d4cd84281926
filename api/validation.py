"""The rules of the API's own inputs (accounts, ids, pages, prices), strict: one small parser per
field, and the ``Field`` that ties it to its name and JSON Schema (``shared.fields``, which also
holds every field an alert is made of). Each parser returns the clean value or raises
ValidationError with a message that names the field and says what to send instead; ``new_alert``
checks a create's fields together, as the kind of ``shared.vocabulary`` says.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

from api.fields import Body
from shared.addresses import ip_literal, is_public
from shared.errors import Unauthorized, ValidationError
from shared.fields import (
    CHANNEL_FIELDS,
    CONTROL_CHARACTERS,
    COOLDOWN_DEFAULT,
    COOLDOWN_SECONDS,
    EXPIRES_AT,
    FREQUENCY,
    KIND_FIELDS,
    NO_CONTROLS,
    SYMBOL,
    SYMBOL_PATTERN,
    TRIGGER_CONDITION,
    Field,
    anchored,
    channel_entry,
    listed,
    short,
    stored,
    text,
)
from shared.vocabulary import CHANNELS, KINDS, STATES, channel_fields, kind_fields, kinds_with

USERNAME_MAX = 150
USERNAME_PATTERN = re.compile(rf"[\w.@+-]{{1,{USERNAME_MAX}}}")
PASSWORD_MIN, PASSWORD_MAX = 8, 256
BIGINT_MAX = 2**63 - 1
ID_DIGITS_MAX = len(str(BIGINT_MAX))  # 19
PAGE_DEFAULT, PAGE_MAX = 100, 1000


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
    return unicodedata.normalize("NFKC", text(value, "username"))


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
    {"type": "string", "pattern": anchored(USERNAME_PATTERN)},
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
        "pattern": NO_CONTROLS,
    },
    parse_password,
)
LOGIN_USERNAME = Field(
    "username", {"type": "string", "minLength": 1, "pattern": NO_CONTROLS}, parse_login_username
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

SIGNUP = Body(USERNAME, PASSWORD)
LOGIN = Body(LOGIN_USERNAME, LOGIN_PASSWORD)
REFRESH = Body(REFRESH_TOKEN)

# Alerts: the fields are shared.fields', named by the kinds and channels of shared.vocabulary.


def parse_alert_id(value: Any) -> int:
    """A JSON integer, or a string of ASCII digits. Integers no alert can have (0, negative,
    beyond bigint) come back as 0, which matches no row: the answer is 404."""
    if isinstance(value, str) and re.fullmatch(rf"[0-9]{{1,{ID_DIGITS_MAX}}}", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"alert_id must be an integer (or a string of at most {ID_DIGITS_MAX} digits), "
            f"got {short(value)}"
        )
    return value if 0 < value <= BIGINT_MAX else 0


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


# Every field of a create, in the order the page shows them: the kinds' and the channels'
# fields as shared.vocabulary names them, and no other key.
NEW_ALERT = Body(
    SYMBOL,
    TRIGGER_CONDITION,
    *(KIND_FIELDS[name] for name in kind_fields()),
    FREQUENCY,
    COOLDOWN_SECONDS,
    EXPIRES_AT,
    *(CHANNEL_FIELDS[name] for name in channel_fields()),
)


@dataclass(frozen=True, slots=True)
class AlertInput:
    """A create's fields, each parsed and the combination checked: the kind's fields as they
    are kept (``params``, each as text; ``target_price`` apart, as every level kind has one),
    and the alert's ``channels`` (``shared.vocabulary.CHANNELS`` names their entries)."""

    symbol: str
    trigger_condition: str
    target_price: Decimal | None
    params: dict[str, str]
    frequency: str
    cooldown_seconds: int | None
    expires_at: datetime | None
    channels: dict[str, Any]


def new_alert(body: dict[str, Any], *, allow_private_webhooks: bool, telegram: bool) -> AlertInput:
    """The create's fields, each against its rule, then together: the fields of the kind and
    only those, a cooldown only for a repeat, at least one channel. Every refusal names the
    field."""
    symbol = SYMBOL.read(body)
    kind = KINDS[TRIGGER_CONDITION.read(body)]
    values = {name: KIND_FIELDS[name].read(body) for name in kind_fields()}
    for name, value in values.items():
        if name in kind.fields and value is None:
            raise ValidationError(f"{name} is required for a {kind.name} alert")
        if name not in kind.fields and value is not None:
            raise ValidationError(
                f"{name} is for {listed(kinds_with(name))}, not for {kind.name}: give "
                f"{listed(kind.fields)}"
            )
    frequency = FREQUENCY.read(body)
    cooldown = COOLDOWN_SECONDS.read(body)
    if frequency == "once" and cooldown is not None:
        raise ValidationError('cooldown_seconds is for frequency "repeat" only')
    if frequency == "repeat" and cooldown is None:
        cooldown = COOLDOWN_DEFAULT
    expires_at = EXPIRES_AT.read(body)
    flat = {name: CHANNEL_FIELDS[name].read(body) for name in channel_fields()}
    if flat["webhook_format"] is not None and flat["webhook_url"] is None:
        raise ValidationError("webhook_format goes with webhook_url")
    if flat["webhook_url"] is not None:
        _check_webhook_address(flat["webhook_url"], allow_private=allow_private_webhooks)
        flat["webhook_format"] = flat["webhook_format"] or "standard"
    if flat["telegram_chat_id"] is not None and not telegram:
        raise ValidationError(
            "telegram_chat_id cannot be used: this server has no Telegram bot configured"
        )
    channels = {}
    for name in CHANNELS:
        entry = channel_entry(name, flat)
        if entry is not None:
            channels[name] = entry
    if not channels:
        first, *others = channel_fields()
        others = [name for name in others if name != "webhook_format"]
        raise ValidationError(f"{first} is required, or another channel: {listed(others, 'or')}")
    target_price = values.pop("target_price")
    return AlertInput(
        symbol=symbol,
        trigger_condition=kind.name,
        target_price=target_price,
        params={name: stored(value) for name, value in values.items() if value is not None},
        frequency=frequency,
        cooldown_seconds=cooldown,
        expires_at=expires_at,
        channels=channels,
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


DELETE = Body(ALERT_ID)

# Query parameters: None when absent; a value given empty is a 400 naming it (Field.read).


def parse_state(value: str | None) -> str | None:
    if value is not None and value not in STATES:
        raise ValidationError(f"state must be one of {', '.join(STATES)}; got {short(value)}")
    return value


def _counting_number(value: str, name: str, highest: int, what: str) -> int:
    """A query parameter's text as a number from 1 to ``highest``, ASCII digits only (no sign,
    no spaces, no digits of other scripts, which ``int`` would take); a 400 naming ``name``."""
    digits = len(str(highest))
    if not re.fullmatch(rf"[0-9]{{1,{digits}}}", value) or not 1 <= int(value) <= highest:
        raise ValidationError(f"{name} must be {what}, got {short(value)}")
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
    description="Only the alerts in this state; absent for all.",
)
LIMIT = Field(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": PAGE_DEFAULT},
    parse_page_limit,
    required=False,
    in_query=True,
    description=f"Alerts per page; absent for {PAGE_DEFAULT}.",
)
BEFORE_ID = Field(
    "before_id",
    {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX},
    parse_before_id,
    required=False,
    in_query=True,
    description="Only alerts with a smaller id (the next page); absent for the newest.",
)

# A changes token is the text of a PostgreSQL snapshot, ``xmin:xmax:xip,...`` (migration 0011):
# checked here as PostgreSQL's own input function would, so a bad one is a 400, never a 500.
# At most that many transactions in progress: one per connection (max_connections, 100 by
# default) or prepared transaction, so a real token has far fewer.
CHANGES_TOKEN_RUNNING_MAX = 1000
_CHANGES_TOKEN = re.compile(
    r"([0-9]{1,19}):([0-9]{1,19}):"
    rf"((?:[0-9]{{1,19}})(?:,[0-9]{{1,19}}){{0,{CHANGES_TOKEN_RUNNING_MAX - 1}}})?"
)


def parse_changes_token(value: str | None) -> str | None:
    """The token as PostgreSQL reads a ``pg_snapshot``: ``0 < xmin <= xmax``, both valid ids (of
    which the low 32 bits are never 0), and the ids in progress ascending, each once, from
    ``xmin`` up to but not including ``xmax``."""
    if value is None:
        return None
    found = _CHANGES_TOKEN.fullmatch(value)
    if found is not None:
        xmin, xmax = int(found.group(1)), int(found.group(2))
        running = [int(xid) for xid in found.group(3).split(",")] if found.group(3) else []
        if (
            0 < xmin <= xmax <= BIGINT_MAX
            and xmin % 2**32
            and xmax % 2**32  # a valid xid's low 32 bits are not 0
            and all(xmin <= xid < xmax for xid in running)
            and all(a < b for a, b in pairwise(running))
        ):
            return value
    raise ValidationError(
        "changed_since must be a token from the X-Changes-Token header of an earlier "
        f"GET /api/alerts/, as it was given; got {short(value)}"
    )


CHANGED_SINCE = Field(
    "changed_since",
    {"type": "string", "pattern": anchored(_CHANGES_TOKEN)},
    parse_changes_token,
    required=False,
    in_query=True,
    description="Only the alerts created, changed or deleted since this token, every one of"
    " them (no paging; not with state, limit or before_id): the X-Changes-Token header of an"
    " earlier answer. Absent for the list itself, which carries a token too.",
)

FETCH = (STATE, LIMIT, BEFORE_ID, CHANGED_SINCE)


def alone_with_changed_since(query: Mapping[str, Any]) -> None:
    """A changes answer is every change, unpaged and unfiltered (a filter would hide an alert
    leaving it): the list's other parameters with it are a 400 naming them."""
    given = [field.name for field in (STATE, LIMIT, BEFORE_ID) if field.name in query]
    if given:
        raise ValidationError(
            f"changed_since answers every change: leave out {listed(given)} (read the list"
            " without changed_since for a page of it)"
        )


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
    description="Only fires with a smaller number (the next page); absent for the newest.",
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
    ``SYMBOLS_MAX``, each once; None (every symbol) when absent."""
    if value is None:
        return None
    if not _SYMBOL_LIST.fullmatch(value):
        raise ValidationError(
            "symbols must be Binance spot symbols (2 to 20 ASCII letters or digits each) "
            f"separated by commas, at most {SYMBOLS_MAX}, such as BTCUSDT,ETHUSDT; "
            f"got {short(value)}"
        )
    return list(dict.fromkeys(value.upper().split(",")))


def parse_minutes(value: str | None) -> int:
    if value is None:
        return MINUTES_DEFAULT
    what = f"a whole number from 1 to {MINUTES_MAX}"
    return _counting_number(value, "minutes", MINUTES_MAX, what)


SYMBOLS = Field(
    "symbols",
    {"type": "string", "pattern": anchored(_SYMBOL_LIST)},
    parse_symbols,
    required=False,
    in_query=True,
    description=f"Symbols separated by commas (at most {SYMBOLS_MAX}), such as BTCUSDT,ETHUSDT; "
    "absent for every symbol with a price.",
)
MINUTES = Field(
    "minutes",
    {"type": "integer", "minimum": 1, "maximum": MINUTES_MAX, "default": MINUTES_DEFAULT},
    parse_minutes,
    required=False,
    in_query=True,
    description=f"How many minutes back, the current one included; absent for {MINUTES_DEFAULT}.",
)
PRICES = (SYMBOLS,)
HISTORY = (MINUTES,)
