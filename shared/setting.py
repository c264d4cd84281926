"""One setting, declared once: its environment variable, how its text is parsed, its default,
the commands that read it and what it means.

A settings class is a frozen dataclass whose every field is declared by :func:`setting` (one
variable), :func:`group` (a nested settings class, such as the SMTP ones) or :func:`derived` (a
value that no variable of its own sets). From those declarations come the object's values
(:func:`build`), the variables each command reads and the README's table
(:func:`declarations`). ``shared.settings`` holds pricealert's.

A parser gets the variable's text, stripped, and raises :class:`Malformed` saying what is wrong
and what it got; the variable's name is put in front, so that every :class:`SettingsError` is
one line naming its variable. A URL's password is never in such a line
(:func:`without_password`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import Field, dataclass, field, fields
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from shared.errors import SettingsError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
Choice = TypeVar("Choice", bound=str)
Declared = TypeVar("Declared", bound="DataclassInstance")

_SOURCE = "pricealert.setting"  # the key of a field's declaration in its metadata


class Malformed(Exception):
    """A variable's text does not parse: what is wrong with it, without the variable's name."""


class Environment:
    """An environment mapping as one command sees it: only the variables it reads."""

    def __init__(self, environ: Mapping[str, str], readable: Collection[str] | None = None):
        self._environ = environ
        self._readable = readable  # None: every variable

    def text(self, name: str, *, keep_empty: bool = False) -> str | None:
        """The variable's text, stripped; None when it is not set, not this command's, or
        empty (unless ``keep_empty``)."""
        if self._readable is not None and name not in self._readable:
            return None
        value = self._environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value if value or keep_empty else None

    def is_set(self, name: str) -> bool:
        return self.text(name) is not None

    def __getitem__(self, declared: Setting[T]) -> T:
        return declared.value(self)


@dataclass(frozen=True, slots=True)
class Setting(Generic[T]):
    """One environment variable and the value it gives."""

    name: str
    parse: Callable[[str], T]
    default: T
    services: Collection[str]  # the commands that read it
    doc: str
    # The README's default, where the value alone would say too little.
    shown_default: str | None = None
    # The value when the variable is not set, made from others (declared in ``also``).
    unset: Callable[[Environment], T] | None = None
    also: tuple[Setting[Any], ...] = ()
    # What in its text is a password or token (the whole text, or a URL's password).
    credential: Callable[[str], str | None] | None = None
    empty_is_a_value: bool = False  # set but empty is parsed (a list: none), not the default

    def value(self, env: Environment) -> T:
        text = env.text(self.name, keep_empty=self.empty_is_a_value)
        if text is None:
            return self.default if self.unset is None else self.unset(env)
        return parsed(self.name, self.parse, text)

    def declarations(self) -> Iterator[Setting[Any]]:
        yield self
        yield from self.also


def parsed(name: str, parse: Callable[[str], T], text: str) -> T:
    """``parse(text)``, or a one-line SettingsError naming ``name``."""
    try:
        return parse(text)
    except Malformed as problem:
        raise SettingsError(f"{name} {problem}") from None


class _Source(Protocol):
    def value(self, env: Environment) -> Any: ...

    def declarations(self) -> Iterator[Setting[Any]]: ...


@dataclass(frozen=True, slots=True)
class _Group:
    cls: type[DataclassInstance]

    def value(self, env: Environment) -> DataclassInstance:
        return build(self.cls, env)

    def declarations(self) -> Iterator[Setting[Any]]:
        return declarations(self.cls)


@dataclass(frozen=True, slots=True)
class _Derived:
    make: Callable[[Environment], Any]

    def value(self, env: Environment) -> Any:
        return self.make(env)

    def declarations(self) -> Iterator[Setting[Any]]:
        return iter(())


def _declared(default: T, source: _Source) -> T:
    return field(default=default, metadata={_SOURCE: source})


def setting(
    name: str,
    parse: Callable[[str], T],
    default: T,
    services: Collection[str],
    doc: str,
    *,
    shown_default: str | None = None,
    unset: Callable[[Environment], T] | None = None,
    also: tuple[Setting[Any], ...] = (),
    credential: Callable[[str], str | None] | None = None,
    empty_is_a_value: bool = False,
) -> T:
    """A field read from the variable ``name`` (see :class:`Setting`)."""
    declared = Setting(
        name,
        parse,
        default,
        services,
        doc,
        shown_default=shown_default,
        unset=unset,
        also=also,
        credential=credential,
        empty_is_a_value=empty_is_a_value,
    )
    return field_of(declared)


def field_of(declared: Setting[T]) -> T:
    """A field read from ``declared``: for a declaration made apart because another reads it
    (``SMTP_PORT``'s default depends on ``SMTP_TLS``)."""
    return _declared(declared.default, declared)


def group(cls: type[Declared]) -> Declared:
    """A field holding a nested settings class, read with the rest."""
    return _declared(cls(), _Group(cls))


def derived(default: T, make: Callable[[Environment], T]) -> T:
    """A field no variable of its own sets: ``make`` reads it from others."""
    return _declared(default, _Derived(make))


def build(cls: type[Declared], env: Environment) -> Declared:
    """An instance of ``cls`` with each declared field read from ``env``."""
    return cls(**{f.name: f.metadata[_SOURCE].value(env) for f in _fields(cls)})


def declarations(cls: type[DataclassInstance]) -> Iterator[Setting[Any]]:
    """Every variable ``cls`` reads, in the order of its fields."""
    for f in _fields(cls):
        yield from f.metadata[_SOURCE].declarations()


def _fields(cls: type[DataclassInstance]) -> Iterator[Field[Any]]:
    return (f for f in fields(cls) if _SOURCE in f.metadata)


def shown(value: object) -> str:
    """A default as the README shows it: ``none``, a number, or code."""
    if value is None or value == ():
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return f"`{','.join(f'{part:g}' for part in value)}`"
    return f"`{value}`"


# Parsers: each takes the stripped text and returns the value or raises Malformed.


def text(raw: str) -> str:
    return raw


def whole(minimum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise Malformed(f"must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise Malformed(f"must be at least {minimum}, got {value}")
        return value

    return parse


def port(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise Malformed(f"must be a port number (1 to 65535), got {raw!r}")
    return int(raw)


def boolean(raw: str) -> bool:
    value = raw.lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise Malformed(f"must be true or false, got {raw!r}")


def choice(allowed: tuple[Choice, ...], *, upper: bool = False) -> Callable[[str], Choice]:
    """One of ``allowed``, in any case."""

    def parse(raw: str) -> Choice:
        value = raw.upper() if upper else raw.lower()
        for one in allowed:
            if value == one:
                return one
        raise Malformed(f"must be one of {', '.join(allowed)}, got {raw!r}")

    return parse


def positive(unit: str, below: float) -> Callable[[str], float]:
    """A number over 0 and under ``below``, ``unit`` saying of what (``of seconds``)."""

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise Malformed(f"must be a number {unit}, got {raw!r}") from None
        if not 0 < value < below:
            raise Malformed(f"must be a positive number {unit}, got {raw!r}")
        return value

    return parse


seconds = positive("of seconds", 10**7)
per_second = positive("a second", 10**6)  # a rate, such as 25 or 0.5 a second


def seconds_list(raw: str) -> tuple[float, ...]:
    """Positive seconds separated by commas; empty for none."""
    return tuple(seconds(part.strip()) for part in raw.split(",") if part.strip())


def networks(raw: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """Addresses or CIDR networks separated by commas; empty for none."""
    found = []
    for part in filter(None, map(str.strip, raw.split(","))):
        try:
            found.append(ip_network(part, strict=False))
        except ValueError:
            raise Malformed(
                "must be addresses or CIDR networks separated by commas "
                f"(for example 10.0.0.0/8,fd00::/8), got {part!r}"
            ) from None
    return tuple(found)


def url(*schemes: str) -> Callable[[str], str]:
    """A URL of one of ``schemes``, as given."""

    def parse(raw: str) -> str:
        check_url(raw, schemes)
        return raw

    return parse


def base_url(*schemes: str) -> Callable[[str], str]:
    """A URL of one of ``schemes`` that paths are appended to: without its trailing slash."""
    parse = url(*schemes)
    return lambda raw: parse(raw).rstrip("/")


# host, [IPv6], host:port or [IPv6]:port
_HOST_AND_PORT = re.compile(r"(?:\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>\d{0,5}))?")


def check_url(raw: str, schemes: tuple[str, ...], what: str | None = None) -> None:
    """Refuse ``raw`` unless it is a URL of one of ``schemes`` whose hosts' ports (libpq's
    ``host1:port1,host2:port2`` too) are port numbers. ``what`` says what it must be."""
    scheme, separator, _ = raw.partition("://")
    if not separator or scheme.lower() not in schemes:
        must = what or f"a URL starting with {' or '.join(s + '://' for s in schemes)}"
        raise Malformed(f"must be {must}, got {without_password(raw)!r}")
    try:
        netloc = urlsplit(raw).netloc
    except ValueError:  # an unclosed [ of an IPv6 address
        raise Malformed(f"is not a well-formed URL, got {without_password(raw)!r}") from None
    for host in netloc.rpartition("@")[2].split(","):
        match = _HOST_AND_PORT.fullmatch(host)
        if not match or int(match["port"] or 1) > 65535:
            raise Malformed(
                f"must have a port number after its host, got {without_password(raw)!r}"
            )


# The user information of a URL, to its last @ (a password with an unescaped @ in it included):
# after "scheme:/" or "scheme://", else from the start, so that "user:pass@host" loses it too.
_USERINFO = re.compile(
    r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*:/+)|(?![A-Za-z][A-Za-z0-9+.-]*:/))(?P<user>[^:]*):.*@",
    re.DOTALL,
)
# libpq's key=value password, and a password in a query string.
_KEYWORD_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('[^']*'|\S*)")


def without_password(value: str) -> str:
    """``value`` with the password of a URL (``scheme://user:password@host``) or of a libpq
    ``password=`` replaced by ``***``; when in doubt, more is hidden rather than less."""
    value = _KEYWORD_PASSWORD.sub(r"\1***", value)
    return _USERINFO.sub(r"\g<scheme>\g<user>:***@", value, count=1)
