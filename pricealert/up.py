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
import importlib.metadata
import logging
import os
import secrets
import sys
import warnings
from collections.abc import Callable, Generator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import platformdirs
import psycopg
import uvicorn
from psycopg.conninfo import make_conninfo

from api.app import create_app
from api.serving import uvicorn_options
from matcher.exchanges.feed import ExchangeFeed
from matcher.feeds import Feed
from matcher.main import FeedChoice, build_feed, build_matcher
from matcher.service import Matcher
from notifier.channels.email import Mailer
from notifier.consumer import Notifier
from notifier.main import build_notifier
from notifier.outbox import OutboxMailer
from notifier.sources import InProcessBroker
from shared.errors import SettingsError
from shared.migrate import migrate
from shared.running import stop_on_signals
from shared.settings import Settings, Shard

log = logging.getLogger("pricealert.up")
EMBEDDED_DATABASE = "pricealert"
STARTING_POLL_SECONDS = 0.05


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("pricealert", appauthor=False))


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside a larger process: signals are the process's, not uvicorn's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    @property
    def bound_port(self) -> int | None:
        """The port listened on: the one the system chose when asked for port 0."""
        for listener in self.servers:
            for sock in listener.sockets:
                return int(sock.getsockname()[1])
        return None


def _embedded_postgres_missing() -> str:
    """The refusal when neither DATABASE_URL nor pgserver is there, naming the requirement as
    the installed package declares it (its extra ``up``): the project is on no package index,
    so ``pip install 'pricealert[up]'`` cannot work, and the wheel has no checkout to point at."""
    wanted = "pgserver"
    for requirement in importlib.metadata.requires("pricealert") or ():
        name, _, marker = requirement.partition(";")
        if name.strip().startswith("pgserver") and 'extra == "up"' in marker:
            wanted = name.strip()
    return (
        "DATABASE_URL is not set and the embedded PostgreSQL is not installed: set DATABASE_URL, "
        f"or install the embedded one with pip install '{wanted}'"
        " (in a checkout: pip install '.[up]')"
    )


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """A PostgreSQL server of the process's own (pgserver), and the URL of its database."""
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
        warnings.simplefilter("ignore")
        try:
            from pgserver import get_server  # type: ignore[attr-defined]
        except ImportError as exc:
            raise SettingsError(_embedded_postgres_missing()) from exc
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
    matcher: Matcher
    notifier: Notifier
    feed: Feed
    server: uvicorn.Server
    stop: Callable[[], None]


async def run_up(
    settings: Settings,
    *,
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    feed: FeedChoice | None = None,
    on_ready: Callable[[Up], None] | None = None,
) -> int:
    """Run everything until a signal (or ``Up.stop``); ``feed`` defaults to live Binance.
    ``data_dir`` must exist. Whatever was opened is closed on the way out, also after a failed
    start."""
    stand_ins: list[str] = []
    async with AsyncExitStack() as stack:
        database_url = settings.database_url
        if not database_url:
            postgres = embedded_postgres(data_dir)
            database_url = await asyncio.to_thread(postgres.__enter__)
            stack.push_async_callback(asyncio.to_thread, postgres.__exit__, None, None, None)
            stand_ins.append(f"PostgreSQL: embedded (pgserver) in {data_dir / 'pgdata'}")
        await migrate(database_url)
        jwt_secret = settings.jwt_secret
        if not jwt_secret:
            jwt_secret = kept_secret(data_dir / "jwt_secret")
            stand_ins.append(f"JWT secret: kept in {data_dir / 'jwt_secret'}")
        settings = dataclasses.replace(settings, database_url=database_url, jwt_secret=jwt_secret)

        broker = None
        if not settings.rabbitmq_configured:
            broker = InProcessBroker(settings.notifier_prefetch)
            stand_ins.append("RabbitMQ: in-process hand-off from matcher to notifier")
        outbox = None
        mailer: Mailer | None = None
        if not settings.smtp.host:
            outbox = data_dir / "outbox"
            mailer = OutboxMailer(outbox)
            stand_ins.append(f"SMTP: .eml files in {outbox}")
        notifier = await build_notifier(settings, stack, source=broker, mailer=mailer)
        matcher = await build_matcher(settings, stack, Shard(0, 1), publisher=broker)
        trades, description = build_feed(settings, stack, feed or FeedChoice())
        server = _EmbeddedServer(
            uvicorn.Config(
                create_app(settings),
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                **uvicorn_options(settings),
            )
        )
        log.info(
            "pricealert up: stand-ins for what is not configured",
            extra={"stand_ins": stand_ins or ["none: every service is configured"]},
        )
        log.info("matcher feed", extra={"feed": description})
        stopping = asyncio.Event()
        stop_on_signals(stopping.set)
        tasks = [
            asyncio.create_task(notifier.run(), name="notifier"),
            asyncio.create_task(matcher.run(trades), name="matcher"),
            asyncio.create_task(server.serve(), name="api"),
        ]
        advice = asyncio.create_task(_advise_offline(trades))
        try:
            await _until_started(server, matcher, notifier, tasks)
            api_url = f"http://{host}:{server.bound_port or port}"
            print(
                f"pricealert is up: API {api_url}  web page {api_url}/  docs {api_url}/docs"
                + (f"  outbox {outbox}" if outbox else ""),
                file=sys.stderr,
                flush=True,
            )
            if on_ready is not None:
                on_ready(
                    Up(
                        api_url,
                        database_url,
                        outbox,
                        matcher,
                        notifier,
                        trades,
                        server,
                        stopping.set,
                    )
                )
            stop_requested = asyncio.create_task(stopping.wait())
            done, _ = await asyncio.wait(
                {stop_requested, *tasks}, return_when=asyncio.FIRST_COMPLETED
            )
            stop_requested.cancel()
            for task in done - {stop_requested}:
                if not task.cancelled() and task.exception() is not None:
                    log.error(
                        "a part stopped on an error",
                        extra={"part": task.get_name(), "error": repr(task.exception())},
                    )
        finally:
            advice.cancel()
            await _stop_in_order(server, matcher, notifier, tasks)
    log.info("pricealert stopped")
    return 0


async def _advise_offline(feed: Feed) -> None:
    """Once, the first time the live feed cannot reach its exchange past the grace (a laptop
    without internet, most likely): one line saying what to do. The connection keeps trying."""
    if not isinstance(feed, ExchangeFeed):
        return
    reach = feed.reach
    await feed.progress.until(lambda: reach.unreachable is not None)
    assert reach.unreachable is not None
    seconds, error = reach.unreachable
    log.warning(
        f"cannot reach {feed.title} for {seconds:.0f} s ({error}): without internet, run"
        " `pricealert up --simulate` (scripts/up --simulate)"
    )


async def _stop_in_order(
    server: uvicorn.Server, matcher: Matcher, notifier: Notifier, tasks: list[asyncio.Task[None]]
) -> None:
    """The API first (no new alerts), then the matcher (its publishes may wait on the notifier
    when the hand-off is in-process), then the notifier."""
    log.info("pricealert stopping")
    notifier_task, matcher_task, server_task = tasks
    server.should_exit = True
    await asyncio.gather(server_task, return_exceptions=True)
    matcher.stop()
    await asyncio.gather(matcher_task, return_exceptions=True)
    notifier.stop()
    await asyncio.gather(notifier_task, return_exceptions=True)


async def _until_started(
    server: uvicorn.Server, matcher: Matcher, notifier: Notifier, tasks: list[asyncio.Task[None]]
) -> None:
    """Until the API listens, the matcher has loaded its shard and the notifier consumes; a
    part that fails on the way raises here."""
    while not (server.started and matcher.ready.is_set() and notifier.ready.is_set()):
        failed = [task for task in tasks if task.done()]
        if failed:
            failed[0].result()
            raise RuntimeError(f"{failed[0].get_name()} stopped while starting")
        await asyncio.wait(
            [*tasks, asyncio.create_task(asyncio.sleep(STARTING_POLL_SECONDS))],
            return_when=asyncio.FIRST_COMPLETED,
        )
