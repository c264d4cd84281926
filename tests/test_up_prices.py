"""Prices end to end through ``pricealert up --simulate``: the simulated trades of a symbol with
an alert reach ``GET /api/prices/``, its minutes, and the alert's ``current_price``."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from matcher.main import FeedChoice
from shared.settings import Settings
from tests.helpers import start_up

WAIT = 30.0
TARGET = Decimal("50000")


@pytest.mark.usefixtures("clean_tables")
async def test_up_simulate_serves_the_simulated_price(tmp_path: Path, database_url: str) -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": database_url, "JWT_SECRET": secrets.token_urlsafe(48)}
    )
    up, task = await start_up(settings, tmp_path, FeedChoice(simulate=True))
    try:
        async with httpx.AsyncClient(base_url=up.api_url, timeout=10) as client:
            credentials = {"username": "dana", "password": "long enough password"}
            assert (await client.post("/api/signup/", json=credentials)).status_code == 201
            access = (await client.post("/api/login/", json=credentials)).json()["access"]
            headers = {"Authorization": f"Bearer {access}"}
            body = {"trigger_condition": "above", "target_price": str(TARGET), "email": "d@x.io"}
            created = await client.post("/api/alerts/create/", json=body, headers=headers)
            assert created.status_code == 201, created.text

            def written() -> bool:  # the simulated BTCUSDT trades reached the database
                minute = up.matcher.prices.minutes.get("BTCUSDT")
                return minute is not None and minute.written is not None

            async with asyncio.timeout(WAIT):
                await up.matcher.progress.until(written)
            prices = (await client.get("/api/prices/")).json()
            history = (await client.get("/api/prices/BTCUSDT/history/?minutes=2")).json()
            alert = (
                await client.get(f"/api/alerts/{created.json()['id']}/", headers=headers)
            ).json()
    finally:
        up.stop()
        assert await asyncio.wait_for(task, WAIT) == 0

    assert list(prices) == ["BTCUSDT"]
    price = Decimal(prices["BTCUSDT"]["price"])
    # The walk starts 1% short of the only target, and moves 0.2% a step, ten steps a second.
    assert abs(price / (TARGET * Decimal("0.99")) - 1) < Decimal("0.1")
    at = datetime.fromisoformat(prices["BTCUSDT"]["at"])
    assert datetime.now(UTC) - at < timedelta(seconds=WAIT)
    assert history, "no minute written"
    lows, highs = [Decimal(m["low"]) for m in history], [Decimal(m["high"]) for m in history]
    assert min(lows) <= price <= max(highs)
    assert alert["current_price"] is not None
    assert abs(Decimal(alert["current_price"]) / price - 1) < Decimal("0.1")
