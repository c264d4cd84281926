"""argon2id password hashing, on a small thread pool so the event loop keeps serving.

Parameters are OWASP's recommended minimum for argon2id (19 MiB, 2 passes, 1 lane): about 20 ms a
hash here, against about 60 ms for argon2-cffi's defaults. Hashes made with other parameters still
verify, and are upgraded at the next login.

Each running hash holds 19 MiB, so the pool is as wide as the CPUs this process may use (its
affinity and its cgroup's quota, not the host's count: a pod limited to 2 CPUs on a 32-CPU node
runs 2), or ``PASSWORD_HASH_CONCURRENCY``. Past a bounded queue of waiting hashes, the answer is
503 with Retry-After rather than a queue, and memory, without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared.errors import Overloaded

T = TypeVar("T")

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# Verified against when the username is unknown, so that answer takes as long as a wrong password.
_UNKNOWN_USER_HASH = _hasher.hash("an unknown user's password is never this")

# Hashes that may wait for a thread, per thread: about 16 x 20 ms of waiting at most.
WAITING_PER_THREAD = 16
CGROUP_ROOT = Path("/sys/fs/cgroup")


class Passwords:
    def __init__(self, *, concurrency: int, max_waiting: int | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")
        self._max_in_pool = concurrency + (
            concurrency * WAITING_PER_THREAD if max_waiting is None else max_waiting
        )
        self._in_pool = 0

    async def hash(self, password: str) -> str:
        return await self._run(_hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; with ``stored_hash=None`` (no such user) spends the same
        time and answers False."""
        target = stored_hash if stored_hash is not None else _UNKNOWN_USER_HASH
        matches = await self._run(_verify, target, password)
        return matches and stored_hash is not None

    @property
    def in_pool(self) -> int:
        """Hashes running or waiting for a thread."""
        return self._in_pool

    @staticmethod
    def needs_rehash(stored_hash: str) -> bool:
        return _hasher.check_needs_rehash(stored_hash)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        if self._in_pool >= self._max_in_pool:
            raise Overloaded(
                "too many passwords are being checked right now: try again in a second",
                retry_after_seconds=1,
            )
        self._in_pool += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, function, *args)
        finally:
            self._in_pool -= 1


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity, capped by the cgroup v2 CPU quota."""
    return cpus_allowed(len(os.sched_getaffinity(0)), _cgroup_quotas())


def cpus_allowed(affinity: int, quotas: list[str]) -> int:
    """``affinity`` capped by each ``cpu.max`` ("max 100000", "150000 100000") that applies."""
    allowed = max(1, affinity)
    for quota in quotas:
        limit, _, period = quota.strip().partition(" ")
        if limit != "max" and limit.isdigit() and period.isdigit() and int(period) > 0:
            allowed = min(allowed, max(1, math.ceil(int(limit) / int(period))))
    return allowed


def _cgroup_quotas() -> list[str]:
    """The ``cpu.max`` of this process's cgroup and of each ancestor (a parent's quota binds)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    path = next((line[3:] for line in lines if line.startswith("0::")), None)
    if path is None:
        return []
    quotas = []
    folder = CGROUP_ROOT / path.lstrip("/")
    while True:
        with contextlib.suppress(OSError):  # no CPU controller at this level
            quotas.append((folder / "cpu.max").read_text())
        if folder == CGROUP_ROOT or CGROUP_ROOT not in folder.parents:
            break
        folder = folder.parent
    return quotas
