"""An input field once: its name, its JSON Schema as ``/openapi.json`` shows it, and its strict
parser. The handlers read fields through these, and the OpenAPI document is built from the same
objects, so what the document promises and what the code accepts cannot drift apart.

A new field is one ``Field`` beside the others in ``api.validation`` and one entry in the tuple of
its request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared.errors import ValidationError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Field(Generic[T]):
    """A body field (or, with ``in_query``, a query parameter).

    ``parse`` gets the value as sent and returns the clean one or raises a domain error naming
    the field. A required field that is absent, null or empty is refused before ``parse``; an
    optional one that is absent or null (or empty, in a query) reaches ``parse`` as None.
    """

    name: str
    schema: Mapping[str, Any]
    parse: Callable[[Any], T]
    required: bool = True
    in_query: bool = False
    description: str | None = None

    def read(self, source: Mapping[str, Any]) -> T:
        value = source.get(self.name)
        if value is None or (value == "" and (self.required or self.in_query)):
            if self.required:
                raise ValidationError(f"{self.name} is required")
            value = None
        return self.parse(value)


def body_schema(fields: Sequence[Field[Any]]) -> dict[str, Any]:
    """The JSON Schema of a request body made of ``fields``."""
    properties = {}
    for field in fields:
        schema = dict(field.schema)
        if field.description:
            schema["description"] = field.description
        properties[field.name] = schema
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
