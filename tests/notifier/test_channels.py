"""Every channel of a fire, through the real RabbitMQ and PostgreSQL to real servers on loopback:
a webhook receiver that checks Standard Webhooks signatures with the ``standardwebhooks``
package, and a fake Telegram Bot API. Each channel is delivered, retried and parked on its own,
and its outcome is what the delivery log says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from psycopg_pool import AsyncConnectionPool

from notifier.channels.telegram import TelegramChannel
from notifier.channels.webhook import WebhookChannel
from notifier.webhook_secrets import DatabaseWebhookSecrets
from shared.messages import AlertMessage
from shared.rabbit import parking_queue
from tests.fake_telegram import BOT_TOKEN, FakeTelegram, too_many_requests
from tests.notifier.helpers import (
    StartNotifier,
    alert,
    drain_queue,
    publish_alerts,
)
from tests.smtp_sink import SmtpSink
from tests.webhook_receiver import Hang, Reply, WebhookReceiver, new_secret

pytestmark = pytest.mark.usefixtures("clean_tables", "retry_queues_cleaned")
SECRET = new_secret()
CHAT = 4242


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(secret=SECRET) as receiver:
        yield receiver


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(chats=[CHAT, "@pricealerts"], blocked=[666]) as fake:
        yield fake


@pytest.fixture
async def user(pool: AsyncConnectionPool) -> int:
    """The owner of the test alerts, with a webhook secret."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "INSERT INTO users (username, password_hash, webhook_secret) VALUES ('hooks', 'x', %s)"
            " RETURNING id",
            (SECRET,),
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def channels_of(
    pool: AsyncConnectionPool, telegram: FakeTelegram | None = None, *, timeout: float = 5
) -> list[Any]:
    extra: list[Any] = [
        WebhookChannel(DatabaseWebhookSecrets(pool), timeout_seconds=timeout, allow_private=True)
    ]
    if telegram is not None:
        extra.append(
            TelegramChannel(telegram.url, BOT_TOKEN, max_per_second=50, timeout_seconds=timeout)
        )
    return extra


def fire(alert_id: int, user: int, **channels: Any) -> AlertMessage:
    return alert(alert_id, user_id=user, channels=channels, email=channels.get("email"))


async def deliveries(pool: AsyncConnectionPool) -> dict[tuple[int, str], tuple[str, int, str]]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT alert_id, channel, status, attempts, coalesce(last_error, '')"
            " FROM deliveries ORDER BY alert_id, channel"
        )
        return {(r[0], r[1]): (r[2], r[3], r[4]) for r in await cursor.fetchall()}


async def test_every_channel_of_a_fire_is_delivered_and_the_webhook_is_signed(
    start_notifier: StartNotifier,
    pool: AsyncConnectionPool,
    receiver: WebhookReceiver,
    telegram: FakeTelegram,
    smtp_sink: SmtpSink,
    user: int,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    running = await start_notifier(extra_channels=channels_of(pool, telegram))
    message = fire(
        7,
        user,
        email="ann@example.com",
        webhook={"url": f"{receiver.url}/hook", "format": "standard"},
        telegram=CHAT,
    )
    await publish_alerts(rabbitmq_url, queue_name, [message])
    (hook,) = await receiver.wait_for(1)
    (chat,) = await telegram.wait_for(1)
    await smtp_sink.wait_for(1)
    await running.until(lambda: running.count("sent") == 3)
    assert hook.verified, hook.error
    assert hook.webhook_id == "alert-7-1"
    assert hook.json["type"] == "alert.fired"
    assert hook.json["data"]["alert_id"] == 7
    assert hook.json["data"]["triggered_price"] == "50012.5"
    assert hook.json["data"]["summary"] == "BTCUSDT is above 50,000.00"
    assert chat.chat_id == CHAT
    assert chat.text.startswith("BTCUSDT is above 50,000.00.")
    assert smtp_sink.alert_ids == [7]
    assert await deliveries(pool) == {
        (7, "email"): ("sent", 1, ""),
        (7, "telegram"): ("sent", 1, ""),
        (7, "webhook"): ("sent", 1, ""),
    }


async def test_a_failing_webhook_is_retried_alone_and_never_holds_back_the_mail(
    start_notifier: StartNotifier,
    pool: AsyncConnectionPool,
    receiver: WebhookReceiver,
    smtp_sink: SmtpSink,
    user: int,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    receiver.plan("/hook", [Reply(500), Reply(429, retry_after=0.5)])
    running = await start_notifier(extra_channels=channels_of(pool))
    message = fire(8, user, email="ann@example.com", webhook={"url": f"{receiver.url}/hook"})
    await publish_alerts(rabbitmq_url, queue_name, [message])
    attempts = await receiver.wait_for(3)
    await running.until(lambda: running.count("sent") == 2)
    assert [a.status for a in attempts] == [500, 429, 200]
    assert {a.webhook_id for a in attempts} == {"alert-8-1"}  # one id on every retry
    assert all(a.verified for a in attempts)
    # The 429 asked for 0.5 s: more than the second delay's 0.3, so the next (0.6 s) was used.
    assert attempts[2].perf - attempts[1].perf >= 0.5
    assert smtp_sink.alert_ids == [8]  # mailed once, at the first try
    assert (await deliveries(pool))[(8, "webhook")] == ("sent", 3, "")
    assert running.count("retried") == 2


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(410), "410"),
        (Reply(302, location="http://elsewhere.example/"), "not followed"),
        (Reply(400, body=b"bad field"), "bad field"),
    ],
)
async def test_a_webhook_that_refuses_for_good_is_parked_with_the_reason(
    start_notifier: StartNotifier,
    pool: AsyncConnectionPool,
    receiver: WebhookReceiver,
    user: int,
    rabbitmq_url: str,
    queue_name: str,
    reply: Reply,
    reason: str,
) -> None:
    receiver.plan("/hook", [reply])
    running = await start_notifier(extra_channels=channels_of(pool))
    await publish_alerts(
        rabbitmq_url, queue_name, [fire(9, user, webhook={"url": f"{receiver.url}/hook"})]
    )
    await running.until(lambda: running.count("parked_permanent") == 1)
    assert len(receiver.requests()) == 1  # not retried, and no redirect followed
    status, attempts, error = (await deliveries(pool))[(9, "webhook")]
    assert (status, attempts) == ("parked", 1)
    assert reason in error
    (parked,) = await drain_queue(rabbitmq_url, parking_queue(queue_name))
    assert parked.headers["x-pricealert-channel"] == "webhook"
    assert reason in str(parked.headers["x-pricealert-reason"])


async def test_a_webhook_that_does_not_answer_in_time_is_tried_again(
    start_notifier: StartNotifier,
    pool: AsyncConnectionPool,
    receiver: WebhookReceiver,
    user: int,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    receiver.plan("/hook", [Hang(5)])
    running = await start_notifier(extra_channels=channels_of(pool, timeout=0.3))
    await publish_alerts(
        rabbitmq_url, queue_name, [fire(10, user, webhook={"url": f"{receiver.url}/hook"})]
    )
    await running.until(lambda: running.count("sent") == 1)
    first, second = receiver.requests("/hook")
    assert first.status is None  # the notifier gave up waiting
    assert second.delivered


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "169.254.169.254"])
async def test_a_webhook_to_a_private_address_is_refused(
    start_notifier: StartNotifier,
    pool: AsyncConnectionPool,
    receiver: WebhookReceiver,
    user: int,
    rabbitmq_url: str,
    queue_name: str,
    host: str,
) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    guarded = WebhookChannel(DatabaseWebhookSecrets(pool), timeout_seconds=2, allow_private=False)
    running = await start_notifier(extra_channels=[guarded])
    message = fire(11, user, webhook={"url": f"https://{host}:{port}/hook"})
    await publish_alerts(rabbitmq_url, queue_name, [message])
    await running.until(lambda: running.count("parked_permanent") == 1)
    assert receiver.requests() == []
    status, _, error = (await deliveries(pool))[(11, "webhook")]
    assert status == "parked"
    assert "refused" in error
    assert "not a public address" in error


@pytest.mark.parametrize(("webhook_format", "key"), [("discord", "content"), ("slack", "text")])
async def test_discord_and_slack_get_one_line(
    start_notifier: StartNotifier,
    pool: AsyncConnectionPool,
    receiver: WebhookReceiver,
    user: int,
    rabbitmq_url: str,
    queue_name: str,
    webhook_format: str,
    key: str,
) -> None:
    running = await start_notifier(extra_channels=channels_of(pool))
    hook = {"url": f"{receiver.url}/chat", "format": webhook_format}
    await publish_alerts(rabbitmq_url, queue_name, [fire(12, user, webhook=hook)])
    (request,) = await receiver.wait_for(1)
    await running.until(lambda: running.count("sent") == 1)
    assert orjson.loads(request.body) == {key: "BTCUSDT is above 50,000.00 (alert #12, fire 1)"}
    assert "webhook-signature" not in request.headers


async def test_telegram_waits_as_asked_and_gives_up_on_a_blocked_chat(
    start_notifier: StartNotifier,
    pool: AsyncConnectionPool,
    telegram: FakeTelegram,
    user: int,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    telegram.plan([too_many_requests(1)])
    running = await start_notifier(extra_channels=channels_of(pool, telegram))
    await publish_alerts(
        rabbitmq_url,
        queue_name,
        [fire(13, user, telegram="@pricealerts"), fire(14, user, telegram=666)],
    )
    await telegram.wait_for(1)
    await running.until(lambda: running.count("parked_permanent") + running.count("sent") == 2)
    found = await deliveries(pool)
    assert found[(13, "telegram")][0] == "sent"
    assert found[(13, "telegram")][1] == 2  # the 429, then the retry after its retry_after
    assert found[(14, "telegram")][0] == "parked"
    assert "blocked" in found[(14, "telegram")][2]
    retry = [call for call in telegram.calls if call.params.get("chat_id") == "@pricealerts"]
    assert retry[1].perf - retry[0].perf >= 1.0  # retry_after was honoured


async def test_telegram_keeps_to_its_rate_limit(
    start_notifier: StartNotifier,
    pool: AsyncConnectionPool,
    user: int,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    async with FakeTelegram(chats=[CHAT], max_per_second=10, window=0.95) as telegram:
        limited = TelegramChannel(telegram.url, BOT_TOKEN, max_per_second=10, timeout_seconds=5)
        running = await start_notifier(extra_channels=[limited])
        fires = [fire(100 + i, user, telegram=CHAT) for i in range(30)]
        await publish_alerts(rabbitmq_url, queue_name, fires)
        await running.until(lambda: running.count("sent") == 30)
        assert telegram.rate_limited == 0
        assert len(telegram.messages) == 30


async def test_a_channel_this_notifier_lacks_is_parked_and_the_others_go(
    start_notifier: StartNotifier,
    pool: AsyncConnectionPool,
    smtp_sink: SmtpSink,
    user: int,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    running = await start_notifier()  # email only: no TELEGRAM_BOT_TOKEN here
    await publish_alerts(
        rabbitmq_url, queue_name, [fire(15, user, email="ann@example.com", telegram=CHAT)]
    )
    await running.until(lambda: running.count("sent") + running.count("parked_permanent") == 2)
    assert smtp_sink.alert_ids == [15]
    status, _, error = (await deliveries(pool))[(15, "telegram")]
    assert status == "parked"
    assert "no telegram channel" in error
