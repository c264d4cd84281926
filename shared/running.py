"""What every long-running command does the same way: metrics served, stop on a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("pricealert")


class ServesMetrics(Protocol):
    def serve(self, port: int, host: str = "127.0.0.1") -> None: ...


def serve_metrics(metrics: ServesMetrics, port: int | None, host: str = "127.0.0.1") -> None:
    if port is not None:
        metrics.serve(port, host)
        log.info("metrics served", extra={"url": f"http://{host}:{port}/metrics"})


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGTERM or SIGINT (Ctrl-C) instead of dying mid-work."""
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stop)
