"""The matcher's Prometheus metrics.

Nothing is counted per tick through prometheus-client (a Counter.inc() takes a lock: several
times the cost of a quiet tick). The tick loop bumps plain integers, and a collector reads them
when Prometheus scrapes. Latencies are observed once per claim or publish batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from matcher.figures import FeedFigures, MatcherFigures, figure_fields

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

    def watch(self, snapshot: Callable[[], MatcherFigures]) -> None:
        """Export the figures ``snapshot()`` returns, read at each scrape."""
        self.registry.register(_FiguresCollector(snapshot))


class _FiguresCollector(Collector):
    def __init__(self, snapshot: Callable[[], MatcherFigures]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        figures = self._snapshot()
        yield from _families("pricealert_matcher", MatcherFigures, figures)
        yield from _families("pricealert_feed", FeedFigures, figures.feed)


def _families(
    prefix: str, kind: type[MatcherFigures] | type[FeedFigures], values: object
) -> Iterator[Metric]:
    for field in figure_fields(kind):
        family = CounterMetricFamily if field.metadata["kind"] == "counter" else GaugeMetricFamily
        yield family(
            f"{prefix}_{field.name}", field.metadata["help"], value=getattr(values, field.name)
        )
