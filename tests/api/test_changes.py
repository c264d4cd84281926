"""The changes feed, ``GET /api/alerts/?changed_since=<token>``: the token round trip, every kind
of change answered once, the 400s, and writers that commit out of order."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from shared.settings import Settings
from tests.api.helpers import User, client_with_cap

ALERT = {"target_price": "50000", "trigger_condition": "above", "email": "alice@example.com"}
TOKEN = "X-Changes-Token"


async def create(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    response = await client.post("/api/alerts/create/", headers=user.headers, json=ALERT)
    assert response.status_code == 201, response.text
    alert: dict[str, Any] = response.json()
    return alert


async def changes(
    client: httpx.AsyncClient, user: User, token: str
) -> tuple[list[dict[str, Any]], str]:
    response = await client.get(
        "/api/alerts/", params={"changed_since": token}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return response.json(), response.headers[TOKEN]


async def test_the_list_carries_a_token_and_nothing_changed_is_an_empty_answer(
    client: httpx.AsyncClient, alice: User
) -> None:
    await create(client, alice)
    listed = await client.get("/api/alerts/", headers=alice.headers)
    assert len(listed.json()) == 1
    token = listed.headers[TOKEN]
    answer, following = await changes(client, alice, token)
    assert answer == []
    assert (await changes(client, alice, following))[0] == []


async def test_created_changed_and_deleted_alerts_each_come_once_in_their_state_now(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    kept = await create(client, alice)
    token = (await client.get("/api/alerts/", headers=alice.headers)).headers[TOKEN]
    made = await create(client, alice)
    await create(client, bob)  # not alice's: never in her feed
    answer, token = await changes(client, alice, token)
    assert [a["id"] for a in answer] == [made["id"]]
    assert (
        answer[0] == (await client.get(f"/api/alerts/{made['id']}/", headers=alice.headers)).json()
    )

    paused = await client.post(f"/api/alerts/{kept['id']}/pause/", headers=alice.headers)
    assert paused.status_code == 200
    deleted = await client.post(
        "/api/alerts/delete/", headers=alice.headers, json={"alert_id": made["id"]}
    )
    assert deleted.status_code == 200
    answer, token = await changes(client, alice, token)
    assert {a["id"]: a["state"] for a in answer} == {made["id"]: "deleted", kept["id"]: "paused"}
    assert [a["id"] for a in answer] == sorted((a["id"] for a in answer), reverse=True)
    assert (await changes(client, alice, token))[0] == []


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "10",
        "10:5:",  # xmax below xmin
        "0:0:",
        "4294967296:4294967297:",  # 2**32 is no transaction id: its low 32 bits are 0
        "5:10:11",  # in progress at or past xmax
        "5:10:7,6",  # not ascending
        "5:10:7,7",
        "5:10:4",
        " 5:10:",
        "5:10:,",
        "\u0661:\u0662:",  # digits of another script
        "5:" + "9" * 20 + ":",
        "5:10:" + ",".join(["7"] * 5000),
    ],
)
async def test_a_malformed_token_is_a_400_naming_changed_since(
    client: httpx.AsyncClient, alice: User, token: str
) -> None:
    response = await client.get(
        "/api/alerts/", params={"changed_since": token}, headers=alice.headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith("changed_since")


async def test_a_token_from_beyond_this_servers_snapshots_is_a_400(
    client: httpx.AsyncClient, alice: User
) -> None:
    future = f"{2**62 + 1}:{2**62 + 1}:"
    response = await client.get(
        "/api/alerts/", params={"changed_since": future}, headers=alice.headers
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("changed_since is not a token of this server")


@pytest.mark.parametrize("other", [{"limit": "10"}, {"state": "created"}, {"before_id": "5"}])
async def test_changed_since_takes_no_paging_or_filter(
    client: httpx.AsyncClient, alice: User, other: dict[str, str]
) -> None:
    token = (await client.get("/api/alerts/", headers=alice.headers)).headers[TOKEN]
    response = await client.get(
        "/api/alerts/", params={"changed_since": token, **other}, headers=alice.headers
    )
    assert response.status_code == 400
    message = response.json()["error"]
    assert message.startswith("changed_since")
    assert next(iter(other)) in message


async def test_the_openapi_document_describes_changed_since_and_the_header(
    client: httpx.AsyncClient,
) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/api/alerts/"]["get"]
    assert "changed_since" in {p["name"] for p in operation["parameters"]}
    assert TOKEN in operation["responses"]["200"]["headers"]


async def test_a_write_that_commits_after_a_later_one_is_not_missed(
    client: httpx.AsyncClient, alice: User, database_url: str
) -> None:
    """The case a sequence number gets wrong: writer A changes an alert first and commits last;
    a poll between B's commit and A's sees B's change, and the next one A's, each once."""
    first, second = await create(client, alice), await create(client, alice)
    token = (await client.get("/api/alerts/", headers=alice.headers)).headers[TOKEN]
    bump = "UPDATE alerts SET target_price = target_price + 1 WHERE id = %s"
    async with (
        await psycopg.AsyncConnection.connect(database_url) as a,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as b,
    ):
        await a.execute(bump, (first["id"],))  # A's transaction is open, and older than B's
        await b.execute(bump, (second["id"],))
        answer, token = await changes(client, alice, token)
        assert [x["id"] for x in answer] == [second["id"]]
        await a.commit()
    answer, token = await changes(client, alice, token)
    assert [(x["id"], x["target_price"]) for x in answer] == [(first["id"], "50001")]
    assert (await changes(client, alice, token))[0] == []


async def test_two_writers_and_a_poller_every_change_once_and_nothing_missed(
    settings: Settings, pool: AsyncConnectionPool, alice: User, database_url: str
) -> None:
    """Two writers create, change (each change raises the target by 1, so every version of an
    alert has a target of its own) and delete alerts, in transactions of a few statements that
    interleave, while a poller follows the feed from the list's token. Each version reaches
    the poller at most once (targets strictly rising per alert), and once both writers are done
    the poller's view is the table."""
    rounds = 60
    async with client_with_cap(settings, pool, 10_000) as client:
        token = (await client.get("/api/alerts/", headers=alice.headers)).headers[TOKEN]
        seen: dict[int, list[tuple[Decimal, str]]] = {}
        writing = True

        async def write(seed: int) -> None:
            rng = random.Random(seed)
            mine: list[int] = []
            async with await psycopg.AsyncConnection.connect(database_url) as conn:
                for _ in range(rounds):
                    mine.append((await create(client, alice))["id"])
                    async with conn.transaction():
                        for alert_id in rng.sample(mine, min(3, len(mine))):
                            await conn.execute(
                                "UPDATE alerts SET target_price = target_price + 1"
                                " WHERE id = %s AND state <> 'deleted'",
                                (alert_id,),
                            )
                        if rng.random() < 0.2:
                            await conn.execute(
                                "UPDATE alerts SET state = 'deleted', deleted_at = now(),"
                                " target_price = target_price + 1 WHERE id = %s",
                                (mine.pop(rng.randrange(len(mine))),),
                            )

        async def poll() -> None:
            nonlocal token
            while True:
                done = not writing
                answer, token = await changes(client, alice, token)
                for alert in answer:
                    seen.setdefault(alert["id"], []).append(
                        (Decimal(alert["target_price"]), alert["state"])
                    )
                if done:
                    return

        poller = asyncio.create_task(poll())
        await asyncio.gather(write(1), write(2))
        writing = False
        await poller
        final = (await client.get("/api/alerts/?limit=1000", headers=alice.headers)).json()
    assert len(final) == 2 * rounds
    for alert_id, versions in seen.items():
        targets = [target for target, _ in versions]
        assert targets == sorted(set(targets)), (alert_id, versions)
    assert {a["id"]: (Decimal(a["target_price"]), a["state"]) for a in final} == {
        alert_id: versions[-1] for alert_id, versions in seen.items()
    }
    assert "deleted" in {state for versions in seen.values() for _, state in versions}
