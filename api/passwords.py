"""argon2id password hashing, run on a small thread pool so the event loop keeps serving.

Parameters are OWASP's recommended minimum for argon2id (19 MiB, 2 passes, 1 lane): about 20 ms a
hash here, against about 60 ms for argon2-cffi's defaults. Hashes made with other parameters still
verify, and are upgraded at the next login. The pool is as wide as the machine, so a login storm
queues instead of taking memory without bound (each hash holds 19 MiB while it runs).
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="argon2")

# Verified against when the username is unknown, so that answer takes as long as a wrong password.
_UNKNOWN_USER_HASH = _hasher.hash("an unknown user's password is never this")


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_executor, _hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with ``stored_hash=None`` (no such user) spends the same time
    and answers False."""
    target = stored_hash if stored_hash is not None else _UNKNOWN_USER_HASH
    matches = await asyncio.get_running_loop().run_in_executor(_executor, _verify, target, password)
    return matches and stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
