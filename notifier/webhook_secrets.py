"""Each user's webhook signing secret, read when a webhook is signed (so a rotation applies to
every delivery from then on, retries included). Reads are batched: under load one statement
serves every webhook that asked while the previous one ran."""

from __future__ import annotations

from collections.abc import Sequence

from shared.batching import Batcher
from shared.db import GatedPool

_SELECT = "SELECT id, webhook_secret FROM users WHERE id = ANY(%s)"


class DatabaseWebhookSecrets:
    def __init__(self, pool: GatedPool) -> None:
        self._pool = pool
        self._reads: Batcher[int, str | None] = Batcher(self._read, max_batch=1000, in_flight=2)

    async def of(self, user_id: int) -> str | None:
        return await self._reads.submit(user_id)

    async def _read(self, user_ids: list[int]) -> Sequence[str | None]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(_SELECT, (list(set(user_ids)),))
            found: dict[int, str | None] = dict(await cursor.fetchall())
        return [found.get(user_id) for user_id in user_ids]


class NoWebhookSecrets:
    """Without a database there are no users, and so no secrets: standard webhooks are parked
    (Discord and Slack ones, unsigned, still go)."""

    async def of(self, user_id: int) -> str | None:
        return None
