"""The whole pipeline in one process (``pricealert up``): sign up and create alerts over HTTP,
trades from the fake Binance, mails out. Once against the real PostgreSQL, RabbitMQ and an SMTP
server; once on the embedded stand-ins alone (pgserver, in-process hand-off, outbox)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest

from pricealert.up import Up
from shared.settings import Settings
from tests.fake_binance import FakeBinance
from tests.helpers import settings_on_servers, start_up
from tests.smtp_sink import SmtpSink

WAIT = 30.0


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    server = FakeBinance()
    server.listed |= {"SOLUSDT"}
    await server.start()
    yield server
    await server.close()


async def sign_up_and_create(client: httpx.AsyncClient) -> dict[str, int]:
    """Alerts on three symbols; their ids by name."""
    credentials = {"username": "carol", "password": "long enough password"}
    assert (await client.post("/api/signup/", json=credentials)).status_code == 201
    tokens = (await client.post("/api/login/", json=credentials)).json()
    client.headers["Authorization"] = f"Bearer {tokens['access']}"
    wanted = {
        "btc_up": ("BTCUSDT", "above", "50000"),
        "btc_far": ("BTCUSDT", "above", "90000"),
        "eth_down": ("ETHUSDT", "below", "3000"),
        "sol_up": ("SOLUSDT", "above", "200"),
    }
    ids = {}
    for name, (symbol, condition, target) in wanted.items():
        body = {
            "symbol": symbol,
            "trigger_condition": condition,
            "target_price": target,
            "email": f"{name}@example.com",
        }
        response = await client.post("/api/alerts/create/", json=body)
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    return ids


async def until_sent(up: Up, count: int) -> None:
    async with asyncio.timeout(WAIT):
        await up.notifier.progress.until(lambda: up.notifier.metrics.value("sent") >= count)


async def trade_and_check(up: Up, fake: FakeBinance) -> dict[str, Any]:
    """Push trades; returns the alerts as the API shows them afterwards."""
    async with httpx.AsyncClient(base_url=up.api_url, timeout=10) as client:
        ids = await sign_up_and_create(client)
        streams = {"btcusdt@aggTrade", "ethusdt@aggTrade", "solusdt@aggTrade"}
        await fake.until(lambda: fake.subscribed() == streams)
        fake.trade("BTCUSDT", "49999.99")
        fake.trade("BTCUSDT", "50000.01")  # btc_up
        fake.trade("ETHUSDT", "2999.5")  # eth_down
        fake.trade("SOLUSDT", "199")
        await until_sent(up, 2)
        alerts = (await client.get("/api/alerts/")).json()
    by_id = {alert["id"]: alert for alert in alerts}
    return {name: by_id[alert_id] for name, alert_id in ids.items()}


def check_states(alerts: dict[str, Any]) -> None:
    assert alerts["btc_up"]["state"] == "triggered"
    assert Decimal(alerts["btc_up"]["triggered_price"]) == Decimal("50000.01")
    assert alerts["eth_down"]["state"] == "triggered"
    assert Decimal(alerts["eth_down"]["triggered_price"]) == Decimal("2999.5")
    assert alerts["btc_far"]["state"] == "created"
    assert alerts["sol_up"]["state"] == "created"


@pytest.mark.usefixtures("clean_tables")
async def test_the_whole_pipeline_on_real_services(
    tmp_path: Path,
    fake: FakeBinance,
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
    smtp_sink: SmtpSink,
) -> None:
    settings = settings_on_servers(
        database_url=database_url,
        rabbitmq_url=rabbitmq_url,
        queue=queue_name,
        smtp_port=smtp_sink.port,
        fake=fake,
    )
    up, task = await start_up(settings, tmp_path)
    try:
        alerts = await trade_and_check(up, fake)
    finally:
        up.stop()
        assert await asyncio.wait_for(task, WAIT) == 0
    check_states(alerts)
    mails = {r.recipients[0]: r.message() for r in smtp_sink.received}
    assert sorted(mails) == ["btc_up@example.com", "eth_down@example.com"]
    assert mails["btc_up@example.com"]["Subject"] == "BTCUSDT is above 50,000.00: your alert fired"
    assert up.outbox is None


async def test_the_whole_pipeline_on_embedded_stand_ins(tmp_path: Path, fake: FakeBinance) -> None:
    settings = replace(
        Settings.from_env({}), binance_ws_url=fake.url, binance_rest_url=fake.rest_url
    )
    up, task = await start_up(settings, tmp_path)
    try:
        assert up.database_url != ""
        alerts = await trade_and_check(up, fake)
    finally:
        up.stop()
        assert await asyncio.wait_for(task, WAIT) == 0
    check_states(alerts)
    assert up.outbox is not None
    mails = sorted(up.outbox.glob("*.eml"))
    recipients = sorted(
        str(message_from_bytes(path.read_bytes(), policy=policy.default)["To"]) for path in mails
    )
    assert recipients == ["btc_up@example.com", "eth_down@example.com"]
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o777 == 0o600
