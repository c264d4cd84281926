"""``pricealert matcher``: one replica, wired from settings, stopped cleanly by a signal."""

from __future__ import annotations

import asyncio
import logging
import signal

from matcher.feeds import ReplayFeed
from matcher.publisher import RabbitPublisher
from matcher.service import Matcher
from shared.settings import Settings, Shard

log = logging.getLogger("pricealert.matcher")


async def run_matcher(
    settings: Settings, shard: Shard, replay: str | None, metrics_port: int | None
) -> int:
    if replay is None:
        log.error(
            "the live Binance feed is not built yet: give --replay FILE (one trade JSON a line)"
        )
        return 2
    publisher = RabbitPublisher(settings.rabbitmq_url, settings.rabbitmq_queue)
    await publisher.open()
    matcher = Matcher(settings.require_database_url(), shard, publisher)
    if metrics_port is not None:
        matcher.metrics.serve(metrics_port)
        log.info("metrics served", extra={"url": f"http://127.0.0.1:{metrics_port}/metrics"})
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, matcher.stop)
    feed = ReplayFeed(replay)
    log.info("matcher starting", extra={"shard": str(shard), "feed": f"replay {replay}"})
    try:
        await matcher.run(feed)
    finally:
        await publisher.close()
    log.info("replay finished", extra={"trades": feed.replayed, "skipped_lines": feed.skipped})
    return 0
