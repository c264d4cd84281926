"""What the placeholders of a kind's sentences (``shared.vocabulary``) stand for in one fire.

A field's placeholder (``{target_price}``, ``{percent}``, ``{window}``) is the alert's value of
that field, written as the field's ``x-words`` in ``shared.fields`` say: a price grouped with at
least two decimals, a percent as given with its sign, a window in words. The other placeholders
are facts of the alert and of the fire: ``{symbol}``, ``{price}`` (the trade's), ``{direction}``
(the side of a crossing alert's first crossing), ``{way}`` (the side of this fire's crossing)
and ``{moved}`` (the move that happened).

A new kind whose fields read as an existing sort of value needs nothing here; a new sort of
value (``x-words``) is one more entry of ``WRITERS``. Each value is worked out only when a
sentence names it, once per fire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from shared.fields import KIND_FIELDS
from shared.messages import AlertMessage
from shared.vocabulary import WINDOWS


class MalformedAlert(ValueError):
    """The message cannot be put into words (bad price, time, kind): park it, never retry."""


def format_price(value: Decimal) -> str:
    """Grouped thousands, at least two decimals, never fewer than the price has:
    50000 -> 50,000.00; 0.00000123 -> 0.00000123."""
    if not value.is_finite():
        raise MalformedAlert(f"not a finite price: {value}")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    places = max(2, -exponent)
    return f"{value:,.{places}f}"


def decimal(text: str, what: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise MalformedAlert(f"{what} is not a number: {text!r}") from None


def _price(text: str) -> str:
    return format_price(decimal(text, "a price"))


def _percent(text: str) -> str:
    return f"{format(decimal(text, 'a percent').normalize(), 'f')}%"


def _window(text: str) -> str:
    window = WINDOWS.get(text)
    if window is None:
        raise MalformedAlert(f"not a window: {text!r}")
    return window.words


# How a field's value reads, by its ``x-words``.
WRITERS: Mapping[str, Callable[[str], str]] = {
    "price": _price,
    "percent": _percent,
    "window": _window,
}
# Each field a kind may use -> how its value reads (a field with a sort no writer knows fails
# here, at import).
FIELD_WRITERS: Mapping[str, Callable[[str], str]] = {
    name: WRITERS[field.schema["x-words"]] for name, field in KIND_FIELDS.items()
}
_MESSAGE_FIELDS = frozenset(AlertMessage.__dataclass_fields__)


def field_value(message: AlertMessage, name: str) -> str | None:
    """The alert's value of a kind's field: in ``params``, or at the top of the message
    (``target_price`` always; ``percent`` and ``window`` in a message from before ``params``)."""
    value = message.params.get(name)
    if value is None and name in _MESSAGE_FIELDS:
        value = getattr(message, name)
    if value is not None and not isinstance(value, str):
        raise MalformedAlert(f"{name} is not text: {value!r}")
    return value


def crossed_upwards(message: AlertMessage) -> bool | None:
    """For a crossing alert: whether this fire crossed upwards (its first crossing goes away
    from the reference, and each next one the other way); None without a reference."""
    first_up = _first_crossing_up(message)
    return None if first_up is None else first_up == (message.seq % 2 == 1)


def _first_crossing_up(message: AlertMessage) -> bool | None:
    if message.reference_price is None or message.target_price is None:
        return None
    reference = decimal(message.reference_price, "reference_price")
    return reference < decimal(message.target_price, "target_price")


def _side(upwards: bool | None) -> str:
    return "" if upwards is None else (" upwards" if upwards else " downwards")


class Facts(dict[str, str]):
    """The placeholders' values for one fire, each worked out when a sentence first names it
    (``str.format_map`` asks for it). Raises MalformedAlert for a value the message lacks or
    cannot have."""

    def __init__(self, message: AlertMessage, price: Decimal) -> None:
        super().__init__(symbol=message.symbol)
        self.message = message
        self.price = price

    def require(self, names: Iterable[str]) -> None:
        """Work these out now: each of a kind's fields must be present and readable."""
        for name in names:
            self[name]  # a lookup works it out and keeps it

    def __missing__(self, name: str) -> str:
        fact = _FACTS.get(name)
        if fact is not None:
            value = fact(self)
        elif name in FIELD_WRITERS:
            given = field_value(self.message, name)
            if given is None:
                kind = self.message.trigger_condition
                raise MalformedAlert(f"a {kind} alert needs {name}")
            value = FIELD_WRITERS[name](given)
        else:
            raise MalformedAlert(f"no words for {{{name}}}")
        self[name] = value
        return value


def _moved(facts: Facts) -> str:
    """The move from the window's low (or high) to the trade, rounded down to 0.1 %: never
    claims more than happened; "at least" the alert's percent when the message lacks it."""
    base_price = facts.message.base_price
    base = None if base_price is None else decimal(base_price, "base_price")
    if base is None or base <= 0:
        return f"at least {facts['percent']}"
    moved = abs(facts.price / base - 1) * 100
    return f"{moved.quantize(Decimal('0.1'), rounding=ROUND_DOWN)}%"


_FACTS: Mapping[str, Callable[[Facts], str]] = {
    "price": lambda facts: format_price(facts.price),
    "direction": lambda facts: _side(_first_crossing_up(facts.message)),
    "way": lambda facts: _side(crossed_upwards(facts.message)),
    "moved": _moved,
}
