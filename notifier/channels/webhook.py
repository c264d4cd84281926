"""The webhook channel: each fire POSTed as JSON to the alert's ``webhook_url``.

Formats: ``standard`` follows the Standard Webhooks spec (headers ``webhook-id``, the same
``alert-<id>-<seq>`` on every retry so a receiver can drop a repeat, ``webhook-timestamp`` and
``webhook-signature``, see ``notifier.channels.signing``), body
``{"type": "alert.fired", "timestamp", "data": {...}}``; ``discord`` sends ``{"content": line}``
and ``slack`` ``{"text": line}``, unsigned (those services do not check).

What the answer means: any 2xx is delivered; 408, 429, 5xx, a timeout, a refused or dropped
connection are tried again later, honouring ``Retry-After``; 410 (gone), a redirect (never
followed) and any other 4xx are given up, with the reason.

Safety (SSRF): an address that is not public (``shared.addresses``) is refused unless
``WEBHOOK_ALLOW_PRIVATE``: an IP in the URL before anything is sent, and for a name, every
address it resolves to, at send time, by the resolver of the connection pool, which then
connects to exactly those checked addresses, so no second resolution can slip another in.

The HTTP client is aiohttp: its connector takes a resolver of our own and connects only to the
addresses it returns, which is the whole of the SSRF rule in one small class; httpx has no such
hook short of writing a network backend. One session (one pool of kept-alive connections) serves
every webhook.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from notifier.channels.signing import sign
from notifier.errors import PermanentSendError, TransientSendError
from notifier.wording import MalformedAlert, describe
from shared.addresses import ip_literal, is_public
from shared.messages import AlertMessage

log = logging.getLogger(__name__)

FORMATS = ("standard", "discord", "slack")
CONNECTIONS = 200  # kept-alive connections, all webhooks together
CONNECTIONS_PER_HOST = 32
MAX_REASON = 300  # characters of a refusing answer's body kept as the reason
USER_AGENT = "pricealert-webhooks/1"


class UnsafeAddress(OSError):
    """The webhook's host resolves to an address that is not public."""


class CheckedResolver(AbstractResolver):
    """The system resolver, refusing a name if any of its addresses is not public."""

    def __init__(self, *, allow_private: bool) -> None:
        self._resolver = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        if not self._allow_private:
            refused = sorted({entry["host"] for entry in found if not is_public(entry["host"])})
            if refused:
                raise UnsafeAddress(
                    f"{host} resolves to {', '.join(refused)}, not a public address"
                )
        return found

    async def close(self) -> None:
        await self._resolver.close()


class WebhookSecrets(Protocol):
    async def of(self, user_id: int) -> str | None:
        """The user's current signing secret (``whsec_...``), or None if they have none."""
        ...


class WebhookChannel:
    name = "webhook"

    def __init__(
        self, secrets: WebhookSecrets, *, timeout_seconds: float, allow_private: bool
    ) -> None:
        self._secrets = secrets
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on first use: it needs the running loop
            connector = aiohttp.TCPConnector(
                limit=CONNECTIONS,
                limit_per_host=CONNECTIONS_PER_HOST,
                resolver=CheckedResolver(allow_private=self._allow_private),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def deliver(self, message: AlertMessage) -> None:
        url, webhook_format = self._target(message)
        body = _body(message, webhook_format)
        headers = {"Content-Type": "application/json"}
        if webhook_format == "standard":
            headers |= await self._signature(message, body)
        try:
            async with self._client().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await _judge(response)
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, UnsafeAddress):
                raise PermanentSendError(f"refused: {exc.os_error}") from None
            raise TransientSendError(f"cannot resolve the webhook's host: {exc}") from None
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise TransientSendError("no answer in time") from None
        except aiohttp.ClientError as exc:
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from None

    def _target(self, message: AlertMessage) -> tuple[str, str]:
        webhook = message.channels.get("webhook")
        if not isinstance(webhook, dict) or not isinstance(webhook.get("url"), str):
            raise PermanentSendError("the message has no webhook url")
        url = webhook["url"]
        webhook_format = webhook.get("format") or "standard"
        if webhook_format not in FORMATS:
            raise PermanentSendError(f"unknown webhook format {webhook_format!r}")
        parts = urlsplit(url)
        allowed = ("https", "http") if self._allow_private else ("https",)
        if parts.scheme not in allowed or not parts.hostname:
            raise PermanentSendError(f"refused: {url!r} is not an {' or '.join(allowed)} URL")
        literal = ip_literal(parts.hostname)
        if literal is not None and not self._allow_private and not is_public(literal):
            raise PermanentSendError(f"refused: {literal} is not a public address")
        return url, webhook_format

    async def _signature(self, message: AlertMessage, body: bytes) -> dict[str, str]:
        secret = await self._secrets.of(message.user_id)
        if secret is None:
            raise PermanentSendError("the user has no webhook secret to sign with")
        webhook_id = f"alert-{message.alert_id}-{message.seq}"
        timestamp = int(time.time())
        return {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, webhook_id, timestamp, body),
        }


def _body(message: AlertMessage, webhook_format: str) -> bytes:
    try:
        words = describe(message)
    except MalformedAlert as exc:
        raise PermanentSendError(f"cannot be described: {exc}") from None
    line = f"{words.headline} (alert #{message.alert_id}, fire {message.seq})"
    if webhook_format == "discord":
        return orjson.dumps({"content": line})
    if webhook_format == "slack":
        return orjson.dumps({"text": line})
    payload: dict[str, Any] = {
        "type": "alert.fired",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "alert_id": message.alert_id,
            "seq": message.seq,
            "symbol": message.symbol,
            "trigger_condition": message.trigger_condition,
            "target_price": message.target_price,
            "percent": message.percent,
            "window": message.window,
            "reference_price": message.reference_price,
            "triggered_price": message.triggered_price,
            "triggered_at": message.triggered_at,
            "summary": words.headline,
        },
    }
    return orjson.dumps(payload)


async def _judge(response: aiohttp.ClientResponse) -> None:
    status = response.status
    if 200 <= status < 300:
        return
    reason = await _reason(response)
    if status in (408, 429) or status >= 500:
        raise TransientSendError(reason, retry_after=_retry_after(response))
    if status == 410:
        raise PermanentSendError(f"{reason}: the endpoint is gone")
    if 300 <= status < 400:
        where = response.headers.get("Location", "somewhere")
        raise PermanentSendError(f"{reason}: a redirect to {where}, not followed")
    raise PermanentSendError(reason)


async def _reason(response: aiohttp.ClientResponse) -> str:
    text = f"{response.status} {response.reason or ''}".strip()
    try:
        body = (await asyncio.wait_for(response.content.read(MAX_REASON), 2)).decode(
            "utf-8", "replace"
        )
    except (TimeoutError, aiohttp.ClientError):
        body = ""
    body = " ".join(body.split())
    return f"{text}: {body}" if body else text


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
