"""The shapes of a request made of ``shared.fields.Field``s: a JSON body (``Body``: the fields it
reads, and the only keys it accepts) and a query, each with its OpenAPI description. The handlers
read fields through the same objects the document is built from, so what the document promises
and what the code accepts cannot drift apart.

A new field is one ``Field`` (in ``shared.fields`` for an alert's, ``api.validation`` for the
API's own) and one entry in the ``Body`` (or query tuple) of its request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from difflib import get_close_matches
from typing import Any

from shared.errors import ValidationError
from shared.fields import Field, listed


class Body:
    """A JSON body's fields. A key that is none of their names is refused (``refuse_unknown``),
    so a misspelt optional field (``expires`` for ``expires_at``) is a 400, never ignored."""

    __slots__ = ("fields", "names")

    def __init__(self, *fields: Field[Any]) -> None:
        self.fields = fields
        self.names = frozenset(field.name for field in fields)

    def __iter__(self) -> Iterator[Field[Any]]:
        return iter(self.fields)

    def refuse_unknown(self, body: Mapping[str, Any]) -> None:
        """ValidationError naming each key of ``body`` that is not a field: O(len(body))."""
        if body.keys() <= self.names:
            return
        unknown = [key for key in body if key not in self.names]
        quoted = [repr(key) for key in unknown]
        if len(unknown) == 1:
            message = f"unknown field {quoted[0]}"
        else:
            message = f"unknown fields {listed(quoted)}"
        near = get_close_matches(unknown[0], sorted(self.names), n=1)
        if len(unknown) == 1 and near:
            raise ValidationError(f"{message}: did you mean {near[0]!r}?")
        raise ValidationError(f"{message}: the fields are {listed([f.name for f in self])}")


def body_schema(fields: Iterable[Field[Any]]) -> dict[str, Any]:
    """The JSON Schema of a request body made of ``fields``, and of nothing else."""
    fields = tuple(fields)
    return {
        "type": "object",
        "required": [field.name for field in fields if field.required],
        "properties": {field.name: field.documented() for field in fields},
        "additionalProperties": False,
    }


def query_parameters(fields: Sequence[Field[Any]]) -> list[dict[str, Any]]:
    """The OpenAPI parameters of a query made of ``fields``; a value given empty is refused."""
    parameters = []
    for field in fields:
        parameter: dict[str, Any] = {
            "name": field.name,
            "in": "query",
            "required": field.required,
            "schema": dict(field.schema),
        }
        if field.description:
            parameter["description"] = field.description
        parameters.append(parameter)
    return parameters
