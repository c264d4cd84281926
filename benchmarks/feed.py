"""How many Binance trade messages a second the matcher ingests on one core: frame, parse, match.

A sender in its own process (a picows server that writes pre-framed combined-stream aggTrade
messages straight into its socket) feeds, on loopback, in the same run:

- the matcher's feed: picows + ``StreamListener`` + ``AlertBook.match`` on a book of 100,000
  alerts over 100 symbols (the trades cross nothing, as most do);
- the feed alone: the same with the book call replaced by a no-op;
- the same client written with the ``websockets`` library (its asyncio API), with the book.

    .venv/bin/python -m benchmarks.feed [--messages 2000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import orjson
import websockets
from picows import WSListener, WSTransport, WSUpgradeRequest, ws_connect, ws_create_server

from matcher.book import AlertBook, BookRow
from matcher.exchanges.binance.listener import StreamListener

ONCE_LEVEL = (None, 0, None, 0, None)  # the book row after (id, symbol, condition, target)

SYMBOLS = [f"B{i:03d}USDT" for i in range(100)]
ALERTS_PER_SYMBOL = 1000
FRAMES_PER_CHUNK = 2000
SENDER = (sys.executable, "-m", "benchmarks.feed", "--serve")


# --- the sender (its own process) ---------------------------------------------------------


def framed(payload: bytes) -> bytes:
    """One unmasked server-to-client text frame."""
    size = len(payload)
    if size < 126:
        return bytes([0x81, size]) + payload
    if size < 65536:
        return bytes([0x81, 126]) + size.to_bytes(2, "big") + payload
    return bytes([0x81, 127]) + size.to_bytes(8, "big") + payload


def trade_chunk(seed: int) -> bytes:
    rng = random.Random(seed)
    frames = []
    for i in range(FRAMES_PER_CHUNK):
        symbol = rng.choice(SYMBOLS)
        price = f"{rng.uniform(990, 1010):.2f}"
        data = {"e": "aggTrade", "E": 1764000000000 + i, "s": symbol, "a": i, "p": price}
        data |= {"q": "0.01000000", "f": i, "l": i, "T": 1764000000000 + i, "m": True, "M": True}
        message = {"stream": f"{symbol.lower()}@aggTrade", "data": data}
        frames.append(framed(orjson.dumps(message)))
    return b"".join(frames)


class _Sender(WSListener):
    def __init__(self, messages: int, chunks: list[bytes]) -> None:
        self._messages = messages
        self._chunks = chunks
        self._writable = asyncio.Event()
        self._writable.set()

    def on_ws_connected(self, transport: WSTransport) -> None:
        asyncio.get_running_loop().create_task(self._send(transport))

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def _send(self, transport: WSTransport) -> None:
        raw = transport.underlying_transport
        for i in range(self._messages // FRAMES_PER_CHUNK):
            await self._writable.wait()
            raw.write(self._chunks[i % len(self._chunks)])


async def serve(port: int, messages: int) -> None:
    chunks = [trade_chunk(seed) for seed in range(10)]

    def factory(request: WSUpgradeRequest) -> _Sender:
        return _Sender(messages, chunks)

    server = await ws_create_server(factory, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


# --- the receivers (this process) -----------------------------------------------------------


def quiet_book() -> AlertBook:
    """Alerts far from the traded prices (990 to 1010): every tick is checked, none crosses."""
    book = AlertBook()
    rows = []
    alert_id = 0
    for symbol in SYMBOLS:
        for i in range(ALERTS_PER_SYMBOL // 2):
            alert_id += 1
            rows.append(BookRow(alert_id, symbol, "above", 2000.0 + i, *ONCE_LEVEL))
            alert_id += 1
            rows.append(BookRow(alert_id, symbol, "below", 500.0 - i * 0.1, *ONCE_LEVEL))
    book.load(rows)
    return book


class Ticks:
    """What ``Matcher.trade`` does per trade (count, match), and the end of a run."""

    def __init__(self, messages: int, match: Callable[[str, float, int], object]) -> None:
        self.count = 0
        self.started = 0.0
        self._messages = messages
        self._match = match
        self.done = asyncio.get_running_loop().create_future()

    def trade(self, symbol: str, price: float, quantity: float, time_ms: int) -> None:
        self.count += 1
        self._match(symbol, price, time_ms)
        if self.count >= self._messages:
            if self.count == self._messages:
                self.done.set_result(time.perf_counter())
        elif self.count == 1:
            self.started = time.perf_counter()


async def picows_rate(url: str, messages: int, match: Callable[[str, float, int], object]) -> float:
    ticks = Ticks(messages, match)
    listener = StreamListener(ticks.trade, lambda _: None, lambda _: None, lambda: None)
    transport, _ = await ws_connect(lambda: listener, url, max_frame_size=1 << 20)
    ended = await ticks.done
    transport.disconnect()
    return (messages - 1) / (ended - ticks.started)


async def websockets_rate(url: str, messages: int, book: AlertBook) -> float:
    match = book.match
    loads = orjson.loads
    count = 0
    started = 0.0
    async with websockets.connect(url, compression=None, max_size=1 << 20) as ws:
        async for message in ws:
            if count == 0:
                started = time.perf_counter()
            data = loads(message)["data"]
            match(data["s"], float(data["p"]), data["T"])
            count += 1
            if count == messages:
                break
    return (messages - 1) / (time.perf_counter() - started)


def start_sender(messages: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.feed",
            "--serve",
            str(port),
            "--messages",
            str(messages),
        ],
        stdout=subprocess.PIPE,
    )
    assert sender.stdout is not None
    if sender.stdout.readline().strip() != b"ready":
        raise RuntimeError("the sender did not start")
    return sender, f"ws://127.0.0.1:{port}/stream"


async def run(messages: int) -> None:
    book = quiet_book()
    sender, url = start_sender(messages)
    try:
        full = await picows_rate(url, messages, book.match)
        alone = await picows_rate(url, messages, lambda symbol, price, time_ms: None)
        other = await websockets_rate(url, messages, book)
    finally:
        sender.terminate()
        sender.wait()
    print(f"\nfeed ingest, one core each side, loopback, {messages:,} aggTrade messages a run")
    print(f"picows + orjson + book (the matcher's feed)  {full:>10,.0f} msgs/s")
    print(f"picows + orjson, no book (the feed alone)    {alone:>10,.0f} msgs/s")
    print(
        f"websockets + orjson + book                   {other:>10,.0f} msgs/s"
        f"   the matcher's feed is {full / other:.1f}x faster"
    )
    print(f"book alerts: {len(book):,} on {len(SYMBOLS)} symbols; cores: {os.cpu_count()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.messages))
        return 0
    asyncio.run(run(args.messages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
