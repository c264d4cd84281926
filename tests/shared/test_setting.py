"""A setting's declaration: its parse errors name it, and a URL's password never shows."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.errors import SettingsError
from shared.setting import Environment, build, declarations, setting, whole, without_password


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("postgresql://u:hunter2@host:5432/db", "postgresql://u:***@host:5432/db"),
        ("amqp://:hunter2@host/", "amqp://:***@host/"),
        ("postgresql://u:hun@ter2@host/db", "postgresql://u:***@host/db"),
        ("postgresql:/u:hunter2@host/db", "postgresql:/u:***@host/db"),
        ("u:hunter2:more@host", "u:***@host"),
        ("host=db user=u password=hunter2 port=5432", "host=db user=u password=*** port=5432"),
        ("host=db password = 'hun ter2' port=5432", "host=db password = *** port=5432"),
        ("https://host/x?user=u&password=hunter2", "https://host/x?user=u&password=***"),
        ("https://host:8443/path", "https://host:8443/path"),
        ("postgresql://a@b:hunter2@host/db", "postgresql://a@b:***@host/db"),
        ("postgresql:u:hunter2@host/db", "postgresql:***@host/db"),
        ("postgresql://u@host:5432/db", "postgresql://u@host:5432/db"),
    ],
)
def test_without_password(value: str, shown: str) -> None:
    assert without_password(value) == shown


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
