"""A setting's declaration: read for the commands that read it, its errors naming it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.errors import SettingsError
from shared.setting import Environment, build, declarations, setting, whole


@dataclass(frozen=True, slots=True, kw_only=True)
class _Example:
    size: int = setting("EXAMPLE_SIZE", whole(minimum=1), 3, ("api",), "how many")


def test_a_class_reads_its_declared_fields_and_only_this_commands() -> None:
    assert [d.name for d in declarations(_Example)] == ["EXAMPLE_SIZE"]
    assert build(_Example, Environment({"EXAMPLE_SIZE": " 5 "})) == _Example(size=5)
    assert build(_Example, Environment({"EXAMPLE_SIZE": ""})) == _Example()
    assert build(_Example, Environment({"EXAMPLE_SIZE": "5"}, readable=())) == _Example()
    with pytest.raises(SettingsError, match=r"^EXAMPLE_SIZE must be at least 1, got 0$"):
        build(_Example, Environment({"EXAMPLE_SIZE": "0"}))
