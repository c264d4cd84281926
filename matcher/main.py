"""The matcher's wiring, written once: ``build_matcher`` and ``build_feed`` (used by
``pricealert matcher`` and by ``pricealert up``) and ``run_matcher``, the command itself."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass

from matcher import exchanges
from matcher.exchanges.feed import ExchangeFeed
from matcher.feeds import Feed, ReplayFeed, SimulatedFeed
from matcher.publisher import Publisher, RabbitPublisher
from matcher.service import Matcher
from shared.probes import serve_probes
from shared.running import stop_on_signals
from shared.settings import Settings, Shard
from shared.vocabulary import DEFAULT_EXCHANGE

log = logging.getLogger("pricealert.matcher")


@dataclass(frozen=True, slots=True)
class FeedChoice:
    """Which prices to match: the exchange's live feed (neither set), a file of trades, or
    random walks."""

    replay: str | None = None
    simulate: bool = False


async def build_matcher(
    settings: Settings, stack: AsyncExitStack, shard: Shard, *, publisher: Publisher | None = None
) -> Matcher:
    """A matcher replica for ``settings``, publishing to RabbitMQ unless ``publisher`` stands
    in. What it opens is closed by ``stack``."""
    if publisher is None:
        rabbit = RabbitPublisher(settings.rabbitmq_url, settings.rabbitmq_queue)
        stack.push_async_callback(rabbit.close)
        await rabbit.open()
        publisher = rabbit
    return Matcher(
        settings.require_database_url(),
        shard,
        publisher,
        heartbeat_seconds=settings.matcher_heartbeat_seconds,
        replica_timeout_seconds=settings.matcher_replica_timeout_seconds,
    )


def build_feed(settings: Settings, stack: AsyncExitStack, choice: FeedChoice) -> tuple[Feed, str]:
    """The feed ``choice`` names, and a description of it for the logs."""
    if choice.simulate:
        return SimulatedFeed(), "simulated random walks"
    # One exchange until the book is sharded by (exchange, symbol): the default one.
    room = exchanges.room(DEFAULT_EXCHANGE)
    if choice.replay is not None:
        return ReplayFeed(choice.replay, room.recorded_trade), f"replay {choice.replay}"
    rest = room.rest(settings)
    stack.push_async_callback(rest.close)
    ws_url = room.ws_url(settings)
    feed = ExchangeFeed(
        room,
        ws_url,
        rest=rest,
        listing_every_seconds=settings.matcher_symbols_refresh_seconds,
        grace_seconds=settings.matcher_feed_grace_seconds,
    )
    return feed, f"{room.declared.title} {ws_url}"


async def run_matcher(
    settings: Settings, shard: Shard, choice: FeedChoice, metrics_port: int | None
) -> int:
    """``pricealert matcher``: match until SIGTERM or SIGINT (or the end of a replay), then
    finish the claims and publishes in flight."""
    async with AsyncExitStack() as stack:
        matcher = await build_matcher(settings, stack, shard)
        feed, description = build_feed(settings, stack, choice)
        stop_on_signals(matcher.stop)
        probes = serve_probes(
            matcher.metrics.registry, matcher.waiting_for, metrics_port, settings.metrics_host
        )
        if probes is not None:
            stack.callback(probes.close)
        log.info("matcher starting", extra={"shard": str(shard), "feed": description})
        await matcher.run(feed)
    if isinstance(feed, ReplayFeed):
        log.info("replay finished", extra={"trades": feed.replayed, "skipped_lines": feed.skipped})
    return 0
