"""The browser tests' fixtures: ``pricealert up`` on the fake Binance in a thread of its own,
prices that keep moving, and one headless Chromium driven by Selenium.

Chromium and chromedriver are Debian's (``chromium`` and ``chromedriver`` on the PATH, or
``PRICEALERT_CHROMIUM`` and ``PRICEALERT_CHROMEDRIVER``); ``scripts/test`` installs them when
it can. Without them the tests are skipped loudly, and fail with CI=true.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import secrets
import shutil
import sys
import threading
from collections.abc import Coroutine, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from tests.fake_binance import FakeBinance
from tests.helpers import EVERY_SYMBOL_TRADING
from tests.wheel import Running

T = TypeVar("T")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("PRICEALERT_CHROMIUM", "chromium")
CHROMEDRIVER = os.environ.get("PRICEALERT_CHROMEDRIVER", "chromedriver")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# Where the screenshots go: a temporary folder, unless this names one (docs/screenshots refreshes
# the README's pictures), so a test run leaves the tracked files alone.
SCREENSHOTS = os.environ.get("PRICEALERT_SCREENSHOTS")
TICK_SECONDS = 0.2
SYMBOLS_REFRESH_SECONDS = 1.0
ACCESS_TTL_SECONDS = 5
_UP = re.compile(r"pricealert is up: API (http://\S+)")

QUIET_SYMBOL = "XRPUSDT"


class Site:
    """``pricealert up`` (a process of its own, as a person runs it) on the fake Binance, which
    runs on an event loop in a background thread of this process. Each
    symbol in ``walk`` trades every ``TICK_SECONDS`` within 0.01% of its level there, so the
    page's prices move; setting a level far off fires the alerts on the way."""

    def __init__(self, database_url: str, data_dir: Path) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.walk: dict[str, Decimal] = {
            "BTCUSDT": Decimal("50000"),
            "ETHUSDT": Decimal("3000"),
            "BNBUSDT": Decimal("600"),
        }
        self._run(self._start_fake())
        self._start_up(database_url, data_dir)

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 90) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _start_fake(self) -> None:
        self.fake = FakeBinance()
        # Listed but never traded: a symbol whose price only the tests write (a stale one).
        self.fake.listed.add(QUIET_SYMBOL)
        await self.fake.start()
        self._ticker = asyncio.create_task(self._tick())

    def _start_up(self, database_url: str, data_dir: Path) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "JWT_SECRET": secrets.token_urlsafe(48),
            "BINANCE_WS_URL": self.fake.url,
            "BINANCE_REST_URL": self.fake.rest_url,
            "LOG_LEVEL": "WARNING",
            # The symbol list is read every second: a pair the fake stops listing shows soon.
            "MATCHER_SYMBOLS_REFRESH_SECONDS": str(SYMBOLS_REFRESH_SECONDS),
            # Short-lived access tokens: the page refreshes through its cookie during the tests.
            "ACCESS_TOKEN_TTL_SECONDS": str(ACCESS_TTL_SECONDS),
        }
        for name in ("RABBITMQ_URL", "RABBITMQ_HOST", "SMTP_HOST"):
            env.pop(name, None)
        command = [sys.executable, "-m", "pricealert", "up", "--port", "0"]
        self.up = Running([*command, "--data-dir", str(data_dir)], env)
        line = self.up.wait_for("pricealert is up", lambda line: bool(_UP.search(line)), 90)
        found = _UP.search(line)
        assert found is not None
        self.url = found.group(1)

    async def _tick(self) -> None:
        jitter = random.Random(15)
        while True:
            for symbol, level in list(self.walk.items()):
                step = Decimal(jitter.randint(-100, 100)) / Decimal(1_000_000)
                self.fake.trade(symbol, str((level * (1 + step)).quantize(Decimal("0.01"))))
            await asyncio.sleep(TICK_SECONDS)

    def stop(self) -> None:
        async def stop() -> None:
            self._ticker.cancel()
            await self.fake.close()

        try:
            assert self.up.stop() == 0, self.up.output()[-2000:]
            self.up.close()
            self._run(stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


@pytest.fixture(scope="package")
def site(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = Site(database_url, tmp_path_factory.mktemp("up"))
    yield running
    running.stop()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(EVERY_SYMBOL_TRADING)


def _require_browser() -> tuple[str, str]:
    chromium, chromedriver = shutil.which(CHROMIUM), shutil.which(CHROMEDRIVER)
    if chromium and chromedriver:
        return chromium, chromedriver
    missing = [
        name for name, path in ((CHROMIUM, chromium), (CHROMEDRIVER, chromedriver)) if not path
    ]
    message = f"{' and '.join(missing)} not found: install chromium and chromium-driver"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(f"!!! SKIPPED: {message}")


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    chromium, chromedriver = _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,800",
        "--disable-extensions",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def axe_source() -> str:
    return AXE.read_text()


@pytest.fixture(scope="package")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {folder}")
    return folder
