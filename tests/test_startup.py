"""Start-up order as Kubernetes gives it: nothing waits for the migrate Job, nor for the exchange.

Each service is started as a real process (``pricealert api | matcher | notifier``) against a
database with no schema at all. Each must report not ready (``/readyz`` 503 saying what it waits
for), log what it waits for, and start by itself once ``pricealert migrate`` has run: no
restart. SIGTERM stops each of them while it waits. A matcher whose exchange does not answer is
not ready either, after its grace, and ready once the exchange is there.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from psycopg_pool import AsyncConnectionPool

from shared.migrate import migrate
from tests.fake_binance import FakeBinance
from tests.matcher.helpers import insert_alert
from tests.smtp_sink import SmtpSink
from tests.wheel import free_port

ROOT = Path(__file__).resolve().parents[1]
WAIT = 30.0  # seconds before a test gives up on an event that should come
UVICORN_URL = re.compile(r"Uvicorn running on (http://\S+)")
WAITING = "not ready: waiting for the database schema"


class Service:
    """One ``pricealert`` process, with its JSON log read line by line as it comes."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self._seen = 0

    @classmethod
    async def start(cls, name: str, *args: str, env: dict[str, str]) -> Service:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pricealert",
            name,
            *args,
            env=env,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(name, process)

    async def line(self, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next log record (after the last one found) that ``matches``; fails if the
        process exits first."""
        assert self.process.stderr is not None
        async with asyncio.timeout(WAIT):
            while True:
                while self._seen < len(self.lines):
                    record = self.lines[self._seen]
                    self._seen += 1
                    if matches(record):
                        return record
                raw = await self.process.stderr.readline()
                if not raw:
                    log = "\n".join(map(str, self.lines))
                    pytest.fail(f"{self.name} exited ({self.process.returncode}) early:\n{log}")
                try:
                    self.lines.append(orjson.loads(raw))
                except orjson.JSONDecodeError:
                    self.lines.append({"message": raw.decode(errors="replace").rstrip()})

    async def says(self, message: str) -> dict[str, Any]:
        return await self.line(lambda record: record.get("message") == message)

    async def stop(self, within_seconds: float = WAIT) -> int:
        """SIGTERM, and the exit status (within ``within_seconds``); the rest of the log is
        read into ``lines``. A clean stop is 0; uvicorn (the API with one worker) re-raises
        the signal once it has shut down, so there it is -SIGTERM, after the same clean stop."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        assert self.process.stderr is not None
        async with asyncio.timeout(within_seconds):
            for raw in (await self.process.stderr.read()).splitlines():
                self.lines.append({"message": raw.decode(errors="replace")})
            status = await self.process.wait()
        return 0 if self.name == "api" and status == -signal.SIGTERM else status


@pytest.fixture
async def services() -> AsyncIterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        if service.process.returncode is None:
            service.process.kill()
            await service.process.wait()


def environment(database_url: str, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "JWT", "RABBIT"))}
    return keep | {
        "DATABASE_URL": database_url,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "LOG_FORMAT": "json",
        **extra,
    }


async def start_service(
    services: list[Service], name: str, env: dict[str, str]
) -> tuple[Service, str]:
    """Start ``name`` (the API on a free port, the others with their probes on one), and the
    base URL its ``/readyz`` answers on, once it listens."""
    if name == "api":
        service = await Service.start("api", "--port", "0", env=env)
        services.append(service)
        found = await service.line(lambda r: UVICORN_URL.search(r.get("message", "")) is not None)
        match = UVICORN_URL.search(found["message"])
        assert match is not None
        return service, match.group(1)
    args = ("--replay", "-") if name == "matcher" else ()
    service = await Service.start(name, *args, "--metrics-port", "0", env=env)
    services.append(service)
    served = await service.says("metrics and probes served")
    return service, str(served["url"])


async def readiness(client: httpx.AsyncClient, base: str) -> tuple[int, str]:
    response = await client.get(f"{base}/readyz")
    return response.status_code, response.text


async def test_every_service_waits_for_the_schema_then_works_without_a_restart(
    empty_database_url: str,
    rabbitmq_url: str,
    queue_name: str,
    smtp_sink: SmtpSink,
    services: list[Service],
) -> None:
    env = environment(
        empty_database_url,
        RABBITMQ_URL=rabbitmq_url,
        RABBITMQ_QUEUE=queue_name,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_sink.port),
    )
    started = {
        name: await start_service(services, name, env) for name in ("api", "matcher", "notifier")
    }
    async with httpx.AsyncClient(timeout=10) as client:
        for name, (service, base) in started.items():
            await service.says(WAITING)
            status, body = await readiness(client, base)
            assert status == 503, (name, body)
            assert "pricealert migrate" in body, (name, body)

        await migrate(empty_database_url)

        for service, _ in started.values():
            await service.says("database schema ready: starting")
        matcher = started["matcher"][0]
        await matcher.says("matcher ready")
        notifier = started["notifier"][0]
        await notifier.says("notifier consuming")
        for name, (_, base) in started.items():
            assert await readiness(client, base) == (200, '{"status":"ready"}'), name

        api = started["api"][1]
        credentials = {"username": "early", "password": "correct horse battery"}
        assert (await client.post(f"{api}/api/signup/", json=credentials)).status_code == 201
        tokens = (await client.post(f"{api}/api/login/", json=credentials)).json()
        created = await client.post(
            f"{api}/api/alerts/create/",
            headers={"authorization": f"Bearer {tokens['access']}"},
            json={"target_price": "50000", "trigger_condition": "above", "email": "e@example.com"},
        )
        assert created.status_code == 201, created.text

        # The market keeps trading above the target: the first trade after the matcher has
        # the alert in its book fires it (the notification reaches it asynchronously).
        assert matcher.process.stdin is not None
        mailed = asyncio.ensure_future(smtp_sink.wait_for(1))
        while not mailed.done():
            matcher.process.stdin.write(orjson.dumps({"e": "trade", "s": "BTCUSDT", "p": "50001"}))
            matcher.process.stdin.write(b"\n")
            await matcher.process.stdin.drain()
            await asyncio.wait({mailed}, timeout=0.2)
        assert [m.alert_id for m in mailed.result()] == [created.json()["id"]]

    for service, _ in started.values():
        assert await service.stop(within_seconds=10) == 0, service.lines[-5:]


@pytest.mark.parametrize("name", ["api", "matcher", "notifier"])
async def test_sigterm_stops_a_service_waiting_for_the_schema(
    name: str,
    empty_database_url: str,
    rabbitmq_url: str,
    queue_name: str,
    services: list[Service],
) -> None:
    env = environment(empty_database_url, RABBITMQ_URL=rabbitmq_url, RABBITMQ_QUEUE=queue_name)
    service, base = await start_service(services, name, env)
    await service.says(WAITING)
    async with httpx.AsyncClient(timeout=10) as client:
        status, body = await readiness(client, base)
    assert status == 503, body
    assert await service.stop(within_seconds=10) == 0, service.lines[-5:]


@pytest.mark.usefixtures("clean_tables")
async def test_a_matcher_that_cannot_reach_binance_is_not_ready_until_it_can(
    database_url: str,
    pool: AsyncConnectionPool,
    rabbitmq_url: str,
    queue_name: str,
    services: list[Service],
) -> None:
    await insert_alert(pool, "BTCUSDT", "above", "50000")  # a symbol to follow
    port = free_port()  # nothing listens there: every connect is refused
    env = environment(
        database_url,
        RABBITMQ_URL=rabbitmq_url,
        RABBITMQ_QUEUE=queue_name,
        BINANCE_WS_URL=f"ws://127.0.0.1:{port}",
        BINANCE_REST_URL=f"http://127.0.0.1:{port}",
        MATCHER_FEED_GRACE_SECONDS="0.5",
    )
    matcher = await Service.start("matcher", "--metrics-port", "0", env=env)
    services.append(matcher)
    base = str((await matcher.says("metrics and probes served"))["url"])
    await matcher.says("matcher ready")  # its shard is loaded: the exchange is what it lacks
    fake = FakeBinance()
    async with httpx.AsyncClient(timeout=10) as client:
        unreachable = await matcher.says(
            "exchange unreachable: the matcher is not ready until it connects"
        )
        assert unreachable["exchange"] == "Binance"
        status, body = await readiness(client, base)
        assert status == 503, body
        reason = orjson.loads(body)["error"]
        assert reason.startswith("not ready: Binance unreachable for "), reason
        assert "ConnectionRefusedError" in reason, reason

        await fake.start(port)
        try:
            await matcher.says("Binance connected")
            assert await readiness(client, base) == (200, '{"status":"ready"}')
            await matcher.says("exchange reachable again: ready")
        finally:
            await fake.close()
    assert await matcher.stop(within_seconds=10) == 0, matcher.lines[-5:]
