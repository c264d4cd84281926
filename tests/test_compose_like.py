"""deploy/compose.yaml, run as compose would run it, without Docker: each app service's command
from the installed wheel (the image installs the same wheel), with compose's own environment
(parsed from compose.yaml, its variables interpolated as compose does) and only the addresses
adapted to the test servers: PostgreSQL in a new empty database, RabbitMQ on a queue of the
test's own, an aiosmtpd server for mailpit, and the fake Binance. Its health checks are run too,
as written (the port and the interpreter adapted). Done when an alert created through the API
arrives as a mail, for each matcher shard, and every service stops cleanly on SIGTERM.

What only Docker can check (the image builds, the containers reach each other by name, the
proxy) is checked by the schema and hadolint (scripts/check-deploy), not here.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from shared.settings import Shard
from shared.sharding import owns
from tests.compose import SECRETS, environment, load_compose
from tests.fake_binance import FakeBinance
from tests.smtp_sink import SmtpSink
from tests.wheel import START_TIMEOUT, Installed, Running, free_port, wheel_env

# What the wheel's refusal names: the extra "up" as pyproject declares it.
[UP_EXTRA] = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
    "optional-dependencies"
]["up"]
APPS = ("migrate", "api", "matcher-0", "matcher-1", "notifier")


def adapted(
    name: str,
    service: dict[str, Any],
    *,
    database_url: str,
    rabbitmq_url: str,
    queue_name: str,
    smtp_port: int,
    fake: FakeBinance,
    ports: dict[int, int],
) -> tuple[list[str], dict[str, str]]:
    """A service's command and environment, with compose's addresses replaced by the test's.
    Every replaced setting must be there as compose names it: if compose.yaml changes what it
    gives a service, this fails rather than testing something else."""
    command = [str(part) for part in service["command"]]
    for i, part in enumerate(command):
        if part == "0.0.0.0":
            command[i] = "127.0.0.1"
        elif part.isdigit() and int(part) in ports and command[i - 1].endswith("port"):
            command[i] = str(ports[int(part)])
    env = environment(service)
    replace = {"DATABASE_URL": database_url}
    database = urlsplit(env["DATABASE_URL"])
    assert (database.hostname, database.port) == ("postgres", 5432), name
    assert database.password == SECRETS["POSTGRES_PASSWORD"], name
    if name.startswith(("matcher", "notifier")):
        rabbitmq = urlsplit(env["RABBITMQ_URL"])
        assert (rabbitmq.hostname, rabbitmq.port) == ("rabbitmq", 5672), name
        assert env["METRICS_HOST"] == "0.0.0.0", name  # in a container, for the probes
        replace |= {"RABBITMQ_URL": rabbitmq_url, "RABBITMQ_QUEUE": queue_name}
        replace |= {"METRICS_HOST": "127.0.0.1"}
    if name.startswith("matcher"):
        assert "BINANCE_WS_URL" not in env  # compose follows the real Binance
        replace |= {"BINANCE_WS_URL": fake.url, "BINANCE_REST_URL": fake.rest_url}
    if name == "notifier":
        assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("mailpit", "1025")
        replace |= {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port)}
    for key in replace:
        assert key in env or key.startswith("BINANCE_"), (name, key)
    return command, env | replace


async def healthy(wheel: Installed, service: dict[str, Any], ports: dict[int, int]) -> None:
    """Runs the service's compose health check, as written but for the port it probes and the
    interpreter (the image's is the venv's), until it passes."""
    test = list(service["healthcheck"]["test"])
    assert test[:2] == ["CMD", "python"], test
    code = test[3]
    for inside, outside in ports.items():
        code = code.replace(f"127.0.0.1:{inside}/", f"127.0.0.1:{outside}/")
    assert re.search(r"127\.0\.0\.1:(\d+)/", code), code
    args = [str(wheel.python), *test[2:3], code]
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            check = await asyncio.create_subprocess_exec(
                *args,
                env=wheel_env(),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            if await check.wait() == 0:
                return
            await asyncio.sleep(0.5)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    server = FakeBinance()
    await server.start()
    yield server
    await server.close()


def _symbol_of_shard(index: int) -> str:
    """A listed symbol that matcher-<index> of 2 owns."""
    for symbol in ("BTCUSDT", "ETHUSDT", "ADAUSDT", "DOGEUSDT", "TRXUSDT", "LINKUSDT"):
        if owns(Shard(index, 2), symbol):
            return symbol
    raise AssertionError(f"no candidate symbol for shard {index}/2")


async def test_compose_services_from_the_installed_wheel_turn_an_alert_into_a_mail(
    installed: Installed,
    empty_database_url: str,
    rabbitmq_url: str,
    queue_name: str,
    smtp_sink: SmtpSink,
    fake: FakeBinance,
) -> None:
    services = load_compose(SECRETS)["services"]
    symbols = {index: _symbol_of_shard(index) for index in (0, 1)}
    fake.listed |= set(symbols.values())
    running: dict[str, Running] = {}
    all_ports: dict[str, dict[int, int]] = {}

    def start(name: str) -> Running:
        ports = {8000: free_port(), 9100: free_port()}
        all_ports[name] = ports
        command, env = adapted(
            name,
            services[name],
            database_url=empty_database_url,
            rabbitmq_url=rabbitmq_url,
            queue_name=queue_name,
            smtp_port=smtp_sink.port,
            fake=fake,
            ports=ports,
        )
        process = Running.of(installed, command, env)
        running[name] = process
        return process

    try:
        # compose: everything waits for migrate to complete successfully, on an empty database.
        migrate = start("migrate")
        assert await asyncio.to_thread(migrate.process.wait, START_TIMEOUT) == 0, migrate.output()
        for name in APPS[1:]:
            start(name)
        for name in APPS[1:]:
            await healthy(installed, services[name], all_ports[name])

        api = f"http://127.0.0.1:{all_ports['api'][8000]}"
        async with httpx.AsyncClient(base_url=api, timeout=10) as client:
            credentials = {"username": "operator", "password": "a long enough password"}
            assert (await client.post("/api/signup/", json=credentials)).status_code == 201
            tokens = (await client.post("/api/login/", json=credentials)).json()
            client.headers["Authorization"] = f"Bearer {tokens['access']}"
            for index, symbol in symbols.items():
                body = {
                    "symbol": symbol,
                    "trigger_condition": "above",
                    "target_price": "100",
                    "email": f"shard{index}@example.com",
                }
                response = await client.post("/api/alerts/create/", json=body)
                assert response.status_code == 201, response.text

            streams = {f"{symbol.lower()}@aggTrade" for symbol in symbols.values()}
            await fake.until(lambda: streams <= fake.subscribed(), timeout=START_TIMEOUT)
            for symbol in symbols.values():
                fake.trade(symbol, "99.5")
                fake.trade(symbol, "100.25")
            await smtp_sink.wait_for(len(symbols))
            alerts = (await client.get("/api/alerts/")).json()

        mails = {r.recipients[0]: r.message() for r in smtp_sink.received}
        assert sorted(mails) == ["shard0@example.com", "shard1@example.com"]
        assert mails["shard0@example.com"]["From"] == environment(services["notifier"])["SMTP_FROM"]
        assert {alert["state"] for alert in alerts} == {"triggered"}

        # compose stops them with SIGTERM, and kills what outlives stop_grace_period.
        for name in reversed(APPS[1:]):
            code = await asyncio.to_thread(running[name].stop)
            assert code == 0, f"{name} exited with {code}\n{running[name].output()}"
    finally:
        for process in running.values():
            await asyncio.to_thread(process.close)


def test_installed_up_without_database_url_or_pgserver_says_what_to_install(
    installed: Installed,
    tmp_path: Path,
) -> None:
    """The wheel without its extra "up" (as in the image): `up` has no embedded PostgreSQL, and
    says so in one line instead of a traceback."""
    args = [str(installed.pricealert), "up", "--simulate", "--port", "0"]
    result = subprocess.run(
        [*args, "--data-dir", str(tmp_path / "data")],
        env=wheel_env(),
        cwd=installed.elsewhere,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "pricealert: DATABASE_URL is not set and the embedded PostgreSQL is not installed: set "
        f"DATABASE_URL, or install the embedded one with pip install '{UP_EXTRA}' (in a checkout: "
        "pip install '.[up]')"
    )
