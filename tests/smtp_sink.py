"""A real SMTP server for the tests (aiosmtpd on loopback, in its own thread), which records
what it accepted and can be told to refuse, defer, slow down, or go away and come back."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    peer: Any  # the client's (host, port): one per connection

    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def alert_id(self) -> int:
        return int(self.message()["X-Pricealert-Alert-Id"])


@dataclass
class _Behaviour:
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> full reply
    defer_everything: str | None = None  # a reply to every RCPT, such as "451 try later"
    delay_seconds: float = 0.0


class SmtpSink:
    """``tls``: None, "starttls" (required before MAIL) or "tls" (implicit), with ``context``;
    ``login``: the (user, password) the server requires, if any."""

    def __init__(
        self,
        *,
        tls: str | None = None,
        context: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.port = _free_port()
        self._tls = tls
        self._context = context
        self._login = login
        self.logins: list[str] = []
        self.received: list[Received] = []
        self.accepted_at: list[float] = []  # time.perf_counter() of each accept
        self.behaviour = _Behaviour()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._controller: Controller | None = None

    def start(self) -> None:
        options: dict[str, Any] = {}
        if self._tls == "tls":
            # aiosmtpd counts only STARTTLS as TLS for AUTH; this connection is TLS throughout.
            options |= {"ssl_context": self._context, "auth_require_tls": False}
        elif self._tls == "starttls":
            options |= {"tls_context": self._context, "require_starttls": True}
        if self._login is not None:
            options["authenticator"] = self._authenticate
            # Required where aiosmtpd can tell TLS is on (STARTTLS); offered on implicit TLS.
            options["auth_required"] = self._tls != "tls"
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, ready_timeout=10, **options
        )
        self._controller.start()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        user, password = data.login.decode(), data.password.decode()
        if (user, password) != self._login:
            return AuthResult(success=False, handled=False)
        self.logins.append(user)
        return AuthResult(success=True)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def alert_ids(self) -> list[int]:
        with self._lock:
            return [received.alert_id for received in self.received]

    async def wait_for(self, count: int) -> list[Received]:
        """Until at least ``count`` mails were accepted (30 s at most); those mails."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters.append(entry)
        try:
            async with asyncio.timeout(30):
                while len(self.received) < count:
                    await event.wait()
                    event.clear()
        finally:
            with self._lock:
                self._waiters.remove(entry)
        with self._lock:
            return list(self.received)

    def _accepted(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)
            self.accepted_at.append(time.perf_counter())
            for loop, event in self._waiters:
                loop.call_soon_threadsafe(event.set)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        behaviour = self._sink.behaviour
        if behaviour.defer_everything:
            return behaviour.defer_everything
        if address in behaviour.refuse:
            return behaviour.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._sink.behaviour.delay_seconds:
            await asyncio.sleep(self._sink.behaviour.delay_seconds)
        content = envelope.original_content or b""
        self._sink._accepted(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), bytes(content), session.peer)
        )
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
