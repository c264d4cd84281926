"""The matcher's parts: tasks that run beside the tick for as long as the matcher runs, each
named. None should ever end on its own; the first that does stops the matcher with
``PartStopped`` (a matcher without its change follower, its claims or a periodic job would go on
matching a stale book, or firing without publishing).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from shared.errors import PartStopped
from shared.settings import Shard

log = logging.getLogger("matcher.service")  # the service's log, whichever part writes it

Job = Callable[[], Awaitable[None] | None]


async def every(seconds: float, job: Job) -> None:
    """``job()`` every ``seconds`` (awaited when it is a coroutine), the first after a wait,
    never two at once."""
    while True:
        await asyncio.sleep(seconds)
        done = job()
        if inspect.isawaitable(done):
            await done


class Parts:
    def __init__(self, shard: Shard) -> None:
        self._shard = shard
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(work, name=name))

    def adopt(self, tasks: list[asyncio.Task[None]]) -> None:
        """Tasks started elsewhere (the claim pipeline's), watched as parts."""
        self._tasks += tasks

    def every(self, name: str, seconds: float, job: Job) -> None:
        self.start(name, every(seconds, job))

    async def wait(self, *awaited: asyncio.Future[Any]) -> None:
        """Until one of ``awaited`` is done or a part ends (then ``check`` raises)."""
        await asyncio.wait({*awaited, *self._tasks}, return_when=asyncio.FIRST_COMPLETED)

    def check(self) -> None:
        """Raise ``PartStopped`` for the first part that ended (none should, ever)."""
        for task in self._tasks:
            if task.done():
                error = None if task.cancelled() else task.exception()
                log.error(
                    "a part of the matcher stopped: the matcher stops with it",
                    extra={
                        "shard": str(self._shard),
                        "part": task.get_name(),
                        "error": repr(error) if error else "it returned",
                    },
                    exc_info=error,
                )
                raise PartStopped(
                    f"matcher {self._shard}: its part {task.get_name()!r} stopped"
                    + (f": {error!r}" if error else "")
                ) from error

    async def close(self) -> None:
        """Cancel every part and wait for them to end."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
