"""The notifier's wiring, written once: ``build_notifier`` (used by ``pricealert notifier`` and
by ``pricealert up``) and ``run_notifier``, the command itself."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from notifier.consumer import Mailer, Notifier
from notifier.deliveries import DatabaseDeliveryLog, DeliveryLog, MemoryDeliveryLog
from notifier.mail import MailRenderer
from notifier.smtp import SmtpPool
from notifier.sources import MessageSource, RabbitSource
from shared.db import create_pool
from shared.running import serve_metrics, stop_on_signals
from shared.settings import Settings

log = logging.getLogger("pricealert.notifier")

DELIVERY_LOG_CONNECTIONS = 3


async def build_notifier(
    settings: Settings,
    stack: AsyncExitStack,
    *,
    source: MessageSource | None = None,
    mailer: Mailer | None = None,
) -> Notifier:
    """A notifier for ``settings``: RabbitMQ and SMTP unless ``source`` or ``mailer`` stand in
    for them. Everything it opens is closed by ``stack``, also when a later step fails."""
    renderer = MailRenderer(settings.smtp.sender, settings.notifier_templates)
    if mailer is None:
        smtp = SmtpPool(settings.smtp)
        stack.push_async_callback(smtp.close)
        mailer = smtp
    deliveries: DeliveryLog
    if settings.database_url:
        pool = create_pool(settings.database_url, size=DELIVERY_LOG_CONNECTIONS, name="notifier")
        await pool.open()
        stack.push_async_callback(pool.close)
        deliveries = DatabaseDeliveryLog(pool)
    else:
        log.warning("no DATABASE_URL: duplicate mails are caught within this process only")
        deliveries = MemoryDeliveryLog()
    if source is None:
        source = RabbitSource(
            settings.rabbitmq_url,
            settings.rabbitmq_queue,
            settings.notifier_retry_delays,
            settings.notifier_prefetch,
        )
    return Notifier(
        source,
        renderer=renderer,
        mailer=mailer,
        deliveries=deliveries,
        retry_delays=settings.notifier_retry_delays,
    )


async def run_notifier(settings: Settings, metrics_port: int | None) -> int:
    """``pricealert notifier``: consume until SIGTERM or SIGINT, then settle what is in hand."""
    async with AsyncExitStack() as stack:
        notifier = await build_notifier(settings, stack)
        serve_metrics(notifier.metrics, metrics_port, settings.metrics_host)
        stop_on_signals(notifier.stop)
        smtp = settings.smtp
        log.info(
            "notifier starting",
            extra={
                "smtp": f"{smtp.host or 'localhost'}:{smtp.port}",
                "smtp_tls": smtp.tls,
                "smtp_connections": smtp.pool_size,
                "sender": smtp.sender,
            },
        )
        await notifier.run()
    return 0
