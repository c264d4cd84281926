"""The stable shard bucket of a symbol, mirrored by the ``alerts.shard_bucket`` column.

A bucket is the first 32 bits of the symbol's MD5, masked to ``SHARD_BUCKETS`` values. PostgreSQL
computes the same expression in the generated column (migration 0001), so every writer of the
alerts table gets the same bucket without knowing about sharding. Replica ``I/N`` owns the
buckets with ``bucket % N == I``; 4096 buckets keep the split even for any N up to a few hundred.
"""

from __future__ import annotations

import hashlib

from shared.settings import Shard

SHARD_BUCKETS = 4096


def shard_bucket(symbol: str) -> int:
    """Bucket of ``symbol`` (already upper-case), in ``range(SHARD_BUCKETS)``."""
    digest = hashlib.md5(symbol.encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:4], "big") & (SHARD_BUCKETS - 1)


def owns(shard: Shard, symbol: str) -> bool:
    """Whether replica ``shard`` is responsible for ``symbol``."""
    return shard_bucket(symbol) % shard.count == shard.index
