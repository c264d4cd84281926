"""Schemathesis against the API: `pricealert api` serving this run's database, every check, a
bounded number of examples. The checks configured away, and why, are in schemathesis.toml beside
this file, and nowhere else.

A missing schemathesis fails the test, in CI and elsewhere: it is in the test extra
(pip install -e '.[test]').
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import JWT_SECRET, PASSWORD

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Per operation and phase: under a minute for the whole run on the 2-core machine.
MAX_EXAMPLES = 100
SEED = 14


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def api_url(database_url: str, clean_tables: None) -> Iterator[str]:
    """`pricealert api` on a loopback port, with limits that let the fuzzer reach past them."""
    port = _free_port()
    env = os.environ | {
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "ACCESS_TOKEN_TTL_SECONDS": "3600",
        "MAX_LIVE_ALERTS_PER_USER": "100000",
        "SIGNUPS_PER_ADDRESS": "100000/1",
        "LOGIN_FAILURES_PER_ADDRESS": "100000/1",
        "LOGIN_FAILURES_PER_ACCOUNT_ADDRESS": "100000/1",
        "LOG_LEVEL": "INFO",  # start-up lines, and no line per request
    }
    command = [sys.executable, "-m", "pricealert", "api", "--port", str(port)]
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as server:
        assert server.stderr is not None
        drain = threading.Thread(target=server.stderr.read, daemon=True)
        try:
            for line in server.stderr:  # uvicorn says when it listens
                if "Application startup complete" in line:
                    break
            else:
                pytest.fail(f"pricealert api did not start: exit {server.wait()}")
            # Keep reading its log (bad requests are logged): a full pipe would stall the server.
            drain.start()
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=30)
            if drain.is_alive():
                drain.join(timeout=30)


def test_schemathesis_finds_nothing(api_url: str, tmp_path: Path) -> None:
    credentials = {"username": "fuzzer", "password": PASSWORD}
    with httpx.Client(base_url=api_url) as client:
        client.post("/api/signup/", json=credentials).raise_for_status()
        access = client.post("/api/login/", json=credentials).raise_for_status().json()["access"]
    st = Path(sys.executable).with_name("st")
    if not st.exists():
        pytest.fail(f"schemathesis is not installed ({st} is missing): pip install -e '.[test]'")
    run = subprocess.run(
        [
            str(st),
            "--config-file",
            str(CONFIG),
            "run",
            f"{api_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--header",
            f"Authorization: Bearer {access}",
            # One worker: CPython 3.11 before 3.11.8 can fail ast.parse when two threads parse at
            # once ("AST constructor recursion depth mismatch", gh-106905), and hypothesis
            # parses lambdas' sources while schemathesis builds its strategies.
            "--workers",
            "1",
            "--no-color",
            "--max-failures",
            "5",
            "--generation-database",
            "none",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # its cache of past failures stays out of the repository and this run
    )
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
