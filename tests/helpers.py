"""Helpers that tests of several folders share (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from matcher.main import FeedChoice
from pricealert.up import Up, run_up
from shared.settings import Settings

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
