"""The wheel as a user installs it, for the tests that run it (tests/test_wheel.py,
tests/test_compose_like.py): built from a copy of the tree, installed without ``-e`` into a
fresh virtual environment (the ``installed`` fixture of conftest.py does it once a session),
and its processes run from a directory outside the checkout."""

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[1]

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


def wheel_env(**extra: str) -> dict[str, str]:
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
        args, env=wheel_env(), cwd=cwd, capture_output=True, text=True, timeout=timeout
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


def install_wheel(base: Path) -> Installed:
    """Builds the wheel from a copy of the tree under ``base`` and installs it in a new venv."""
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


class Running:
    """A process (``Running.of`` the installed script, or any command with its whole
    environment); its stderr read line by line on a thread, so a test can wait for one line
    with a deadline instead of sleeping."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
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

    @classmethod
    def of(cls, installed: Installed, args: list[str], env: dict[str, str]) -> Running:
        """The installed ``pricealert`` with ``args``, run from outside the checkout."""
        return cls([str(installed.pricealert), *args], wheel_env(**env), installed.elsewhere)

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


def logged(message: str) -> Callable[[str], bool]:
    def matches(line: str) -> bool:
        try:
            entry = json.loads(line)
        except ValueError:
            return False
        return isinstance(entry, dict) and entry.get("message") == message

    return matches


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
