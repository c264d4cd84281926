"""Throttles for login and signup, shared by every worker and replica through PostgreSQL.

Each key (an address; an account at an address) follows the generic cell rate algorithm: a
burst of ``limit`` attempts, then one every ``period / limit``. An attempt takes from every key
it counts against in one statement (``throttle_take`` in migration 0005), before the password is
hashed, so concurrent attempts cannot slip past a limit, and a refused one costs no hash. Nothing
ever locks an account: a throttle lets the next attempt through after ``Retry-After``, and an
attacker counting against their own address never slows a victim logging in from another.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import timedelta

from psycopg_pool import AsyncConnectionPool

from shared.errors import Throttled
from shared.settings import Rate

TAKE = "SELECT throttle_take(%s, %s, %s)"
GIVE_BACK = "SELECT throttle_give_back(%s, %s)"


@dataclass(frozen=True, slots=True)
class Taken:
    """The keys one attempt counted against, to give back if it turns out to be no failure."""

    keys: list[str]
    intervals: list[timedelta]


class Throttle:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        login_per_account_address: Rate,
        login_per_address: Rate,
        signup_per_address: Rate,
    ) -> None:
        self._pool = pool
        self._login_account = login_per_account_address
        self._login_address = login_per_address
        self._signup = signup_per_address

    async def take_login(self, address: str, username: str) -> Taken:
        """Counts a login attempt as a failure until ``give_back``; Throttled past a limit."""
        # Hashed: a key of fixed length whatever the name, and names stay out of this table.
        account = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
        return await self._take(
            [
                (f"login:{address}", self._login_address),
                (f"login:{address}:{account}", self._login_account),
            ],
            "too many failed logins from your address",
        )

    async def take_signup(self, address: str) -> None:
        await self._take(
            [(f"signup:{address}", self._signup)], "too many signups from your address"
        )

    async def give_back(self, taken: Taken) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(GIVE_BACK, (taken.keys, taken.intervals))

    async def _take(self, keys: list[tuple[str, Rate]], message: str) -> Taken:
        taken = Taken(
            [key for key, _ in keys],
            [timedelta(seconds=rate.period_seconds / rate.limit) for _, rate in keys],
        )
        bursts = [rate.limit for _, rate in keys]
        async with self._pool.connection() as conn:
            cursor = await conn.execute(TAKE, (taken.keys, taken.intervals, bursts))
            row = await cursor.fetchone()
        wait = float(row[0]) if row else 0.0
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise Throttled(f"{message}: try again in {seconds} s", retry_after_seconds=seconds)
        return taken
