"""Sending mail over a small pool of reused SMTP connections, with every failure sorted into
"try again later" or "will never work"."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosmtplib

from notifier.errors import PermanentSendError, TransientSendError
from notifier.mail import Mail
from shared.settings import SmtpSettings

log = logging.getLogger(__name__)


class SmtpPool:
    """At most ``settings.pool_size`` connections, each kept open and reused for the next mail;
    a connection that failed in any way is dropped and a new one opened on demand. That many
    sends run at once; the others wait for a free connection."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._free = asyncio.Semaphore(settings.pool_size)
        self._idle: list[aiosmtplib.SMTP] = []
        self._closed = False

    async def send(self, mail: Mail) -> None:
        """Returns once the server accepted ``mail``; raises TransientSendError or
        PermanentSendError."""
        async with self._free:
            client = self._idle.pop() if self._idle else None
            try:
                client = await self._send_on(client, mail)
            except BaseException as exc:
                if isinstance(exc, Exception):
                    raise _classify(exc) from exc
                raise
            if self._closed:
                await _quit(client)
            else:
                self._idle.append(client)

    async def _send_on(self, client: aiosmtplib.SMTP | None, mail: Mail) -> aiosmtplib.SMTP:
        """Send on ``client`` if it is still usable, else on a new connection; the connection
        that worked. A kept connection the server has since dropped (servers close idle ones
        after a few minutes) gets one immediate retry on a fresh connection."""
        if client is not None and client.is_connected:
            try:
                await self._sendmail(client, mail)
                return client
            except aiosmtplib.SMTPResponseException:
                await _quit(client)  # the connection works: leave it politely
                raise  # the server answered: a fresh connection would get the same answer
            except (aiosmtplib.SMTPException, OSError):
                client.close()
        elif client is not None:
            client.close()
        client = await self._connect()
        async with _left_on_error(client):
            await self._sendmail(client, mail)
        return client

    async def _sendmail(self, client: aiosmtplib.SMTP, mail: Mail) -> None:
        """One transaction: MAIL, RCPT, DATA. ``SMTP.sendmail`` would parse both addresses with
        ``email.utils.parseaddr`` on every mail, 40% of the client's CPU in the notifier
        benchmark; the renderer has already checked them, so they go out as they are."""
        timeout = self._settings.timeout_seconds
        if not (mail.sender.isascii() and mail.recipient.isascii()):  # needs SMTPUTF8
            await client.sendmail(mail.sender, [mail.recipient], mail.raw, timeout=timeout)
            return
        reply = await client.execute_command(
            b"MAIL", f"FROM:<{mail.sender}>".encode(), timeout=timeout
        )
        if reply.code != 250:
            raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, mail.sender)
        reply = await client.execute_command(
            b"RCPT", f"TO:<{mail.recipient}>".encode(), timeout=timeout
        )
        if reply.code not in (250, 251):
            raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, mail.recipient)
        await client.data(mail.raw, timeout=timeout)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(client) for client in idle))

    async def _connect(self) -> aiosmtplib.SMTP:
        settings = self._settings
        client = aiosmtplib.SMTP(
            hostname=settings.host or "localhost",
            port=settings.port,
            use_tls=settings.tls == "tls",
            start_tls=settings.tls == "starttls",  # never "try if offered": say it
            timeout=settings.timeout_seconds,
            cert_bundle=settings.ca_file,
        )
        await client.connect()
        async with _left_on_error(client):
            await client.ehlo()
            if settings.user:
                await client.login(settings.user, settings.password or "")
        return client


@asynccontextmanager
async def _left_on_error(client: aiosmtplib.SMTP) -> AsyncIterator[None]:
    """On an error, leave ``client``: with QUIT when the server answered (the connection
    works), abruptly otherwise."""
    try:
        yield
    except aiosmtplib.SMTPResponseException:
        await _quit(client)
        raise
    except BaseException:
        client.close()
        raise


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await asyncio.wait_for(client.quit(), 2)
    except Exception:
        client.close()


def _classify(exc: Exception) -> Exception:
    """5xx for this recipient or this message: permanent. Everything else (a refused or
    dropped connection, a timeout, 4xx, and 5xx about our own sender or login, which a fixed
    configuration cures) is transient."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in exc.recipients]
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        if codes and all(500 <= code < 600 for code in codes):
            return PermanentSendError(f"recipient refused: {detail}")
        return TransientSendError(f"recipient deferred: {detail}")
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        text = f"{exc.code} {exc.message}"
        if 500 <= exc.code < 600:
            return PermanentSendError(f"refused: {text}")
        return TransientSendError(f"deferred: {text}")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError | aiosmtplib.SMTPSenderRefused):
        log.error("the SMTP server refuses our login or sender: check SMTP_USER and SMTP_FROM")
    return TransientSendError(f"{type(exc).__name__}: {exc}")
