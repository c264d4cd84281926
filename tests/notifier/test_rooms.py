"""Each declared channel is a room of ``notifier.channels``, found by its name and opened
through its one door; a room and the declarations that disagree stop the notifier at start."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from notifier.channels import Parts
from notifier.channels.rooms import find_rooms, open_channels
from notifier.errors import ChannelRoomError
from notifier.metrics import NotifierMetrics
from shared.settings import Settings
from shared.vocabulary import CHANNELS

DOOR = "def open_channel(settings, parts):\n    return None\n"


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty package of rooms, importable under the name of its folder."""
    folder = tmp_path / f"rooms_{tmp_path.name.replace('-', '_')}"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "helper.py").write_text("SHARED = 1\n")  # no door: a helper, not a room
    monkeypatch.syspath_prepend(str(tmp_path))
    return folder


def test_every_declared_channel_has_a_room_found_by_its_name() -> None:
    assert list(find_rooms()) == list(CHANNELS)


def test_a_room_no_declaration_names_stops_the_start(package: Path) -> None:
    for name in ("email", "sms"):
        (package / f"{name}.py").write_text(DOOR)
    with pytest.raises(ChannelRoomError, match=r"a room for sms, which .* does not declare"):
        find_rooms(package.name, {"email": None})


def test_a_declared_channel_without_a_room_stops_the_start(package: Path) -> None:
    (package / "email.py").write_text(DOOR)
    with pytest.raises(ChannelRoomError, match=r"no room in .* for the declared channel fax"):
        find_rooms(package.name, {"email": None, "fax": None})
    assert list(find_rooms(package.name, {"email": None})) == ["email"]


async def test_telegram_opens_only_with_its_bot_token() -> None:
    async with AsyncExitStack() as stack:
        plain = open_channels(Settings(), Parts(), stack)
        assert list(plain) == ["email", "webhook"]
        with_bot = open_channels(Settings(telegram_bot_token="123:abc"), Parts(), stack)
        assert list(with_bot) == ["email", "webhook", "telegram"]
        assert all(channel.name == name for name, channel in with_bot.items())


def test_the_metrics_have_a_series_for_every_declared_channel() -> None:
    metrics = NotifierMetrics()
    for name in CHANNELS:
        labels = {"channel": name, "outcome": "sent"}
        assert (
            metrics.registry.get_sample_value("pricealert_notifier_deliveries_total", labels) == 0
        )
