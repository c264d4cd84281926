"""The symbols table made to follow the exchange's list (``matcher.listing``), on the real
PostgreSQL: one idempotent statement, nothing deleted, the seeded pairs restored afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from psycopg_pool import AsyncConnectionPool

from matcher.listing import Listing, Written, write_listing
from tests.helpers import EVERY_SYMBOL_TRADING

pytestmark = pytest.mark.usefixtures("clean_tables")


@pytest.fixture(autouse=True)
async def restored(pool: AsyncConnectionPool) -> AsyncIterator[None]:
    """Every symbol trading again after the test, as the other tests expect."""
    yield
    async with pool.connection() as conn:
        await conn.execute(EVERY_SYMBOL_TRADING)


async def statuses(pool: AsyncConnectionPool) -> dict[str, str]:
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT symbol, status FROM symbols")
        return {symbol: status for symbol, status in await cursor.fetchall()}


async def test_a_write_adds_the_new_symbols_and_halts_those_no_longer_listed(
    pool: AsyncConnectionPool,
) -> None:
    before = await statuses(pool)
    assert before["BTCUSDT"] == "trading"
    before.pop("NEWCOINUSDT", None)  # another test may have left it: it must be new here
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM symbols WHERE symbol = 'NEWCOINUSDT'")

    written = await write_listing(pool, {"BTCUSDT", "ETHUSDT", "NEWCOINUSDT"})

    after = await statuses(pool)
    listed = {"BTCUSDT", "ETHUSDT", "NEWCOINUSDT"}
    still_there = [s for s, status in before.items() if status == "trading" and s not in listed]
    assert written == Written(trading=3, added=1, halted=len(still_there))
    assert after["NEWCOINUSDT"] == "trading"
    assert after["BTCUSDT"] == after["ETHUSDT"] == "trading"
    assert after["XRPUSDT"] == "halted"
    assert set(after) == set(before) | {"NEWCOINUSDT"}  # nothing deleted


async def test_writing_the_same_list_again_changes_nothing(pool: AsyncConnectionPool) -> None:
    await write_listing(pool, {"BTCUSDT", "NEWCOINUSDT"})
    first = await statuses(pool)
    again = await write_listing(pool, {"BTCUSDT", "NEWCOINUSDT"})
    assert again == Written(trading=2, added=0, halted=0)
    assert await statuses(pool) == first


async def test_a_halted_symbol_that_is_listed_again_trades_again_and_is_seen_now(
    pool: AsyncConnectionPool,
) -> None:
    await write_listing(pool, {"BTCUSDT"})
    assert (await statuses(pool))["ETHUSDT"] == "halted"
    await write_listing(pool, {"BTCUSDT", "ETHUSDT"})
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT status, last_seen_at > now() - interval '1 minute' FROM symbols"
            " WHERE symbol = 'ETHUSDT'"
        )
        assert await cursor.fetchone() == ("trading", True)


async def test_symbols_the_table_cannot_store_are_left_out_not_failing_the_write(
    pool: AsyncConnectionPool,
) -> None:
    written = await write_listing(pool, {"BTCUSDT", "币安人生USDT", "X", "A" * 21})
    assert written.trading == 1
    assert (await statuses(pool))["BTCUSDT"] == "trading"


async def test_an_empty_list_is_not_a_market_and_changes_nothing(
    pool: AsyncConnectionPool,
) -> None:
    before = await statuses(pool)
    listing = Listing(pool)
    await listing.listed("binance", set())
    assert await statuses(pool) == before
    assert listing.writes == 0


async def test_the_listing_counts_its_writes_and_what_they_halted(
    pool: AsyncConnectionPool,
) -> None:
    listing = Listing(pool)
    await listing.listed("binance", {"BTCUSDT", "ETHUSDT"})
    await listing.listed("binance", {"BTCUSDT"})
    assert (listing.writes, listing.trading) == (2, 1)
    assert listing.halted == len(await statuses(pool)) - 1


async def test_another_exchanges_list_is_not_written_over_the_default_ones(
    pool: AsyncConnectionPool,
) -> None:
    before = await statuses(pool)
    listing = Listing(pool)
    await listing.listed("coinbase", {"BTC-USD"})
    assert await statuses(pool) == before
    assert listing.writes == 0


async def test_the_alerts_of_a_symbol_whose_status_changes_are_written_for_the_changes_feed(
    pool: AsyncConnectionPool,
) -> None:
    """A page following ?changed_since= learns an alert's new symbol_status: the alerts of a
    halted (and of a listed-again) symbol are rewritten by the same statement; others are not."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "INSERT INTO users (username, password_hash) VALUES ('lister', 'x') RETURNING id"
        )
        user = await cursor.fetchone()
        assert user is not None
        await conn.execute(
            "INSERT INTO alerts (user_id, symbol, trigger_condition, target_price, channels)"
            " SELECT %s, symbol, 'above', 1, '{\"email\": \"a@example.com\"}'"
            " FROM unnest(ARRAY['ETHUSDT', 'BTCUSDT']) AS symbol",
            (user[0],),
        )

    async def writers() -> dict[str, object]:
        async with pool.connection() as conn:
            cursor = await conn.execute("SELECT symbol, changed_by::text FROM alerts")
            return dict(await cursor.fetchall())

    created = await writers()
    await write_listing(pool, {"BTCUSDT"})
    halted = await writers()
    assert halted["ETHUSDT"] != created["ETHUSDT"]
    assert halted["BTCUSDT"] == created["BTCUSDT"]
    await write_listing(pool, {"BTCUSDT", "ETHUSDT"})
    listed_again = await writers()
    assert listed_again["ETHUSDT"] != halted["ETHUSDT"]
    assert listed_again["BTCUSDT"] == created["BTCUSDT"]
