"""Settings from the environment: the contract's names, the seed's spellings, one-line errors."""

from __future__ import annotations

import subprocess
import sys
import traceback
from pathlib import Path
from typing import get_args

import pytest

from shared.errors import SettingsError
from shared.setting import declarations
from shared.settings import VARIABLES, Rate, Service, Settings, Shard, settings_table


def test_defaults_need_nothing_but_are_incomplete_for_the_api() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert settings.rabbitmq_url == "amqp://guest:guest@localhost:5672/"
    assert settings.rabbitmq_configured is False
    assert settings.rabbitmq_queue == "price_alerts"
    assert settings.binance_ws_url == "wss://stream.binance.com:9443"
    assert settings.matcher_shard == Shard(0, 1)
    with pytest.raises(SettingsError, match=r"^DATABASE_URL is not set"):
        settings.require_database_url()
    with pytest.raises(SettingsError, match=r"^JWT_SECRET is not set"):
        settings.require_jwt_secret()


def test_database_url_is_built_from_the_seeds_variables() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_SETTINGS__DBNAME": "alerts",
            "DATABASE_SETTINGS__USER": "app",
            "DATABASE_SETTINGS__PASSWORD": "p@ss word",
            "DATABASE_SETTINGS__HOST": "db",
            "DATABASE_SETTINGS__PORT": "6543",
        }
    )
    assert settings.database_url == "postgresql://app:p%40ss%20word@db:6543/alerts"


def test_database_url_wins_over_the_seeds_variables() -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": "postgresql://x@h/d", "DATABASE_SETTINGS__DBNAME": "ignored"}
    )
    assert settings.database_url == "postgresql://x@h/d"


def test_rabbitmq_url_is_built_from_rabbitmq_host() -> None:
    settings = Settings.from_env({"RABBITMQ_HOST": "rabbit", "RABBITMQ_QUEUE": "alerts_q"})
    assert settings.rabbitmq_url == "amqp://guest:guest@rabbit:5672/"
    assert settings.rabbitmq_configured is True
    assert settings.rabbitmq_queue == "alerts_q"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"DATABASE_SETTINGS__USER": "u"}, "DATABASE_SETTINGS__DBNAME"),
        (
            {"DATABASE_SETTINGS__DBNAME": "d", "DATABASE_SETTINGS__PORT": "x"},
            "DATABASE_SETTINGS__PORT",
        ),
        ({"RABBITMQ_URL": "http://x"}, "RABBITMQ_URL"),
        ({"RABBITMQ_PORT": "five"}, "RABBITMQ_PORT"),
        ({"SMTP_PORT": "0"}, "SMTP_PORT"),
        ({"SMTP_TLS": "ssl"}, "SMTP_TLS"),
        ({"BINANCE_WS_URL": "https://x"}, "BINANCE_WS_URL"),
        ({"BINANCE_REST_URL": "ftp://x"}, "BINANCE_REST_URL"),
        ({"MATCHER_SHARD": "2/2"}, "MATCHER_SHARD"),
        ({"MATCHER_SHARD": "one"}, "MATCHER_SHARD"),
        ({"MAX_LIVE_ALERTS_PER_USER": "-1"}, "MAX_LIVE_ALERTS_PER_USER"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"MATCHER_METRICS_PORT": "http"}, "MATCHER_METRICS_PORT"),
        ({"SMTP_POOL_SIZE": "0"}, "SMTP_POOL_SIZE"),
        ({"SMTP_TIMEOUT_SECONDS": "-1"}, "SMTP_TIMEOUT_SECONDS"),
        ({"NOTIFIER_RETRY_DELAYS": "10,soon"}, "NOTIFIER_RETRY_DELAYS"),
        ({"NOTIFIER_RETRY_DELAYS": "10,0"}, "NOTIFIER_RETRY_DELAYS"),
        ({"NOTIFIER_PREFETCH": "0"}, "NOTIFIER_PREFETCH"),
        ({"WEBHOOK_ALLOW_PRIVATE": "maybe"}, "WEBHOOK_ALLOW_PRIVATE"),
        ({"WEBHOOK_TIMEOUT_SECONDS": "0"}, "WEBHOOK_TIMEOUT_SECONDS"),
        ({"TELEGRAM_API_URL": "ftp://telegram"}, "TELEGRAM_API_URL"),
        ({"TELEGRAM_MAX_PER_SECOND": "-3"}, "TELEGRAM_MAX_PER_SECOND"),
        ({"TELEGRAM_MAX_PER_SECOND": "fast"}, "TELEGRAM_MAX_PER_SECOND"),
        ({"BINANCE_REST_WEIGHT_PER_MINUTE": "10"}, "BINANCE_REST_WEIGHT_PER_MINUTE"),
        ({"TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, "TRUSTED_PROXIES"),
        ({"TRUSTED_PROXIES": "10.0.0.0/33"}, "TRUSTED_PROXIES"),
        ({"LOGIN_FAILURES_PER_ACCOUNT_ADDRESS": "10"}, "LOGIN_FAILURES_PER_ACCOUNT_ADDRESS"),
        ({"LOGIN_FAILURES_PER_ADDRESS": "0/900"}, "LOGIN_FAILURES_PER_ADDRESS"),
        ({"SIGNUPS_PER_ADDRESS": "5/0"}, "SIGNUPS_PER_ADDRESS"),
        ({"SIGNUPS_PER_ADDRESS": "five/60"}, "SIGNUPS_PER_ADDRESS"),
        ({"PASSWORD_HASH_CONCURRENCY": "0"}, "PASSWORD_HASH_CONCURRENCY"),
        ({"REQUEST_BODY_TIMEOUT_SECONDS": "soon"}, "REQUEST_BODY_TIMEOUT_SECONDS"),
        ({"API_MAX_CONNECTIONS": "0"}, "API_MAX_CONNECTIONS"),
    ],
)
def test_malformed_settings_fail_with_one_line_naming_the_variable(
    env: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert message.startswith(variable)
    assert "\n" not in message


def test_a_short_jwt_secret_is_refused() -> None:
    with pytest.raises(SettingsError, match="JWT_SECRET is too short"):
        Settings.from_env({"JWT_SECRET": "short"}).require_jwt_secret()


def test_shard_and_tls_port() -> None:
    settings = Settings.from_env({"MATCHER_SHARD": " 1 / 4 ", "SMTP_TLS": "TLS"})
    assert settings.matcher_shard == Shard(1, 4)
    assert str(settings.matcher_shard) == "1/4"
    assert settings.smtp.tls == "tls"
    assert settings.smtp.port == 465


def test_retry_delays_are_a_list_of_seconds_and_may_be_empty() -> None:
    assert Settings.from_env({}).notifier_retry_delays == (10, 60, 300, 1800, 7200)
    assert Settings.from_env({"NOTIFIER_RETRY_DELAYS": " 0.5, 2 ,60"}).notifier_retry_delays == (
        0.5,
        2,
        60,
    )
    assert Settings.from_env({"NOTIFIER_RETRY_DELAYS": ""}).notifier_retry_delays == ()


def test_the_api_hardening_settings() -> None:
    default = Settings.from_env({})
    assert default.trusted_proxies == ()
    assert default.login_failures_per_account_address == Rate(10, 900)
    assert default.password_hash_concurrency is None
    settings = Settings.from_env(
        {
            "TRUSTED_PROXIES": " 10.0.0.0/8, 192.0.2.7 ,fd00::/8",
            "LOGIN_FAILURES_PER_ACCOUNT_ADDRESS": "5/60",
            "LOGIN_FAILURES_PER_ADDRESS": "50 / 600",
            "SIGNUPS_PER_ADDRESS": "3/86400",
            "PASSWORD_HASH_CONCURRENCY": "2",
            "REQUEST_BODY_TIMEOUT_SECONDS": "2.5",
            "API_MAX_CONNECTIONS": "300",
        }
    )
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8"]
    assert settings.login_failures_per_account_address == Rate(5, 60)
    assert settings.login_failures_per_address == Rate(50, 600)
    assert settings.signups_per_address == Rate(3, 86400)
    assert settings.password_hash_concurrency == 2
    assert settings.request_body_timeout_seconds == 2.5
    assert settings.api_max_connections == 300


def test_channel_settings_have_safe_defaults_and_are_read() -> None:
    default = Settings.from_env({})
    assert default.webhook_allow_private is False
    assert default.telegram_bot_token is None
    settings = Settings.from_env(
        {
            "WEBHOOK_ALLOW_PRIVATE": "true",
            "TELEGRAM_BOT_TOKEN": "123:abc",
            "TELEGRAM_MAX_PER_SECOND": "10",
            "BINANCE_REST_WEIGHT_PER_MINUTE": "1200",
        }
    )
    assert settings.webhook_allow_private is True
    assert settings.telegram_bot_token == "123:abc"
    assert settings.telegram_max_per_second == 10
    assert settings.binance_rest_weight_per_minute == 1200


def test_the_declared_defaults_are_what_an_empty_environment_gives() -> None:
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({}, service="up") == Settings()


def test_each_variable_is_declared_once_for_commands_that_exist() -> None:
    names = [declared.name for declared in declarations(Settings)]
    assert len(names) == len(set(names))
    commands = set(get_args(Service))
    for declared in declarations(Settings):
        assert declared.services, declared.name
        assert set(declared.services) <= commands - {"up"}, declared.name
    assert VARIABLES["up"] == set(names)


# A scheme each URL setting accepts; a URL setting declared without one here fails below.
URL_SCHEMES = {
    "DATABASE_URL": "postgresql",
    "RABBITMQ_URL": "amqp",
    "BINANCE_WS_URL": "wss",
    "BINANCE_REST_URL": "https",
    "TELEGRAM_API_URL": "https",
}
MALFORMED_URLS = [
    "{scheme}://u:hunter2@host:notaport/db",
    "{scheme}://u:hunter2@host:99999/db",
    "{scheme}://u:hun@ter2@host:notaport/db",  # an @ not escaped in the password
    "{scheme}://u:hunter2:more@host:notaport/db",
    "{scheme}://u:hunter2@[::1/db",  # an IPv6 address not closed
    "{scheme}:/u:hunter2@host/db",  # a slash short
    "ftp://u:hunter2@host/db",
    "u:hunter2@host/db",
    "{scheme}://host:notaport/db?user=u&password=hunter2",
]


def test_every_url_setting_is_covered() -> None:
    assert {d.name for d in declarations(Settings) if d.name.endswith("_URL")} == set(URL_SCHEMES)


@pytest.mark.parametrize("template", MALFORMED_URLS)
@pytest.mark.parametrize("variable", URL_SCHEMES)
def test_an_error_about_a_malformed_url_never_shows_its_password(
    variable: str, template: str
) -> None:
    value = template.format(scheme=URL_SCHEMES[variable])
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    message = str(caught.value)
    assert message.startswith(f"{variable} ")
    assert "\n" not in message
    assert "***" in message
    everything = "".join(traceback.format_exception(caught.value))
    assert "hunter2" not in everything
    assert "ter2" not in everything  # nor a part of it


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:s3cret@db:5432/alerts",
        "postgres://db/alerts",
        "postgresql://h1:5432,h2:5433/alerts?target_session_attrs=read-write",
        "postgresql://[::1]:5432/alerts",
        "postgresql:///alerts?host=/var/run/postgresql",
        "host=db port=5432 dbname=alerts user=app password=s3cret",
    ],
)
def test_libpq_urls_and_key_value_strings_are_taken_as_given(url: str) -> None:
    assert Settings.from_env({"DATABASE_URL": url}).database_url == url


def test_the_readmes_table_is_the_declarations() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    table = "".join(line + "\n" for line in section.splitlines() if line.startswith("|"))
    assert table == settings_table(), (
        "README.md's Settings table is not the declarations' "
        "(paste the output of python -m shared.settings --markdown)"
    )


def test_the_table_is_printed_by_the_module() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "shared.settings", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert printed.stdout == settings_table()
    assert printed.stdout.count("\n") == 2 + len(list(declarations(Settings)))
