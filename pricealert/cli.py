"""The ``pricealert`` command: one entry point for every service."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

import psycopg
import uvicorn

from api.serving import uvicorn_options
from matcher.main import FeedChoice, run_matcher
from notifier.main import run_notifier
from pricealert.up import default_data_dir, run_up
from shared.errors import MigrationError, PartStopped, SettingsError
from shared.logs import configure_logging
from shared.migrate import migrate
from shared.settings import Settings, parse_shard

log = logging.getLogger("pricealert")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pricealert", description="Real-time cryptocurrency price alerts."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("migrate", help="create or upgrade the database schema (safe to re-run)")
    api = commands.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    matcher = commands.add_parser("matcher", help="run one matcher replica")
    matcher.add_argument("--shard", help="I/N: this replica's shard (default MATCHER_SHARD or 0/1)")
    matcher.add_argument(
        "--replay",
        metavar="FILE",
        help="match the trades in FILE (one JSON a line; - for stdin) instead of live Binance",
    )
    matcher.add_argument(
        "--simulate",
        action="store_true",
        help="random-walk prices for the symbols in the book (no internet needed)",
    )
    matcher.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics, /healthz and /readyz here (MATCHER_METRICS_PORT; 0: any free port)",
    )
    notifier = commands.add_parser("notifier", help="run the email consumer")
    notifier.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics, /healthz and /readyz here (NOTIFIER_METRICS_PORT; 0: any free port)",
    )
    up = commands.add_parser(
        "up", help="everything in one process, with embedded stand-ins for what is not configured"
    )
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument(
        "--data-dir",
        type=Path,
        help="where the embedded database, the outbox and the JWT secret live"
        " (default: the user's data directory)",
    )
    feed = up.add_mutually_exclusive_group()
    feed.add_argument("--replay", metavar="FILE", help="trades from FILE instead of live Binance")
    feed.add_argument(
        "--simulate", action="store_true", help="random-walk prices (no internet needed)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        # Each command reads only its own service's variables (shared.settings.VARIABLES).
        settings = Settings.from_env(os.environ, service=args.command)
        configure_logging(settings.log_level, settings.log_format)
        return _run(args, settings)
    except (SettingsError, MigrationError) as exc:
        print(f"pricealert: {exc}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        print(f"pricealert: cannot reach the database: {exc}".strip(), file=sys.stderr)
        return 1
    except PartStopped as exc:  # logged with its traceback where it happened
        print(f"pricealert: {exc}", file=sys.stderr)
        return 1
    except ConnectionError as exc:  # RabbitMQ (aiormq's AMQPConnectionError) or SMTP at start
        print(f"pricealert: cannot connect: {exc!r}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception:
        # One structured record (the log's format), then a non-zero exit: the orchestrator
        # restarts the service.
        log.exception("pricealert stopped on an error", extra={"command": args.command})
        return 1


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        asyncio.run(migrate(settings.require_database_url()))
        return 0
    if args.command == "api":
        return _serve_api(args, settings)
    if args.command == "matcher":
        shard = parse_shard(args.shard, "--shard") if args.shard else settings.matcher_shard
        metrics_port = _given(args.metrics_port, settings.matcher_metrics_port)
        if args.replay and args.simulate:
            raise SettingsError("--replay and --simulate are two feeds: give one")
        choice = FeedChoice(replay=args.replay, simulate=args.simulate)
        return asyncio.run(run_matcher(settings, shard, choice, metrics_port))
    if args.command == "notifier":
        metrics_port = _given(args.metrics_port, settings.notifier_metrics_port)
        return asyncio.run(run_notifier(settings, metrics_port))
    if args.command == "up":
        return _up(args, settings)
    raise AssertionError(f"unknown command {args.command}")


def _given(port: int | None, setting: int | None) -> int | None:
    """The option's port if given (0: any free port, logged), else the setting's."""
    return port if port is not None else setting


def _up(args: argparse.Namespace, settings: Settings) -> int:
    data_dir = args.data_dir or default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    choice = FeedChoice(replay=args.replay, simulate=args.simulate)
    running = run_up(settings, data_dir=data_dir, host=args.host, port=args.port, feed=choice)
    return asyncio.run(running)


def _serve_api(args: argparse.Namespace, settings: Settings) -> int:
    # Fail here, once, with one line, rather than in every worker.
    settings.require_database_url()
    settings.require_jwt_secret()
    log.info(
        "serving the API", extra={"url": f"http://{args.host}:{args.port}", "workers": args.workers}
    )
    uvicorn.run(
        "api.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_config=None,
        **uvicorn_options(settings),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
