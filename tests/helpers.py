"""Helpers that tests of several folders share (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from pricealert.up import Up, run_up
from shared.settings import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_up(settings: Settings, data_dir: Path) -> tuple[Up, asyncio.Task[int]]:
    """``pricealert up`` in this event loop, returned once everything is ready; stop it with
    ``Up.stop`` and await the task."""
    started: asyncio.Future[Up] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_up(settings, data_dir=data_dir, port=free_port(), on_ready=started.set_result)
    )
    done, _ = await asyncio.wait({task, started}, timeout=60, return_when="FIRST_COMPLETED")
    if task in done:
        task.result()
    assert started.done(), "pricealert up did not start"
    return started.result(), task
