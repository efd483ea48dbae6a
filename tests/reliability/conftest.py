"""Shared helpers for the reliability tests: running the real `flake8` and the standalone command
in a subprocess, linting in-process, and parsing `path:line:col: CODE message` output.

Only fixtures live here (no autouse): other test modules of this folder are unaffected.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable, List, Optional, Set, Tuple

import pytest
import support

from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.settings import Settings

Report = Set[Tuple[str, int, int, str]]  # (path, line, col, code); col is 1-based as printed


def run_python(args: List[str], cwd: Path, stdin: str = "",
               timeout: float = 120) -> subprocess.CompletedProcess:
    return support.run_python(*args, cwd=cwd, stdin=stdin, timeout=timeout)


def parse_report(output: str) -> Report:
    """`path:line:col: CODE message` lines -> {(path, line, col, code)}."""
    found = set()
    for line in output.splitlines():
        path, line_no, col, rest = line.split(":", 3)
        found.add((path.removeprefix("./"), int(line_no), int(col), rest.split()[0]))
    return found


def report_lines(output: str, code: str) -> List[str]:
    return [line for line in output.splitlines() if f": {code} " in line]


@pytest.fixture
def python_run() -> Callable[..., subprocess.CompletedProcess]:
    """Run `python ARGS` (this interpreter) in `cwd`."""

    def run(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
        return run_python(list(args), cwd, stdin)

    return run


@pytest.fixture
def flake8_run() -> Callable[..., subprocess.CompletedProcess]:
    """Run the real flake8 (`python -m flake8 ARGS`) in `cwd`."""

    def run(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
        return run_python(["-m", "flake8", *args], cwd, stdin)

    return run


@pytest.fixture
def cli_run() -> Callable[..., subprocess.CompletedProcess]:
    """Run the standalone command (`python -m flake8_fastapi_bg ARGS`) in `cwd`."""

    def run(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
        return run_python(["-m", "flake8_fastapi_bg", *args], cwd, stdin)

    return run


@pytest.fixture
def lint(tmp_path: Path) -> Callable[..., List[Tuple[str, int, int]]]:
    """Lint a source in-process as a file of a fresh project under tmp_path; returns the sorted
    (code, line, col) of the findings, col 0-based as the engine reports it."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'odd'\n")

    def run(source: str, name: str = "odd.py", settings: Optional[Settings] = None,
            messages: Optional[list] = None) -> List[Tuple[str, int, int]]:
        path = tmp_path / name
        findings = lint_source(name, source, settings or Settings(), path)
        if messages is not None:
            messages.extend(f.message for f in findings)
        return sorted((f.code, f.line, f.col) for f in findings)

    return run


@pytest.fixture
def parse_output() -> Callable[[str], Report]:
    return parse_report
