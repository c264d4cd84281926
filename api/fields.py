"""The OpenAPI shapes of a request made of ``shared.fields.Field``s: the handlers read fields
through the same objects the document is built from, so what the document promises and what the
code accepts cannot drift apart.

A new field is one ``Field`` (in ``shared.fields`` for an alert's, ``api.validation`` for the
API's own) and one entry in the tuple of its request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.fields import Field


def body_schema(fields: Sequence[Field[Any]]) -> dict[str, Any]:
    """The JSON Schema of a request body made of ``fields``."""
    properties = {field.name: field.documented() for field in fields}
    return {
        "type": "object",
        "required": [field.name for field in fields if field.required],
        "properties": properties,
    }


def query_parameters(fields: Sequence[Field[Any]]) -> list[dict[str, Any]]:
    """The OpenAPI parameters of a query made of ``fields``; an empty value means absent."""
    parameters = []
    for field in fields:
        parameter: dict[str, Any] = {
            "name": field.name,
            "in": "query",
            "required": field.required,
            "schema": dict(field.schema),
            "allowEmptyValue": not field.required,
        }
        if field.description:
            parameter["description"] = field.description
        parameters.append(parameter)
    return parameters
