"""The OpenAPI 3.1 description of the API, served at ``/openapi.json``, built from the routes.

Each endpoint declares its operation (summary, body, parameters, answers) beside its handler
with ``@endpoint``, which also names every path it is served at; ``openapi_document`` walks the
app's routes as Starlette's ``SchemaGenerator`` does and writes down what each documented route
says of itself. One endpoint is one place: its paths, its handler and its description are
declared together, so none of them can be changed without the others. (The page's routes, and
the document's own, are plain routes and not described.) The document is data, so it can be
read and checked (and fed to schemathesis) without running the code that serves it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.fields import Body, body_schema
from api.schemas import BODY_ERRORS

Handler = Callable[[Request], Awaitable[Response]]

_CONVERTOR = re.compile(r"{([^:}]+):[^}]+}")


@dataclass(frozen=True, slots=True)
class Operation:
    """What ``/openapi.json`` says of one endpoint. An operation with a ``body`` may also meet
    the answers every body may meet (``api.schemas.BODY_ERRORS``)."""

    summary: str
    responses: Mapping[str, Any]
    body: Body | None = None
    parameters: Sequence[Mapping[str, Any]] = ()
    secured: bool = False
    description: str | None = None

    def document(self, operation_id: str | None) -> dict[str, Any]:
        described: dict[str, Any] = {"summary": self.summary}
        if self.description:
            described["description"] = self.description
        if self.parameters:
            described["parameters"] = [dict(parameter) for parameter in self.parameters]
        if self.body is not None:
            described["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body_schema(self.body)}},
            }
            described["responses"] = BODY_ERRORS | dict(self.responses)
        else:
            described["responses"] = dict(self.responses)
        if self.secured:
            described["security"] = [{"bearer": []}]
        if operation_id is not None:
            described["operationId"] = operation_id
        return described


class DocumentedRoute(Route):
    """A route that carries its operation, as the document shows it."""

    def __init__(
        self, path: str, handler: Handler, *, method: str, operation: dict[str, Any]
    ) -> None:
        super().__init__(path, handler, methods=[method])
        self.method = method.lower()
        self.documented_path = _CONVERTOR.sub(r"{\1}", path)
        self.operation = operation


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One handler, the method and every path it is served at, and its operation."""

    handler: Handler
    method: str
    paths: tuple[str, ...]
    operation: Operation
    name: str | None  # operationIds are ``<name>_<path>``; None: no operationId

    def routes(self) -> list[DocumentedRoute]:
        return [
            DocumentedRoute(
                path,
                self.handler,
                method=self.method,
                operation=self.operation.document(self._operation_id(path)),
            )
            for path in self.paths
        ]

    def _operation_id(self, path: str) -> str | None:
        if self.name is None:
            return None
        plain = _CONVERTOR.sub(r"{\1}", path)
        return f"{self.name}_" + plain.strip("/").replace("/", "_").replace("{", "").replace(
            "}", ""
        )


def endpoint(
    method: str,
    *paths: str,
    name: str | None,
    summary: str,
    responses: Mapping[str, Any],
    body: Body | None = None,
    parameters: Sequence[Mapping[str, Any]] = (),
    secured: bool = False,
    description: str | None = None,
) -> Callable[[Handler], Endpoint]:
    """Declares the decorated handler's operation and the paths it is served at (both of the
    seed's spellings, where it has two)."""
    operation = Operation(summary, responses, body, parameters, secured, description)

    def declare(handler: Handler) -> Endpoint:
        return Endpoint(handler, method, paths, operation, name)

    return declare


def routes_of(endpoints: Iterable[Endpoint]) -> list[BaseRoute]:
    return [route for declared in endpoints for route in declared.routes()]


def openapi_document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The document of every ``DocumentedRoute`` among ``routes``, in their order."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if isinstance(route, DocumentedRoute):
            paths.setdefault(route.documented_path, {})[route.method] = route.operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pricealert",
            "version": "0.1.0",
            "description": "Cryptocurrency price alerts on Binance trades.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                }
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
