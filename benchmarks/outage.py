"""How a connection pool behaves when PostgreSQL restarts or goes away: the pricealert pool
(``shared.db.GatedPool``) beside a plain psycopg_pool pool configured as before it (10 s
checkout timeout, no check), in the same run.

Requests of ``SELECT 1`` go through the pool at 20 a second while a TCP proxy in front of the
real server plays two faults:

- a restart: every open connection is cut and the server answers again at once;
- an outage of ``--outage`` seconds: connections cut and new ones refused, then allowed again.

Reported: requests that failed after the restart; while away, how long each request took to
get its answer (an error); after the outage, how long until the first success.

    .venv/bin/python -m benchmarks.outage [--outage 8]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from shared.db import CONNECTION_OPTIONS, GatedPool
from tests.tcp_proxy import TcpProxy

ADMIN_URL = os.environ.get(
    "PRICEALERT_TEST_POSTGRES", "postgresql://postgres@localhost:5432/postgres"
)
SIZE = 10
RATE = 20  # requests a second


@dataclass
class Outcome:
    started: float
    seconds: float
    ok: bool


Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]


class Traffic:
    """Requests at RATE a second through ``connect``, each recorded."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self.outcomes: list[Outcome] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = True

    async def _request(self) -> None:
        started = time.monotonic()
        try:
            async with self._connect() as conn:
                await conn.execute("SELECT 1")
            ok = True
        except Exception:
            ok = False
        self.outcomes.append(Outcome(started, time.monotonic() - started, ok))

    async def run(self) -> None:
        while self._running:
            task = asyncio.create_task(self._request())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            await asyncio.sleep(1 / RATE)

    async def stop(self) -> None:
        self._running = False
        await asyncio.gather(*self._tasks)


async def measure(
    name: str, make_pool: Callable[[str], AsyncConnectionPool], outage: float
) -> dict[str, str]:
    host, port = "localhost", 5432
    proxy = TcpProxy(host, port)
    proxy_port = await proxy.start()
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, host="127.0.0.1", port=proxy_port)
    pool = make_pool(url)
    await pool.open(wait=True)
    traffic = Traffic(pool.connection)
    running = asyncio.create_task(traffic.run())
    try:
        await asyncio.sleep(1.0)
        restart = time.monotonic()
        proxy.cut()  # a restart: the server is back at once
        await asyncio.sleep(3.0)
        down = time.monotonic()
        proxy.refusing = True
        proxy.cut()
        await asyncio.sleep(outage)
        proxy.refusing = False
        back = time.monotonic()
        await asyncio.sleep(12.0)  # longer than the plain pool's checkout timeout
    finally:
        await traffic.stop()
        running.cancel()
        await pool.close()
        await proxy.close()
    after_restart = [o for o in traffic.outcomes if restart <= o.started < down]
    during = [o for o in traffic.outcomes if down + 0.5 <= o.started < back]
    waits = sorted(o.seconds for o in during)
    first_ok = min(
        (o.started + o.seconds for o in traffic.outcomes if o.ok and o.started + o.seconds > back),
        default=float("nan"),
    )
    return {
        "pool": name,
        "failed after restart": f"{sum(not o.ok for o in after_restart)} of {len(after_restart)}",
        "answer while away, median": f"{statistics.median(waits) * 1000:,.0f} ms",
        "answer while away, max": f"{waits[-1] * 1000:,.0f} ms",
        "first success after the outage": f"{first_ok - back:.2f} s",
    }


def plain_pool(url: str) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        url, min_size=SIZE, max_size=SIZE, kwargs=CONNECTION_OPTIONS, timeout=10.0, open=False
    )


def gated_pool(url: str) -> AsyncConnectionPool:
    return GatedPool(url, size=SIZE, name="bench")


async def main(outage: float) -> None:
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    rows = [
        await measure("psycopg_pool, as before (baseline)", plain_pool, outage),
        await measure("GatedPool (pricealert)", gated_pool, outage),
    ]
    columns = list(rows[0])
    print(f"{RATE} requests a second, pool of {SIZE}, outage of {outage:g} s")
    print("| " + " | ".join(columns) + " |")
    print("| " + " | ".join("---" for _ in columns) + " |")
    for row in rows:
        print("| " + " | ".join(row[c] for c in columns) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage", type=float, default=8.0)
    asyncio.run(main(parser.parse_args().outage))
