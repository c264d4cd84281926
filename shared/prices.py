"""A trade price as a decimal: the matcher holds prices as doubles, the database as numeric."""

from __future__ import annotations

from decimal import Decimal


def as_decimal(price: float) -> Decimal:
    """The decimal a price was written as. Binance's prices (at most 8 decimals and 15
    significant digits) round-trip through a double, and ``repr`` gives the shortest decimal
    that reads back as the same double: that one. A whole number loses the ``.0`` that
    ``repr`` adds (``190.0`` is ``190``)."""
    text = repr(price)
    return Decimal(text[:-2] if text.endswith(".0") else text)
