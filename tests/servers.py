"""Restarting the real servers the tests use, as an operator would: RabbitMQ with
``rabbitmqctl stop_app`` / ``start_app`` (the node stays, its durable queues survive) and
PostgreSQL with its cluster control (``pg_ctlcluster ... restart``, a fast shutdown that ends
every connection).

Only the fault tests call these, one at a time (pytest runs the suite in one process). Without
the commands (a laptop whose servers run elsewhere) the test is skipped, loudly; under CI=true
it fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
COMMAND_TIMEOUT_SECONDS = 120.0


def _require(command: str) -> str:
    path = shutil.which(command)
    if path is None:
        message = f"{command} is not on PATH: this test restarts the real server"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(f"!!! SKIPPED: {message}")
    return path


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT_SECONDS)
    assert process.returncode == 0, f"{' '.join(command)} failed: {output.decode()}"


async def stop_rabbitmq() -> None:
    await _run(_require("rabbitmqctl"), "stop_app")


async def start_rabbitmq() -> None:
    rabbitmqctl = _require("rabbitmqctl")
    await _run(rabbitmqctl, "start_app")
    await _run(rabbitmqctl, "await_startup")


def _postgres_cluster() -> tuple[str, str]:
    versions = sorted(
        Path("/etc/postgresql").glob("*"), key=lambda p: [int(x) for x in p.name.split(".")]
    )
    if not versions:
        message = "no PostgreSQL cluster under /etc/postgresql: this test restarts the real server"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(f"!!! SKIPPED: {message}")
    return versions[-1].name, "main"


async def restart_postgres() -> None:
    version, cluster = _postgres_cluster()
    await _run(
        _require("pg_ctlcluster"),
        "--skip-systemctl-redirect",
        version,
        cluster,
        "restart",
        "-m",
        "fast",
    )
