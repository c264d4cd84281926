"""The Telegram channel: each fire a ``sendMessage`` of the bot (``TELEGRAM_BOT_TOKEN``) to the
alert's ``telegram_chat_id`` (a chat id, or ``@channelname``), in plain text (no parse mode: a
price's dots need no escaping then).

Telegram allows about 30 messages a second overall per bot: every send first takes its turn
from a bucket of ``TELEGRAM_MAX_PER_SECOND`` (25) a second, spaced evenly (aiolimiter). A 429
is tried again after its ``retry_after``; 400 (chat not found) and 403 (bot blocked) are given
up, since retrying never helps; 401 means our token is wrong, which an operator can fix, so
it is retried and said loudly.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import orjson
from aiolimiter import AsyncLimiter

from notifier.channels import Parts
from notifier.errors import PermanentSendError, TransientSendError
from notifier.wording import MalformedAlert, describe
from shared.messages import AlertMessage
from shared.settings import Settings

log = logging.getLogger(__name__)

MAX_TEXT = 4096  # Telegram's limit for one message


def open_channel(settings: Settings, parts: Parts) -> TelegramChannel | None:
    """Only when the server has a bot (``TELEGRAM_BOT_TOKEN``)."""
    if not settings.telegram_bot_token:
        return None
    return TelegramChannel(
        settings.telegram_api_url,
        settings.telegram_bot_token,
        max_per_second=settings.telegram_max_per_second,
        timeout_seconds=settings.webhook_timeout_seconds,
    )


class TelegramChannel:
    name = "telegram"

    def __init__(
        self, api_url: str, token: str, *, max_per_second: float, timeout_seconds: float
    ) -> None:
        self._endpoint = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        # One send at a time, 1/N s apart: never more than N in any second, and no burst.
        self._turns = AsyncLimiter(max_rate=1, time_period=1 / max_per_second)
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on first use: it needs the running loop
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def deliver(self, message: AlertMessage) -> None:
        chat = message.channels.get("telegram")
        if not isinstance(chat, int | str) or isinstance(chat, bool) or chat == "":
            raise PermanentSendError("the message has no telegram chat")
        body = orjson.dumps(
            {"chat_id": chat, "text": _text(message), "disable_web_page_preview": True}
        )
        await self._turns.acquire()
        try:
            async with self._client().post(
                self._endpoint, data=body, headers={"Content-Type": "application/json"}
            ) as response:
                answer = await response.read()
                status = response.status
        except TimeoutError:
            raise TransientSendError("Telegram did not answer in time") from None
        except aiohttp.ClientError as exc:
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from None
        _judge(status, answer)


def _text(message: AlertMessage) -> str:
    try:
        words = describe(message)
    except MalformedAlert as exc:
        raise PermanentSendError(f"cannot be described: {exc}") from None
    lines = [
        f"{words.headline}.",
        f"{message.symbol} traded at {words.price} on {words.triggered_at}; "
        f"your alert: {words.condition}.",
        f"Alert #{message.alert_id}, fire {message.seq}. {words.next_fire}",
    ]
    return "\n".join(lines)[:MAX_TEXT]


def _judge(status: int, answer: bytes) -> None:
    try:
        reply: dict[str, Any] = orjson.loads(answer)
    except orjson.JSONDecodeError:
        reply = {}
    if 200 <= status < 300 and reply.get("ok") is True:
        return
    description = str(reply.get("description") or f"HTTP {status}")
    parameters = reply.get("parameters")
    if status == 429:
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        wait = float(retry_after) if isinstance(retry_after, int | float) else None
        raise TransientSendError(f"Telegram: {description}", retry_after=wait)
    if status in (400, 403):
        raise PermanentSendError(f"Telegram: {description}")
    if status == 401:
        log.error("Telegram refuses the bot token: check TELEGRAM_BOT_TOKEN")
    raise TransientSendError(f"Telegram: {description}")
