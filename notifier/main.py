"""The notifier's wiring, written once: ``build_notifier`` (used by ``pricealert notifier`` and
by ``pricealert up``) and ``run_notifier``, the command itself."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from notifier.channels import Parts
from notifier.channels.email import Mailer
from notifier.channels.rooms import open_channels
from notifier.consumer import Notifier
from notifier.deliveries import DatabaseDeliveryLog, DeliveryLog, MemoryDeliveryLog
from notifier.sources import MessageSource, RabbitSource
from shared.db import GatedPool, create_pool
from shared.probes import serve_probes
from shared.running import stop_on_signals
from shared.schema import SchemaGate
from shared.settings import Settings

log = logging.getLogger("pricealert.notifier")

DATABASE_CONNECTIONS = 3


async def build_notifier(
    settings: Settings,
    stack: AsyncExitStack,
    *,
    source: MessageSource | None = None,
    mailer: Mailer | None = None,
) -> Notifier:
    """A notifier for ``settings``: RabbitMQ and SMTP unless ``source`` or ``mailer`` stand in
    for them; every channel whose room opens one for these settings (``notifier.channels``:
    Telegram only with ``TELEGRAM_BOT_TOKEN``). Everything it opens is closed by ``stack``, also
    when a later step fails."""
    deliveries: DeliveryLog
    pool: GatedPool | None = None
    schema_gate = None
    if settings.database_url:
        schema_gate = SchemaGate(settings.database_url, name="notifier")
        pool = create_pool(settings.database_url, size=DATABASE_CONNECTIONS, name="notifier")
        await pool.open()
        stack.push_async_callback(pool.close)
        deliveries = DatabaseDeliveryLog(pool)
    else:
        log.warning("no DATABASE_URL: duplicates are caught within this process only")
        deliveries = MemoryDeliveryLog()
    channels = open_channels(settings, Parts(pool=pool, mailer=mailer), stack)
    if source is None:
        source = RabbitSource(
            settings.rabbitmq_url,
            settings.rabbitmq_queue,
            settings.notifier_retry_delays,
            settings.notifier_prefetch,
        )
    return Notifier(
        source,
        channels=channels,
        deliveries=deliveries,
        retry_delays=settings.notifier_retry_delays,
        schema_gate=schema_gate,
    )


async def run_notifier(settings: Settings, metrics_port: int | None) -> int:
    """``pricealert notifier``: consume until SIGTERM or SIGINT, then settle what is in hand."""
    async with AsyncExitStack() as stack:
        notifier = await build_notifier(settings, stack)
        stop_on_signals(notifier.stop)
        probes = serve_probes(
            notifier.metrics.registry, notifier.waiting_for, metrics_port, settings.metrics_host
        )
        if probes is not None:
            stack.callback(probes.close)
        smtp = settings.smtp
        log.info(
            "notifier starting",
            extra={
                "smtp": f"{smtp.host or 'localhost'}:{smtp.port}",
                "smtp_tls": smtp.tls,
                "smtp_connections": smtp.pool_size,
                "sender": smtp.sender,
                "telegram": bool(settings.telegram_bot_token),
                "webhook_allow_private": settings.webhook_allow_private,
            },
        )
        await notifier.run()
    return 0
