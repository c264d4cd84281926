"""The database's CHECK constraints that the vocabulary writes: which kinds, channels and fields
a row may hold, generated from ``shared.vocabulary`` so that declaring a kind or a channel is
all it takes for the database to accept it, and to refuse everything else.

``pricealert migrate`` applies them after the numbered migrations (``apply``): each constraint
whose definition changed is replaced (added ``NOT VALID``, then validated, which scans the
table without blocking writes), and the names it allows are recorded in ``schema_vocabulary``.
A database migrated by newer code knows names this code does not: it is then left as it is
(never loosened by older code), and ``schema_problem`` reports a database that lacks one of
this code's names as a schema not ready.

The SQL of each field's and channel's value check is here, beside the code that writes it;
``VALUE_CHECKS`` and ``CHANNEL_CHECKS`` hold one per name, and a test proves every declared
kind field and channel has one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import psycopg
from psycopg import sql

from shared import fields
from shared.vocabulary import CHANNELS, KINDS, WEBHOOK_FORMATS, WINDOWS, kind_fields

log = logging.getLogger(__name__)

# The lists the database checks against, by the name schema_vocabulary records them under.
LISTS: Mapping[str, tuple[str, ...]] = {"kind": tuple(KINDS), "channel": tuple(CHANNELS)}


def _words(names: Iterable[str]) -> str:
    return ", ".join(sql.quote(name) for name in names)


def _matches(value: str, pattern: str) -> str:
    return f"({value}) ~ {sql.quote(fields.anchored(pattern))}"


# Each kind field kept in ``params`` (every one but target_price, a column of its own): its
# check, on its text as $V. A cast comes only after the pattern said it can be cast (CASE fixes
# the order; AND would not).
VALUE_CHECKS: Mapping[str, str] = {
    "percent": f"CASE WHEN {_matches('$V', fields.PERCENT_PATTERN.pattern)}"
    f" THEN ($V)::numeric > 0 AND ($V)::numeric <= {fields.PERCENT_MAX} ELSE false END",
    "window": f"($V) IN ({_words(WINDOWS)})",
}
# Each channel's entry in ``channels``, as $C (jsonb).
CHANNEL_CHECKS: Mapping[str, str] = {
    "email": "jsonb_typeof($C) = 'string'"
    f" AND char_length($C #>> '{{}}') BETWEEN 3 AND {fields.EMAIL_MAX}",
    "webhook": "jsonb_typeof($C) = 'object' AND ($C - ARRAY['url', 'format']) = '{}'"
    f" AND char_length($C ->> 'url') BETWEEN 8 AND {fields.WEBHOOK_URL_MAX}"
    f" AND ($C ->> 'format') IN ({_words(WEBHOOK_FORMATS)})",
    "telegram": "jsonb_typeof($C) = 'string' AND "
    + _matches("$C #>> '{}'", fields.TELEGRAM_CHAT_PATTERN.pattern),
}


def _put(template: str, placeholder: str, expression: str) -> str:
    """``template`` with its placeholder ($V or $C) filled, true only when it holds: a CHECK
    passes a null, and a missing key makes one."""
    return f"({template.replace(placeholder, expression)}) IS TRUE"


@dataclass(frozen=True, slots=True)
class Constraint:
    table: str
    name: str
    check: str  # a boolean SQL expression on the table's columns

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.check.encode()).hexdigest()


def _kind_fields_check(kind_names: Iterable[str]) -> str:
    """Per kind: a target price when it has one, and exactly its other fields in params. A kind
    this code does not declare (recorded by newer code) is not checked here."""
    cases = []
    for name in kind_names:
        kind = KINDS.get(name)
        if kind is None:
            continue
        kept = [field for field in kind.fields if field != "target_price"]
        has_target = "target_price" in kind.fields
        rule = f"target_price IS {'NOT ' if has_target else ''}NULL"
        if kept:
            rule += (
                f" AND params ?& ARRAY[{_words(kept)}]"
                f" AND (params - ARRAY[{_words(kept)}]::text[]) = '{{}}'"
            )
        else:
            rule += " AND params = '{}'"
        cases.append(f"WHEN {sql.quote(name)} THEN {rule}")
    return f"CASE trigger_condition {' '.join(cases)} ELSE true END"


def _values_check() -> str:
    checks = []
    for name in kind_fields():
        if name == "target_price":
            continue
        value = f"params ->> {sql.quote(name)}"
        checks.append(
            f"(NOT params ? {sql.quote(name)} OR (jsonb_typeof(params -> {sql.quote(name)}) = "
            f"'string' AND {_put(VALUE_CHECKS[name], '$V', value)}))"
        )
    return " AND ".join(["jsonb_typeof(params) = 'object'", *checks])


def _channels_check(channel_names: Iterable[str]) -> str:
    names = list(channel_names)
    checks = [
        "jsonb_typeof(channels) = 'object'",
        "channels <> '{}'",
        f"(channels - ARRAY[{_words(names)}]::text[]) = '{{}}'",
    ]
    for name in names:
        if name in CHANNEL_CHECKS:
            entry = f"(channels -> {sql.quote(name)})"
            checks.append(
                f"(NOT channels ? {sql.quote(name)} OR ({_put(CHANNEL_CHECKS[name], '$C', entry)}))"
            )
    return " AND ".join(checks)


def constraints(names: Mapping[str, Iterable[str]] = LISTS) -> list[Constraint]:
    """The constraints for the lists ``names`` (this code's own by default)."""
    kinds = list(names["kind"])
    channels = list(names["channel"])
    return [
        Constraint("alerts", "vocabulary_kinds", f"trigger_condition IN ({_words(kinds)})"),
        Constraint("alerts", "vocabulary_kind_fields", _kind_fields_check(kinds)),
        Constraint("alerts", "vocabulary_field_values", _values_check()),
        Constraint("alerts", "vocabulary_channels", _channels_check(channels)),
        Constraint("deliveries", "vocabulary_channels", f"channel IN ({_words(channels)})"),
    ]


RECORDED = "SELECT list, name FROM schema_vocabulary"
RECORD = "INSERT INTO schema_vocabulary (list, name) VALUES (%s, %s) ON CONFLICT DO NOTHING"
COMMENT_OF = """
SELECT obj_description(c.oid, 'pg_constraint') FROM pg_constraint AS c
WHERE c.conrelid = %s::regclass AND c.conname = %s
"""


async def recorded_names(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> dict[str, set[str]]:
    """The names each list allows in this database (none before migration 0009)."""
    cursor = await conn.execute("SELECT to_regclass('schema_vocabulary') IS NOT NULL")
    row = await cursor.fetchone()
    found: dict[str, set[str]] = {name: set() for name in LISTS}
    if row is None or not row[0]:
        return found
    for list_name, name in await (await conn.execute(RECORDED)).fetchall():
        found.setdefault(str(list_name), set()).add(str(name))
    return found


def missing_names(recorded: Mapping[str, set[str]]) -> list[str]:
    """This code's names the database does not allow yet, as "kind 'x'"."""
    return [
        f"{list_name} {name!r}"
        for list_name, names in LISTS.items()
        for name in names
        if name not in recorded.get(list_name, set())
    ]


async def apply(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> list[str]:
    """Bring the vocabulary's constraints up to date (under the caller's migration lock); the
    names of those replaced. Nothing before migration 0009 made the columns they check."""
    cursor = await conn.execute("SELECT to_regclass('schema_vocabulary') IS NOT NULL")
    row = await cursor.fetchone()
    if row is None or not row[0]:
        return []
    recorded = await recorded_names(conn)
    newer = sorted(
        f"{list_name} {name!r}"
        for list_name, names in recorded.items()
        for name in names - set(LISTS.get(list_name, ()))
    )
    if newer:
        log.warning(
            "the database's vocabulary is newer than this code's: its constraints are left as"
            " they are",
            extra={"unknown_here": newer},
        )
        return []
    replaced = []
    for constraint in constraints():
        cursor = await conn.execute(COMMENT_OF, (constraint.table, constraint.name))
        row = await cursor.fetchone()
        if row is not None and row[0] == constraint.checksum:
            continue
        await _replace(conn, constraint)
        replaced.append(f"{constraint.table}.{constraint.name}")
    async with conn.transaction():
        for list_name, names in LISTS.items():
            for name in names:
                await conn.execute(RECORD, (list_name, name))
    return replaced


async def _replace(
    conn: psycopg.AsyncConnection[tuple[object, ...]], constraint: Constraint
) -> None:
    # Names are this module's constants; the check is generated from declarations, never from
    # input: the statement is plain text (psycopg's sql.SQL would read the braces of '{}').
    table, name = constraint.table, constraint.name
    async with conn.transaction():
        await conn.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}, "
            f"ADD CONSTRAINT {name} CHECK ({constraint.check}) NOT VALID".encode()
        )
        await conn.execute(
            f"COMMENT ON CONSTRAINT {name} ON {table} IS {sql.quote(constraint.checksum)}".encode()
        )
    # Validating scans the table holding only a SHARE UPDATE EXCLUSIVE lock: writes go on.
    await conn.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}".encode())
