"""One vocabulary: every kind, channel and window declared in ``shared.vocabulary`` is what the
API documents and accepts, what the database's CHECK lists allow, what the page reads (it names
none of them itself), what the notifier can put into words (each kind) and has a room for (each
channel), and what the matcher has a room for (each kind). The page's form itself is checked in
the browser (``tests/browser/test_vocabulary.py``)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from api.app import create_app
from matcher.kinds import KINDS as ROOMS
from notifier.channels.rooms import find_rooms
from notifier.wording import describe
from shared import constraints
from shared.messages import AlertMessage
from shared.settings import Settings
from shared.vocabulary import CHANNELS, KINDS, WINDOWS
from tests.api.helpers import JWT_SECRET

STATIC = Path(__file__).parent.parent / "api" / "static"
CREATE = "/api/alerts/create/"


@pytest.fixture
async def document(database_url: str, pool: AsyncConnectionPool) -> dict[str, Any]:
    app = create_app(Settings(database_url=database_url, jwt_secret=JWT_SECRET), pool=pool)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.get("/openapi.json")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def _consts(schema: dict[str, Any]) -> list[str]:
    return [part["const"] for part in schema.get("oneOf", []) if "const" in part]


def _create_body(document: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = document["paths"][CREATE]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


def test_the_api_documents_every_kind_with_its_fields(document: dict[str, Any]) -> None:
    properties = _create_body(document)["properties"]
    kinds = properties["trigger_condition"]["oneOf"]
    assert [kind["const"] for kind in kinds] == list(KINDS)
    for kind in kinds:
        declared = KINDS[kind["const"]]
        assert kind["title"] == declared.title
        assert kind["x-fields"] == list(declared.fields)
        for field in declared.fields:
            assert declared.name in properties[field]["x-kinds"]
    assert _consts(properties["window"]) == list(WINDOWS)


def test_the_api_documents_every_channel(document: dict[str, Any]) -> None:
    properties = _create_body(document)["properties"]
    documented = {schema["x-channel"] for schema in properties.values() if "x-channel" in schema}
    assert documented == set(CHANNELS)
    for channel in CHANNELS.values():
        for field in channel.fields:
            assert properties[field]["x-channel"] == channel.name
    responses = document["paths"]["/api/alerts/{alert_id}/events/"]["get"]["responses"]
    delivery = responses["200"]["content"]["application/json"]["schema"]["items"]["properties"][
        "deliveries"
    ]["items"]["properties"]["channel"]
    assert delivery["enum"] == list(CHANNELS)


_QUOTED = re.compile(r"'([a-z_]+)'")
_ARRAY = re.compile(r"ARRAY\[([^\]]*)\]")


def _first_list(definition: str) -> list[str]:
    """The names of the first ARRAY[...] of a constraint's definition."""
    found = _ARRAY.search(definition)
    assert found is not None, definition
    return _QUOTED.findall(found.group(1))


async def _constraint(pool: AsyncConnectionPool, table: str, name: str) -> str:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND conname = %s",
            (table, name),
        )
        row = await cursor.fetchone()
    assert row is not None, f"{table} has no constraint {name}"
    return str(row[0])


async def test_the_database_allows_exactly_the_declared_kinds_and_channels(
    pool: AsyncConnectionPool,
) -> None:
    kinds = await _constraint(pool, "alerts", "vocabulary_kinds")
    assert _first_list(kinds) == list(KINDS)
    for table in ("alerts", "deliveries"):
        channels = await _constraint(pool, table, "vocabulary_channels")
        assert _first_list(channels) == list(CHANNELS), (table, channels)
    fields = await _constraint(pool, "alerts", "vocabulary_kind_fields")
    for kind in KINDS.values():
        assert f"'{kind.name}'" in fields
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT list, name FROM schema_vocabulary ORDER BY 1, 2")
        recorded = await cursor.fetchall()
    assert recorded == sorted(
        [("channel", name) for name in CHANNELS] + [("kind", name) for name in KINDS]
    )


def test_every_kind_field_and_channel_has_its_database_check() -> None:
    for kind in KINDS.values():
        for field in kind.fields:
            assert field == "target_price" or field in constraints.VALUE_CHECKS, field
    assert set(constraints.CHANNEL_CHECKS) == set(CHANNELS)


def test_the_page_names_no_kind_channel_or_window_itself() -> None:
    """The page reads them from /openapi.json: a name in its scripts would be a second list."""
    names = {*KINDS, *CHANNELS, *WINDOWS}
    for script in STATIC.glob("*.js"):
        literals = set(re.findall(r"""["'`]([A-Za-z0-9_]+)["'`]""", script.read_text()))
        assert not literals & names, (script.name, sorted(literals & names))


def test_every_declared_kind_has_a_room_in_the_matcher() -> None:
    assert set(ROOMS) == set(KINDS)


def test_every_declared_channel_has_a_room_in_the_notifier() -> None:
    assert list(find_rooms()) == list(CHANNELS)


def _message(kind: str, fields: dict[str, object]) -> AlertMessage:
    params = {name: str(value) for name, value in fields.items() if name != "target_price"}
    target = fields.get("target_price")
    return AlertMessage(
        alert_id=1,
        user_id=1,
        symbol="BTCUSDT",
        trigger_condition=kind,
        target_price=None if target is None else str(target),
        triggered_price="50123.5",
        triggered_at="2026-12-03T18:00:00Z",
        email="a@example.com",
        seq=1,
        percent=params.get("percent"),
        window=params.get("window"),
        reference_price="49000" if KINDS[kind].reference else None,
        base_price="47000" if "percent" in params else None,
        frequency="repeat",
        cooldown_seconds=3600,
        channels={"email": "a@example.com"},
        params=params,
    )


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_notifier_words_every_declared_kind(kind: str) -> None:
    words = describe(_message(kind, dict(KINDS[kind].example)))
    for sentence in (words.headline, words.condition, words.comparison, words.next_fire):
        assert sentence
        assert "{" not in sentence, sentence
        assert "None" not in sentence, sentence
    assert "BTCUSDT" in words.headline
    assert str(Decimal("50123.5")) in words.price.replace(",", "")
