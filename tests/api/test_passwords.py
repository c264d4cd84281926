"""The argon2 pool: as wide as the CPUs the process may use, and 503 rather than an endless
queue when too many passwords wait."""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import replace

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from api import passwords
from api.app import create_app
from api.passwords import Passwords, cpus_allowed, usable_cpus
from shared.errors import Overloaded
from shared.settings import Settings
from tests.api.helpers import PASSWORD, User, until


@pytest.mark.parametrize(
    ("affinity", "quotas", "expected"),
    [
        (32, [], 32),
        (32, ["max 100000\n"], 32),
        (32, ["200000 100000\n"], 2),  # a pod limited to 2 CPUs on a 32-CPU node
        (32, ["150000 100000\n"], 2),  # 1.5 CPUs: two threads, each used part of the time
        (32, ["50000 100000\n"], 1),
        (4, ["800000 100000\n"], 4),  # pinned to 4 CPUs, quota of 8
        (32, ["max 100000\n", "300000 100000\n"], 3),  # a parent's quota binds too
        (0, [], 1),
    ],
)
def test_the_pool_is_as_wide_as_the_cpus_allowed(
    affinity: int, quotas: list[str], expected: int
) -> None:
    assert cpus_allowed(affinity, quotas) == expected


def test_this_process_may_use_at_least_one_cpu() -> None:
    assert 1 <= usable_cpus() <= len(os.sched_getaffinity(0))


async def test_too_many_waiting_hashes_are_refused_not_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    real_verify = passwords._verify

    def held_verify(stored_hash: str, password: str) -> bool:
        release.wait()
        return real_verify(stored_hash, password)

    monkeypatch.setattr(passwords, "_verify", held_verify)
    pool = Passwords(concurrency=1, max_waiting=1)
    try:
        running = asyncio.ensure_future(pool.verify(None, "x"))
        waiting = asyncio.ensure_future(pool.verify(None, "x"))
        await asyncio.wait([running, waiting], timeout=0)  # both taken into the pool
        with pytest.raises(Overloaded) as refused:
            await pool.verify(None, "x")
        assert refused.value.retry_after_seconds >= 1
        release.set()
        assert await asyncio.gather(running, waiting) == [False, False]
        assert await pool.verify(None, "x") is False  # room again
    finally:
        release.set()
        pool.close()


async def test_a_login_refused_for_load_is_503_with_retry_after(
    settings: Settings,
    pool: AsyncConnectionPool,
    alice: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    real_verify = passwords._verify

    def held_verify(stored_hash: str, password: str) -> bool:
        release.wait()
        return real_verify(stored_hash, password)

    monkeypatch.setattr(passwords, "WAITING_PER_THREAD", 0)
    app = create_app(replace(settings, password_hash_concurrency=1), pool=pool)
    monkeypatch.setattr(passwords, "_verify", held_verify)
    credentials = {"username": "alice", "password": PASSWORD}
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.ensure_future(client.post("/api/login/", json=credentials))

            async def hashing() -> bool:
                return bool(app.state.passwords.in_pool)

            await until(hashing)
            second = await client.post("/api/login/", json=credentials)
            assert second.status_code == 503
            assert second.headers["retry-after"] == "1"
            assert second.json()["error"].startswith("too many passwords")
            release.set()
            assert (await first).status_code == 200
    finally:
        release.set()
        app.state.passwords.close()
