"""``pricealert matcher`` as a real process: replays trades, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.matcher.helpers import alert_row, insert_alert, received

pytestmark = pytest.mark.usefixtures("clean_tables")
ROOT = Path(__file__).resolve().parents[2]
MATCHER = (sys.executable, "-m", "pricealert", "matcher", "--replay")


def _env(database_url: str, rabbitmq_url: str, queue_name: str) -> dict[str, str]:
    return os.environ | {
        "DATABASE_URL": database_url,
        "RABBITMQ_URL": rabbitmq_url,
        "RABBITMQ_QUEUE": queue_name,
        "LOG_FORMAT": "text",
    }


async def test_replay_fires_the_crossed_alerts_and_exits(
    tmp_path: Path,
    pool: AsyncConnectionPool,
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
) -> None:
    crossed = await insert_alert(pool, "BTCUSDT", "below", "30000")
    untouched = await insert_alert(pool, "BTCUSDT", "above", "90000")
    trades = tmp_path / "trades.jsonl"
    trades.write_bytes(
        b"\n".join(
            orjson.dumps({"e": "trade", "s": "BTCUSDT", "p": p})
            for p in ("45000.00", "31000.00", "29999.99", "40000.00")
        )
    )
    process = await asyncio.create_subprocess_exec(
        *MATCHER,
        str(trades),
        env=_env(database_url, rabbitmq_url, queue_name),
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "shard loaded" in log
    assert "replay finished" in log
    assert [m["alert_id"] for m in await received(rabbitmq_url, queue_name)] == [crossed]
    assert await alert_row(pool, crossed) == ("triggered", "29999.99", True)
    assert (await alert_row(pool, untouched))[0] == "created"


async def test_sigterm_stops_the_matcher_cleanly(
    database_url: str, rabbitmq_url: str, queue_name: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        *MATCHER,
        "-",
        env=_env(database_url, rabbitmq_url, queue_name),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    while b"shard loaded" not in (line := await asyncio.wait_for(process.stderr.readline(), 30)):
        assert line, "the matcher exited before loading its shard"
    process.send_signal(signal.SIGTERM)
    _, rest = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, rest.decode()
    assert b"matcher stopped" in rest
