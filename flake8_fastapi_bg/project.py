"""The linted project: where its modules live, and each module parsed at most once.

A project is found from a linted file: the chain of `__init__.py` packages above it, and the
nearest directory with a project marker (pyproject.toml, setup.cfg, setup.py, .git), with its
`src/` folder if there is one. Those directories are the project's source roots; a dotted
module name is looked up under each, the linted file's own root first.

Parsing is lazy and cached per process in a bounded LRU: a module that no task reaches is never
parsed, and one that a hundred tasks reach is parsed once. Anything that cannot be read or
parsed is simply absent: unresolved means no finding, never an error.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")
_MAX_MODULE_BYTES = 4 * 1024 * 1024  # larger modules are generated code, not task logic
_CACHE_SIZE = 512

# Counted by tests: the number of libcst parses must equal the files that pass the text test
# plus the distinct project modules their tasks reach.
PARSE_COUNT = 0


def parse(source: "str | bytes") -> cst.Module:
    global PARSE_COUNT
    PARSE_COUNT += 1
    return cst.parse_module(source)


class ModuleInfo:
    """One parsed module of the project, with lazily computed positions and scopes."""

    def __init__(self, name: str, path: Optional[Path], display: str, module: cst.Module,
                 is_package: bool, project: "Project") -> None:
        self.name = name
        self.path = path
        self.display = display
        self.module = module
        self.is_package = is_package
        self.project = project
        self._positions: Optional[Dict[cst.CSTNode, CodeRange]] = None
        self._scope = None

    @property
    def package(self) -> str:
        """The package that relative imports in this module are relative to."""
        if self.is_package:
            return self.name
        return self.name.rpartition(".")[0]

    def position(self, node: cst.CSTNode) -> Tuple[int, int]:
        """(1-based line, 0-based column) of `node`'s start; computed once per module."""
        return self.span(node)[0]

    def span(self, node: cst.CSTNode) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """((line, col), (line, col)) of `node`'s start and end (end exclusive)."""
        if self._positions is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._positions = dict(wrapper.resolve(PositionProvider))
        rng = self._positions.get(node)
        if rng is None:
            return (1, 0), (1, 0)
        return (rng.start.line, rng.start.column), (rng.end.line, rng.end.column)

    @property
    def scope(self):  # -> scopes.ModuleScope (import cycle kept out of module import time)
        if self._scope is None:
            from .scopes import ModuleScope

            self._scope = ModuleScope(self)
        return self._scope

    def __repr__(self) -> str:
        return f"<ModuleInfo {self.name} {self.display}>"


def display_path(path: Path) -> str:
    """A path as a user reads it: relative to the working directory when under it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


class Project:
    """The source roots of one project and its cache of parsed modules."""

    def __init__(self, roots: Tuple[Path, ...]) -> None:
        self.roots = roots
        self._modules: "OrderedDict[str, Optional[ModuleInfo]]" = OrderedDict()

    def module_name_for(self, path: Path) -> Tuple[str, bool]:
        """The dotted name of the file at `path`, and whether it is a package `__init__`.

        Roots are in priority order, so the first one containing the file names it."""
        try:
            path = path.resolve() if path.exists() else path.absolute()
        except (OSError, RuntimeError):
            path = path.absolute()
        parts: Tuple[str, ...] = (path.stem,)
        for root in self.roots:
            try:
                parts = path.relative_to(root).with_suffix("").parts
            except ValueError:
                continue
            break
        is_package = bool(parts) and parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        return ".".join(parts) or path.stem, is_package

    def find(self, name: str) -> Optional[Tuple[Path, bool]]:
        """The file defining module `name`, and whether it is a package, or None."""
        parts = name.split(".")
        if not all(p.isidentifier() for p in parts):
            return None
        for root in self.roots:
            base = root.joinpath(*parts)
            for candidate, is_pkg in ((base / "__init__.py", True), (base.with_suffix(".py"), False),
                                      (base / "__init__.pyi", True), (base.with_suffix(".pyi"), False)):
                if candidate.is_file():
                    return candidate, is_pkg
        return None

    def is_package_dir(self, name: str) -> bool:
        """True for a namespace package: a directory under a root with no `__init__.py`."""
        parts = name.split(".")
        return any(root.joinpath(*parts).is_dir() for root in self.roots)

    def module(self, name: str) -> Optional[ModuleInfo]:
        """The parsed module `name` of this project, parsing it on first use."""
        if name in self._modules:
            self._modules.move_to_end(name)
            return self._modules[name]
        info = self._load(name)
        self._remember(name, info)
        return info

    def adopt(self, name: str, path: Optional[Path], display: str, module: cst.Module,
              is_package: bool) -> ModuleInfo:
        """Register the linted file's own parse so that no task reaching it parses it again."""
        info = ModuleInfo(name, path, display, module, is_package, self)
        self._remember(name, info)
        return info

    def _remember(self, name: str, info: Optional[ModuleInfo]) -> None:
        self._modules[name] = info
        self._modules.move_to_end(name)
        while len(self._modules) > _CACHE_SIZE:
            self._modules.popitem(last=False)

    def _load(self, name: str) -> Optional[ModuleInfo]:
        found = self.find(name)
        if found is None:
            return None
        path, is_package = found
        try:
            if path.stat().st_size > _MAX_MODULE_BYTES:
                return None
            source = path.read_bytes()
            module = parse(source)
        except (OSError, cst.ParserSyntaxError, RecursionError, ValueError, MemoryError):
            return None
        except Exception:  # libcst raises assorted errors on odd input; absence is the answer
            return None
        return ModuleInfo(name, path, display_path(path), module, is_package, self)


def _package_root(directory: Path) -> Path:
    """The directory above the topmost `__init__.py` package that contains `directory`."""
    current = directory
    while (current / "__init__.py").is_file() and current.parent != current:
        current = current.parent
    return current


def _marker_root(directory: Path) -> Optional[Path]:
    for candidate in (directory, *directory.parents):
        if any((candidate / marker).exists() for marker in _MARKERS):
            return candidate
    return None


@lru_cache(maxsize=64)
def _project_for_dir(directory: Path) -> Project:
    """Roots in priority order: the top of a real package chain, the project's `src/` and
    marker directory, then the file's own directory (a loose script)."""
    roots = []
    package_root = _package_root(directory)
    if package_root != directory:
        roots.append(package_root)
    marker = _marker_root(directory)
    if marker is not None:
        for extra in (marker / "src", marker):
            if extra.is_dir() and extra not in roots and _is_within(directory, extra):
                roots.append(extra)
    if directory not in roots:
        roots.append(directory)
    return _project_for_roots(tuple(roots))


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


@lru_cache(maxsize=64)
def _project_for_roots(roots: Tuple[Path, ...]) -> Project:
    return Project(roots)


def project_for(path: Path) -> Project:
    """The project a linted file belongs to (one shared object per set of roots)."""
    try:
        directory = path.resolve().parent if path.exists() else path.absolute().parent
    except (OSError, RuntimeError):  # symlink loops
        directory = Path.cwd()
    return _project_for_dir(directory)


def iter_ancestors(name: str) -> Iterator[str]:
    """`a.b.c` -> `a.b.c`, `a.b`, `a` — longest module prefix first."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        yield ".".join(parts[:end])
