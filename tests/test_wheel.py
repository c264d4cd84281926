"""The wheel as a user installs it: built from a copy of the tree, installed without ``-e`` into
a fresh virtual environment, and run from a directory outside the checkout.

The rest of the suite runs on an editable install, which imports from the source tree and so
cannot see what the packaging leaves out: a subpackage missing from pyproject's package list, a
migration or a mail template not declared as package data. Here every module of the source tree
must import from the installed wheel, and every command must start from the installed script.

Building and installing take 10-90 s (pip's cache makes re-runs quick); they happen once for the
module.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import create_database, drop_database
from tests.wheel import (
    ROOT,
    RUN_TIMEOUT,
    START_TIMEOUT,
    Installed,
    Running,
)
from tests.wheel import free_port as _free_port
from tests.wheel import logged as _logged
from tests.wheel import wheel_env as _env

# The top-level packages the project ships (pricealert/ only once it exists), the package data
# they must carry, and the subcommands of the ``pricealert`` script.
SOURCE_PACKAGES = ("api", "matcher", "notifier", "shared", "pricealert")
PACKAGE_DATA = (("shared/migrations", "*.sql"), ("notifier/templates", "*"))
COMMANDS = ("migrate", "api", "matcher", "notifier", "up")


# Run by the venv's Python in isolated mode (-I: no PYTHONPATH, no cwd on sys.path): the
# top-level packages of the installed distribution, every module found under them, and for each
# of those and of the names given in argv[1] its file or its import error (``__main__`` modules
# are located, not run).
_INVENTORY = """
import importlib, importlib.metadata, importlib.util, json, pkgutil, sys, sysconfig

def load(name):
    try:
        if name.rpartition(".")[2] == "__main__":  # a script: found, never run
            spec = importlib.util.find_spec(name)
            return {"file": spec.origin} if spec else {"error": f"no module named {name!r}"}
        module = importlib.import_module(name)
    except BaseException as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"file": getattr(module, "__file__", None)}

top = set()
for path in importlib.metadata.files("pricealert") or ():
    head = path.parts[0]
    if head == ".." or head.endswith(".dist-info") or head == "__pycache__":
        continue
    if len(path.parts) > 1 and head.isidentifier():
        top.add(head)
    elif head.endswith(".py"):
        top.add(head[:-3])

names = set(top)
for name in sorted(top):
    if "file" in load(name) and hasattr(sys.modules[name], "__path__"):
        path = sys.modules[name].__path__
        # A subpackage that fails to import is listed, not entered; load() reports its error.
        found = pkgutil.walk_packages(path, name + ".", onerror=lambda failed: None)
        names.update(info.name for info in found)

asked = set(json.loads(sys.argv[1]))
print(json.dumps({
    "purelib": sysconfig.get_path("purelib"),
    "top_level": sorted(top),
    "walked": sorted(names),
    "modules": {name: load(name) for name in sorted(names | asked)},
}))
"""


@dataclass(frozen=True, slots=True)
class Inventory:
    purelib: Path
    top_level: list[str]
    walked: list[str]
    modules: dict[str, dict[str, str | None]]


def _source_packages(source: Path) -> list[str]:
    return [name for name in SOURCE_PACKAGES if (source / name / "__init__.py").is_file()]


def _source_modules(source: Path) -> list[str]:
    """Every ``*.py`` module under the source tree's top-level packages, as a dotted name."""
    modules = set()
    for package in _source_packages(source):
        for path in (source / package).rglob("*.py"):
            parts = path.relative_to(source).with_suffix("").parts
            modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(modules)


@pytest.fixture(scope="module")
def inventory(installed: Installed) -> Inventory:
    asked = json.dumps(_source_modules(installed.source))
    result = subprocess.run(
        [str(installed.python), "-I", "-c", _INVENTORY, asked],
        env=_env(),
        cwd=installed.elsewhere,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])  # the last line, whatever imports print
    return Inventory(Path(found["purelib"]), found["top_level"], found["walked"], found["modules"])


def _not_from_the_venv(
    installed: Installed, modules: dict[str, dict[str, str | None]]
) -> dict[str, str]:
    """The modules that failed to import or came from elsewhere than the venv, with why."""
    wrong: dict[str, str] = {}
    venv = installed.venv.resolve()
    for name, found in modules.items():
        file = found.get("file")
        if "error" in found:
            wrong[name] = str(found["error"])
        elif file is None:
            wrong[name] = "no __file__ (a namespace package: is __init__.py shipped?)"
        elif not (path := Path(file).resolve()).is_relative_to(venv) or path.is_relative_to(ROOT):
            wrong[name] = f"imported from {file}, not from {venv}"
    return wrong


def test_every_module_of_the_source_tree_imports_from_the_installed_wheel(
    installed: Installed, inventory: Inventory
) -> None:
    expected = _source_modules(installed.source)
    assert {"api", "matcher", "notifier", "shared"} <= set(expected)
    wrong = _not_from_the_venv(installed, {name: inventory.modules[name] for name in expected})
    assert not wrong, f"modules of the source tree the installed wheel lacks: {wrong}"


def test_every_installed_module_imports_from_the_venv_not_the_checkout(
    installed: Installed, inventory: Inventory
) -> None:
    assert set(_source_packages(installed.source)) <= set(inventory.top_level)
    walked = {name: inventory.modules[name] for name in inventory.walked}
    wrong = _not_from_the_venv(installed, walked)
    assert not wrong, f"installed modules that do not import from the venv: {wrong}"


@pytest.mark.parametrize(("folder", "pattern"), PACKAGE_DATA)
def test_the_wheel_carries_the_package_data(
    installed: Installed, inventory: Inventory, folder: str, pattern: str
) -> None:
    in_source = sorted(p.name for p in (installed.source / folder).glob(pattern) if p.is_file())
    assert in_source, f"nothing matches {folder}/{pattern} in the source tree"
    in_venv = sorted(p.name for p in (inventory.purelib / folder).glob(pattern) if p.is_file())
    assert set(in_source) <= set(in_venv), f"{folder}: shipped {in_venv}, source has {in_source}"


def _pricealert(installed: Installed, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(installed.pricealert), *args],
        env=_env(**env),
        cwd=installed.elsewhere,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )


def _listed_commands(help_text: str) -> list[str]:
    """The subcommands ``pricealert --help`` lists under COMMAND (indented by four spaces)."""
    return [
        line.split()[0]
        for line in help_text.splitlines()
        if line.startswith("    ") and not line.startswith("     ")
    ]


def test_every_command_of_the_installed_script_answers_help(installed: Installed) -> None:
    top = _pricealert(installed, "--help")
    assert top.returncode == 0, top.stderr
    listed = _listed_commands(top.stdout)
    assert set(COMMANDS) <= set(listed), top.stdout
    for command in listed:
        result = _pricealert(installed, command, "--help")
        assert result.returncode == 0, f"pricealert {command} --help: {result.stderr}"
        assert result.stdout.startswith(f"usage: pricealert {command}"), result.stdout


def _applied(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        return [f"{version:04d}_{name}.sql" for version, name in rows]


def test_migrate_applies_every_migration_of_the_source_tree(
    installed: Installed, empty_database_url: str
) -> None:
    result = _pricealert(installed, "migrate", DATABASE_URL=empty_database_url)
    assert result.returncode == 0, result.stderr
    shipped = sorted(p.name for p in (installed.source / "shared" / "migrations").glob("*.sql"))
    assert _applied(empty_database_url) == shipped


@pytest.fixture(scope="module")
def migrated_database_url(installed: Installed) -> Iterator[str]:
    """A database of this module's own, migrated by the installed script."""
    url = create_database("pricealert_wheel")
    try:
        result = _pricealert(installed, "migrate", DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
        yield url
    finally:
        drop_database(url)


def test_installed_matcher_gets_ready_on_simulated_prices_and_stops_cleanly_on_sigterm(
    installed: Installed, migrated_database_url: str, rabbitmq_url: str, queue_name: str
) -> None:
    env = {
        "DATABASE_URL": migrated_database_url,
        "RABBITMQ_URL": rabbitmq_url,
        "RABBITMQ_QUEUE": queue_name,
    }
    matcher = Running.of(installed, ["matcher", "--simulate"], env)
    try:
        matcher.wait_for("'matcher ready' log line", _logged("matcher ready"), START_TIMEOUT)
        code = matcher.stop()
    finally:
        matcher.close()
    assert code == 0, matcher.output()


def test_installed_up_serves_health_on_its_stand_ins_and_stops_cleanly_on_sigterm(
    installed: Installed, migrated_database_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    data_dir = tmp_path / "data"
    args = ["up", "--simulate", "--port", str(port), "--data-dir", str(data_dir)]
    up = Running.of(installed, args, {"DATABASE_URL": migrated_database_url})
    try:
        line = up.wait_for(
            "'pricealert is up:' line",
            lambda line: line.startswith("pricealert is up:"),
            START_TIMEOUT,
        )
        assert str(data_dir / "outbox") in line  # SMTP_HOST unset: mails go to the outbox
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        # The web page and its files are package data: served from the installed wheel.
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        script = httpx.get(f"http://127.0.0.1:{port}/static/app.js", timeout=10)
        chart = httpx.get(f"http://127.0.0.1:{port}/static/vendor/uPlot.iife.min.js", timeout=10)
        code = up.stop()
    finally:
        up.close()
    assert health.status_code == 200, health.text
    assert page.status_code == 200
    assert '<script type="module" src="/static/app.js">' in page.text
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert chart.status_code == 200
    assert chart.content.startswith(b"/*! https://github.com/leeoniya/uPlot")
    assert code == 0, up.output()
