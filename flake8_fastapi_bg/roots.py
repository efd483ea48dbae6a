"""Where a linted file's project is: its source roots, found from the file system alone.

A project is found from a linted file: the chain of `__init__.py` packages above it, and the
nearest directory with a project marker (pyproject.toml, setup.cfg, setup.py, .git), with its
`src/` folder if there is one. Those directories are the project's source roots, in priority
order. This module imports nothing heavy: the persistent cache (`cache.py`) asks it where a
file's project and cache are without loading the analysis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

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
