"""The email channel: the fire rendered as a mail (``notifier.mail``) and handed to a mailer (the
SMTP pool, or the outbox of ``pricealert up``)."""

from __future__ import annotations

from typing import Protocol

from notifier.channels import Parts
from notifier.errors import PermanentSendError
from notifier.mail import Mail, MailRenderer
from notifier.smtp import SmtpPool
from notifier.wording import MalformedAlert
from shared.messages import AlertMessage
from shared.settings import Settings


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None:
        """Returns once accepted; raises TransientSendError or PermanentSendError."""
        ...

    async def close(self) -> None: ...


def open_channel(settings: Settings, parts: Parts) -> EmailChannel:
    """Mails through SMTP (``SMTP_*``), or through the mailer that stands in for it."""
    renderer = MailRenderer(settings.smtp.sender, settings.notifier_templates)
    return EmailChannel(renderer, parts.mailer or SmtpPool(settings.smtp))


class EmailChannel:
    name = "email"

    def __init__(self, renderer: MailRenderer, mailer: Mailer) -> None:
        self._renderer = renderer
        self._mailer = mailer

    async def deliver(self, message: AlertMessage) -> None:
        try:
            mail = self._renderer.render(message)
        except MalformedAlert as exc:
            raise PermanentSendError(f"cannot become a mail: {exc}") from None
        await self._mailer.send(mail)

    async def close(self) -> None:
        await self._mailer.close()
