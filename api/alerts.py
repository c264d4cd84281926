"""Creating, deleting and listing a user's alerts, with their SQL.

The database guards every rule it can: the symbol must exist (foreign key), the state only moves
forward (trigger), and a delete touches only the caller's own alert that is not deleted yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from shared.batching import Batcher
from shared.errors import NotFound, Unauthorized, ValidationError

ALERT_COLUMNS = """id, symbol, target_price, trigger_condition, email, state,
                   created_at, triggered_at, triggered_price"""

# Creates are batched (see shared.batching and create_alerts in migration 0001).
CREATE_ALERTS = """
SELECT item, outcome, alert_id, created_at
FROM create_alerts(%s, %s, %s, %s, %s, %s)
"""
DELETE_ALERT = f"""
UPDATE alerts SET state = 'deleted', deleted_at = now()
WHERE id = %s AND user_id = %s AND state <> 'deleted'
RETURNING {ALERT_COLUMNS}
"""
SELECT_ALERT_STATE = "SELECT state FROM alerts WHERE id = %s AND user_id = %s"
LIST_ALERTS = f"""
SELECT {ALERT_COLUMNS} FROM alerts
WHERE user_id = %(user_id)s AND id < %(before_id)s
ORDER BY id DESC LIMIT %(limit)s
"""
LIST_ALERTS_IN_STATE = f"""
SELECT {ALERT_COLUMNS} FROM alerts
WHERE user_id = %(user_id)s AND state = %(state)s AND id < %(before_id)s
ORDER BY id DESC LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class NewAlert:
    symbol: str
    trigger_condition: str
    target_price: Decimal
    email: str


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert row, in ``ALERT_COLUMNS`` order."""

    id: int
    symbol: str
    target_price: Decimal
    trigger_condition: str
    email: str
    state: str
    created_at: datetime
    triggered_at: datetime | None
    triggered_price: Decimal | None

    def to_json(self) -> dict[str, Any]:
        """The alert as the API shows it: prices as decimal strings, times as ISO 8601 UTC."""
        return {
            "id": self.id,
            "symbol": self.symbol,
            "target_price": _decimal_text(self.target_price),
            "trigger_condition": self.trigger_condition,
            "email": self.email,
            "state": self.state,
            "created_at": _time_text(self.created_at),
            "triggered_at": _time_text(self.triggered_at),
            "triggered_price": _decimal_text(self.triggered_price),
        }


@dataclass(frozen=True, slots=True)
class Page:
    alerts: list[Alert]
    next_before_id: int | None


class Alerts:
    def __init__(self, pool: AsyncConnectionPool, *, max_live_per_user: int) -> None:
        self._pool = pool
        self._cap = max_live_per_user
        # Two batches in flight keep the database busy while the previous one's answer returns.
        self._creates: Batcher[tuple[int, NewAlert], Alert] = Batcher(
            self._create_batch, max_batch=256, in_flight=2, retry_alone=_refused_by_the_database
        )

    @property
    def creates_waiting(self) -> int:
        """Creates received and not yet sent to the database in a batch."""
        return self._creates.waiting

    async def create(self, user_id: int, new: NewAlert) -> Alert:
        """The new alert; ValidationError for an unknown symbol or a full cap."""
        return await self._creates.submit((user_id, new))

    async def _create_batch(self, batch: list[tuple[int, NewAlert]]) -> list[Alert | BaseException]:
        params = (
            [user_id for user_id, _ in batch],
            [new.symbol for _, new in batch],
            [new.trigger_condition for _, new in batch],
            [new.target_price for _, new in batch],
            [new.email for _, new in batch],
            self._cap,
        )
        async with self._pool.connection() as conn:
            cursor = await conn.execute(CREATE_ALERTS, params)
            rows = await cursor.fetchall()
        results: list[Alert | BaseException] = [RuntimeError("no outcome")] * len(batch)
        for item, outcome, alert_id, created_at in rows:
            _user_id, new = batch[item - 1]
            results[item - 1] = self._outcome(outcome, new, alert_id, created_at)
        return results

    def _outcome(
        self, outcome: str, new: NewAlert, alert_id: int | None, created_at: datetime | None
    ) -> Alert | BaseException:
        if outcome == "created":
            assert alert_id is not None
            assert created_at is not None
            alert = Alert(
                id=alert_id,
                symbol=new.symbol,
                target_price=new.target_price,
                trigger_condition=new.trigger_condition,
                email=new.email,
                state="created",
                created_at=created_at,
                triggered_at=None,
                triggered_price=None,
            )
            return alert
        if outcome == "no_user":
            return Unauthorized("the account of this token no longer exists")
        if outcome == "cap":
            return ValidationError(
                f"you already have {self._cap} live alerts, the most allowed: "
                "delete some before creating more"
            )
        return ValidationError(
            f"unknown symbol {new.symbol!r}: use a Binance spot symbol such as BTCUSDT"
        )

    async def delete(self, user_id: int, alert_id: int) -> Alert:
        async with self._pool.connection() as conn:
            deleted = conn.cursor(row_factory=class_row(Alert))
            alert = await (await deleted.execute(DELETE_ALERT, (alert_id, user_id))).fetchone()
            if alert is not None:
                return alert
            cursor = await conn.execute(SELECT_ALERT_STATE, (alert_id, user_id))
            existing = await cursor.fetchone()
        if existing is None:
            raise NotFound(f"you have no alert with id {alert_id}")
        raise ValidationError(f"alert {alert_id} is already deleted")

    async def page(
        self, user_id: int, *, state: str | None, limit: int, before_id: int | None
    ) -> Page:
        """Newest first; one row more than asked tells whether another page follows."""
        params = {
            "user_id": user_id,
            "state": state,
            "before_id": before_id or 2**63 - 1,
            "limit": limit + 1,
        }
        async with self._pool.connection() as conn:
            cursor = conn.cursor(row_factory=class_row(Alert))
            await cursor.execute(LIST_ALERTS_IN_STATE if state else LIST_ALERTS, params)
            alerts = await cursor.fetchall()
        more = len(alerts) > limit
        return Page(alerts[:limit], alerts[limit - 1].id if more else None)


def _refused_by_the_database(exc: Exception) -> bool:
    """The database refused the batch's statement (a value it would not store, say): nothing was
    committed, so each create can be tried alone. A lost connection is not that: the commit may
    have happened, and trying again could create the alerts twice."""
    return isinstance(exc, psycopg.Error) and not isinstance(exc, psycopg.OperationalError)


def _decimal_text(value: Decimal | None) -> str | None:
    # format "f": str() would write 1E-7 for 0.0000001.
    return None if value is None else format(value, "f")


def _time_text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
