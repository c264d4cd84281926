"""``pricealert matcher``: one replica, wired from settings, stopped cleanly by a signal."""

from __future__ import annotations

import logging

from matcher.binance.feed import BinanceFeed
from matcher.binance.rest import BinanceRest
from matcher.feeds import ReplayFeed, SimulatedFeed
from matcher.publisher import RabbitPublisher
from matcher.service import Feed, Matcher
from shared.running import serve_metrics, stop_on_signals
from shared.settings import Settings, Shard

log = logging.getLogger("pricealert.matcher")


async def run_matcher(
    settings: Settings,
    shard: Shard,
    replay: str | None,
    metrics_port: int | None,
    *,
    simulate: bool = False,
) -> int:
    publisher = RabbitPublisher(settings.rabbitmq_url, settings.rabbitmq_queue)
    await publisher.open()
    matcher = Matcher(settings.require_database_url(), shard, publisher)
    serve_metrics(matcher.metrics, metrics_port, settings.metrics_host)
    stop_on_signals(matcher.stop)
    feed: Feed
    rest = None
    if simulate:
        feed = SimulatedFeed()
        source = "simulated random walks"
    elif replay is None:
        rest = BinanceRest(settings.binance_rest_url)
        feed = BinanceFeed(settings.binance_ws_url, rest=rest)
        source = f"Binance {settings.binance_ws_url}"
    else:
        feed = ReplayFeed(replay)
        source = f"replay {replay}"
    log.info("matcher starting", extra={"shard": str(shard), "feed": source})
    try:
        await matcher.run(feed)
    finally:
        await publisher.close()
        if rest is not None:
            await rest.close()
    if isinstance(feed, ReplayFeed):
        log.info("replay finished", extra={"trades": feed.replayed, "skipped_lines": feed.skipped})
    return 0
