"""Reading deploy/compose.yaml as compose reads it, and the root .dockerignore as Docker does, far
enough for the tests: variable interpolation (the Compose Specification's ``${VAR}``,
``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}``, ``$$``), YAML merge
keys (PyYAML's loader does those), and ``.dockerignore``'s last-match-wins patterns."""

from __future__ import annotations

import fnmatch
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
# What an operator puts in deploy/.env, random as deploy/env.example makes them: the services
# refuse placeholder-looking secrets.
SECRETS = {
    name: secrets.token_hex(32) for name in ("JWT_SECRET", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD")
}

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    """A required variable is unset (or empty, with ``:?``): compose refuses to start."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        value = env.get(name)
        op, arg = match["op"], match["arg"] or ""
        missing = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in (":-", "-"):
            return arg if missing else str(value)
        if op in (":?", "?"):
            if missing:
                raise InterpolationError(f"{name}: {arg}")
            return str(value)
        return "" if value is None else value

    return _VARIABLE.sub(one, text)


def _interpolated(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolated(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolated(value, env) for key, value in node.items()}
    return node


def raw_compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def load_compose(env: Mapping[str, str]) -> dict[str, Any]:
    """compose.yaml with its variables taken from ``env``, as ``docker compose config`` gives
    it (extension fields ``x-*`` dropped, as compose does once they are merged)."""
    compose = _interpolated(raw_compose(), env)
    assert isinstance(compose, dict)
    return {key: value for key, value in compose.items() if not key.startswith("x-")}


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as the process gets it: a mapping of strings."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}


def seconds(duration: str) -> float:
    """A compose duration (``1m30s``, ``45s``, ``500ms``) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert "".join(a + b for a, b in parts) == duration, duration
    return sum(float(amount) * units[unit] for amount, unit in parts)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether ``path`` (relative, with ``/``) stays out of the build context: the last pattern
    that matches it or one of its parent folders decides, ``!`` re-including."""
    parents = [path]
    while "/" in parents[-1]:
        parents.append(parents[-1].rsplit("/", 1)[0])
    ignored = False
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        pattern = pattern.strip("/")
        if any(_matches(candidate, pattern) for candidate in parents):
            ignored = not negated
    return ignored


def _matches(path: str, pattern: str) -> bool:
    if pattern == "**":
        return True
    if pattern.startswith("**/"):
        rest = pattern[3:]
        parts = path.split("/")
        return any(fnmatch.fnmatchcase("/".join(parts[i:]), rest) for i in range(len(parts)))
    return fnmatch.fnmatchcase(path, pattern) and path.count("/") == pattern.count("/")


def dockerignore_patterns(root: Path) -> list[str]:
    lines = (root / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
