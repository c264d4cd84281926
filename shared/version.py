"""``Version``: a count of changes that only goes up, and a way to wait until it moves.

For "something changed, look again" between tasks. An ``asyncio.Event`` that its waiters
``clear()`` lets one waiter erase another's wake-up (trio removed ``Event.clear`` for that
reason); a version cannot be un-bumped, so every waiter that saw value ``v`` wakes once it is
past ``v``, however many others are waiting. Tests wait on the same public state the code uses::

    await matcher.progress.until(lambda: matcher.figures().published >= 3)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class Version:
    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = 0
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def value(self) -> int:
        return self._value

    def bump(self) -> None:
        """Record a change and wake every waiter. O(1) with nobody waiting; no allocation."""
        self._value += 1
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def changed(self, since: int) -> int:
        """Returns the value once it is past ``since`` (at once if it already is)."""
        while self._value <= since:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                with contextlib.suppress(ValueError):  # already taken by a bump
                    self._waiters.remove(waiter)
                raise
        return self._value

    async def until(self, condition: Callable[[], bool]) -> None:
        """Returns once ``condition()`` holds, looking again after every change."""
        seen = self._value
        while not condition():
            seen = await self.changed(seen)
