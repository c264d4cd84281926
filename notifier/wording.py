"""What a fire says, in words, for every kind: one place that every channel's text comes from
(the mail today; chat messages and webhook summaries read the same ``Wording``).

    BTCUSDT is above 50,000.00
    BTCUSDT crossed 50,000.00 upwards, to 50,012.50
    ETHUSDT rose 5.2% within 1 hour, to 2,630.10

Prices are grouped with at least two decimals (never fewer than they have); times are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from shared.messages import AlertMessage

WINDOW_WORDS = {
    "1m": "1 minute",
    "5m": "5 minutes",
    "15m": "15 minutes",
    "1h": "1 hour",
    "4h": "4 hours",
    "1d": "1 day",
}
LEVEL_KINDS = ("above", "below", "crossing")
MOVE_KINDS = ("up_pct", "down_pct")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


class MalformedAlert(ValueError):
    """The message cannot be put into words (bad price, time, kind): park it, never retry."""


@dataclass(frozen=True, slots=True)
class Wording:
    headline: str  # "BTCUSDT is above 50,000.00"
    condition: str  # the alert itself: "at or above 50,000.00", "a rise of 5% within 1 hour"
    price: str  # the price of the trade that fired it, formatted
    target: str  # the target, formatted; "" for a percent move
    comparison: str  # "at or above", "at or below", "across", "a rise of", "a fall of"
    triggered_at: str  # the trade's time, UTC
    next_fire: str  # what happens next: "will not fire again" or when it can fire again


def describe(message: AlertMessage) -> Wording:
    """The words of one fire. Raises MalformedAlert for a message that cannot have any."""
    try:
        price = Decimal(message.triggered_price)
        at = datetime.fromisoformat(message.triggered_at)
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise MalformedAlert(f"alert {message.alert_id}: {exc}") from None
    kind = message.trigger_condition
    if kind in LEVEL_KINDS:
        headline, condition, comparison, target = _level(message, price)
    elif kind in MOVE_KINDS:
        headline, condition, comparison = _move(message, price)
        target = ""
    else:
        raise MalformedAlert(f"unknown trigger condition {kind!r}")
    return Wording(
        headline=headline,
        condition=condition,
        price=format_price(price),
        target=target,
        comparison=comparison,
        triggered_at=at.strftime(TIME_FORMAT),
        next_fire=_next_fire(message, at),
    )


def format_price(value: Decimal) -> str:
    """Grouped thousands, at least two decimals, never fewer than the price has:
    50000 -> 50,000.00; 0.00000123 -> 0.00000123."""
    if not value.is_finite():
        raise MalformedAlert(f"not a finite price: {value}")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    places = max(2, -exponent)
    return f"{value:,.{places}f}"


def crossed_upwards(message: AlertMessage) -> bool | None:
    """For a crossing alert: whether this fire crossed upwards (its first crossing goes away
    from the reference, and each next one the other way); None without a reference."""
    if message.reference_price is None or message.target_price is None:
        return None
    first_up = Decimal(message.reference_price) < Decimal(message.target_price)
    return first_up == (message.seq % 2 == 1)


def _level(message: AlertMessage, price: Decimal) -> tuple[str, str, str, str]:
    if message.target_price is None:
        raise MalformedAlert(
            f"alert {message.alert_id}: a {message.trigger_condition} alert needs a target price"
        )
    try:
        target = format_price(Decimal(message.target_price))
    except InvalidOperation as exc:
        raise MalformedAlert(f"alert {message.alert_id}: {exc}") from None
    symbol = message.symbol
    if message.trigger_condition == "above":
        return f"{symbol} is above {target}", f"at or above {target}", "at or above", target
    if message.trigger_condition == "below":
        return f"{symbol} is below {target}", f"at or below {target}", "at or below", target
    upwards = crossed_upwards(message)
    way = "" if upwards is None else (" upwards" if upwards else " downwards")
    headline = f"{symbol} crossed {target}{way}, to {format_price(price)}"
    return headline, f"crossing {target}", "across", target


def _move(message: AlertMessage, price: Decimal) -> tuple[str, str, str]:
    if message.percent is None or message.window not in WINDOW_WORDS:
        raise MalformedAlert(f"alert {message.alert_id}: a percent move needs percent and window")
    try:
        percent = Decimal(message.percent)
        base = None if message.base_price is None else Decimal(message.base_price)
    except InvalidOperation as exc:
        raise MalformedAlert(f"alert {message.alert_id}: {exc}") from None
    window = WINDOW_WORDS[message.window]
    up = message.trigger_condition == "up_pct"
    verb, noun = ("rose", "a rise") if up else ("fell", "a fall")
    if base is not None and base > 0:
        moved = abs(price / base - 1) * 100
        # Rounded down to 0.1 %: never claims more than happened.
        size = f"{moved.quantize(Decimal('0.1'), rounding=ROUND_DOWN)}%"
    else:
        size = f"at least {_percent(percent)}"
    headline = f"{message.symbol} {verb} {size} within {window}, to {format_price(price)}"
    return headline, f"{noun} of {_percent(percent)} within {window}", noun + " of"


def _percent(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return f"{text}%"


def _next_fire(message: AlertMessage, at: datetime) -> str:
    if message.frequency != "repeat" or message.cooldown_seconds is None:
        return "It is now triggered and will not fire again. To be told again, create a new alert."
    ready = (at + timedelta(seconds=message.cooldown_seconds)).strftime(TIME_FORMAT)
    cooldown = _duration(message.cooldown_seconds)
    when = f"It can fire again from {ready} (its cooldown is {cooldown})"
    kind = message.trigger_condition
    if kind in ("above", "below") and message.target_price is not None:
        back = "below" if kind == "above" else "above"
        target = format_price(Decimal(message.target_price))
        return f"This alert repeats. {when}, once the price has gone back {back} {target}."
    if kind == "crossing":
        return f"This alert repeats. {when}, when the price crosses back."
    return f"This alert repeats. {when}, when the move happens again."


def _duration(seconds: int) -> str:
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts) or "0 seconds"
