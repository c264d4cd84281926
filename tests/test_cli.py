"""The ``pricealert`` command as an operator runs it: real processes, real signals."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

PRICEALERT = [sys.executable, "-m", "pricealert"]
ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "JWT", "RABBIT"))}
    return keep | {"LOG_FORMAT": "text"} | extra


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PRICEALERT, *args], env=_env(**env), cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_missing_database_url_is_one_clear_line() -> None:
    result = _run("migrate")
    assert result.returncode == 2
    assert result.stderr.startswith("pricealert: DATABASE_URL is not set")
    assert result.stderr.count("\n") == 1


def test_malformed_setting_is_one_clear_line() -> None:
    result = _run("matcher", MATCHER_SHARD="5/2")
    assert result.returncode == 2
    assert result.stderr.startswith("pricealert: MATCHER_SHARD")


def test_migrate_reports_an_unreachable_database_without_a_traceback() -> None:
    result = _run("migrate", DATABASE_URL="postgresql://postgres@127.0.0.1:1/none")
    assert result.returncode == 1
    assert result.stderr.startswith("pricealert: cannot reach the database")
    assert "Traceback" not in result.stderr


def test_api_needs_a_jwt_secret(database_url: str) -> None:
    result = _run("api", DATABASE_URL=database_url)
    assert result.returncode == 2
    assert result.stderr.startswith("pricealert: JWT_SECRET is not set")


def test_api_refuses_a_placeholder_jwt_secret_naming_it(database_url: str) -> None:
    placeholder = "change-me-to-a-random-string-of-at-least-32-characters"
    result = _run("api", DATABASE_URL=database_url, JWT_SECRET=placeholder)
    assert result.returncode == 2
    assert result.stderr.startswith("pricealert: JWT_SECRET looks like a placeholder")
    assert result.stderr.count("\n") == 1


def test_migrate_refuses_a_placeholder_database_password() -> None:
    result = _run("migrate", DATABASE_URL="postgresql://app:change-me@127.0.0.1:1/app")
    assert result.returncode == 2
    assert result.stderr.startswith("pricealert: DATABASE_URL holds a placeholder credential")


def test_matcher_reports_an_unreachable_rabbitmq_in_one_line(database_url: str) -> None:
    result = _run(
        "matcher",
        "--replay",
        "-",
        DATABASE_URL=database_url,
        RABBITMQ_URL="amqp://u:p@127.0.0.1:1/",
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("pricealert: cannot connect")
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_line(process: subprocess.Popen[str], text: str) -> list[str]:
    """Read the process's stderr until a line contains ``text``; the lines read so far."""
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if text in line:
            return lines
    pytest.fail(f"process exited before logging {text!r}: {''.join(lines)}")


@pytest.mark.usefixtures("clean_tables")
def test_api_serves_then_stops_cleanly_on_sigterm(database_url: str) -> None:
    assert _run("migrate", DATABASE_URL=database_url).returncode == 0
    port = _free_port()
    process = subprocess.Popen(
        [*PRICEALERT, "api", "--port", str(port), "--workers", "2"],
        env=_env(DATABASE_URL=database_url, JWT_SECRET=secrets.token_urlsafe(48)),
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        started = _wait_for_line(process, "Application startup complete")
        assert httpx.get(f"{base}/readyz").status_code == 200
        signup = httpx.post(f"{base}/signup/", json={"username": "cli", "password": "12345678"})
        assert signup.status_code == 201
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert "serving the API" in "".join(started)
