"""The matcher's Prometheus metrics.

Nothing is counted per tick through prometheus-client (a Counter.inc() takes a lock: several
times the cost of a quiet tick). The tick loop bumps plain integers, and a collector reads them
when Prometheus scrapes. Latencies are observed once per claim or publish batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from matcher.service import Matcher

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class MatcherMetrics:
    """One registry per matcher, so that tests and ``pricealert up`` can hold several."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.claim_seconds = Histogram(
            "pricealert_matcher_claim_seconds",
            "Time of one claim statement (all the crossings it carries).",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "pricealert_matcher_publish_seconds",
            "Time to publish one batch and receive its confirms.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tick_to_confirm_seconds = Histogram(
            "pricealert_matcher_tick_to_confirm_seconds",
            "From the crossing tick to RabbitMQ's confirm, per alert.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def watch(self, matcher: Matcher) -> None:
        self.registry.register(_MatcherCollector(matcher))

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on a background thread."""
        start_http_server(port, addr=host, registry=self.registry)


class _MatcherCollector(Collector):
    def __init__(self, matcher: Matcher) -> None:
        self._matcher = matcher

    def collect(self) -> Iterator[Metric]:
        matcher = self._matcher
        counters = matcher.pipeline.counters
        yield CounterMetricFamily(
            "pricealert_matcher_ticks", "Trades matched against the book.", value=matcher.ticks
        )
        yield GaugeMetricFamily(
            "pricealert_matcher_alerts_in_book", "Live alerts held.", value=len(matcher.book)
        )
        yield GaugeMetricFamily(
            "pricealert_matcher_symbols_in_book",
            "Symbols with at least one live alert.",
            value=len(matcher.book.symbols),
        )
        for name, documentation, value in (
            ("crossed", "Alerts a tick crossed.", counters.crossed),
            ("claimed", "Alerts this replica claimed (marked triggered).", counters.claimed),
            ("published", "Alerts whose messages RabbitMQ confirmed.", counters.published),
            (
                "publish_retries",
                "Alert messages sent again after a failure.",
                counters.publish_failures,
            ),
            ("claim_retries", "Claim statements retried after a failure.", counters.claim_failures),
            ("resyncs", "Full shard reloads after a lost database connection.", matcher.resyncs),
        ):
            yield CounterMetricFamily(f"pricealert_matcher_{name}", documentation, value=value)
        yield GaugeMetricFamily(
            "pricealert_matcher_publish_backlog",
            "Alerts claimed by this replica and not yet confirmed.",
            value=len(matcher.pipeline.in_flight),
        )
        yield GaugeMetricFamily(
            "pricealert_matcher_claim_backlog",
            "Crossed alerts waiting for the claim statement.",
            value=matcher.pipeline.pending,
        )
        feed = matcher.feed
        for name, documentation in (
            ("reconnects", "Feed connections re-established or attempts that failed."),
            ("malformed", "Frames the feed could not read (counted and skipped)."),
            ("unknown_symbols", "Symbols of the book that Binance does not trade."),
            ("gaps_recovered", "Outages whose missed trades were recovered from klines."),
        ):
            count = getattr(feed, name, None)
            if isinstance(count, int):
                yield CounterMetricFamily(f"pricealert_feed_{name}", documentation, value=count)
