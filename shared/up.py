"""``pricealert up``: the API, one matcher and the notifier in one process, on one event loop.

Each outside service has an embedded stand-in, used only while its setting is absent:

| absent | stand-in |
| --- | --- |
| ``DATABASE_URL`` | PostgreSQL from the ``pgserver`` package, in ``<data dir>/pgdata`` |
| ``RABBITMQ_URL``/``RABBITMQ_HOST`` | an in-process hand-off from matcher to notifier |
| ``SMTP_HOST`` | ``.eml`` files in ``<data dir>/outbox`` |
| ``JWT_SECRET`` | a secret generated once and kept in ``<data dir>/jwt_secret`` |

The start-up log names every stand-in in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import sys
import warnings
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import uvicorn
from psycopg.conninfo import make_conninfo

from shared.migrate import migrate
from shared.running import stop_on_signals
from shared.settings import Settings, Shard

log = logging.getLogger("pricealert.up")
EMBEDDED_DATABASE = "pricealert"


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("pricealert", appauthor=False))


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside a larger process: signals are the process's, not uvicorn's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """A PostgreSQL server of the process's own (pgserver), and the URL of its database."""
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
        warnings.simplefilter("ignore")
        from pgserver import get_server  # type: ignore[attr-defined]
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every command it runs

    server = get_server(data_dir / "pgdata", cleanup_mode="stop")
    try:
        base = server.get_uri()
        with psycopg.connect(base, autocommit=True) as admin:
            found = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)
            ).fetchone()
            if found is None:
                admin.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
        yield make_conninfo(base, dbname=EMBEDDED_DATABASE)
    finally:
        server.cleanup()


def kept_secret(path: Path) -> str:
    """A JWT secret made on the first run and read back on the next ones (mode 0600)."""
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret + "\n")
    return secret


@dataclasses.dataclass
class Up:
    """The running parts, for whoever started them (the command, or a test)."""

    api_url: str
    database_url: str
    outbox: Path | None
    matcher: Any
    notifier: Any
    server: uvicorn.Server
    stop: Callable[[], None]


async def run_up(
    settings: Settings,
    *,
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    feed: Any = None,
    on_ready: Callable[[Up], None] | None = None,
) -> int:
    """Run everything until a signal (or ``Up.stop``). ``feed`` defaults to live Binance.
    ``data_dir`` must exist."""
    stand_ins: list[str] = []
    with contextlib.ExitStack() as stack:
        database_url = settings.database_url
        if not database_url:
            database_url = await asyncio.to_thread(stack.enter_context, embedded_postgres(data_dir))
            stand_ins.append(f"PostgreSQL: embedded (pgserver) in {data_dir / 'pgdata'}")
        await migrate(database_url)
        jwt_secret = settings.jwt_secret
        if not jwt_secret:
            jwt_secret = kept_secret(data_dir / "jwt_secret")
            stand_ins.append(f"JWT secret: kept in {data_dir / 'jwt_secret'}")
        settings = dataclasses.replace(settings, database_url=database_url, jwt_secret=jwt_secret)
        return await _serve(settings, data_dir, host, port, feed, stand_ins, on_ready)
    raise AssertionError("unreachable")  # for mypy: the with block returns


async def _serve(
    settings: Settings,
    data_dir: Path,
    host: str,
    port: int,
    feed: Any,
    stand_ins: list[str],
    on_ready: Callable[[Up], None] | None,
) -> int:
    from api.app import create_app
    from matcher.binance.feed import BinanceFeed
    from matcher.binance.rest import BinanceRest
    from matcher.publisher import RabbitPublisher
    from matcher.service import Matcher
    from notifier.consumer import Notifier
    from notifier.mail import MailRenderer
    from notifier.main import smtp_settings
    from notifier.outbox import OutboxMailer
    from notifier.sent_log import DatabaseSentLog
    from notifier.smtp import SmtpPool
    from notifier.sources import InProcessBroker, MessageSource, RabbitSource
    from shared.db import create_pool

    assert settings.database_url is not None
    closers: list[Any] = []
    publisher: Any
    source: MessageSource
    if settings.rabbitmq_configured:
        rabbit = RabbitPublisher(settings.rabbitmq_url, settings.rabbitmq_queue)
        await rabbit.open()
        closers.append(rabbit.close)
        publisher = rabbit
        source = RabbitSource(
            settings.rabbitmq_url,
            settings.rabbitmq_queue,
            settings.notifier_retry_delays,
            settings.notifier_prefetch,
        )
    else:
        broker = InProcessBroker(settings.notifier_prefetch)
        publisher = source = broker
        stand_ins.append("RabbitMQ: in-process hand-off from matcher to notifier")
    outbox = None
    mailer: Any
    if settings.smtp_host:
        mailer = SmtpPool(smtp_settings(settings), settings.smtp_pool_size)
    else:
        outbox = data_dir / "outbox"
        mailer = OutboxMailer(outbox)
        stand_ins.append(f"SMTP: .eml files in {outbox}")
    closers.append(mailer.close)
    rest = None
    if feed is None:
        rest = BinanceRest(settings.binance_rest_url)
        closers.append(rest.close)
        feed = BinanceFeed(settings.binance_ws_url, rest=rest)

    sent_pool = create_pool(settings.database_url, size=3, name="notifier")
    await sent_pool.open(wait=True)
    closers.append(sent_pool.close)
    matcher = Matcher(settings.database_url, Shard(0, 1), publisher)
    notifier = Notifier(
        source,
        renderer=MailRenderer(settings.smtp_from, settings.notifier_templates),
        mailer=mailer,
        sent_log=DatabaseSentLog(sent_pool),
        retry_delays=settings.notifier_retry_delays,
    )
    server = _EmbeddedServer(
        uvicorn.Config(
            create_app(settings),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            server_header=False,
        )
    )
    api_url = f"http://{host}:{port}"
    log.info(
        "pricealert up: stand-ins for what is not configured",
        extra={"stand_ins": stand_ins or ["none: every service is configured"]},
    )

    stopping = asyncio.Event()

    def stop() -> None:
        stopping.set()

    stop_on_signals(stop)
    notifier_task = asyncio.create_task(notifier.run(), name="notifier")
    matcher_task = asyncio.create_task(matcher.run(feed), name="matcher")
    server_task = asyncio.create_task(server.serve(), name="api")
    try:
        await _until_started(server, matcher, notifier, [notifier_task, matcher_task, server_task])
        print(
            f"pricealert is up: API {api_url}  docs {api_url}/openapi.json"
            + (f"  outbox {outbox}" if outbox else ""),
            file=sys.stderr,
            flush=True,
        )
        if on_ready is not None:
            on_ready(Up(api_url, settings.database_url, outbox, matcher, notifier, server, stop))
        done, _ = await asyncio.wait(
            {asyncio.create_task(stopping.wait()), notifier_task, matcher_task, server_task},
            return_when=asyncio.FIRST_COMPLETED,
        )
        for task in done:
            if task is not None and task.done() and not task.cancelled() and task.exception():
                log.error("a part stopped on an error", extra={"error": repr(task.exception())})
    finally:
        log.info("pricealert stopping")
        # The API first (no new alerts), then the matcher (its publishes may wait on the
        # notifier when the hand-off is in-process), then the notifier.
        server.should_exit = True
        await asyncio.gather(server_task, return_exceptions=True)
        matcher.stop()
        await asyncio.gather(matcher_task, return_exceptions=True)
        notifier.stop()
        await asyncio.gather(notifier_task, return_exceptions=True)
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                await close()
    log.info("pricealert stopped")
    return 0


async def _until_started(
    server: uvicorn.Server, matcher: Any, notifier: Any, tasks: list[asyncio.Task[Any]]
) -> None:
    """Until the API listens, the matcher has loaded its shard and the notifier consumes; a
    part that fails on the way raises here."""
    while not (server.started and matcher.ready.is_set() and notifier.ready.is_set()):
        failed = [task for task in tasks if task.done()]
        if failed:
            failed[0].result()
            raise RuntimeError(f"{failed[0].get_name()} stopped while starting")
        await asyncio.wait(
            [*tasks, asyncio.create_task(asyncio.sleep(0.05))], return_when=asyncio.FIRST_COMPLETED
        )
