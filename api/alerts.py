"""Creating, deleting and listing a user's alerts, with their SQL.

The database guards every rule it can: the symbol must exist (foreign key), the state only moves
forward (trigger), and a delete touches only the caller's own alert that is not deleted yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from shared.errors import NotFound, Unauthorized, ValidationError

ALERT_COLUMNS = """id, symbol, target_price, trigger_condition, email, state,
                   created_at, triggered_at, triggered_price"""

# Serialises one user's creates, so two at once cannot both pass the cap check.
LOCK_USER = "SELECT 1 FROM users WHERE id = %s FOR NO KEY UPDATE"
INSERT_UNDER_CAP = f"""
INSERT INTO alerts (user_id, symbol, trigger_condition, target_price, email)
SELECT %(user_id)s, %(symbol)s, %(condition)s, %(target)s, %(email)s
WHERE (SELECT count(*) FROM alerts WHERE user_id = %(user_id)s AND state = 'created') < %(cap)s
RETURNING {ALERT_COLUMNS}
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
class Page:
    alerts: list[dict[str, Any]]
    next_before_id: int | None


class Alerts:
    def __init__(self, pool: AsyncConnectionPool, *, max_live_per_user: int) -> None:
        self._pool = pool
        self._cap = max_live_per_user

    async def create(self, user_id: int, new: NewAlert) -> dict[str, Any]:
        params = {
            "user_id": user_id,
            "symbol": new.symbol,
            "condition": new.trigger_condition,
            "target": new.target_price,
            "email": new.email,
            "cap": self._cap,
        }
        async with self._pool.connection() as conn:
            try:
                async with conn.transaction():
                    cursor = await conn.execute(LOCK_USER, (user_id,))
                    if await cursor.fetchone() is None:
                        raise Unauthorized("the account of this token no longer exists")
                    cursor = await conn.execute(INSERT_UNDER_CAP, params)
                    row = await cursor.fetchone()
            except pg_errors.ForeignKeyViolation:
                raise ValidationError(
                    f"unknown symbol {new.symbol!r}: use a Binance spot symbol such as BTCUSDT"
                ) from None
        if row is None:
            raise ValidationError(
                f"you already have {self._cap} live alerts, the most allowed: "
                "delete some before creating more"
            )
        return to_json(row)

    async def delete(self, user_id: int, alert_id: int) -> dict[str, Any]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(DELETE_ALERT, (alert_id, user_id))
            row = await cursor.fetchone()
            if row is not None:
                return to_json(row)
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
            cursor = await conn.execute(LIST_ALERTS_IN_STATE if state else LIST_ALERTS, params)
            rows = await cursor.fetchall()
        more = len(rows) > limit
        alerts = [to_json(row) for row in rows[:limit]]
        return Page(alerts, alerts[-1]["id"] if more else None)


def to_json(row: Sequence[Any]) -> dict[str, Any]:
    """An alert row (``ALERT_COLUMNS`` order) as the API shows it: prices as decimal strings,
    times as ISO 8601 UTC."""
    (id_, symbol, target, condition, email, state, created_at, triggered_at, triggered_price) = row
    return {
        "id": id_,
        "symbol": symbol,
        "target_price": _decimal_text(target),
        "trigger_condition": condition,
        "email": email,
        "state": state,
        "created_at": _time_text(created_at),
        "triggered_at": _time_text(triggered_at),
        "triggered_price": _decimal_text(triggered_price),
    }


def _decimal_text(value: Decimal | None) -> str | None:
    # format "f": str() would write 1E-7 for 0.0000001.
    return None if value is None else format(value, "f")


def _time_text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
