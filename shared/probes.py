"""The metrics port of the matcher and the notifier: ``/metrics``, ``/healthz`` and ``/readyz``.

- ``/metrics``: Prometheus text of the service's registry.
- ``/healthz``: 200 while the process runs (a liveness probe). A service whose part died exits,
  so a live process is a working one or one waiting for something it names on ``/readyz``.
- ``/readyz``: 200 ``{"status": "ready"}``, or 503 ``{"error": "<what it waits for>"}``, for
  example the database schema (``shared.schema``) or the first load of the matcher's shard.

Served on a daemon thread (as prometheus_client's own server is), so a busy event loop never
delays a scrape. ``waiting_for`` is called on that thread: it may only read plain attributes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger("pricealert")

WaitingFor = Callable[[], str | None]


class ProbeServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on ``host:port`` (0: a free port, see
    ``port``), until ``close()``."""

    def __init__(
        self, registry: CollectorRegistry, waiting_for: WaitingFor, port: int, host: str
    ) -> None:
        handler = _handler(registry, waiting_for)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"probes-{self.port}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def serve_probes(
    registry: CollectorRegistry, waiting_for: WaitingFor, port: int | None, host: str = "127.0.0.1"
) -> ProbeServer | None:
    """Serve the probes and metrics on ``port`` (none when it is None)."""
    if port is None:
        return None
    server = ProbeServer(registry, waiting_for, port, host)
    log.info(
        "metrics and probes served",
        extra={"url": f"http://{host}:{server.port}", "paths": ["/metrics", "/healthz", "/readyz"]},
    )
    return server


def _handler(registry: CollectorRegistry, waiting_for: WaitingFor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._json(200, {"status": "ok"})
            elif path == "/readyz":
                reason = waiting_for()
                if reason is None:
                    self._json(200, {"status": "ready"})
                else:
                    self._json(503, {"error": f"not ready: {reason}"})
            else:
                self._json(404, {"error": "not found: /metrics, /healthz or /readyz"})

        def _json(self, status: int, body: dict[str, str]) -> None:
            self._answer(status, orjson.dumps(body), "application/json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a probe every few seconds is not news

    return Handler
