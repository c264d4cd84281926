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
``WEBHOOK_ALLOW_PRIVATE``: an IP in the URL, and for a name every address it resolves to, at
send time; the connection is then made to exactly those checked addresses
(``notifier.channels.http``), so no second resolution can slip another in.

The HTTP client is our own lean one, hand-written for speed (``notifier.channels.http``;
``benchmarks/webhooks.py`` measures it); one client (one pool of kept-alive connections) serves
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

import orjson

from notifier.channels import Parts
from notifier.channels.http import Answer, HttpClient, UnsafeAddress
from notifier.channels.signing import sign
from notifier.errors import PermanentSendError, TransientSendError
from notifier.webhook_secrets import DatabaseWebhookSecrets, NoWebhookSecrets
from notifier.wording import MalformedAlert, describe
from shared.addresses import ip_literal, is_public
from shared.messages import AlertMessage
from shared.settings import Settings

log = logging.getLogger(__name__)

FORMATS = ("standard", "discord", "slack")
CONNECTIONS_PER_HOST = 32
MAX_REASON = 300  # characters of a refusing answer's body kept as the reason
USER_AGENT = "pricealert-webhooks/1"


class WebhookSecrets(Protocol):
    async def of(self, user_id: int) -> str | None:
        """The user's current signing secret (``whsec_...``), or None if they have none."""
        ...


def open_channel(settings: Settings, parts: Parts) -> WebhookChannel:
    """Signs with each user's secret from the database (without one, standard webhooks park)."""
    secrets: WebhookSecrets = (
        NoWebhookSecrets() if parts.pool is None else DatabaseWebhookSecrets(parts.pool)
    )
    return WebhookChannel(
        secrets,
        timeout_seconds=settings.webhook_timeout_seconds,
        allow_private=settings.webhook_allow_private,
    )


class WebhookChannel:
    name = "webhook"

    def __init__(
        self, secrets: WebhookSecrets, *, timeout_seconds: float, allow_private: bool
    ) -> None:
        self._secrets = secrets
        self._timeout = timeout_seconds
        self._allow_private = allow_private
        self._client = HttpClient(self._resolve, per_host=CONNECTIONS_PER_HOST)

    async def close(self) -> None:
        await self._client.close()

    async def deliver(self, message: AlertMessage) -> None:
        url, webhook_format = self._target(message)
        body = _body(message, webhook_format)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if webhook_format == "standard":
            headers |= await self._signature(message, body)
        try:
            async with asyncio.timeout(self._timeout):
                answer = await self._client.post(url, body, headers)
        except UnsafeAddress as exc:
            raise PermanentSendError(f"refused: {exc}") from None
        except TimeoutError:
            raise TransientSendError("no answer in time") from None
        except socket.gaierror as exc:
            raise TransientSendError(f"cannot resolve the webhook's host: {exc}") from None
        except OSError as exc:
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from None
        except ValueError as exc:
            raise PermanentSendError(f"refused: {exc}") from None
        _judge(answer)

    async def _resolve(self, host: str, port: int) -> list[str]:
        literal = ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
            addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        if not self._allow_private:
            refused = [address for address in addresses if not is_public(address)]
            if refused:
                raise UnsafeAddress(
                    f"{host} is or resolves to {', '.join(refused)}, not a public address"
                )
        return addresses

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


def _judge(answer: Answer) -> None:
    status = answer.status
    if 200 <= status < 300:
        return
    reason = f"{status} {answer.reason}".strip()
    text = " ".join(answer.body[:MAX_REASON].decode("utf-8", "replace").split())
    if text:
        reason += f": {text}"
    if status in (408, 429) or status >= 500:
        raise TransientSendError(reason, retry_after=_retry_after(answer.headers))
    if status == 410:
        raise PermanentSendError(f"{reason}: the endpoint is gone")
    if 300 <= status < 400:
        where = answer.headers.get("location", "somewhere")
        raise PermanentSendError(f"{reason}: a redirect to {where}, not followed")
    raise PermanentSendError(reason)


def _retry_after(headers: dict[str, str]) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date."""
    value = headers.get("retry-after")
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
