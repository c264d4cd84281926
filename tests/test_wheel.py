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
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import psycopg
import pytest

from tests.conftest import create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]

# The top-level packages the project ships (pricealert/ only once it exists), the package data
# they must carry, and the subcommands of the ``pricealert`` script.
SOURCE_PACKAGES = ("api", "matcher", "notifier", "shared", "pricealert")
PACKAGE_DATA = (("shared/migrations", "*.sql"), ("notifier/templates", "*"))
COMMANDS = ("migrate", "api", "matcher", "notifier", "up")

BUILD_TIMEOUT = 300.0
INSTALL_TIMEOUT = 600.0
RUN_TIMEOUT = 120.0
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0

# Whatever configures pricealert, or points Python at the checkout, is not inherited.
_NOT_INHERITED = (
    "DATABASE",
    "JWT",
    "RABBITMQ",
    "SMTP",
    "PRICEALERT",
    "BINANCE_",
    "MATCHER_",
    "NOTIFIER_",
    "METRICS_",
    "LOG_",
    "PYTHONPATH",
    "PYTHONHOME",
)


def _env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
    return keep | {"LOG_FORMAT": "json", "LOG_LEVEL": "INFO"} | extra


@dataclass(frozen=True, slots=True)
class Installed:
    """The wheel installed in a virtual environment of its own."""

    source: Path  # the copy of the tree the wheel was built from
    venv: Path
    python: Path
    pricealert: Path
    elsewhere: Path  # an empty directory outside the checkout: the cwd of every process


def _check_run(args: list[str], doing: str, timeout: float, cwd: Path) -> None:
    result = subprocess.run(
        args, env=_env(), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        pytest.fail(
            f"{doing} failed ({result.returncode}): {' '.join(args)}\n"
            f"{result.stdout}\n{result.stderr}",
            pytrace=False,
        )


def _copy_of_the_tree(target: Path) -> Path:
    """The files git tracks or would track, and nothing else: a stale ``build/`` directory or
    egg-info in the checkout cannot leak into the wheel."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    for name in os.fsdecode(listed).split("\0"):
        origin = ROOT / name
        if not name or not origin.is_file():  # deleted in the work tree, still in the index
            continue
        copy = target / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, copy)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    assert not base.resolve().is_relative_to(ROOT), "the temporary directory is in the checkout"
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    source = _copy_of_the_tree(base / "source")
    dist = base / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--no-deps"]
    pip_wheel += ["-w", str(dist), str(source)]
    _check_run(pip_wheel, "building the wheel", BUILD_TIMEOUT, base)
    wheels = sorted(dist.glob("pricealert-*.whl"))
    assert len(wheels) == 1, f"expected one pricealert wheel in {dist}: {sorted(dist.iterdir())}"
    venv = base / "venv"
    _check_run([sys.executable, "-m", "venv", str(venv)], "creating the venv", RUN_TIMEOUT, base)
    python = venv / "bin" / "python"
    pip_install = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    _check_run([*pip_install, str(wheels[0])], "installing the wheel", INSTALL_TIMEOUT, base)
    return Installed(source, venv, python, venv / "bin" / "pricealert", elsewhere)


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


class Running:
    """A process of the installed script; its stderr read line by line on a thread, so a test
    can wait for one line with a deadline instead of sleeping."""

    def __init__(self, installed: Installed, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [str(installed.pricealert), *args],
            env=_env(**env),
            cwd=installed.elsewhere,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        self.stdout: list[str] = []
        self._stderr_lines: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr, True)),
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout, False)),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[str], into: list[str], forward: bool) -> None:
        for line in stream:
            into.append(line)
            if forward:
                self._stderr_lines.put(line)
        if forward:
            self._stderr_lines.put(None)

    def output(self) -> str:
        return f"stderr:\n{''.join(self.stderr)}\nstdout:\n{''.join(self.stdout)}"

    def wait_for(self, what: str, matches: Callable[[str], bool], timeout: float) -> str:
        """The first line of stderr that ``matches``; fails with the output so far after
        ``timeout`` seconds or when the process exits first."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._stderr_lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                code = self.process.wait(timeout=STOP_TIMEOUT)
                pytest.fail(f"exited with {code} before {what}\n{self.output()}", pytrace=False)
            if matches(line):
                return line
        pytest.fail(f"no {what} within {timeout:.0f} s\n{self.output()}", pytrace=False)

    def stop(self) -> int:
        """SIGTERM, then the exit code; fails if the process outlives ``STOP_TIMEOUT``."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.close()
            pytest.fail(f"still running {STOP_TIMEOUT:.0f} s after SIGTERM\n{self.output()}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT)
        for reader in self._readers:
            reader.join(timeout=STOP_TIMEOUT)
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()


def _logged(message: str) -> Callable[[str], bool]:
    def matches(line: str) -> bool:
        try:
            entry = json.loads(line)
        except ValueError:
            return False
        return isinstance(entry, dict) and entry.get("message") == message

    return matches


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_installed_matcher_gets_ready_on_simulated_prices_and_stops_cleanly_on_sigterm(
    installed: Installed, migrated_database_url: str, rabbitmq_url: str, queue_name: str
) -> None:
    env = {
        "DATABASE_URL": migrated_database_url,
        "RABBITMQ_URL": rabbitmq_url,
        "RABBITMQ_QUEUE": queue_name,
    }
    matcher = Running(installed, ["matcher", "--simulate"], env)
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
    up = Running(installed, args, {"DATABASE_URL": migrated_database_url})
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
