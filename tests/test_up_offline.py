"""``pricealert up`` on a machine that cannot reach Binance: it says once, plainly, what to do,
while its feed keeps trying and the matcher says it is not ready."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from shared.settings import Settings
from shared.version import Version
from tests.helpers import start_up
from tests.matcher.helpers import insert_alert
from tests.wheel import free_port

WAIT = 30.0
HINT = "`pricealert up --simulate` (scripts/up --simulate)"
RETRY = "Binance connect failed"


class Warnings(logging.Handler):
    """The messages of the warnings logged, as they come."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.logged = Version()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.logged.bump()

    def after(self, text: str) -> list[str]:
        """The messages after the first that contains ``text``."""
        first = next(i for i, message in enumerate(self.messages) if text in message)
        return self.messages[first + 1 :]


@pytest.fixture
def warnings_logged() -> Iterator[Warnings]:
    handler = Warnings()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.mark.usefixtures("clean_tables")
async def test_up_without_binance_suggests_the_simulation_once(
    tmp_path: Path, database_url: str, pool: AsyncConnectionPool, warnings_logged: Warnings
) -> None:
    await insert_alert(pool, "BTCUSDT", "above", "50000")  # a symbol to follow
    port = free_port()  # nothing listens there: as Binance is from a machine offline
    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "JWT_SECRET": secrets.token_urlsafe(48),
            "BINANCE_WS_URL": f"ws://127.0.0.1:{port}",
            "BINANCE_REST_URL": f"http://127.0.0.1:{port}",
            "MATCHER_FEED_GRACE_SECONDS": "0.2",
        }
    )
    up, task = await start_up(settings, tmp_path)
    try:
        async with asyncio.timeout(WAIT):
            # The feed keeps trying after the hint: two more refused connects, no second hint.
            await warnings_logged.logged.until(
                lambda: (
                    any(HINT in m for m in warnings_logged.messages)
                    and sum(RETRY in m for m in warnings_logged.after(HINT)) >= 2
                )
            )
        reason = up.matcher.waiting_for()
    finally:
        up.stop()
        assert await asyncio.wait_for(task, WAIT) == 0

    (hint,) = [message for message in warnings_logged.messages if HINT in message]
    assert hint.startswith("cannot reach Binance for "), hint
    assert "ConnectionRefusedError" in hint, hint
    assert "without internet, run `pricealert up --simulate`" in hint, hint
    assert reason is not None
    assert reason.startswith("Binance unreachable for "), reason
