"""The notifier's Prometheus metrics: every outcome counted, send latency, work in flight."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

OUTCOMES = (
    "sent",  # the SMTP server accepted the mail
    "duplicate",  # already sent for this alert: acked without a mail
    "retried",  # a transient failure: sent to a delay queue for another try
    "parked_permanent",  # refused with 5xx for this recipient or message
    "parked_malformed",  # not an alert message, or one that cannot become a mail
    "parked_exhausted",  # still failing after the last retry
)
_SEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class NotifierMetrics:
    """One registry per notifier, so that tests and ``pricealert up`` can hold several."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "pricealert_notifier_messages",
            "Alert messages handled, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in OUTCOMES:
            self.messages.labels(outcome)  # every series exists from the start, at 0
        self.send_seconds = Histogram(
            "pricealert_notifier_send_seconds",
            "Time for the SMTP server to accept one mail (waiting for a connection included).",
            buckets=_SEND_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "pricealert_notifier_in_flight",
            "Messages received and not yet acked.",
            registry=self.registry,
        )

    def count(self, outcome: str) -> None:
        self.messages.labels(outcome).inc()

    def value(self, outcome: str) -> float:
        return float(self.messages.labels(outcome)._value.get())

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on a background thread."""
        start_http_server(port, addr=host, registry=self.registry)
