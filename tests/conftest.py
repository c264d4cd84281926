"""Fixtures shared by every test: real servers, each test run in its own database.

PostgreSQL is found at ``PRICEALERT_TEST_POSTGRES`` (an admin URL), else
postgresql://postgres@localhost:5432/postgres. With CI=true a missing server fails the run; on a
laptop the tests that need it are skipped with a loud notice.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from shared.db import GatedPool, create_pool
from shared.migrate import migrate
from tests.helpers import EVERY_SYMBOL_TRADING
from tests.smtp_sink import SmtpSink
from tests.tcp_proxy import TcpProxy
from tests.wheel import Installed, install_wheel

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN_URL = os.environ.get(
    "PRICEALERT_TEST_POSTGRES", "postgresql://postgres@localhost:5432/postgres"
)


def _with_database(url: str, name: str) -> str:
    return psycopg.conninfo.make_conninfo(url, dbname=name)


def _require_postgres() -> None:
    try:
        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(f"!!! SKIPPED: {message}")


def create_database(prefix: str) -> str:
    """A new empty database; returns its URL."""
    _require_postgres()
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return _with_database(ADMIN_URL, name)


def drop_database(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """This run's own database, migrated once."""
    url = create_database("pricealert_test")
    asyncio.run(migrate(url))
    yield url
    drop_database(url)


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A database of its own with no schema, for migration tests."""
    url = create_database("pricealert_empty")
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[GatedPool]:
    pool = create_pool(database_url, size=4, name="tests")
    await pool.open(wait=True)
    yield pool
    await pool.close()


@pytest.fixture
async def clean_tables(pool: AsyncConnectionPool) -> None:
    """Every test that writes starts from empty users, alerts, tokens and prices (symbols
    stay, every one trading again: a matcher on the fake Binance halts those it does not
    list)."""
    async with pool.connection() as conn:
        await conn.execute(
            "TRUNCATE users, alerts, alert_fires, deliveries, refresh_tokens, prices,"
            " price_minutes RESTART IDENTITY CASCADE"
        )
        await conn.execute(EVERY_SYMBOL_TRADING)


RABBITMQ_URL = os.environ.get("PRICEALERT_TEST_RABBITMQ", "amqp://guest:guest@localhost:5672/")


@pytest.fixture
async def rabbitmq_url() -> str:
    import aio_pika

    try:
        connection = await aio_pika.connect(RABBITMQ_URL, timeout=5)
    except Exception as exc:
        message = f"RabbitMQ is not reachable at {RABBITMQ_URL}: {exc!r}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(f"!!! SKIPPED: {message}")
    await connection.close()
    return RABBITMQ_URL


@pytest.fixture
async def queue_name(rabbitmq_url: str) -> AsyncIterator[str]:
    """A queue of this test's own, deleted afterwards with its parking queue."""
    import aio_pika

    from shared.rabbit import parking_queue

    name = f"pricealert_test_{uuid.uuid4().hex[:12]}"
    yield name
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)
        await channel.queue_delete(parking_queue(name))


@pytest.fixture
async def proxy(rabbitmq_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A proxy in front of RabbitMQ, and the URL that goes through it."""
    parts = urlsplit(rabbitmq_url)
    tcp_proxy = TcpProxy(parts.hostname or "localhost", parts.port or 5672)
    port = await tcp_proxy.start()
    credentials = f"{parts.username}:{parts.password}@" if parts.username else ""
    yield tcp_proxy, f"amqp://{credentials}127.0.0.1:{port}/?reconnect_interval=0.2"
    await tcp_proxy.close()


@pytest.fixture
async def database_proxy(database_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A proxy in front of PostgreSQL, and this run's database URL through it."""
    parts = psycopg.conninfo.conninfo_to_dict(database_url)
    tcp_proxy = TcpProxy(str(parts.get("host") or "localhost"), int(parts.get("port") or 5432))
    port = await tcp_proxy.start()
    yield tcp_proxy, psycopg.conninfo.make_conninfo(database_url, host="127.0.0.1", port=port)
    await tcp_proxy.close()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on loopback, recording what it accepts."""
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel built from a copy of the tree and installed without ``-e`` in a fresh virtual
    environment, once a session (tests/wheel.py)."""
    return install_wheel(tmp_path_factory.mktemp("wheel"))
