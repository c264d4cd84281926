"""The matcher's figures: one typed snapshot, read by the Prometheus collector and by the
one-minute log summary alike, so every figure has one name and one description.

Each field says in its metadata whether it is a counter (only goes up) or a gauge, and what it
counts; ``matcher.metrics`` exports ``pricealert_matcher_<name>`` and ``pricealert_feed_<name>``.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields
from typing import Any, Literal

Kind = Literal["counter", "gauge"]


def _figure(kind: Kind, help_text: str) -> Any:
    return field(default=0, metadata={"kind": kind, "help": help_text})


@dataclass(frozen=True, slots=True)
class FeedFigures:
    """What a feed reports of itself; a feed with nothing to report leaves them at 0."""

    reconnects: int = _figure("counter", "Feed connections re-established or attempts that failed.")
    malformed: int = _figure("counter", "Frames the feed could not read (counted and skipped).")
    unknown_symbols: int = _figure("counter", "Symbols of the book that Binance does not trade.")
    gaps_recovered: int = _figure(
        "counter", "Outages whose missed trades were recovered from klines."
    )
    histories_filled: int = _figure(
        "counter", "Symbols whose percent windows got their history from klines."
    )
    listings: int = _figure("counter", "Lists of the exchange's trading symbols read.")
    listing_failures: int = _figure(
        "counter", "Reads of the exchange's symbol list that failed (the next period retries)."
    )
    unreachable_seconds: int = _figure(
        "gauge",
        "Seconds the longest outage of a feed connection has lasted so far (connect refused,"
        " unanswered or lost); 0 while each connection that carries symbols is connected.",
    )


@dataclass(frozen=True, slots=True)
class MatcherFigures:
    ticks: int = _figure("counter", "Trades matched against the book.")
    alerts_in_book: int = _figure("gauge", "Live alerts held.")
    symbols_in_book: int = _figure("gauge", "Symbols with at least one live alert.")
    crossed: int = _figure("counter", "Alerts a tick crossed.")
    claimed: int = _figure("counter", "Alerts this replica claimed (marked triggered).")
    published: int = _figure("counter", "Alerts whose messages RabbitMQ confirmed.")
    publish_retries: int = _figure("counter", "Alert messages sent again after a failure.")
    claim_retries: int = _figure("counter", "Claim statements retried after a failure.")
    resyncs: int = _figure("counter", "Full shard reloads after a lost database connection.")
    republish_checks: int = _figure(
        "counter", "Looks for claimed alerts whose publish was never confirmed."
    )
    publish_backlog: int = _figure("gauge", "Alerts claimed by this replica and not yet confirmed.")
    claim_backlog: int = _figure("gauge", "Crossed alerts waiting for the claim statement.")
    live_replicas: int = _figure("gauge", "Matcher replicas with a recent heartbeat, this one too.")
    unowned_buckets: int = _figure(
        "gauge", "Shard buckets no live replica owns: their alerts do not fire."
    )
    contested_buckets: int = _figure(
        "gauge", "Shard buckets owned by live replicas that disagree on the replica count N."
    )
    price_writes: int = _figure("counter", "Flushes of the last prices and minutes written.")
    price_write_failures: int = _figure(
        "counter", "Flushes of prices that failed (their prices are written by the next)."
    )
    symbols_trading: int = _figure(
        "gauge", "Symbols the exchange's last list written to the symbols table names."
    )
    symbols_halted: int = _figure(
        "counter", "Symbols marked halted because the exchange's list stopped naming them."
    )
    symbol_list_writes: int = _figure(
        "counter", "Writes of the exchange's symbol list to the symbols table."
    )
    feed: FeedFigures = field(default_factory=FeedFigures)


def figure_fields(figures: type[MatcherFigures] | type[FeedFigures]) -> list[Field[Any]]:
    """The numeric fields of a snapshot type, with their kind and help in ``metadata``."""
    return [f for f in fields(figures) if "kind" in f.metadata]


def flat(figures: MatcherFigures) -> dict[str, int]:
    """Every figure by name (the feed's prefixed ``feed_``): a log line's fields."""
    values = {f.name: getattr(figures, f.name) for f in figure_fields(MatcherFigures)}
    for f in figure_fields(FeedFigures):
        values[f"feed_{f.name}"] = getattr(figures.feed, f.name)
    return values
