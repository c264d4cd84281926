"""Helpers the matcher's tests share: alerts written straight into the database, and what
reached the queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aio_pika
import orjson
from psycopg_pool import AsyncConnectionPool

from matcher.book import BookRow
from shared.rabbit import declare_alert_queue


class Claims:
    """A stand-in for the claim pipeline: what the tick hands it, each fire with its trade,
    and the references."""

    def __init__(self) -> None:
        self.fired: list[tuple[list[int], float, int]] = []
        self.references: list[tuple[int, float]] = []

    def offer(
        self, fired: Sequence[int], price: float, time_ms: int, bases: Sequence[float | None]
    ) -> None:
        self.fired.append((sorted(fired), price, time_ms))

    def note_references(self, references: list[tuple[int, float]]) -> None:
        self.references.extend(references)

    def taken(self) -> tuple[list[tuple[list[int], float, int]], list[tuple[int, float]]]:
        taken = self.fired, sorted(self.references)
        self.fired, self.references = [], []
        return taken


def level_row(alert_id: int, symbol: str, condition: str, target: float) -> BookRow:
    """The book's row of a once ``above``/``below`` alert."""
    return BookRow(alert_id, symbol, condition, target, None, 0, None, 0, None)


async def received(rabbitmq_url: str, queue_name: str) -> list[dict[str, Any]]:
    """Everything on the queue now, consumed."""
    connection = await aio_pika.connect(rabbitmq_url)
    messages = []
    async with connection:
        channel = await connection.channel()
        queue = await declare_alert_queue(channel, queue_name)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            assert message.content_type == "application/json"
            body = orjson.loads(message.body)
            assert message.message_id == f"{body['alert_id']}:{body['seq']}"
            messages.append(body)
    return messages


async def insert_alert(
    pool: AsyncConnectionPool,
    symbol: str,
    condition: str,
    target: str,
    email: str = "a@ex.com",
    *,
    cooldown_seconds: int | None = None,
) -> int:
    """An alert written straight into the table (a repeat when ``cooldown_seconds`` is given)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "INSERT INTO users (username, password_hash) VALUES (%s, 'x') "
            "ON CONFLICT (username) DO UPDATE SET username = EXCLUDED.username RETURNING id",
            (email,),
        )
        user = await cursor.fetchone()
        assert user is not None
        cursor = await conn.execute(
            "INSERT INTO alerts (user_id, symbol, trigger_condition, target_price, channels,"
            " frequency, cooldown_seconds)"
            " VALUES (%s, %s, %s, %s, jsonb_build_object('email', %s::text), %s, %s) RETURNING id",
            (
                user[0],
                symbol,
                condition,
                target,
                email,
                "once" if cooldown_seconds is None else "repeat",
                cooldown_seconds,
            ),
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def alert_row(pool: AsyncConnectionPool, alert_id: int) -> tuple[Any, ...]:
    """(state, the latest fire's price as text, whether every fire's publish was confirmed)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT a.state, a.triggered_price::text,"
            " coalesce(bool_and(f.published_at IS NOT NULL), false)"
            " FROM alerts a LEFT JOIN alert_fires f ON f.alert_id = a.id"
            " WHERE a.id = %s GROUP BY a.id",
            (alert_id,),
        )
        row = await cursor.fetchone()
    assert row is not None
    return tuple(row)
