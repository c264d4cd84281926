"""The PostgreSQL connection pool every service uses, and how it behaves when the server goes.

``create_pool`` returns a ``GatedPool``: psycopg_pool's pool with a gate in front that knows
whether PostgreSQL is there. Measured against the real server (restarts and outages, 2-core
development machine):

- A restart kills every pooled connection. Without a check, each of the next ten requests got
  one of them and failed; ``check_connection`` on every checkout costs a round trip (-40% of
  checkouts a second) and still made the first two requests wait their whole timeout. Here the
  check is a poll of the idle socket (about 4 us, no round trip): a connection the server closed
  has something to read. When one is found dead, the pool is drained at once (its siblings died
  with it) and refilled: 0 failed requests after a restart.
- While the server is away, a plain pool makes every request wait its full timeout (10 s)
  before failing. The gate trips on the first sign (a failed probe after a dead connection, a
  checkout that times out, the pool giving up reconnecting) and from then on ``getconn`` raises
  ``DatabaseUnavailable`` at once (0-16 ms); requests already waiting are released. A prober
  connects every ``probe_every_seconds`` and opens the gate as soon as the server answers,
  after draining whatever the pool held from before: the first request after the outage
  succeeds, 0.3 s after the server came back.

Services wait for the server with ``until_available()`` instead of sleeping on a backoff that
grew while it was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from shared.errors import DatabaseUnavailable
from shared.version import Version

log = logging.getLogger(__name__)

# Every json/jsonb value read by any connection of the process (an alert's params and channels,
# 10^6 of them at a matcher's start) is decoded by orjson, several times faster than json.
set_json_loads(orjson.loads)

# Every connection speaks UTC, so timestamps leave the database already in UTC.
CONNECTION_OPTIONS = {"autocommit": True, "options": "-c timezone=UTC"}
CHECKOUT_TIMEOUT_SECONDS = 5.0
PROBE_EVERY_SECONDS = 0.25
PROBE_TIMEOUT_SECONDS = 1.0
# How long the pool's own reconnect attempts go on before it gives up (and the gate trips): the
# prober is faster at noticing the server's return than psycopg_pool's backoff (1, 2, 4, 8 s).
RECONNECT_TIMEOUT_SECONDS = 1.0


async def _configure(conn: AsyncConnection[Any]) -> None:
    # Statements the API runs on every request are prepared on their first use, not their fifth.
    conn.prepare_threshold = 0


async def probe(database_url: str, within_seconds: float = PROBE_TIMEOUT_SECONDS) -> bool:
    """Whether the server takes a connection and answers within ``within_seconds``. psycopg
    rounds a connect timeout under 2 s up to 2 s, so the limit is asyncio's."""
    try:
        async with asyncio.timeout(within_seconds):
            async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
                await conn.execute("SELECT 1")
        return True
    except (OSError, TimeoutError, psycopg.Error):
        return False


class GatedPool(AsyncConnectionPool[AsyncConnection[Any]]):
    """A pool of ``size`` autocommit connections that answers ``DatabaseUnavailable`` at once
    while PostgreSQL is away. Open it with ``await pool.open()`` (no wait: it fills in the
    background, and the gate answers for it meanwhile)."""

    def __init__(
        self,
        database_url: str,
        *,
        size: int,
        name: str,
        checkout_timeout_seconds: float = CHECKOUT_TIMEOUT_SECONDS,
        probe_every_seconds: float = PROBE_EVERY_SECONDS,
        server_options: str = "",
    ) -> None:
        options = dict(CONNECTION_OPTIONS)
        if server_options:
            options["options"] = f"{options['options']} {server_options}"
        super().__init__(
            database_url,
            min_size=size,
            max_size=size,
            kwargs=options,
            configure=_configure,
            name=name,
            open=False,
            timeout=checkout_timeout_seconds,
            check=self._check_idle,
            reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
            reconnect_failed=self._on_reconnect_failed,
        )
        self._gate_url = database_url
        self._gate_probe_every = probe_every_seconds
        self._gate_open = True
        self._gate_down_since = 0.0
        self._gate_prober: asyncio.Task[None] | None = None
        self._gate_recovering: asyncio.Task[None] | None = None
        self._gate_checkouts: set[asyncio.Timeout] = set()
        self.changes = Version()  # bumped when the server goes away and when it comes back

    @property
    def available(self) -> bool:
        """False from the first sign the server is away until a probe finds it back."""
        return self._gate_open

    async def until_available(self) -> None:
        """Returns once the server is believed to be there (at once if it is)."""
        await self.changes.until(lambda: self._gate_open)

    async def getconn(self, timeout: float | None = None) -> AsyncConnection[Any]:  # noqa: ASYNC109
        if not self._gate_open:
            raise DatabaseUnavailable("the database is unavailable, try again shortly")
        try:
            async with asyncio.timeout(timeout or self.timeout) as deadline:
                self._gate_checkouts.add(deadline)
                try:
                    return await super().getconn(timeout)
                finally:
                    self._gate_checkouts.discard(deadline)
        except (TimeoutError, PoolTimeout) as exc:
            self._trip("no connection in time")
            raise DatabaseUnavailable("the database is unavailable, try again shortly") from exc

    @contextlib.asynccontextmanager
    async def connection(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 (psycopg_pool's signature)
    ) -> AsyncIterator[AsyncConnection[Any]]:
        async with super().connection(timeout) as conn:
            try:
                yield conn
            except psycopg.OperationalError:
                if conn.broken:
                    self._connection_lost()
                raise

    async def close(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        for task in (self._gate_prober, self._gate_recovering):
            if task is not None:
                task.cancel()
        await super().close(timeout)

    async def _check_idle(self, conn: AsyncConnection[Any]) -> None:
        """An idle connection has nothing to read unless the server closed it: a poll, no
        round trip. A dead one means its siblings died too."""
        if not select.select([conn.pgconn.socket], [], [], 0)[0]:
            return
        try:
            await AsyncConnectionPool.check_connection(conn)
        except Exception:
            self._connection_lost()
            raise

    def _connection_lost(self) -> None:
        """Drop every pooled connection, and trip the gate unless the server answers at once
        (it restarted and is back)."""
        if self._gate_recovering is None or self._gate_recovering.done():
            self._gate_recovering = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        await self.drain()
        if not await probe(self._gate_url):
            self._trip("the server closed our connections and does not answer")

    def _on_reconnect_failed(self, pool: AsyncConnectionPool[Any]) -> None:
        self._trip("the pool could not reconnect")

    def _trip(self, reason: str) -> None:
        if not self._gate_open:
            return
        self._gate_open = False
        self._gate_down_since = time.monotonic()
        self.changes.bump()
        log.warning(
            "database unavailable: failing fast until it answers again",
            extra={"pool": self.name, "reason": reason},
        )
        now = asyncio.get_running_loop().time()
        for deadline in list(self._gate_checkouts):
            deadline.reschedule(now)  # release whoever waits for a connection
        if self._gate_prober is None or self._gate_prober.done():
            self._gate_prober = asyncio.get_running_loop().create_task(self._probe_until_back())

    async def _probe_until_back(self) -> None:
        # Polling is the point: the server tells nobody it is back.
        while not await probe(self._gate_url):  # noqa: ASYNC110
            await asyncio.sleep(self._gate_probe_every)
        await self.drain()  # nothing from before the outage is trusted
        await self.check()  # and the pool grows again if its reconnects gave up
        self._gate_open = True
        self.changes.bump()
        log.warning(
            "database back",
            extra={"pool": self.name, "down_s": round(time.monotonic() - self._gate_down_since, 2)},
        )


def create_pool(database_url: str, *, size: int, name: str, server_options: str = "") -> GatedPool:
    """An unopened pool of ``size`` autocommit connections; ``await pool.open()`` before use.
    ``server_options`` are settings of the server's session, such as ``-c work_mem=64MB``.

    Connections are autocommit: a single statement needs no BEGIN/COMMIT round trips, and code
    that needs a transaction says so with ``async with conn.transaction()``.
    """
    return GatedPool(database_url, size=size, name=name, server_options=server_options)
