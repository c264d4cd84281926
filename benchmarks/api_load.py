"""Load on the API: authenticated create-alert and fetch-alerts, beside a bare endpoint on the
same pool.

Runs wrk (Debian's ``wrk`` package) on loopback against the API served as ``pricealert api
--workers N`` serves it (the same uvicorn options, factory and worker processes) on a database of
its own, and prints requests per second and p50/p99 latency of each endpoint next to two
baselines measured in the same run, by the same server processes and the same wrk script:
``GET /healthz`` (the HTTP stack alone) and ``GET /bench/pool/``, a bare Starlette endpoint added
to the app for this run that sends one trivial query (``SELECT 1``) on the app's own pool. The
ratio to the bare endpoint says what authentication, validation, the SQL and the JSON cost, on
any machine.

    .venv/bin/python -m benchmarks.api_load [--workers 2] [--seconds 10] [--connections 16]
        [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psycopg
import uvicorn
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.app import app_from_environment
from api.responses import JSONResponse
from api.serving import uvicorn_options
from shared.settings import Settings

ADMIN_URL = os.environ.get(
    "PRICEALERT_TEST_POSTGRES", "postgresql://postgres@localhost:5432/postgres"
)
PASSWORD = "benchmark password"
BARE_PATH = "/bench/pool/"


async def _bare(request: Request) -> Response:
    """One trivial query on the app's pool: the floor under any endpoint that reads the database."""
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT 1")
        (one,) = await cursor.fetchone() or (0,)
    return JSONResponse({"one": one})


def app_with_bare_endpoint() -> Starlette:
    """The API as ``pricealert api`` builds it, plus ``BARE_PATH`` (for this benchmark only)."""
    app = app_from_environment()
    app.router.routes.append(Route(BARE_PATH, _bare, methods=["GET"]))
    return app


def serve(port: int, workers: int) -> None:
    """What ``pricealert api`` runs, with the app of ``app_with_bare_endpoint``."""
    settings = Settings.from_env(os.environ, service="api")
    uvicorn.run(
        "benchmarks.api_load:app_with_bare_endpoint",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        access_log=False,
        log_config=None,
        **uvicorn_options(settings),
    )


LUA = """
local tokens = {{{TOKENS}}}
local counter = 0
local path = "{PATH}"
local method = "{METHOD}"
local body = {BODY}
request = function()
  counter = counter + 1
  local headers = {{}}
  headers["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1]
  headers["Content-Type"] = "application/json"
  return wrk.format(method, path, headers, body)
end
"""


@dataclass
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"wrk printed a latency this script cannot read: {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(name: str, url: str, args: argparse.Namespace, script: Path | None) -> Result:
    command = [
        "wrk",
        "-t",
        str(args.threads),
        "-c",
        str(args.connections),
        "-d",
        f"{args.seconds}s",
    ]
    command.append("--latency")
    if script is not None:
        command += ["-s", str(script)]
    finished = subprocess.run([*command, url], capture_output=True, text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"wrk failed: {finished.stderr or finished.stdout}")
    output = finished.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Result(name, rps, p50, p99, errors)


def _lua(tokens: list[str], method: str, path: str, body: dict[str, str] | None = None) -> str:
    quoted_tokens = ", ".join(f'"{t}"' for t in tokens)
    lua_body = "nil" if body is None else "'" + orjson.dumps(body).decode() + "'"
    return LUA.format(TOKENS=quoted_tokens, PATH=path, METHOD=method, BODY=lua_body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the server
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.workers)
        return 0
    if shutil.which("wrk") is None:
        print("api_load: needs wrk: apt-get install wrk", file=sys.stderr)
        return 2

    database = f"pricealert_bench_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    url = make_conninfo(ADMIN_URL, dbname=database)
    env = os.environ | {
        "DATABASE_URL": url,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "MAX_LIVE_ALERTS_PER_USER": "100000000",
        "ACCESS_TOKEN_TTL_SECONDS": "3600",
        "SIGNUPS_PER_ADDRESS": "1000000/1",  # its users all sign up from 127.0.0.1
        "LOG_LEVEL": "INFO",  # start-up lines only: requests are logged on DEBUG
    }
    cli = [sys.executable, "-m", "pricealert"]
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)
        server = subprocess.Popen(
            [
                *[sys.executable, "-m", "benchmarks.api_load", "--serve"],
                *["--port", str(args.port), "--workers", str(args.workers)],
            ],
            env=env,
            stderr=subprocess.PIPE,
        )
        assert server.stderr is not None
        started = 0
        for line in server.stderr:  # each worker logs its start-up: wait for all of them
            started += b"Application startup complete" in line
            if started == args.workers:
                break
        # Keep reading the server's log so a full pipe can never stall it.
        threading.Thread(target=server.stderr.read, daemon=True).start()
        base = f"http://127.0.0.1:{args.port}"
        tokens = []
        with httpx.Client(base_url=base) as client:
            for i in range(args.users):
                credentials = {"username": f"bench{i}", "password": PASSWORD}
                client.post("/api/signup/", json=credentials).raise_for_status()
                login = client.post("/api/login/", json=credentials)
                tokens.append(login.raise_for_status().json()["access"])

        with tempfile.TemporaryDirectory() as folder:
            create_lua = Path(folder, "create.lua")
            create_lua.write_text(
                _lua(
                    tokens,
                    "POST",
                    "/api/alerts/create/",
                    {
                        "target_price": "50000.5",
                        "trigger_condition": "above",
                        "email": "bench@example.com",
                        "symbol": "BTCUSDT",
                    },
                )
            )
            fetch_lua = Path(folder, "fetch.lua")
            fetch_lua.write_text(_lua(tokens, "GET", "/api/alerts/?limit=20"))
            bare_lua = Path(folder, "bare.lua")
            bare_lua.write_text(_lua(tokens, "GET", BARE_PATH))
            healthz_lua = Path(folder, "healthz.lua")
            healthz_lua.write_text(_lua(tokens, "GET", "/healthz"))
            results = [
                run_wrk("GET /healthz (no db)", base, args, healthz_lua),
                run_wrk(f"GET {BARE_PATH} (bare)", base, args, bare_lua),
                run_wrk("POST create alert", base, args, create_lua),
                run_wrk("GET fetch alerts (20)", base, args, fetch_lua),
            ]
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM alerts").fetchone()
            created = int(row[0]) if row else 0
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    bare = results[1].requests_per_second
    print(
        f"\npricealert api, {args.workers} workers, wrk -t{args.threads} -c{args.connections} "
        f"-d{args.seconds}s, {os.cpu_count()} cores, database {conninfo_to_dict(url)['host']}"
    )
    print(f"{'endpoint':<28}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'vs bare':>10}")
    for r in results:
        print(
            f"{r.name:<28}{r.requests_per_second:>10,.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}"
            f"{r.errors:>8}{r.requests_per_second / bare:>9.2f}x"
        )
    print(f"alerts in the database after the run: {created:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
