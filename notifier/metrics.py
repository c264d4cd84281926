"""The notifier's Prometheus metrics: every delivery's outcome by channel, send latency by
channel, messages in flight. The channel labels are the declared channels
(``shared.vocabulary``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.vocabulary import CHANNELS

OUTCOMES = (
    "sent",  # the channel accepted it
    "duplicate",  # already delivered: not sent again
    "retried",  # a transient failure: sent to a delay queue for another try
    "parked_permanent",  # refused for good (a 5xx for the recipient, a 4xx of a webhook, ...)
    "parked_exhausted",  # still failing after the last retry
)
_SEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class NotifierMetrics:
    """One registry per notifier, so that tests and ``pricealert up`` can hold several."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "pricealert_notifier_deliveries",
            "Deliveries of one channel of one fire, by channel and outcome.",
            ["channel", "outcome"],
            registry=self.registry,
        )
        for channel in CHANNELS:
            for outcome in OUTCOMES:
                self.deliveries.labels(channel, outcome)  # every series exists from the start
        self.malformed = Counter(
            "pricealert_notifier_malformed_messages",
            "Messages that were not fire messages, parked.",
            registry=self.registry,
        )
        self.send_seconds = Histogram(
            "pricealert_notifier_send_seconds",
            "Time for a channel to accept one delivery (waiting for a connection included).",
            ["channel"],
            buckets=_SEND_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "pricealert_notifier_in_flight",
            "Messages received and not yet acked.",
            registry=self.registry,
        )

    def count(self, outcome: str, channel: str) -> None:
        if outcome == "parked_malformed":
            self.malformed.inc()
        else:
            self.deliveries.labels(channel, outcome).inc()

    def value(self, outcome: str, channel: str | None = None) -> float:
        """How many deliveries had ``outcome`` (of ``channel``, or of every channel)."""
        if outcome == "parked_malformed":
            return float(self.malformed._value.get())
        channels = tuple(CHANNELS) if channel is None else (channel,)
        return sum(float(self.deliveries.labels(c, outcome)._value.get()) for c in channels)

    def totals(self) -> dict[str, int]:
        """Every outcome over all channels, and malformed messages: a log line's fields."""
        totals = {outcome: int(self.value(outcome)) for outcome in OUTCOMES}
        totals["parked_malformed"] = int(self.value("parked_malformed"))
        return totals
