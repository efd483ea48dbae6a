"""Where a linted file's project is: its source roots, found from the file system alone.

A project is found from a linted file: the chain of `__init__.py` packages above it, and the
nearest directory with a project marker (pyproject.toml, setup.cfg, setup.py, .git), with its
`src/` folder if there is one. Those directories are the project's source roots, in priority
order. This module imports nothing heavy: the persistent cache (`cache.py`) asks it where a
file's project and cache are without loading the analysis.

`project_files` is the one walk over the project's files for the project-wide scans (the
`deps.SCANNERS`), with the one list of folders that hold no project code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Optional, Set, Tuple

from . import deps

MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")
_MAX_PACKAGE_DEPTH = 16


def package_root(directory: Path) -> Path:
    """The directory above the topmost `__init__.py` package that contains `directory`.

    A folder without `__init__.py` inside a package (an implicit namespace subpackage:
    `app/` package, `app/features/` folder, `app/features/x.py`) does not end the chain:
    the modules are still imported as `app.features.x`. The walk stops at the project's
    marker directory (`pyproject.toml`, `.git`, ...)."""
    top = current = directory
    for _ in range(_MAX_PACKAGE_DEPTH):
        if (current / "__init__.py").is_file():
            top = current.parent
        if current.parent == current or any((current / marker).exists() for marker in MARKERS):
            break
        current = current.parent
    return top


def marker_root(directory: Path) -> Optional[Path]:
    """The nearest directory at or above `directory` with a project marker."""
    for candidate in (directory, *directory.parents):
        if any((candidate / marker).exists() for marker in MARKERS):
            return candidate
    return None


def is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def roots_for(directory: Path) -> Tuple[Path, ...]:
    """Roots in priority order: the top of a real package chain, the project's `src/` and
    marker directory, then — for a loose script, outside any package — its own directory."""
    roots = []
    top = package_root(directory)
    if top != directory:
        roots.append(top)
    marker = marker_root(directory)
    if marker is not None:
        for extra in (marker / "src", marker):
            if extra.is_dir() and extra not in roots and is_within(directory, extra):
                roots.append(extra)
    if top == directory and directory not in roots:
        roots.append(directory)  # a loose script imports its neighbours by name
    return tuple(roots)


def directory_of(path: Path) -> Path:
    """The absolute directory of a linted file, as the engine locates its project."""
    try:
        return path.resolve().parent if path.exists() else path.absolute().parent
    except (OSError, RuntimeError):  # symlink loops
        return Path.cwd()


# Folders that hold no project code: environments, installed packages, build output, caches.
# Also skipped: every folder whose name starts with "." (`.git`, `.venv`, `.tox`, tools'
# caches) and a virtual environment under any name (a folder with a `pyvenv.cfg`).
NOT_PROJECT_DIRS = frozenset({"venv", "env", "site-packages", "node_modules", "__pycache__", "build", "dist"})
# Tests and their data, and test modules: code that runs against the app, not in it.
TEST_DIRS = frozenset({"test", "tests", "testing", "fixtures"})
# A bounded scan stops after this many files or folders (`deps.unsure`: the result is not reused).
MAX_SCANNED_FILES = 5000
MAX_SCANNED_DIRECTORIES = 20000


def _is_test_module(name: str) -> bool:
    """`name` (a file name) is a test module or pytest's configuration."""
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def project_files(roots: Iterable[Path], scanner: str, arg: str = "", *, tests: bool = False,
                  bounded: bool = False) -> Iterator[str]:
    """The `.py` files under the project's source `roots` for the project-wide scan `scanner`
    (of `deps.SCANNERS`, with its `arg`), each once (roots may nest: a marker directory and its
    `src/`), sorted within each folder; the folders listed are recorded for the persistent
    cache (`deps.walk`). The caller records what it takes from each file (`deps.scanned`).

    `tests=True` keeps test folders and modules (a scan for every use of a name must see the
    tests' uses too); otherwise they are skipped (a scan for what the app itself does).
    `bounded=True` stops after `MAX_SCANNED_FILES` files or `MAX_SCANNED_DIRECTORIES` folders,
    for a scan where missing a file can only lose a finding, never make one."""
    seen: Set[str] = set()
    walked: Set[str] = set()  # the roots listed so far: a later root that holds one skips it
    directories = 0
    for root in roots:
        for directory, dirs, files in deps.walk(root, scanner, arg):
            directories += 1
            if bounded and directories > MAX_SCANNED_DIRECTORIES:
                deps.unsure()  # where the scan stops moves as files come and go
                return
            if "pyvenv.cfg" in files:
                dirs[:] = []
                continue
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in NOT_PROJECT_DIRS
                             and (tests or d not in TEST_DIRS)
                             and (not walked or os.path.join(directory, d) not in walked))
            for name in sorted(files):
                if not name.endswith(".py") or (not tests and _is_test_module(name)):
                    continue
                path = os.path.join(directory, name)
                if path in seen:
                    continue
                seen.add(path)
                if bounded and len(seen) > MAX_SCANNED_FILES:
                    deps.unsure()
                    return
                yield path
        walked.add(os.fspath(root))
