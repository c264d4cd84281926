"""Secrets at start-up: placeholders refused, naming the variable; each service reads only the
settings it uses."""

from __future__ import annotations

import secrets
import uuid

import pytest

from shared.errors import SettingsError
from shared.settings import VARIABLES, Settings, weak_secret

K8S_EXAMPLE = {  # the example values a deployment could be applied with by mistake
    "DATABASE_URL": "postgresql://pricealert:change-me@postgres:5432/pricealert",
    "RABBITMQ_URL": "amqp://pricealert:change-me@rabbitmq:5672/",
    "JWT_SECRET": "change-me-to-a-random-string-of-at-least-32-characters",
    "SMTP_USER": "change-me",
    "SMTP_PASSWORD": "change-me",
}


@pytest.mark.parametrize(
    "secret",
    [
        "change-me-to-a-random-string-of-at-least-32-characters",
        "CHANGE_ME_CHANGE_ME_CHANGE_ME_CHANGE_ME",
        "placeholder-placeholder-placeholder-42",
        "an-example-jwt-key-for-the-docs-0123456789",
        "my-super-Secret-key-for-pricealert-2026!",
        "Password1234567890Password1234567890",
        "x" * 40,
        "abc" * 16,
        "0123456789" * 4,
        "Kq7z!aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ],
)
def test_a_placeholder_jwt_secret_is_refused_naming_it(secret: str) -> None:
    with pytest.raises(SettingsError, match=r"^JWT_SECRET looks like a placeholder") as caught:
        Settings.from_env({"JWT_SECRET": secret}, service="api").require_jwt_secret()
    assert "\n" not in str(caught.value)


def test_a_short_jwt_secret_is_refused_first() -> None:
    with pytest.raises(SettingsError, match=r"^JWT_SECRET is too short"):
        Settings.from_env({"JWT_SECRET": "change-me"}, service="api").require_jwt_secret()


def test_random_secrets_pass() -> None:
    made = [secrets.token_urlsafe(48) for _ in range(2000)]
    made += [secrets.token_hex(16) for _ in range(2000)]
    made += [uuid.uuid4().hex * 2 for _ in range(500)]
    refused = [(s, weak_secret(s)) for s in made if weak_secret(s) is not None]
    assert refused == []
    settings = Settings.from_env({"JWT_SECRET": made[0]}, service="api")
    assert settings.require_jwt_secret() == made[0]


@pytest.mark.parametrize(
    ("service", "refused"),
    [
        ("migrate", "DATABASE_URL"),
        ("api", "DATABASE_URL"),
        ("matcher", "DATABASE_URL"),
        ("notifier", "DATABASE_URL"),
    ],
)
def test_placeholder_credentials_stop_every_service_naming_the_variable(
    service: str, refused: str
) -> None:
    with pytest.raises(SettingsError, match=rf"^{refused} holds a placeholder credential"):
        Settings.from_env(K8S_EXAMPLE, service=service)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RABBITMQ_URL", "amqp://app:CHANGE_ME@rabbitmq:5672/"),
        ("RABBITMQ_PASSWORD", "change-me"),
        ("SMTP_PASSWORD", "replace-me"),
        ("SMTP_USER", "change-me"),
        ("TELEGRAM_BOT_TOKEN", "<your-token-placeholder>"),
        ("DATABASE_URL", "host=db dbname=app user=app password=changeme"),
        ("DATABASE_SETTINGS__PASSWORD", "change-me"),
    ],
)
def test_each_placeholder_credential_is_named(variable: str, value: str) -> None:
    env = {"DATABASE_SETTINGS__DBNAME": "app"} if variable.startswith("DATABASE_S") else {}
    with pytest.raises(SettingsError, match=rf"^{variable} holds a placeholder credential"):
        Settings.from_env(env | {variable: value}, service="notifier")


def test_real_looking_credentials_pass() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://pricealert:pricealert@postgres:5432/pricealert",
            "RABBITMQ_URL": "amqp://guest:guest@rabbitmq:5672/",
            "SMTP_USER": "alerts@example.com",  # an address at example.com is not a password
            "SMTP_PASSWORD": secrets.token_urlsafe(24),
            "TELEGRAM_BOT_TOKEN": "123456:" + secrets.token_urlsafe(26),
        },
        service="notifier",
    )
    assert settings.smtp.password is not None


def test_the_matcher_reads_no_jwt_or_smtp_setting() -> None:
    env = {
        "DATABASE_URL": "postgresql://pricealert@postgres:5432/pricealert",
        "RABBITMQ_URL": "amqp://guest:guest@rabbitmq:5672/",
        "MATCHER_SHARD": "1/2",
        # None of these is the matcher's: not read, so neither checked nor kept.
        "JWT_SECRET": "change-me",
        "SMTP_PASSWORD": "change-me",
        "SMTP_USER": "change-me",
        "SMTP_PORT": "not a port",
        "TELEGRAM_BOT_TOKEN": "change-me",
    }
    settings = Settings.from_env(env, service="matcher")
    assert settings.matcher_shard.count == 2
    assert settings.jwt_secret is None
    assert settings.smtp.password is None
    assert settings.smtp.user is None
    assert settings.telegram_bot_token is None
    for name in ("JWT_SECRET", "SMTP_PASSWORD", "SMTP_USER", "TELEGRAM_BOT_TOKEN"):
        assert name not in VARIABLES["matcher"]


def test_the_api_reads_no_smtp_or_rabbitmq_setting() -> None:
    env = {"SMTP_PASSWORD": "change-me", "RABBITMQ_URL": "amqp://u:change-me@h/"}
    settings = Settings.from_env(env, service="api")
    assert settings.smtp.password is None
    assert settings.rabbitmq_configured is False


def test_every_variable_is_some_service_s() -> None:
    assert VARIABLES["up"] == VARIABLES["api"] | VARIABLES["matcher"] | VARIABLES["notifier"]


def test_the_api_needs_no_telegram_token_only_whether_there_is_one() -> None:
    assert Settings.from_env({"TELEGRAM_ENABLED": "true"}, service="api").telegram_enabled
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:a"}, service="api").telegram_enabled
    assert not Settings.from_env({}, service="api").telegram_enabled
