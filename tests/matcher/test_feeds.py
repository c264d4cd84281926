"""The in-process feeds."""

from __future__ import annotations

from pathlib import Path

import orjson

from matcher.feeds import QueueFeed, ReplayFeed


async def test_replay_reads_raw_and_combined_trades_and_skips_the_rest(tmp_path: Path) -> None:
    lines = [
        orjson.dumps({"e": "trade", "s": "BTCUSDT", "p": "50000.10000000", "q": "1"}),
        orjson.dumps(
            {"stream": "ethusdt@aggTrade", "data": {"e": "aggTrade", "s": "ETHUSDT", "p": "3000.5"}}
        ),
        b"not json",
        orjson.dumps({"result": None, "id": 1}),
        orjson.dumps({"s": "BTCUSDT", "p": "-1"}),
        orjson.dumps({"s": "BTCUSDT", "p": "abc"}),
        orjson.dumps({"s": "SOLUSDT", "p": 150.25}),
    ]
    path = tmp_path / "trades.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    feed = ReplayFeed(str(path))
    trades = [trade async for trade in feed]
    assert trades == [("BTCUSDT", 50000.1), ("ETHUSDT", 3000.5), ("SOLUSDT", 150.25)]
    assert (feed.replayed, feed.skipped) == (3, 4)


async def test_queue_feed_delivers_in_order_and_ends_on_close() -> None:
    feed = QueueFeed()
    feed.push("BTCUSDT", 1.0)
    feed.push("ETHUSDT", 2.0)
    feed.close()
    assert [trade async for trade in feed] == [("BTCUSDT", 1.0), ("ETHUSDT", 2.0)]
    await feed.processed()  # every trade handed out was taken back: nothing left pending
