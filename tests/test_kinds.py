"""Every kind of alert end to end through ``pricealert up`` on the real PostgreSQL and RabbitMQ:
alerts created over HTTP, trades from the fake Binance (at trade times the test chooses), and
what arrives by mail, webhook and Telegram, and what the events list says."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from matcher.exchanges.feed import ExchangeFeed
from pricealert.up import Up
from tests.fake_binance import FakeBinance
from tests.fake_telegram import BOT_TOKEN, FakeTelegram
from tests.helpers import settings_on_servers, start_up
from tests.smtp_sink import SmtpSink
from tests.webhook_receiver import WebhookReceiver

WAIT = 30.0
MINUTE_MS = 60_000
CHAT = 777


@dataclass
class World:
    up: Up
    client: httpx.AsyncClient
    fake: FakeBinance
    sink: SmtpSink
    receiver: WebhookReceiver
    telegram: FakeTelegram

    async def create(self, **body: Any) -> dict[str, Any]:
        response = await self.client.post("/api/alerts/create/", json=body)
        assert response.status_code == 201, response.text
        alert: dict[str, Any] = response.json()
        return alert

    async def alert(self, alert_id: int) -> dict[str, Any]:
        alert: dict[str, Any] = (await self.client.get(f"/api/alerts/{alert_id}/")).json()
        return alert

    async def events(self, alert_id: int) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = (
            await self.client.get(f"/api/alerts/{alert_id}/events/")
        ).json()
        return events

    async def following(self, *symbols: str) -> None:
        wanted = {f"{symbol.lower()}@aggTrade" for symbol in symbols}
        await self.fake.until(lambda: wanted <= self.fake.subscribed())

    async def history_filled(self, count: int) -> None:
        """Until ``count`` symbols got their percent windows' history from the klines."""
        feed = self.up.feed
        assert isinstance(feed, ExchangeFeed)
        async with asyncio.timeout(WAIT):
            await feed.progress.until(lambda: feed.histories_filled >= count)

    async def sent(self, count: int) -> None:
        notifier = self.up.notifier
        async with asyncio.timeout(WAIT):
            await notifier.progress.until(lambda: notifier.metrics.value("sent") >= count)

    async def settled(self, canary: int) -> None:
        """Until ``canary`` (an alert a trade just crossed, pushed last) was claimed: every
        trade pushed before it, on the same stream connection, was matched."""
        async with asyncio.timeout(WAIT):
            while (await self.alert(canary))["fire_count"] == 0:
                await self.up.matcher.progress.changed(self.up.matcher.progress.value)


@pytest.fixture
async def world(
    tmp_path: Path, database_url: str, rabbitmq_url: str, queue_name: str, smtp_sink: SmtpSink
) -> AsyncIterator[World]:
    fake = FakeBinance()
    fake.listed |= {"SOLUSDT", "BNBUSDT"}
    await fake.start()
    async with (
        WebhookReceiver() as receiver,
        FakeTelegram(chats=[CHAT]) as telegram,
    ):
        settings = settings_on_servers(
            database_url=database_url,
            rabbitmq_url=rabbitmq_url,
            queue=queue_name,
            smtp_port=smtp_sink.port,
            fake=fake,
            more={
                "WEBHOOK_ALLOW_PRIVATE": "true",
                "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
                "TELEGRAM_API_URL": telegram.url,
                "NOTIFIER_RETRY_DELAYS": "0.5",
            },
        )
        up, task = await start_up(settings, tmp_path)
        try:
            async with httpx.AsyncClient(base_url=up.api_url, timeout=10) as client:
                credentials = {"username": "kinds", "password": "long enough password"}
                assert (await client.post("/api/signup/", json=credentials)).status_code == 201
                tokens = (await client.post("/api/login/", json=credentials)).json()
                client.headers["Authorization"] = f"Bearer {tokens['access']}"
                account = (await client.get("/api/account/")).json()
                receiver.endpoint("/hook", secret=account["webhook_secret"])
                yield World(up, client, fake, smtp_sink, receiver, telegram)
        finally:
            up.stop()
            assert await asyncio.wait_for(task, WAIT) == 0
            await fake.close()


@pytest.mark.usefixtures("clean_tables")
async def test_every_kind_fires_once_on_its_channel_and_its_events_say_so(world: World) -> None:
    now = int(time.time() * 1000)
    # ETHUSDT traded at 2,500 ten minutes ago (klines): an up_pct over an hour measures from it.
    world.fake.traded_meanwhile("ETHUSDT", high="2520", low="2500", minutes_ago=10)
    world.fake.prices["ETHUSDT"] = "2550"
    above = await world.create(
        symbol="BTCUSDT", trigger_condition="above", target_price="50000", email="a@example.com"
    )
    crossing = await world.create(
        symbol="SOLUSDT",
        trigger_condition="crossing",
        target_price="200",
        webhook_url=f"{world.receiver.url}/hook",
    )
    rise = await world.create(
        symbol="ETHUSDT",
        trigger_condition="up_pct",
        percent="5",
        window="1h",
        telegram_chat_id=CHAT,
    )
    fall = await world.create(
        symbol="BNBUSDT",
        trigger_condition="down_pct",
        percent="10",
        window="15m",
        email="b@example.com",
        webhook_url=f"{world.receiver.url}/chat",
        webhook_format="slack",
    )
    await world.following("BTCUSDT", "SOLUSDT", "ETHUSDT", "BNBUSDT")
    await world.history_filled(2)  # ETHUSDT and BNBUSDT
    fake = world.fake
    fake.trade("SOLUSDT", "190", time_ms=now)  # the crossing alert's reference: below 200
    fake.trade("BTCUSDT", "49999", time_ms=now)
    fake.trade("BTCUSDT", "50000.5", time_ms=now + 1)  # above fires
    fake.trade("SOLUSDT", "200.25", time_ms=now + 2)  # crossing fires, upwards
    fake.trade("ETHUSDT", "2626.5", time_ms=now + 3)  # +5.06% over the hour's low of 2,500
    fake.trade("BNBUSDT", "600", time_ms=now + 4)
    fake.trade("BNBUSDT", "539.99", time_ms=now + 5)  # -10.0017% from 600 within 15 minutes
    await world.sent(5)  # two mails, two webhooks, one Telegram message

    shown = {
        name: await world.alert(a["id"])
        for name, a in {"above": above, "crossing": crossing, "rise": rise, "fall": fall}.items()
    }
    assert shown["above"]["state"] == "triggered"
    assert Decimal(shown["above"]["triggered_price"]) == Decimal("50000.5")
    assert Decimal(shown["crossing"]["reference_price"]) == Decimal("190")
    assert Decimal(shown["rise"]["triggered_price"]) == Decimal("2626.5")
    assert shown["fall"]["fire_count"] == 1

    mails = {r.recipients[0]: r.message() for r in world.sink.received}
    assert mails["a@example.com"]["Subject"] == "BTCUSDT is above 50,000.00: your alert fired"
    assert mails["b@example.com"]["Subject"].startswith("BNBUSDT fell 10.0% within 15 minutes")
    (hook,) = world.receiver.requests("/hook")
    assert hook.verified, hook.error
    assert hook.json["data"]["summary"] == "SOLUSDT crossed 200.00 upwards, to 200.25"
    (chat,) = world.receiver.requests("/chat")
    assert chat.json["text"].startswith("BNBUSDT fell 10.0% within 15 minutes, to 539.99")
    (message,) = world.telegram.messages
    assert message.text.startswith("ETHUSDT rose 5.0% within 1 hour, to 2,626.50.")

    (fire,) = await world.events(fall["id"])
    assert fire["seq"] == 1
    assert sorted((d["channel"], d["status"]) for d in fire["deliveries"]) == [
        ("email", "sent"),
        ("webhook", "sent"),
    ]


@pytest.mark.usefixtures("clean_tables")
async def test_a_repeating_alert_fires_again_only_after_going_back_and_its_cooldown(
    world: World,
) -> None:
    now = int(time.time() * 1000)
    repeat = await world.create(
        symbol="BTCUSDT",
        trigger_condition="above",
        target_price="50000",
        frequency="repeat",
        cooldown_seconds=60,
        email="r@example.com",
    )
    canary = await world.create(
        symbol="BTCUSDT", trigger_condition="below", target_price="100", email="c@example.com"
    )
    await world.following("BTCUSDT")
    fake = world.fake
    fake.trade("BTCUSDT", "50001", time_ms=now)  # fire 1
    fake.trade("BTCUSDT", "50002", time_ms=now + 1000)  # still above: no second fire
    fake.trade("BTCUSDT", "49999", time_ms=now + 2000)  # back below: re-armed after cooldown
    fake.trade("BTCUSDT", "50003", time_ms=now + 30_000)  # within the cooldown: nothing
    fake.trade("BTCUSDT", "50004", time_ms=now + 61_000)  # after it: fire 2
    fake.trade("BTCUSDT", "99", time_ms=now + 62_000)  # the canary: everything before is matched
    await world.settled(canary["id"])
    await world.sent(3)
    shown = await world.alert(repeat["id"])
    assert shown["state"] == "created"  # a repeat stays live
    assert shown["fire_count"] == 2
    assert Decimal(shown["triggered_price"]) == Decimal("50004")
    events = await world.events(repeat["id"])
    assert [(e["seq"], Decimal(e["price"])) for e in events] == [
        (2, Decimal("50004")),
        (1, Decimal("50001")),
    ]
    subjects = [r.message()["Subject"] for r in world.sink.received if "r@" in r.recipients[0]]
    assert subjects == ["BTCUSDT is above 50,000.00: your alert fired"] * 2


@pytest.mark.usefixtures("clean_tables")
async def test_a_paused_or_expired_alert_never_fires_and_a_resumed_one_does(
    world: World,
) -> None:
    now = int(time.time() * 1000)
    soon = time.time() + 3
    expiring = await world.create(
        symbol="ETHUSDT",
        trigger_condition="above",
        target_price="3000",
        expires_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(soon + 1)),
        email="e@example.com",
    )
    paused = await world.create(
        symbol="ETHUSDT", trigger_condition="below", target_price="2000", email="p@example.com"
    )
    canary = await world.create(
        symbol="ETHUSDT", trigger_condition="below", target_price="100", email="c@example.com"
    )
    await world.following("ETHUSDT")
    assert (await world.client.post(f"/api/alerts/{paused['id']}/pause/")).status_code == 200
    fake = world.fake
    after_expiry = int((soon + 5) * 1000)
    fake.trade("ETHUSDT", "3001", time_ms=after_expiry)  # its trade came after it expired
    fake.trade("ETHUSDT", "1999", time_ms=after_expiry + 1)  # paused: nothing
    fake.trade("ETHUSDT", "99", time_ms=after_expiry + 2)  # the canary
    await world.settled(canary["id"])
    assert (await world.alert(expiring["id"]))["fire_count"] == 0
    assert (await world.alert(paused["id"]))["fire_count"] == 0
    resumed = await world.client.post(f"/api/alerts/{paused['id']}/resume/")
    assert resumed.status_code == 200
    await world.up.matcher.book_version.until(lambda: paused["id"] in world.up.matcher.book)
    fake.trade("ETHUSDT", "1998", time_ms=now + 10_000)
    await world.sent(2)  # the canary's mail and the resumed alert's
    assert (await world.alert(paused["id"]))["state"] == "triggered"
    assert sorted(r.recipients[0] for r in world.sink.received) == [
        "c@example.com",
        "p@example.com",
    ]
