"""What a fire says, in words, for every kind: one place that every channel's text comes from
(the mail, chat messages and webhook summaries read the same ``Wording``).

    BTCUSDT is above 50,000.00
    BTCUSDT crossed 50,000.00 upwards, to 50,012.50
    ETHUSDT rose 5.2% within 1 hour, to 2,630.10

The sentences are the kind's own, declared in ``shared.vocabulary`` (``headline``,
``condition``, ``comparison``, ``rearm``); ``notifier.facts`` writes the values they name, so a
new kind is worded without a change here. Prices are grouped with at least two decimals (never
fewer than they have); times are UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.facts import Facts, MalformedAlert, decimal, format_price
from shared.messages import AlertMessage
from shared.vocabulary import KINDS, Kind

__all__ = ["TIME_FORMAT", "MalformedAlert", "Wording", "describe", "format_price"]

TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


@dataclass(frozen=True, slots=True)
class Wording:
    headline: str  # "BTCUSDT is above 50,000.00"
    condition: str  # the alert itself: "at or above 50,000.00", "a rise of 5% within 1 hour"
    price: str  # the price of the trade that fired it, formatted
    target: str  # the target, formatted; "" for a kind without one (a percent move)
    comparison: str  # "at or above", "at or below", "across", "a rise of", "a fall of"
    triggered_at: str  # the trade's time, UTC
    next_fire: str  # what happens next: "will not fire again" or when it can fire again


def describe(message: AlertMessage, kinds: Mapping[str, Kind] = KINDS) -> Wording:
    """The words of one fire, in the sentences of its kind (one of ``kinds``). Raises
    MalformedAlert for a message that cannot have any."""
    kind = kinds.get(message.trigger_condition)
    try:
        if kind is None:
            raise MalformedAlert(f"unknown trigger condition {message.trigger_condition!r}")
        try:
            at = datetime.fromisoformat(message.triggered_at)
        except (ValueError, TypeError) as exc:
            raise MalformedAlert(f"not a time: {exc}") from None
        facts = Facts(message, decimal(message.triggered_price, "triggered_price"))
        facts.require(kind.fields)
        return Wording(
            headline=kind.headline.format_map(facts),
            condition=kind.condition.format_map(facts),
            price=facts["price"],
            target=facts["target_price"] if "target_price" in kind.fields else "",
            comparison=kind.comparison.format_map(facts),
            triggered_at=at.strftime(TIME_FORMAT),
            next_fire=_next_fire(message, at, kind.rearm.format_map(facts)),
        )
    except MalformedAlert as exc:
        raise MalformedAlert(f"alert {message.alert_id}: {exc}") from None


def _next_fire(message: AlertMessage, at: datetime, rearm: str) -> str:
    if message.frequency != "repeat" or message.cooldown_seconds is None:
        return "It is now triggered and will not fire again. To be told again, create a new alert."
    ready = (at + timedelta(seconds=message.cooldown_seconds)).strftime(TIME_FORMAT)
    cooldown = _duration(message.cooldown_seconds)
    when = f"It can fire again from {ready} (its cooldown is {cooldown})"
    return f"This alert repeats. {when}, {rearm}."


def _duration(seconds: int) -> str:
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts) or "0 seconds"
