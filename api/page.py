"""The web page at ``/`` and the API reference at ``/docs``: static files shipped in the wheel
(``api/static``, package data), read once at start-up and served from memory.

No build step: plain ES modules, CSS and HTML. Each file is served with an ETag and
``Cache-Control: no-cache``, so a browser revalidates (304) instead of running a stale script
after an upgrade. The HTML answers carry the page's Content-Security-Policy
(``api.security_headers``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.responses import error_response
from api.security_headers import PAGE_POLICY

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    media_type: str
    etag: str


def _walk(folder: Traversable, prefix: str = "") -> dict[str, StaticFile]:
    found: dict[str, StaticFile] = {}
    for entry in folder.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            found |= _walk(entry, name + "/")
            continue
        suffix = "." + entry.name.rpartition(".")[2]
        if suffix not in _TYPES:
            continue  # licences and notes stay in the wheel but are not served
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        found[name] = StaticFile(body, _TYPES[suffix], etag)
    return found


def load_static() -> dict[str, StaticFile]:
    """Every servable file under ``api/static``, by its path relative to it."""
    return _walk(files("api") / "static")


def _answer(request: Request, file: StaticFile, *, page: bool) -> Response:
    headers = {"ETag": file.etag, "Cache-Control": "no-cache"}
    if page:
        headers["Content-Security-Policy"] = PAGE_POLICY
    if file.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(file.body, media_type=file.media_type, headers=headers)


def page_routes() -> list[Route]:
    static = load_static()

    async def index(request: Request) -> Response:
        return _answer(request, static["index.html"], page=True)

    async def docs(request: Request) -> Response:
        return _answer(request, static["docs.html"], page=True)

    async def asset(request: Request) -> Response:
        file = static.get(request.path_params["path"])
        if file is None or file.media_type.startswith("text/html"):
            return error_response(404, "no such file")
        return _answer(request, file, page=False)

    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/docs", docs, methods=["GET", "HEAD"]),
        Route("/static/{path:path}", asset, methods=["GET", "HEAD"]),
    ]
