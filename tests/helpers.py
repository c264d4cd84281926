"""Helpers that tests of several folders share (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from matcher.main import FeedChoice
from pricealert.up import Up, run_up
from shared.settings import Settings
from tests.fake_binance import FakeBinance

# A matcher on the fake Binance halts every symbol the fake does not list (the symbols table
# follows the exchange's list): the tests that run one put them back with this, since the others
# expect the seeded pairs to trade.
EVERY_SYMBOL_TRADING = "UPDATE symbols SET status = 'trading' WHERE status <> 'trading'"


async def start_up(
    settings: Settings, data_dir: Path, feed: FeedChoice | None = None
) -> tuple[Up, asyncio.Task[int]]:
    """``pricealert up`` in this event loop (on ``feed``, live Binance by default), returned once
    everything is ready; stop it with ``Up.stop`` and await the task. The API listens on a port
    the system chooses (``Up.api_url`` names it)."""
    started: asyncio.Future[Up] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_up(settings, data_dir=data_dir, port=0, feed=feed, on_ready=started.set_result)
    )
    done, _ = await asyncio.wait({task, started}, timeout=60, return_when="FIRST_COMPLETED")
    if task in done:
        task.result()
    assert started.done(), "pricealert up did not start"
    return started.result(), task


def settings_on_servers(
    *,
    database_url: str,
    rabbitmq_url: str,
    queue: str,
    smtp_port: int,
    fake: FakeBinance,
    more: Mapping[str, str] | None = None,
) -> Settings:
    """The settings of a ``pricealert up`` on the real PostgreSQL, RabbitMQ (its own queue), an
    SMTP server on loopback and the fake Binance, with a fresh JWT secret; ``more`` variables
    on top."""
    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": rabbitmq_url,
            "RABBITMQ_QUEUE": queue,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "JWT_SECRET": secrets.token_urlsafe(48),
            **(more or {}),
        }
    )
    return replace(settings, binance_ws_url=fake.url, binance_rest_url=fake.rest_url)
