"""A user's alerts: creating every kind, reading one or a page, pausing, resuming, deleting,
and the events (fires and their deliveries), with their SQL.

The database guards every rule it can: the symbol must exist (foreign key), the fields fit the
kind (checks), the state moves only as the life cycle allows (a trigger), and every statement
touches only the caller's own alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row
from psycopg_pool import AsyncConnectionPool

from api.responses import decimal_text as _decimal_text
from api.responses import time_text as _time_text
from api.validation import AlertInput
from shared.batching import Batcher
from shared.errors import NotFound, Unauthorized, ValidationError
from shared.fields import flat_channel_fields
from shared.vocabulary import CHANNELS, DEFAULT_EXCHANGE, EXCHANGES, kind_fields

# The kind fields kept in ``params`` (target_price is a column of its own).
KEPT_IN_PARAMS = tuple(name for name in kind_fields() if name != "target_price")

# An alert whose time is up reads as expired even before the matcher's sweep says so.
ALERT_COLUMNS = """id, symbol, target_price, trigger_condition,
    CASE WHEN state IN ('created', 'paused') AND expires_at <= now() THEN 'expired'
         ELSE state END AS state,
    created_at, triggered_at, triggered_price, params, frequency, cooldown_seconds, expires_at,
    channels, reference_price, fire_count"""


def _with_current_price(statement: str, order: str = "") -> str:
    """``statement`` (a SELECT or an UPDATE ... RETURNING of ``ALERT_COLUMNS``) with each
    alert's ``current_price``, the last trade price of its symbol the matcher wrote, and that
    trade's time, ``current_price_at`` (both null when none), and ``symbol_status``, whether
    the exchange still trades its symbol (the matcher keeps ``symbols`` following the
    exchange's list): joined in the same statement, one primary-key probe of ``prices`` and one
    of ``symbols`` per alert."""
    return f"""
WITH shown AS ({statement})
SELECT shown.*, p.price AS current_price, p.at AS current_price_at, s.status AS symbol_status
FROM shown LEFT JOIN prices AS p ON p.symbol = shown.symbol
JOIN symbols AS s ON s.symbol = shown.symbol
{order}"""


# Creates are batched (see shared.batching and create_alert_items in migration 0006). The
# current price of each created alert's symbol comes back in the same statement.
CREATE_ALERTS = """
SELECT c.item, c.outcome, c.alert_id, c.created_at, p.price, p.at
FROM (SELECT %s::jsonb AS items) AS batch
CROSS JOIN LATERAL create_alert_items(batch.items, %s) AS c
LEFT JOIN prices AS p
    ON c.outcome = 'created' AND p.symbol = batch.items -> (c.item - 1) ->> 'symbol'
"""
SELECT_ALERT = _with_current_price(
    f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = %s AND user_id = %s"
)
DELETE_ALERT = _with_current_price(f"""
UPDATE alerts SET state = 'deleted', deleted_at = now()
WHERE id = %s AND user_id = %s AND state <> 'deleted'
RETURNING {ALERT_COLUMNS}
""")
PAUSE_ALERT = _with_current_price(f"""
UPDATE alerts SET state = 'paused', paused_at = now()
WHERE id = %s AND user_id = %s AND state = 'created'
  AND (expires_at IS NULL OR expires_at > now())
RETURNING {ALERT_COLUMNS}
""")
# Resuming makes the alert live again, so it counts against the cap: the user's row is locked
# first (as creates do) and the live alerts counted after, in the same transaction.
LOCK_USER = "SELECT 1 FROM users WHERE id = %s FOR NO KEY UPDATE"
COUNT_LIVE = "SELECT count(*) FROM alerts WHERE user_id = %s AND state = 'created'"
RESUME_ALERT = _with_current_price(f"""
UPDATE alerts SET state = 'created', paused_at = NULL
WHERE id = %s AND user_id = %s AND state = 'paused'
  AND (expires_at IS NULL OR expires_at > now())
RETURNING {ALERT_COLUMNS}
""")


def _with_changes_token(statement: str) -> str:
    """``statement`` (one of ``_with_current_price``) with a first column ``changes_token``: the
    snapshot it was read in, as text, on every row, and on one row of nulls when it finds none.
    In one statement, so the token is the very snapshot the rows were read in
    (``pg_current_snapshot`` reads the statement's own): what they show is exactly what a later
    ``changed_since`` of this token leaves out (migration 0011)."""
    return f"""
WITH token AS MATERIALIZED (SELECT pg_current_snapshot()::text AS changes_token)
SELECT token.changes_token, listed.* FROM token LEFT JOIN LATERAL ({statement}) AS listed ON true
ORDER BY listed.id DESC"""


LIST_ALERTS = _with_current_price(
    f"""
SELECT {ALERT_COLUMNS} FROM alerts
WHERE user_id = %(user_id)s AND id < %(before_id)s
ORDER BY id DESC LIMIT %(limit)s
""",
    "ORDER BY shown.id DESC",
)
# The filter reads the state as shown: an alert whose time is up is listed as expired.
LIST_ALERTS_IN_STATE = _with_current_price(
    f"""
SELECT * FROM (
    SELECT {ALERT_COLUMNS} FROM alerts
    WHERE user_id = %(user_id)s AND id < %(before_id)s
      AND (state = %(state)s OR (%(state)s = 'expired' AND state IN ('created', 'paused')
                                 AND expires_at <= now()))
) AS listed
WHERE state = %(state)s
ORDER BY id DESC LIMIT %(limit)s
""",
    "ORDER BY shown.id DESC",
)
# The alerts whose last writer the token's snapshot had not seen (it was in progress, or came
# after): through alerts_changes, this user's rows written since the token's xmin.
CHANGED_ALERTS = _with_current_price(f"""
SELECT {ALERT_COLUMNS} FROM alerts
WHERE user_id = %(user_id)s AND changed_by >= pg_snapshot_xmin(%(since)s::pg_snapshot)
  AND NOT pg_visible_in_snapshot(changed_by, %(since)s::pg_snapshot)
""")
SELECT_FIRES = """
SELECT seq, price, fired_at FROM alert_fires
WHERE alert_id = %s AND seq < %s ORDER BY seq DESC LIMIT %s
"""
SELECT_DELIVERIES = """
SELECT seq, channel, status, attempts, last_error, sent_at FROM deliveries
WHERE alert_id = %s AND seq = ANY(%s)
"""


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert row, its columns by name (``ALERT_COLUMNS``, read with ``class_row``)."""

    id: int
    symbol: str
    target_price: Decimal | None
    trigger_condition: str
    state: str
    created_at: datetime
    triggered_at: datetime | None
    triggered_price: Decimal | None
    params: dict[str, str]
    channels: dict[str, Any]
    frequency: str = "once"
    cooldown_seconds: int | None = None
    expires_at: datetime | None = None
    reference_price: Decimal | None = None
    fire_count: int = 0
    current_price: Decimal | None = None
    current_price_at: datetime | None = None
    symbol_status: str = "trading"

    def to_json(self) -> dict[str, Any]:
        """The alert as the API shows it: prices and percents as decimal strings, times as
        ISO 8601 UTC; the first nine fields are the first design's, in its order, then every
        field any kind has (null where this one has none), and the channels both as the flat
        fields of the first waves and as one object."""
        flat = flat_channel_fields(self.channels)
        return {
            "id": self.id,
            "symbol": self.symbol,
            "target_price": _decimal_text(self.target_price),
            "trigger_condition": self.trigger_condition,
            "email": flat.pop("email"),
            "state": self.state,
            "created_at": _time_text(self.created_at),
            "triggered_at": _time_text(self.triggered_at),
            "triggered_price": _decimal_text(self.triggered_price),
            **{name: self.params.get(name) for name in KEPT_IN_PARAMS},
            "frequency": self.frequency,
            "cooldown_seconds": self.cooldown_seconds,
            "expires_at": _time_text(self.expires_at),
            **flat,
            "channels": self.channels,
            "reference_price": _decimal_text(self.reference_price),
            "fire_count": self.fire_count,
            "current_price": _decimal_text(self.current_price),
            "current_price_at": _time_text(self.current_price_at),
            "symbol_status": self.symbol_status,
        }


@dataclass(frozen=True, slots=True)
class Page:
    alerts: list[Alert]
    next_before_id: int | None
    changes_token: str  # for ``changed_since``: what changed after this page was read


def _xmax(token: str) -> int:
    """A token's xmax: every transaction id below it had ended when it was taken."""
    return int(token.split(":")[1])


class Alerts:
    def __init__(self, pool: AsyncConnectionPool, *, max_live_per_user: int) -> None:
        self._pool = pool
        self._cap = max_live_per_user
        # Two batches in flight keep the database busy while the previous one's answer returns.
        self._creates: Batcher[tuple[int, AlertInput], Alert] = Batcher(
            self._create_batch, max_batch=256, in_flight=2, retry_alone=_refused_by_the_database
        )

    @property
    def creates_waiting(self) -> int:
        """Creates received and not yet sent to the database in a batch."""
        return self._creates.waiting

    async def create(self, user_id: int, new: AlertInput) -> Alert:
        """The new alert; ValidationError for an unknown symbol or a full cap."""
        return await self._creates.submit((user_id, new))

    async def _create_batch(
        self, batch: list[tuple[int, AlertInput]]
    ) -> list[Alert | BaseException]:
        items = [
            {
                "user_id": user_id,
                "symbol": new.symbol,
                "trigger_condition": new.trigger_condition,
                "target_price": new.target_price,
                "params": new.params,
                "frequency": new.frequency,
                "cooldown_seconds": new.cooldown_seconds,
                "expires_at": new.expires_at,
                "channels": new.channels,
            }
            for user_id, new in batch
        ]
        # Decimals as strings: PostgreSQL reads them back as the numeric written.
        payload = orjson.dumps(items, default=str).decode()
        async with self._pool.connection() as conn:
            cursor = await conn.execute(CREATE_ALERTS, (payload, self._cap))
            rows = await cursor.fetchall()
        results: list[Alert | BaseException] = [RuntimeError("no outcome")] * len(batch)
        for item, outcome, alert_id, created_at, price, price_at in rows:
            _user_id, new = batch[item - 1]
            results[item - 1] = self._outcome(outcome, new, alert_id, created_at, price, price_at)
        return results

    def _outcome(
        self,
        outcome: str,
        new: AlertInput,
        alert_id: int | None,
        created_at: datetime | None,
        current_price: Decimal | None,
        current_price_at: datetime | None,
    ) -> Alert | BaseException:
        if outcome == "created":
            assert alert_id is not None
            assert created_at is not None
            return Alert(
                id=alert_id,
                symbol=new.symbol,
                target_price=new.target_price,
                trigger_condition=new.trigger_condition,
                state="created",
                created_at=created_at,
                triggered_at=None,
                triggered_price=None,
                params=new.params,
                channels=new.channels,
                frequency=new.frequency,
                cooldown_seconds=new.cooldown_seconds,
                expires_at=new.expires_at,
                current_price=current_price,
                current_price_at=current_price_at,
            )
        if outcome == "no_user":
            return Unauthorized("the account of this token no longer exists")
        if outcome == "cap":
            return ValidationError(
                f"you already have {self._cap} live alerts, the most allowed: "
                "delete or pause some before creating more"
            )
        if outcome == "not_trading":
            return ValidationError(
                f"symbol {new.symbol!r} is not trading on {EXCHANGES[DEFAULT_EXCHANGE].name}: "
                "the exchange has stopped (or paused) it, so an alert on it could not fire"
            )
        return ValidationError(
            f"unknown symbol {new.symbol!r}: use a Binance spot symbol such as BTCUSDT"
        )

    async def get(self, user_id: int, alert_id: int) -> Alert:
        async with self._pool.connection() as conn:
            alert = await self._select(conn, user_id, alert_id)
        if alert is None:
            raise NotFound(f"you have no alert with id {alert_id}")
        return alert

    async def delete(self, user_id: int, alert_id: int) -> Alert:
        async with self._pool.connection() as conn:
            deleted = conn.cursor(row_factory=class_row(Alert))
            alert = await (await deleted.execute(DELETE_ALERT, (alert_id, user_id))).fetchone()
            if alert is not None:
                return alert
            existing = await self._select(conn, user_id, alert_id)
        if existing is None:
            raise NotFound(f"you have no alert with id {alert_id}")
        raise ValidationError(f"alert {alert_id} is already deleted")

    async def pause(self, user_id: int, alert_id: int) -> Alert:
        """A live alert leaves the book and stops counting against the cap."""
        async with self._pool.connection() as conn:
            cursor = conn.cursor(row_factory=class_row(Alert))
            alert = await (await cursor.execute(PAUSE_ALERT, (alert_id, user_id))).fetchone()
            if alert is not None:
                return alert
            existing = await self._select(conn, user_id, alert_id)
        if existing is None:
            raise NotFound(f"you have no alert with id {alert_id}")
        raise ValidationError(
            f"alert {alert_id} is {existing.state}: only a live (created) alert can be paused"
        )

    async def resume(self, user_id: int, alert_id: int) -> Alert:
        """A paused alert is live again, if the cap has room for it."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(LOCK_USER, (user_id,))
            cursor = await conn.execute(COUNT_LIVE, (user_id,))
            live = await cursor.fetchone()
            existing = await self._select(conn, user_id, alert_id)
            if existing is None:
                raise NotFound(f"you have no alert with id {alert_id}")
            if existing.state != "paused":
                raise ValidationError(
                    f"alert {alert_id} is {existing.state}: only a paused alert can be resumed"
                )
            if live is not None and live[0] >= self._cap:
                raise ValidationError(
                    f"you already have {self._cap} live alerts, the most allowed: "
                    "delete or pause some before resuming this one"
                )
            resumed = conn.cursor(row_factory=class_row(Alert))
            alert = await (await resumed.execute(RESUME_ALERT, (alert_id, user_id))).fetchone()
        if alert is None:  # its time ran out between the look and the update
            raise ValidationError(f"alert {alert_id} has expired")
        return alert

    async def events(
        self, user_id: int, alert_id: int, *, limit: int, before_seq: int | None
    ) -> list[dict[str, Any]]:
        """The alert's fires, newest first, each with the delivery of each of its channels."""
        async with self._pool.connection() as conn:
            alert = await self._select(conn, user_id, alert_id)
            if alert is None:
                raise NotFound(f"you have no alert with id {alert_id}")
            cursor = await conn.execute(SELECT_FIRES, (alert_id, before_seq or 2**31 - 1, limit))
            fires = await cursor.fetchall()
            cursor = await conn.execute(SELECT_DELIVERIES, (alert_id, [seq for seq, _, _ in fires]))
            found = {(row[0], row[1]): row[2:] for row in await cursor.fetchall()}
        events = []
        for seq, price, fired_at in fires:
            deliveries = []
            for channel in (name for name in CHANNELS if name in alert.channels):
                status, attempts, last_error, sent_at = found.get(
                    (seq, channel), ("pending", 0, None, None)
                )
                deliveries.append(
                    {
                        "channel": channel,
                        "status": status,
                        "attempts": attempts,
                        "last_error": last_error,
                        "sent_at": _time_text(sent_at),
                    }
                )
            events.append(
                {
                    "seq": seq,
                    "price": _decimal_text(price),
                    "at": _time_text(fired_at),
                    "deliveries": deliveries,
                }
            )
        return events

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
        statement = LIST_ALERTS_IN_STATE if state else LIST_ALERTS
        alerts, token = await self._read_with_token(_with_changes_token(statement), params)
        more = len(alerts) > limit
        return Page(alerts[:limit], alerts[limit - 1].id if more else None, token)

    async def changes(self, user_id: int, since: str) -> Page:
        """The alerts created, changed or deleted since the token ``since`` (deleted ones kept
        as rows in state 'deleted'), each once in their state now, newest first, unpaged; and
        the next token. O(changes since the token's xmin) through ``alerts_changes``.
        ValidationError for a token no snapshot of this database has been yet."""
        params = {"user_id": user_id, "since": since}
        alerts, token = await self._read_with_token(_with_changes_token(CHANGED_ALERTS), params)
        if _xmax(since) > _xmax(token):
            raise ValidationError(
                "changed_since is not a token of this server: read the list without it"
            )
        return Page(alerts, None, token)

    async def _read_with_token(
        self, statement: str, params: dict[str, Any]
    ) -> tuple[list[Alert], str]:
        async with self._pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            rows = await (await cursor.execute(statement, params)).fetchall()
        token: str = rows[0]["changes_token"]
        alerts = []
        for row in rows:
            del row["changes_token"]
            if row["id"] is not None:  # the row of nulls of an empty answer
                alerts.append(Alert(**row))
        return alerts, token

    @staticmethod
    async def _select(
        conn: AsyncConnection[tuple[Any, ...]], user_id: int, alert_id: int
    ) -> Alert | None:
        cursor = conn.cursor(row_factory=class_row(Alert))
        return await (await cursor.execute(SELECT_ALERT, (alert_id, user_id))).fetchone()


def _refused_by_the_database(exc: Exception) -> bool:
    """The database refused the batch's statement (a value it would not store, say): nothing was
    committed, so each create can be tried alone. A lost connection is not that: the commit may
    have happened, and trying again could create the alerts twice."""
    return isinstance(exc, psycopg.Error) and not isinstance(exc, psycopg.OperationalError)
