"""Whether a feed reaches its exchange: what ``/readyz``, the log and the metrics say of it.

A connection that has symbols to carry and no session (its connect refused or unanswered, its
session lost) is *unreachable since* it lost its session or began trying
(``Connection.unreachable_since``). Once one of the feed's connections has been so for
``grace_seconds``, the feed is not ready: ``waiting_for`` names the exchange, how long and the
last error (``Binance unreachable for 45 s: ConnectionRefusedError: ...``), and the matcher's
``/readyz`` answers 503 with it. The moment the connection has a session again, it is ready.

Reconnecting is the connection's (with backoff, forever); this only watches. A feed with no
symbols to follow has no connection, and so nothing to reach.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import NamedTuple

from matcher.exchanges.common import Connection
from shared.version import Version

log = logging.getLogger("matcher.exchanges.feed")  # the feed's log, whichever part writes it

CHECK_EVERY_SECONDS = 1.0  # how soon the log (and ``unreachable``) follows the state


class Outage(NamedTuple):
    """The longest outage of a connection going on: how long so far, and its last error."""

    seconds: float
    error: str


class Reach:
    """The reach of the connections ``connections`` (the feed's own list, read as it grows) to
    the exchange ``title``."""

    def __init__(
        self,
        title: str,
        connections: Sequence[Connection],
        *,
        grace_seconds: float,
        progress: Version,
    ) -> None:
        self._title = title
        self._connections = connections
        self.grace_seconds = grace_seconds
        self._progress = progress
        # What ``watch`` last found: the outage while one lasts past the grace, else None.
        self.unreachable: Outage | None = None

    def outage(self) -> Outage | None:
        """The longest outage of a connection going on, if any. Called from the probes' thread
        too: it reads plain attributes only."""
        now = time.time()
        longest: tuple[float, Connection] | None = None
        for connection in tuple(self._connections):
            since = connection.unreachable_since  # read once: the loop may clear it meanwhile
            if since is not None and (longest is None or now - since > longest[0]):
                longest = (now - since, connection)
        if longest is None:
            return None
        seconds, connection = longest
        return Outage(seconds, connection.last_error or "no answer yet")

    def outage_seconds(self) -> int:
        """Seconds of the longest outage of a connection going on; 0 while each is connected."""
        outage = self.outage()
        return 0 if outage is None else int(outage.seconds)

    def _past_grace(self) -> Outage | None:
        outage = self.outage()
        return outage if outage is not None and outage.seconds >= self.grace_seconds else None

    def waiting_for(self) -> str | None:
        """Why the feed cannot deliver: a connection out of reach for the grace or longer; None
        otherwise."""
        outage = self._past_grace()
        if outage is None:
            return None
        return f"{self._title} unreachable for {outage.seconds:.0f} s: {outage.error}"

    async def watch(self) -> None:
        """Log each change, once: unreachable past the grace (a warning with the reason), and
        reachable again; ``unreachable`` follows, and ``progress`` is bumped."""
        while True:
            await asyncio.sleep(min(CHECK_EVERY_SECONDS, self.grace_seconds))
            outage = self._past_grace()
            if (outage is None) == (self.unreachable is None):
                continue
            if outage is not None:
                log.warning(
                    "exchange unreachable: the matcher is not ready until it connects",
                    extra={
                        "exchange": self._title,
                        "for_s": round(outage.seconds),
                        "error": outage.error,
                    },
                )
            else:
                log.info("exchange reachable again: ready", extra={"exchange": self._title})
            self.unreachable = outage
            self._progress.bump()
