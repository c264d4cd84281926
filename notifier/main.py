"""``pricealert notifier``: the email consumer, wired from settings, stopped cleanly by a signal."""

from __future__ import annotations

import logging

from notifier.consumer import Notifier
from notifier.mail import MailRenderer
from notifier.sent_log import DatabaseSentLog, MemorySentLog, SentLog
from notifier.smtp import SmtpPool, SmtpSettings
from notifier.sources import RabbitSource
from shared.db import create_pool
from shared.running import serve_metrics, stop_on_signals
from shared.settings import Settings

log = logging.getLogger("pricealert.notifier")


def smtp_settings(settings: Settings) -> SmtpSettings:
    return SmtpSettings(
        host=settings.smtp_host or "localhost",
        port=settings.smtp_port,
        tls=settings.smtp_tls,
        user=settings.smtp_user,
        password=settings.smtp_password,
        timeout_seconds=settings.smtp_timeout_seconds,
        ca_file=settings.smtp_ca_file,
    )


async def run_notifier(settings: Settings, metrics_port: int | None) -> int:
    renderer = MailRenderer(settings.smtp_from, settings.notifier_templates)
    smtp = smtp_settings(settings)
    mailer = SmtpPool(smtp, settings.smtp_pool_size)
    pool = None
    sent_log: SentLog
    if settings.database_url:
        pool = create_pool(settings.database_url, size=3, name="notifier")
        await pool.open(wait=True)
        sent_log = DatabaseSentLog(pool)
    else:
        log.warning("no DATABASE_URL: duplicate mails are caught within this process only")
        sent_log = MemorySentLog()
    source = RabbitSource(
        settings.rabbitmq_url,
        settings.rabbitmq_queue,
        settings.notifier_retry_delays,
        settings.notifier_prefetch,
    )
    notifier = Notifier(
        source,
        renderer=renderer,
        mailer=mailer,
        sent_log=sent_log,
        retry_delays=settings.notifier_retry_delays,
    )
    serve_metrics(notifier.metrics, metrics_port, settings.metrics_host)
    stop_on_signals(notifier.stop)
    log.info(
        "notifier starting",
        extra={
            "smtp": f"{smtp.host}:{smtp.port}",
            "smtp_tls": smtp.tls,
            "smtp_connections": settings.smtp_pool_size,
            "sender": settings.smtp_from,
        },
    )
    try:
        await notifier.run()
    finally:
        await mailer.close()
        if pool is not None:
            await pool.close()
    return 0
