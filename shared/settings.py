"""Settings: read once from the environment at start, frozen, passed down.

Each setting is declared once, as the field that holds it (``shared.setting``): its variable,
parser, default, the commands that read it and its words in the README. From those declarations
come the values :meth:`Settings.from_env` reads, the variables each command reads
(``VARIABLES``) and the README's "Settings" table (:func:`settings_table`, printed by
``python -m shared.settings --markdown``; a test fails when the README's differs). The original
Django design's ``DATABASE_SETTINGS__*`` and ``RABBITMQ_HOST`` spellings are declared beside the
variable they build. A missing or malformed value raises :class:`SettingsError` whose message is
one line naming the variable, and never shows a URL's password.

Each command reads only the variables of its service: the matcher never looks at ``JWT_SECRET``
or ``SMTP_PASSWORD``, so a deployment gives it neither, and a value it does not use can neither
stop it nor leak through it. Credentials that look like placeholders (``change-me``,
``example``, ``xxxxxxxx``...) are refused at start, naming the variable.

Hand-written rather than pydantic-settings: its errors are several lines and echo the input
(a URL's password with it), the seed's spellings that build one URL from five variables and the
per-command reading would be custom sources and validators around it anyway, and it would add
pydantic to services that have no other use for it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Literal, get_args
from urllib.parse import quote, unquote, urlsplit

from shared.errors import SettingsError
from shared.setting import (
    Environment,
    Malformed,
    Setting,
    base_url,
    boolean,
    build,
    check_url,
    choice,
    declarations,
    derived,
    field_of,
    group,
    networks,
    parsed,
    per_second,
    port,
    seconds,
    seconds_list,
    setting,
    shown,
    text,
    url,
    whole,
)
from shared.vocabulary import EXCHANGES

# The fields' defaults are declarations (shared.setting): dataclasses.Field objects, made once
# as dataclasses.field makes them, not shared mutable values.
# ruff: noqa: RUF009

SmtpTls = Literal["none", "starttls", "tls"]
LogFormat = Literal["json", "text"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
JWT_SECRET_MIN_LENGTH = 32
Service = Literal["migrate", "api", "matcher", "notifier", "up"]

# The commands that read a variable; `up` runs them all and reads every one.
_EVERY: tuple[Service, ...] = ("migrate", "api", "matcher", "notifier")
_API: tuple[Service, ...] = ("api",)
_RABBITMQ: tuple[Service, ...] = ("matcher", "notifier")  # its two ends
_MATCHER: tuple[Service, ...] = ("matcher",)
_NOTIFIER: tuple[Service, ...] = ("notifier",)


@dataclass(frozen=True, slots=True)
class Shard:
    """Replica ``index`` of ``count``: owns the buckets with ``bucket % count == index``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``limit`` in a burst, and on average ``limit`` every ``period_seconds``."""

    limit: int
    period_seconds: float

    def __str__(self) -> str:
        return f"{self.limit}/{self.period_seconds:g}"


def _shard(raw: str) -> Shard:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", raw)
    if not match:
        raise Malformed(f"must look like I/N (for example 0/1 or 2/4), got {raw!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or index >= count:
        raise Malformed(f"must satisfy 0 <= I < N and N >= 1, got {raw!r}")
    return Shard(index, count)


def parse_shard(text: str, variable: str) -> Shard:
    """``I/N`` as a :class:`Shard`; a SettingsError naming ``variable`` (or an option) if not."""
    return parsed(variable, _shard, text)


def _rate(raw: str) -> Rate:
    """``COUNT/SECONDS``, such as ``10/900`` for ten in fifteen minutes."""
    match = re.fullmatch(r"(\d{1,9})\s*/\s*(\d{1,9}(?:\.\d+)?)", raw)
    if not match or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
        raise Malformed(
            f"must be COUNT/SECONDS with both positive (for example 10/900), got {raw!r}"
        )
    return Rate(int(match.group(1)), float(match.group(2)))


_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _libpq(raw: str) -> str:
    """A libpq URL (``postgresql://...``) or key=value string, as given."""
    if _URL_SCHEME.match(raw) or "=" not in raw:
        check_url(
            raw, ("postgresql", "postgres"), "a libpq URL (postgresql://...) or key=value string"
        )
    return raw


def _url_password(url: str) -> str | None:
    """The password in a URL (``scheme://user:password@host``) or a libpq ``password=``."""
    match = re.search(r"(?:^|\s)password\s*=\s*'?([^'\s]*)", url)
    if "://" not in url:
        return match.group(1) if match else None
    try:
        return unquote(urlsplit(url).password or "") or None
    except ValueError:
        return None


_ORIGINAL = "the original design's spelling"
_DATABASE_NAME = Setting(
    "DATABASE_SETTINGS__DBNAME",
    text,
    None,
    _EVERY,
    f"{_ORIGINAL}: with the four below, builds `DATABASE_URL` when that is not set",
)
_DATABASE_USER = Setting("DATABASE_SETTINGS__USER", text, None, _EVERY, "its user")
_DATABASE_PASSWORD = Setting(
    "DATABASE_SETTINGS__PASSWORD", text, None, _EVERY, "its password", credential=text
)
_DATABASE_HOST = Setting("DATABASE_SETTINGS__HOST", text, "localhost", _EVERY, "its host")
_DATABASE_PORT = Setting("DATABASE_SETTINGS__PORT", port, 5432, _EVERY, "its port")
_DATABASE_PARTS = (
    _DATABASE_NAME,
    _DATABASE_USER,
    _DATABASE_PASSWORD,
    _DATABASE_HOST,
    _DATABASE_PORT,
)


def _database_url_of_parts(env: Environment) -> str | None:
    if not any(env.is_set(part.name) for part in _DATABASE_PARTS):
        return None
    name = env[_DATABASE_NAME]
    if name is None:
        raise SettingsError(
            f"{_DATABASE_NAME.name} is not set, but other DATABASE_SETTINGS__ variables are"
        )
    credentials = ""
    user = env[_DATABASE_USER]
    if user is not None:
        credentials = quote(user, safe="")
        password = env[_DATABASE_PASSWORD]
        if password is not None:
            credentials += ":" + quote(password, safe="")
        credentials += "@"
    where = f"{env[_DATABASE_HOST]}:{env[_DATABASE_PORT]}"
    return f"postgresql://{credentials}{where}/{quote(name, safe='')}"


_RABBITMQ_HOST = Setting(
    "RABBITMQ_HOST",
    text,
    "localhost",
    _RABBITMQ,
    f"{_ORIGINAL}: with the three below, builds `RABBITMQ_URL` when that is not set",
)
_RABBITMQ_PORT = Setting("RABBITMQ_PORT", port, 5672, _RABBITMQ, "its port")
_RABBITMQ_USER = Setting("RABBITMQ_USER", text, "guest", _RABBITMQ, "its user")
_RABBITMQ_PASSWORD = Setting(
    "RABBITMQ_PASSWORD", text, "guest", _RABBITMQ, "its password", credential=text
)


def _rabbitmq_url_of_parts(env: Environment) -> str:
    user = quote(env[_RABBITMQ_USER], safe="")
    password = quote(env[_RABBITMQ_PASSWORD], safe="")
    return f"amqp://{user}:{password}@{env[_RABBITMQ_HOST]}:{env[_RABBITMQ_PORT]}/"


_SMTP_TLS: Setting[SmtpTls] = Setting(
    "SMTP_TLS",
    choice(get_args(SmtpTls)),
    "none",
    _NOTIFIER,
    "`none`, `starttls` or `tls` (TLS from the first byte)",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpSettings:
    """How the notifier reaches its SMTP server (``SMTP_*``); ``host`` None means none is set."""

    host: str | None = setting(
        "SMTP_HOST",
        text,
        None,
        _NOTIFIER,
        "the server mails go through (`localhost` when not set, where `up` writes `.eml` "
        "files to its data folder instead)",
    )
    port: int = setting(
        "SMTP_PORT",
        port,
        25,
        _NOTIFIER,
        "the server's port",
        shown_default="25, or 465 with `SMTP_TLS=tls`",
        unset=lambda env: 465 if env[_SMTP_TLS] == "tls" else 25,
    )
    user: str | None = setting(
        "SMTP_USER", text, None, _NOTIFIER, "the login, if it wants one", credential=text
    )
    password: str | None = setting(
        "SMTP_PASSWORD", text, None, _NOTIFIER, "its password", credential=text
    )
    sender: str = setting(
        "SMTP_FROM", text, "pricealert@localhost", _NOTIFIER, "the mails' `From` address"
    )
    tls: SmtpTls = field_of(_SMTP_TLS)
    ca_file: str | None = setting(
        "SMTP_CA_FILE",
        text,
        None,
        _NOTIFIER,
        "a PEM bundle to trust for `starttls`/`tls` (a private CA)",
        shown_default="the system's CAs",
    )
    pool_size: int = setting(
        "SMTP_POOL_SIZE",
        whole(minimum=1),
        16,
        _NOTIFIER,
        "SMTP connections the notifier keeps open, and mails in flight",
    )
    timeout_seconds: float = setting(
        "SMTP_TIMEOUT_SECONDS", seconds, 15.0, _NOTIFIER, "per SMTP command"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every setting, with its default; ``from_env`` reads the variables the README lists."""

    database_url: str | None = setting(
        "DATABASE_URL",
        _libpq,
        None,
        _EVERY,
        "libpq URL or key=value string; required by `migrate`, `api` and `matcher` (the "
        "notifier without it keeps its duplicate guard in memory)",
        shown_default="built from `DATABASE_SETTINGS__*` when one is set, else none",
        unset=_database_url_of_parts,
        also=_DATABASE_PARTS,
        credential=_url_password,
    )
    database_pool_size: int = setting(
        "DATABASE_POOL_SIZE", whole(minimum=1), 10, _EVERY, "connections per API worker"
    )
    jwt_secret: str | None = setting(
        "JWT_SECRET",
        text,
        None,
        _API,
        f"required by `api`; at least {JWT_SECRET_MIN_LENGTH} characters, random: one that "
        "looks like a placeholder is refused at start (a word such as `change`, `example`, "
        "`secret`, `password`, `placeholder`; fewer than 8 distinct characters; one character "
        "10 times in a row; a pattern of under 16 characters repeated). Make one with "
        "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`",
    )
    access_token_ttl_seconds: int = setting(
        "ACCESS_TOKEN_TTL_SECONDS", whole(minimum=1), 300, _API, "how long an access token lives"
    )
    refresh_token_ttl_seconds: int = setting(
        "REFRESH_TOKEN_TTL_SECONDS",
        whole(minimum=1),
        14 * 24 * 3600,
        _API,
        "how long a refresh token lives",
        shown_default="1209600 (14 days)",
    )
    max_live_alerts_per_user: int = setting(
        "MAX_LIVE_ALERTS_PER_USER",
        whole(minimum=1),
        1000,
        _API,
        "alerts a user may have that can still fire",
    )
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = setting(
        "TRUSTED_PROXIES",
        networks,
        (),
        _API,
        "comma-separated addresses or CIDRs of your reverse proxies; `X-Forwarded-For` is "
        "believed only from them",
    )
    login_failures_per_account_address: Rate = setting(
        "LOGIN_FAILURES_PER_ACCOUNT_ADDRESS",
        _rate,
        Rate(10, 900),
        _API,
        "`COUNT/SECONDS`: failed logins for one username from one address, then 429",
    )
    login_failures_per_address: Rate = setting(
        "LOGIN_FAILURES_PER_ADDRESS",
        _rate,
        Rate(100, 900),
        _API,
        "failed logins from one address, any username",
    )
    signups_per_address: Rate = setting(
        "SIGNUPS_PER_ADDRESS", _rate, Rate(20, 3600), _API, "signups from one address"
    )
    password_hash_concurrency: int | None = setting(
        "PASSWORD_HASH_CONCURRENCY",
        whole(minimum=1),
        None,
        _API,
        "argon2 hashes at once per API worker",
        shown_default="the CPUs the process may use (affinity, cgroup quota)",
    )
    request_body_timeout_seconds: float = setting(
        "REQUEST_BODY_TIMEOUT_SECONDS",
        seconds,
        10.0,
        _API,
        "a body not read in this time is 408",
    )
    api_max_connections: int = setting(
        "API_MAX_CONNECTIONS",
        whole(minimum=1),
        1000,
        _API,
        "connections and requests at once per API worker (uvicorn's `limit_concurrency`); "
        "503 past it",
    )
    rabbitmq_url: str = setting(
        "RABBITMQ_URL",
        url("amqp", "amqps"),
        "amqp://guest:guest@localhost:5672/",
        _RABBITMQ,
        "the broker between matcher and notifier; without it or `RABBITMQ_HOST`, `up` hands "
        "alerts over in its own process",
        shown_default="built from the four below: `amqp://guest:guest@localhost:5672/`",
        unset=_rabbitmq_url_of_parts,
        also=(_RABBITMQ_HOST, _RABBITMQ_PORT, _RABBITMQ_USER, _RABBITMQ_PASSWORD),
        credential=_url_password,
    )
    rabbitmq_configured: bool = derived(
        False, lambda env: env.is_set("RABBITMQ_URL") or env.is_set(_RABBITMQ_HOST.name)
    )
    rabbitmq_queue: str = setting(
        "RABBITMQ_QUEUE", text, "price_alerts", _RABBITMQ, "the queue alerts go through; durable"
    )
    binance_ws_url: str = setting(
        "BINANCE_WS_URL",
        base_url("ws", "wss"),
        EXCHANGES["binance"].ws_url,
        _MATCHER,
        "Binance's trade streams",
    )
    binance_rest_url: str = setting(
        "BINANCE_REST_URL",
        base_url("http", "https"),
        EXCHANGES["binance"].rest_url,
        _MATCHER,
        "Binance's REST API (candles, prices)",
    )
    binance_rest_weight_per_minute: int = setting(
        "BINANCE_REST_WEIGHT_PER_MINUTE",
        whole(minimum=60),
        2400,
        _MATCHER,
        "the REST weight the matcher spends at most (Binance allows 6,000 per address), spread "
        "evenly: history for percent windows, gaps, prices",
    )
    matcher_symbols_refresh_seconds: float = setting(
        "MATCHER_SYMBOLS_REFRESH_SECONDS",
        seconds,
        900.0,
        _MATCHER,
        "how often the matcher reads the exchange's list of trading symbols (Binance's "
        "`exchangeInfo`, weight 20) and writes it to the symbols table, besides at start: a "
        "pair listed since becomes usable, one no longer trading is refused for new alerts",
    )
    matcher_shard: Shard = setting(
        "MATCHER_SHARD", _shard, Shard(0, 1), _MATCHER, "same as `matcher --shard`"
    )
    matcher_metrics_port: int | None = setting(
        "MATCHER_METRICS_PORT",
        whole(minimum=0),
        None,
        _MATCHER,
        "same as `matcher --metrics-port`",
    )
    matcher_heartbeat_seconds: float = setting(
        "MATCHER_HEARTBEAT_SECONDS",
        seconds,
        5.0,
        _MATCHER,
        'how often a matcher replica records itself alive and reads the others (see "Scaling '
        'the matcher")',
    )
    matcher_replica_timeout_seconds: float = setting(
        "MATCHER_REPLICA_TIMEOUT_SECONDS",
        seconds,
        30.0,
        _MATCHER,
        "a replica whose heartbeat is older than this is taken as dead, and its buckets as "
        "owned by nobody",
    )
    matcher_feed_grace_seconds: float = setting(
        "MATCHER_FEED_GRACE_SECONDS",
        seconds,
        30.0,
        _MATCHER,
        "how long a connection of the matcher's feed may go without reaching its exchange "
        "(refused, lost, no answer) before `/readyz` answers 503 saying so (`Binance unreachable "
        "for 30 s: ...`); ready again as soon as it connects",
    )
    webhook_allow_private: bool = setting(
        "WEBHOOK_ALLOW_PRIVATE",
        boolean,
        False,
        ("api", "notifier"),
        "`true` lets webhooks use `http` and private, loopback and other non-public addresses "
        "(tests, or one's own network on purpose): the API checks it at create, the notifier "
        "at delivery",
    )
    webhook_timeout_seconds: float = setting(
        "WEBHOOK_TIMEOUT_SECONDS",
        seconds,
        10.0,
        _NOTIFIER,
        "a webhook (or Telegram) answer slower than this is tried again later",
    )
    telegram_bot_token: str | None = setting(
        "TELEGRAM_BOT_TOKEN",
        text,
        None,
        ("api", "notifier"),
        "the bot that sends Telegram alerts; without it (or `TELEGRAM_ENABLED=true` for the "
        "API), `telegram_chat_id` is refused",
        credential=text,
    )
    telegram_enabled: bool = setting(
        "TELEGRAM_ENABLED",
        boolean,
        False,
        _API,
        "`true` lets creates name a Telegram chat, so the API needs no bot token",
        shown_default="whether `TELEGRAM_BOT_TOKEN` is set",
        unset=lambda env: env.is_set("TELEGRAM_BOT_TOKEN"),
    )
    telegram_api_url: str = setting(
        "TELEGRAM_API_URL",
        base_url("http", "https"),
        "https://api.telegram.org",
        _NOTIFIER,
        "Telegram's Bot API",
    )
    telegram_max_per_second: float = setting(
        "TELEGRAM_MAX_PER_SECOND",
        per_second,
        25.0,
        _NOTIFIER,
        "Telegram messages a second, all chats together (Telegram allows about 30)",
    )
    smtp: SmtpSettings = group(SmtpSettings)
    notifier_prefetch: int = setting(
        "NOTIFIER_PREFETCH", whole(minimum=1), 200, _NOTIFIER, "unacked messages the notifier holds"
    )
    notifier_retry_delays: tuple[float, ...] = setting(
        "NOTIFIER_RETRY_DELAYS",
        seconds_list,
        (10.0, 60.0, 300.0, 1800.0, 7200.0),
        _NOTIFIER,
        "seconds before each retry of a transient failure; empty for none",
        empty_is_a_value=True,
    )
    notifier_templates: str | None = setting(
        "NOTIFIER_TEMPLATES",
        text,
        None,
        _NOTIFIER,
        "a folder with `subject.txt`, `body.txt`, `body.html`",
        shown_default="the package's `notifier/templates`",
    )
    notifier_metrics_port: int | None = setting(
        "NOTIFIER_METRICS_PORT",
        whole(minimum=0),
        None,
        _NOTIFIER,
        "same as `notifier --metrics-port`",
    )
    metrics_host: str = setting(
        "METRICS_HOST",
        text,
        "127.0.0.1",
        ("matcher", "notifier"),
        "the address the metrics ports listen on (`0.0.0.0` in containers)",
    )
    log_level: LogLevel = setting(
        "LOG_LEVEL",
        choice(get_args(LogLevel), upper=True),
        "INFO",
        _EVERY,
        "`DEBUG` also logs every request",
    )
    log_format: LogFormat = setting(
        "LOG_FORMAT",
        choice(get_args(LogFormat)),
        "json",
        _EVERY,
        "`json` (one object a line) or `text`",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str], service: Service | None = None) -> Settings:
        """Build settings from an environment mapping (``os.environ`` at the entry point);
        an absent variable keeps the field's default. With ``service``, only that service's
        variables (``VARIABLES``) are read; the others keep their defaults."""
        environment = Environment(env, None if service is None else VARIABLES[service])
        _refuse_placeholder_credentials(environment)
        return build(cls, environment)

    def require_database_url(self) -> str:
        if not self.database_url:
            raise SettingsError(
                "DATABASE_URL is not set (nor DATABASE_SETTINGS__DBNAME and friends): "
                "give a libpq URL such as postgresql://user@localhost:5432/pricealert"
            )
        return self.database_url

    def require_jwt_secret(self) -> str:
        if not self.jwt_secret:
            raise SettingsError(
                "JWT_SECRET is not set: give a random string of at least "
                f"{JWT_SECRET_MIN_LENGTH} characters (python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        if len(self.jwt_secret) < JWT_SECRET_MIN_LENGTH:
            raise SettingsError(
                f"JWT_SECRET is too short: {len(self.jwt_secret)} characters, "
                f"at least {JWT_SECRET_MIN_LENGTH} are needed for HS256"
            )
        problem = weak_secret(self.jwt_secret)
        if problem is not None:
            raise SettingsError(
                f"JWT_SECRET looks like a placeholder, not a random secret ({problem}): "
                "anyone who guesses it can forge tokens; give a random one "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return self.jwt_secret


def _read_by(service: Service) -> frozenset[str]:
    return frozenset(
        declared.name
        for declared in declarations(Settings)
        if service == "up" or service in declared.services
    )


# The variables each command reads; any other is ignored by it (its default is kept).
VARIABLES: dict[Service, frozenset[str]] = {
    service: _read_by(service) for service in get_args(Service)
}


def settings_table() -> str:
    """The README's "Settings" table: a row a variable, in the order they are declared."""
    rows = ["| variable | default | read by | notes |", "| --- | --- | --- | --- |"]
    for declared in declarations(Settings):
        default = declared.shown_default or shown(declared.default)
        readers = (
            "all"
            if set(declared.services) == set(_EVERY)
            else ", ".join(f"`{service}`" for service in _EVERY if service in declared.services)
        )
        notes = f"credential: {declared.doc}" if declared.credential else declared.doc
        rows.append(f"| `{declared.name}` | {default} | {readers} | {notes} |")
    return "\n".join(rows) + "\n"


# Words that mark an example or a placeholder rather than a secret. At least six letters, so
# that a random secret (token_urlsafe(48)) contains a given one by chance with a probability
# under 1e-7.
_PLACEHOLDER_WORDS = (
    "change",
    "placeholder",
    "example",
    "secret",
    "password",
    "replace",
    "default",
    "sample",
    "insecure",
)
# In a password (of a URL, of SMTP), only the words nobody would pick as a real one.
_PLACEHOLDER_PASSWORDS = ("changeme", "placeholder", "replaceme", "yourpassword", "yourtoken")
_MIN_DISTINCT_CHARACTERS = 8
# The same character at most this many times in a row: a run of 6 refused one in 40,000 of
# `openssl rand -hex 16`'s secrets; a run of 10 is met by one in 3 billion.
_MAX_RUN = 9


def weak_secret(value: str) -> str | None:
    """Why ``value`` looks like a placeholder rather than a random secret, or None.

    Refused: a placeholder word in it (``change-me``, ``example``, ``secret``...), fewer than
    8 distinct characters, the same character 10 times in a row, or a short pattern repeated
    (``abcabcabc...``). A secret made by ``secrets.token_urlsafe(48)`` or
    ``secrets.token_hex(16)`` passes with a probability over 1 - 1e-9."""
    letters = re.sub(r"[^a-z0-9]", "", value.lower())
    for word in _PLACEHOLDER_WORDS:
        if word in letters:
            return f"it contains {word!r}"
    if len(set(value)) < _MIN_DISTINCT_CHARACTERS:
        return f"only {len(set(value))} distinct characters"
    if re.search(rf"(.)\1{{{_MAX_RUN},}}", value):
        return "a character repeated many times in a row"
    for period in range(1, 16):
        if len(value) >= 2 * period and value == (value[:period] * len(value))[: len(value)]:
            return "a short pattern repeated"
    return None


def placeholder_password(value: str) -> bool:
    """Whether a password (of a URL or a login) is plainly a placeholder (``change-me``)."""
    letters = re.sub(r"[^a-z0-9]", "", value.lower())
    return any(word in letters for word in _PLACEHOLDER_PASSWORDS)


def _refuse_placeholder_credentials(env: Environment) -> None:
    """Passwords and tokens this service reads that are plainly placeholders stop it at
    start, naming the variable: a deployment applied with its example values must not run."""
    for declared in declarations(Settings):
        raw = env.text(declared.name)
        value = None if raw is None or declared.credential is None else declared.credential(raw)
        if value is not None and placeholder_password(value):
            raise SettingsError(
                f"{declared.name} holds a placeholder credential ({value!r} is an example "
                "value): give the real one"
            )


def main(argv: list[str]) -> int:
    if argv != ["--markdown"]:
        print("usage: python -m shared.settings --markdown", file=sys.stderr)
        return 2
    sys.stdout.write(settings_table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
