"""The delivery log in PostgreSQL: what it answers for a batch of checks mixing alerts, fires
and channels, and which outcome a record keeps."""

from __future__ import annotations

import asyncio

import pytest

from notifier.deliveries import DatabaseDeliveryLog, Outcome
from shared.db import GatedPool


@pytest.mark.usefixtures("clean_tables")
async def test_a_batch_of_checks_answers_each_fire_and_channel_alone(pool: GatedPool) -> None:
    log = DatabaseDeliveryLog(pool)
    await asyncio.gather(
        log.record(Outcome((1, 1), "email", "sent", 1)),
        log.record(Outcome((1, 2), "email", "retrying", 1, "timed out")),
        log.record(Outcome((2, 1), "webhook", "sent", 2)),
        log.record(Outcome((3, 7), "email", "sent", 1)),
    )
    asked = [
        ((1, 1), "email"),  # sent
        ((1, 2), "email"),  # retrying, not sent
        ((1, 3), "email"),  # never tried
        ((2, 1), "email"),  # its webhook was sent, not its email
        ((2, 1), "webhook"),  # sent
        ((3, 1), "email"),  # the alert's fire 7 was sent, not this one
        ((2, 7), "email"),  # alert 2 and seq 7 are each in the batch, not together
        ((3, 7), "email"),  # sent
    ]
    # Gathered, the checks go out as one batch per statement in flight.
    answers = await asyncio.gather(*(log.was_sent(fire, channel) for fire, channel in asked))
    assert answers == [True, False, False, False, True, False, False, True]


@pytest.mark.usefixtures("clean_tables")
async def test_a_sent_delivery_stays_sent(pool: GatedPool) -> None:
    log = DatabaseDeliveryLog(pool)
    await log.record(Outcome((5, 1), "telegram", "sent", 2))
    await log.record(Outcome((5, 1), "telegram", "parked", 3, "late copy"))
    assert await log.was_sent((5, 1), "telegram")
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT status, attempts, last_error FROM deliveries WHERE alert_id = 5"
        )
        assert await cursor.fetchall() == [("sent", 2, None)]
