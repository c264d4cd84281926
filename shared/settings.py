"""Settings: read once from the environment at start, frozen, passed down.

The variable names are the ones the README's "Settings" table lists; the original Django
design's ``DATABASE_SETTINGS__*`` and ``RABBITMQ_HOST`` spellings are honoured too. A missing or
malformed value raises :class:`SettingsError` whose message is one line naming the variable.

Each command reads only the variables of its service (``VARIABLES``): the matcher never looks
at ``JWT_SECRET`` or ``SMTP_PASSWORD``, so a deployment gives it neither, and a value it does
not use can neither stop it nor leak through it. Secrets that look like placeholders
(``change-me``, ``example``, ``xxxxxxxx``...) are refused at start, naming the variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Literal, TypeVar, get_args
from urllib.parse import quote, unquote, urlsplit

from shared.errors import SettingsError

Choice = TypeVar("Choice", bound=str)

_SEED_DB_PARTS = ("DBNAME", "USER", "PASSWORD", "HOST", "PORT")
SmtpTls = Literal["none", "starttls", "tls"]
LogFormat = Literal["json", "text"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
JWT_SECRET_MIN_LENGTH = 32
Service = Literal["migrate", "api", "matcher", "notifier", "up"]

_DATABASE = frozenset(
    {"DATABASE_URL", "DATABASE_POOL_SIZE", *(f"DATABASE_SETTINGS__{p}" for p in _SEED_DB_PARTS)}
)
_RABBITMQ = frozenset(
    {"RABBITMQ_URL", "RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_USER", "RABBITMQ_PASSWORD"}
    | {"RABBITMQ_QUEUE"}
)
_LOGS = frozenset({"LOG_LEVEL", "LOG_FORMAT"})
_API = frozenset(
    {
        "JWT_SECRET",
        "ACCESS_TOKEN_TTL_SECONDS",
        "REFRESH_TOKEN_TTL_SECONDS",
        "MAX_LIVE_ALERTS_PER_USER",
        "TRUSTED_PROXIES",
        "LOGIN_FAILURES_PER_ACCOUNT_ADDRESS",
        "LOGIN_FAILURES_PER_ADDRESS",
        "SIGNUPS_PER_ADDRESS",
        "PASSWORD_HASH_CONCURRENCY",
        "REQUEST_BODY_TIMEOUT_SECONDS",
        "API_MAX_CONNECTIONS",
        "WEBHOOK_ALLOW_PRIVATE",  # which webhook URLs a create accepts
        "TELEGRAM_ENABLED",  # whether a create may name a Telegram chat (not the token itself)
        "TELEGRAM_BOT_TOKEN",  # the same, as before, for whoever gives the API the token
    }
)
_MATCHER = frozenset(
    {
        "BINANCE_WS_URL",
        "BINANCE_REST_URL",
        "BINANCE_REST_WEIGHT_PER_MINUTE",
        "MATCHER_SHARD",
        "MATCHER_METRICS_PORT",
        "MATCHER_HEARTBEAT_SECONDS",
        "MATCHER_REPLICA_TIMEOUT_SECONDS",
        "METRICS_HOST",
    }
)
_NOTIFIER = frozenset(
    {
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_USER",
        "SMTP_PASSWORD",
        "SMTP_FROM",
        "SMTP_TLS",
        "SMTP_CA_FILE",
        "SMTP_POOL_SIZE",
        "SMTP_TIMEOUT_SECONDS",
        "NOTIFIER_PREFETCH",
        "NOTIFIER_RETRY_DELAYS",
        "NOTIFIER_TEMPLATES",
        "NOTIFIER_METRICS_PORT",
        "WEBHOOK_ALLOW_PRIVATE",
        "WEBHOOK_TIMEOUT_SECONDS",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_API_URL",
        "TELEGRAM_MAX_PER_SECOND",
        "METRICS_HOST",
    }
)
# The variables each command reads; any other is ignored by it (its default is kept).
VARIABLES: dict[Service, frozenset[str]] = {
    "migrate": _LOGS | _DATABASE,
    "api": _LOGS | _DATABASE | _API,
    "matcher": _LOGS | _DATABASE | _RABBITMQ | _MATCHER,
    "notifier": _LOGS | _DATABASE | _RABBITMQ | _NOTIFIER,
    "up": _LOGS | _DATABASE | _RABBITMQ | _API | _MATCHER | _NOTIFIER,
}


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


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpSettings:
    """How the notifier reaches its SMTP server (``SMTP_*``); ``host`` None means none is set."""

    host: str | None = None
    port: int = 25  # 465 when tls is "tls" and SMTP_PORT is not set
    user: str | None = None
    password: str | None = None
    sender: str = "pricealert@localhost"
    tls: SmtpTls = "none"
    ca_file: str | None = None  # a PEM bundle to trust instead of the system's CAs
    pool_size: int = 16  # connections kept open, and so mails in flight
    timeout_seconds: float = 15.0  # per SMTP command


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every setting, with its default; ``from_env`` reads the variables the README lists."""

    database_url: str | None = None
    database_pool_size: int = 10
    rabbitmq_url: str = "amqp://guest:guest@localhost:5672/"
    rabbitmq_configured: bool = False
    rabbitmq_queue: str = "price_alerts"
    binance_ws_url: str = "wss://stream.binance.com:9443"
    binance_rest_url: str = "https://api.binance.com"
    smtp: SmtpSettings = SmtpSettings()
    notifier_prefetch: int = 200
    notifier_retry_delays: tuple[float, ...] = (10.0, 60.0, 300.0, 1800.0, 7200.0)
    notifier_templates: str | None = None
    notifier_metrics_port: int | None = None
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = 10.0
    telegram_bot_token: str | None = None
    telegram_enabled: bool = False  # TELEGRAM_ENABLED, by default whether a bot token is set
    telegram_api_url: str = "https://api.telegram.org"
    telegram_max_per_second: float = 25.0
    binance_rest_weight_per_minute: int = 2400
    metrics_host: str = "127.0.0.1"
    jwt_secret: str | None = None
    access_token_ttl_seconds: int = 300
    refresh_token_ttl_seconds: int = 14 * 24 * 3600
    max_live_alerts_per_user: int = 1000
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    login_failures_per_account_address: Rate = Rate(10, 900)
    login_failures_per_address: Rate = Rate(100, 900)
    signups_per_address: Rate = Rate(20, 3600)
    password_hash_concurrency: int | None = None  # None: the CPUs this process may use
    request_body_timeout_seconds: float = 10.0
    api_max_connections: int = 1000  # per API worker
    matcher_shard: Shard = Shard(0, 1)
    matcher_metrics_port: int | None = None
    matcher_heartbeat_seconds: float = 5.0
    matcher_replica_timeout_seconds: float = 30.0
    log_level: LogLevel = "INFO"
    log_format: LogFormat = "json"

    @classmethod
    def from_env(cls, env: Mapping[str, str], service: Service | None = None) -> Settings:
        """Build settings from an environment mapping (``os.environ`` at the entry point);
        an absent variable keeps the field's default. With ``service``, only that service's
        variables (``VARIABLES``) are read; the others keep their defaults."""
        reader = _Reader(env, None if service is None else VARIABLES[service])
        _refuse_placeholder_credentials(reader)
        default = cls()
        return cls(
            database_url=_database_url(reader),
            database_pool_size=reader.integer(
                "DATABASE_POOL_SIZE", default.database_pool_size, minimum=1
            ),
            rabbitmq_url=_rabbitmq_url(reader),
            rabbitmq_configured=bool(reader.get("RABBITMQ_URL") or reader.get("RABBITMQ_HOST")),
            rabbitmq_queue=reader.get("RABBITMQ_QUEUE") or default.rabbitmq_queue,
            binance_ws_url=reader.url("BINANCE_WS_URL", default.binance_ws_url, ("ws", "wss")),
            binance_rest_url=reader.url(
                "BINANCE_REST_URL", default.binance_rest_url, ("http", "https")
            ),
            smtp=_smtp(reader, default.smtp),
            notifier_prefetch=reader.integer(
                "NOTIFIER_PREFETCH", default.notifier_prefetch, minimum=1
            ),
            notifier_retry_delays=reader.seconds_list(
                "NOTIFIER_RETRY_DELAYS", default.notifier_retry_delays
            ),
            notifier_templates=reader.get("NOTIFIER_TEMPLATES"),
            notifier_metrics_port=reader.optional_integer("NOTIFIER_METRICS_PORT", minimum=0),
            webhook_allow_private=reader.boolean(
                "WEBHOOK_ALLOW_PRIVATE", default.webhook_allow_private
            ),
            webhook_timeout_seconds=reader.seconds(
                "WEBHOOK_TIMEOUT_SECONDS", default.webhook_timeout_seconds
            ),
            telegram_bot_token=reader.get("TELEGRAM_BOT_TOKEN"),
            telegram_enabled=reader.boolean(
                "TELEGRAM_ENABLED", reader.get("TELEGRAM_BOT_TOKEN") is not None
            ),
            telegram_api_url=reader.url(
                "TELEGRAM_API_URL", default.telegram_api_url, ("http", "https")
            ),
            telegram_max_per_second=reader.per_second(
                "TELEGRAM_MAX_PER_SECOND", default.telegram_max_per_second
            ),
            binance_rest_weight_per_minute=reader.integer(
                "BINANCE_REST_WEIGHT_PER_MINUTE", default.binance_rest_weight_per_minute, minimum=60
            ),
            metrics_host=reader.get("METRICS_HOST") or default.metrics_host,
            jwt_secret=reader.get("JWT_SECRET"),
            access_token_ttl_seconds=reader.integer(
                "ACCESS_TOKEN_TTL_SECONDS", default.access_token_ttl_seconds, minimum=1
            ),
            refresh_token_ttl_seconds=reader.integer(
                "REFRESH_TOKEN_TTL_SECONDS", default.refresh_token_ttl_seconds, minimum=1
            ),
            max_live_alerts_per_user=reader.integer(
                "MAX_LIVE_ALERTS_PER_USER", default.max_live_alerts_per_user, minimum=1
            ),
            trusted_proxies=reader.networks("TRUSTED_PROXIES"),
            login_failures_per_account_address=reader.rate(
                "LOGIN_FAILURES_PER_ACCOUNT_ADDRESS", default.login_failures_per_account_address
            ),
            login_failures_per_address=reader.rate(
                "LOGIN_FAILURES_PER_ADDRESS", default.login_failures_per_address
            ),
            signups_per_address=reader.rate("SIGNUPS_PER_ADDRESS", default.signups_per_address),
            password_hash_concurrency=reader.optional_integer(
                "PASSWORD_HASH_CONCURRENCY", minimum=1
            ),
            request_body_timeout_seconds=reader.seconds(
                "REQUEST_BODY_TIMEOUT_SECONDS", default.request_body_timeout_seconds
            ),
            api_max_connections=reader.integer(
                "API_MAX_CONNECTIONS", default.api_max_connections, minimum=1
            ),
            matcher_shard=parse_shard(
                reader.get("MATCHER_SHARD") or str(default.matcher_shard), "MATCHER_SHARD"
            ),
            matcher_metrics_port=reader.optional_integer("MATCHER_METRICS_PORT", minimum=0),
            matcher_heartbeat_seconds=reader.seconds(
                "MATCHER_HEARTBEAT_SECONDS", default.matcher_heartbeat_seconds
            ),
            matcher_replica_timeout_seconds=reader.seconds(
                "MATCHER_REPLICA_TIMEOUT_SECONDS", default.matcher_replica_timeout_seconds
            ),
            log_level=reader.choice("LOG_LEVEL", get_args(LogLevel), default.log_level, upper=True),
            log_format=reader.choice("LOG_FORMAT", get_args(LogFormat), default.log_format),
        )

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
_MAX_RUN = 5  # the same character at most this many times in a row


def weak_secret(value: str) -> str | None:
    """Why ``value`` looks like a placeholder rather than a random secret, or None.

    Refused: a placeholder word in it (``change-me``, ``example``, ``secret``...), fewer than
    8 distinct characters, the same character 6 times in a row, or a short pattern repeated
    (``abcabcabc...``). A secret made by ``secrets.token_urlsafe(48)`` passes with a
    probability over 1 - 1e-6."""
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


def _refuse_placeholder_credentials(reader: _Reader) -> None:
    """Passwords and tokens this service reads that are plainly placeholders stop it at
    start, naming the variable: a deployment applied with its example values must not run."""
    candidates: list[tuple[str, str | None]] = [
        ("DATABASE_URL", _url_password(reader.get("DATABASE_URL"))),
        ("DATABASE_SETTINGS__PASSWORD", reader.get("DATABASE_SETTINGS__PASSWORD")),
        ("RABBITMQ_URL", _url_password(reader.get("RABBITMQ_URL"))),
        ("RABBITMQ_PASSWORD", reader.get("RABBITMQ_PASSWORD")),
        ("SMTP_USER", reader.get("SMTP_USER")),
        ("SMTP_PASSWORD", reader.get("SMTP_PASSWORD")),
        ("TELEGRAM_BOT_TOKEN", reader.get("TELEGRAM_BOT_TOKEN")),
    ]
    for name, value in candidates:
        if value is not None and placeholder_password(value):
            raise SettingsError(
                f"{name} holds a placeholder credential ({value!r} is an example value): "
                "give the real one"
            )


def _url_password(url: str | None) -> str | None:
    """The password in a URL (``scheme://user:password@host``) or a libpq ``password=``."""
    if url is None:
        return None
    match = re.search(r"(?:^|\s)password\s*=\s*'?([^'\s]*)", url)
    if "://" not in url:
        return match.group(1) if match else None
    try:
        return unquote(urlsplit(url).password or "") or None
    except ValueError:
        return None


def _smtp(reader: _Reader, default: SmtpSettings) -> SmtpSettings:
    tls = reader.choice("SMTP_TLS", get_args(SmtpTls), default.tls)
    return SmtpSettings(
        host=reader.get("SMTP_HOST"),
        port=reader.integer("SMTP_PORT", 465 if tls == "tls" else default.port, minimum=1),
        user=reader.get("SMTP_USER"),
        password=reader.get("SMTP_PASSWORD"),
        sender=reader.get("SMTP_FROM") or default.sender,
        tls=tls,
        ca_file=reader.get("SMTP_CA_FILE"),
        pool_size=reader.integer("SMTP_POOL_SIZE", default.pool_size, minimum=1),
        timeout_seconds=reader.seconds("SMTP_TIMEOUT_SECONDS", default.timeout_seconds),
    )


def parse_shard(text: str, variable: str) -> Shard:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise SettingsError(f"{variable} must look like I/N (for example 0/1 or 2/4), got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or index >= count:
        raise SettingsError(f"{variable} must satisfy 0 <= I < N and N >= 1, got {text!r}")
    return Shard(index, count)


class _Reader:
    """Reads and checks one environment mapping; every failure names its variable."""

    def __init__(self, env: Mapping[str, str], allowed: frozenset[str] | None = None) -> None:
        self._env = env
        self._allowed = allowed  # None: every variable

    def raw(self, name: str) -> str | None:
        """The value as set (not stripped), or None when absent or not this service's."""
        if self._allowed is not None and name not in self._allowed:
            return None
        return self._env.get(name)

    def get(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def integer(self, name: str, default: int, *, minimum: int) -> int:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise SettingsError(f"{name} must be at least {minimum}, got {value}")
        return value

    def choice(
        self, name: str, allowed: tuple[Choice, ...], default: Choice, *, upper: bool = False
    ) -> Choice:
        raw = self.get(name)
        if raw is None:
            return default
        value = raw.upper() if upper else raw.lower()
        for choice in allowed:
            if value == choice:
                return choice
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.get(name)
        if raw is None:
            return default
        value = raw.lower()
        if value in ("true", "1", "yes", "on"):
            return True
        if value in ("false", "0", "no", "off"):
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")

    def seconds(self, name: str, default: float) -> float:
        raw = self.get(name)
        if raw is None:
            return default
        return _positive_seconds(name, raw)

    def per_second(self, name: str, default: float) -> float:
        """A positive rate, such as ``25`` or ``0.5`` a second."""
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number a second, got {raw!r}") from None
        if not 0 < value < 10**6:
            raise SettingsError(f"{name} must be a positive number a second, got {raw!r}")
        return value

    def seconds_list(self, name: str, default: tuple[float, ...]) -> tuple[float, ...]:
        """A comma-separated list of positive seconds; an empty value means none."""
        raw = self.raw(name)
        if raw is None:
            return default
        return tuple(_positive_seconds(name, part) for part in raw.split(",") if part.strip())

    def rate(self, name: str, default: Rate) -> Rate:
        """``COUNT/SECONDS``, such as ``10/900`` for ten in fifteen minutes."""
        raw = self.get(name)
        if raw is None:
            return default
        match = re.fullmatch(r"(\d{1,9})\s*/\s*(\d{1,9}(?:\.\d+)?)", raw)
        if not match or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
            raise SettingsError(
                f"{name} must be COUNT/SECONDS with both positive (for example 10/900), got {raw!r}"
            )
        return Rate(int(match.group(1)), float(match.group(2)))

    def networks(self, name: str) -> tuple[IPv4Network | IPv6Network, ...]:
        """A comma-separated list of addresses or CIDR networks; empty for none."""
        raw = self.get(name)
        if raw is None:
            return ()
        networks = []
        for part in filter(str.strip, raw.split(",")):
            try:
                networks.append(ip_network(part.strip(), strict=False))
            except ValueError:
                raise SettingsError(
                    f"{name} must be addresses or CIDR networks separated by commas "
                    f"(for example 10.0.0.0/8,fd00::/8), got {part.strip()!r}"
                ) from None
        return tuple(networks)

    def optional_integer(self, name: str, *, minimum: int) -> int | None:
        return None if self.get(name) is None else self.integer(name, 0, minimum=minimum)

    def url(self, name: str, default: str, schemes: tuple[str, ...]) -> str:
        raw = self.get(name)
        if raw is None:
            return default
        scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
        if scheme not in schemes:
            raise SettingsError(
                f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}, "
                f"got {raw!r}"
            )
        return raw.rstrip("/")


def _positive_seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw.strip()!r}") from None
    if not 0 < value < 10**7:
        raise SettingsError(f"{name} must be a positive number of seconds, got {raw.strip()!r}")
    return value


def _database_url(reader: _Reader) -> str | None:
    url = reader.get("DATABASE_URL")
    if url is not None:
        if not url.startswith(("postgresql://", "postgres://")) and "=" not in url:
            raise SettingsError(
                "DATABASE_URL must be a libpq URL (postgresql://...) or key=value string, "
                f"got {url!r}"
            )
        return url
    parts = {part: reader.get(f"DATABASE_SETTINGS__{part}") for part in _SEED_DB_PARTS}
    if not any(parts.values()):
        return None
    if not parts["DBNAME"]:
        raise SettingsError(
            "DATABASE_SETTINGS__DBNAME is not set, but other DATABASE_SETTINGS__ variables are"
        )
    port = parts["PORT"] or "5432"
    if not port.isdigit():
        raise SettingsError(f"DATABASE_SETTINGS__PORT must be a port number, got {port!r}")
    credentials = ""
    if parts["USER"]:
        credentials = quote(parts["USER"], safe="")
        if parts["PASSWORD"]:
            credentials += ":" + quote(parts["PASSWORD"], safe="")
        credentials += "@"
    host = parts["HOST"] or "localhost"
    return f"postgresql://{credentials}{host}:{port}/{quote(parts['DBNAME'], safe='')}"


def _rabbitmq_url(reader: _Reader) -> str:
    """RABBITMQ_URL, else one built from RABBITMQ_HOST/PORT/USER/PASSWORD (each defaulting to
    RabbitMQ's own: localhost, 5672, guest, guest)."""
    url = reader.get("RABBITMQ_URL")
    if url is not None:
        if not url.startswith(("amqp://", "amqps://")):
            raise SettingsError(f"RABBITMQ_URL must start with amqp:// or amqps://, got {url!r}")
        return url
    host = reader.get("RABBITMQ_HOST") or "localhost"
    port = reader.integer("RABBITMQ_PORT", 5672, minimum=1)
    user = quote(reader.get("RABBITMQ_USER") or "guest", safe="")
    password = quote(reader.get("RABBITMQ_PASSWORD") or "guest", safe="")
    return f"amqp://{user}:{password}@{host}:{port}/"
