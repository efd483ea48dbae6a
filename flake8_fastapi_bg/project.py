"""The linted project: where its modules live, and each module parsed at most once.

A project is found from a linted file: the chain of `__init__.py` packages above it, and the
nearest directory with a project marker (pyproject.toml, setup.cfg, setup.py, .git), with its
`src/` folder if there is one. Those directories are the project's source roots; a dotted
module name is looked up under each, the linted file's own root first.

Parsing is lazy and cached per process in a bounded LRU: a module that no task reaches is never
parsed, and one that a hundred tasks reach is parsed once. Anything that cannot be read or
parsed is simply absent: unresolved means no finding, never an error.

How modules are parsed is `parsing.py` (a module parsed whole, positions) and `slicing.py`
(a module summarised with `ast` and parsed by libcst a statement group at a time).
"""

from __future__ import annotations

import ast
import os
import re
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple, TypeVar

import libcst as cst

from . import deps
from .parsing import ModuleInfo, decode_source, parse, parse_is_bounded
from .prefilter import may_schedule_tasks
from .roots import directory_of, project_files, roots_for
from .slicing import SlicedModuleInfo

_MAX_MODULE_BYTES = 4 * 1024 * 1024  # larger modules are generated code, not task logic
_CACHE_SIZE = 512  # parsed modules kept per project
_ABSENT_SIZE = 8192  # names known not to be project modules
_TEXTS_SIZE = 64  # module texts kept for `Project.leads_to_tasks`

K = TypeVar("K")
V = TypeVar("V")


def _words(text: str, name: str) -> Iterator[int]:
    """Where `name` occurs in `text` as a whole word (an identifier, not part of one)."""
    start = 0
    while True:
        at = text.find(name, start)
        if at < 0:
            return
        start = at + len(name)
        if not ((at and (text[at - 1].isalnum() or text[at - 1] == "_"))
                or (start < len(text) and (text[start].isalnum() or text[start] == "_"))):
            yield at


def _imports_name(text: str, name: str) -> bool:
    """`name` follows `import` on its line or in a parenthesised import list somewhere in
    `text` (a cheap over-approximation of "text imports name")."""
    for at in _words(text, name):
        keyword = text.rfind("import", 0, at)
        if keyword < 0:
            return False
        between = text[keyword:at]
        if "\n" not in between or ("(" in between and ")" not in between):
            return True
    return False


_STATE_ASSIGNMENT = re.compile(r"\.state\.(\w+)\s*(?::[^=\n]*)?=(?!=)")


def state_facts(arg: str, path: str) -> str:
    """What `Project.state_setters` takes from the file at `path`: the attributes `x` it assigns
    as `<y>.state.x = ...`, comma-separated, sorted (a scanner of `deps.SCANNERS`)."""
    try:
        data = deps.read(path, _MAX_MODULE_BYTES, record=False)
    except OSError:
        return ""
    text = data.decode("latin-1") if data is not None else ""
    if ".state." not in text:
        return ""
    return ",".join(sorted(set(_STATE_ASSIGNMENT.findall(text))))


class Skipped(NamedTuple):
    """A project module left unanalysed by a bound on the work per module (FBG903 names it
    when a task needs it): where it is, as shown, and why."""

    path: Path
    display: str
    reason: str


TOO_DEEP = "nested too deeply for Python's parser"
TOO_LARGE = f"larger than {_MAX_MODULE_BYTES // (1024 * 1024)} MiB"


def _gave_up_on_nesting(error: BaseException) -> bool:
    """Python's parser rejected valid code for its depth (not a syntax error of the module)."""
    return isinstance(error, (RecursionError, MemoryError)) \
        or isinstance(error, SyntaxError) and "nested" in (error.msg or "")


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
        self._root_names = [str(root) for root in roots]
        self._modules: "OrderedDict[str, ModuleInfo]" = OrderedDict()
        self._absent: "OrderedDict[str, deps.Deps]" = OrderedDict()
        self._found: "OrderedDict[str, Tuple[Optional[Tuple[Path, bool]], deps.Deps]]" = OrderedDict()
        # For `leads_to_tasks`: answers, and what it read of modules (few texts are kept).
        # Each memo keeps the file-system dependencies it was computed with (`deps`), handed to
        # every linted file that uses it.
        self._leads: "OrderedDict[Tuple[str, Optional[str]], Tuple[bool, deps.Deps]]" = OrderedDict()
        self._words: "OrderedDict[str, Tuple[Optional[bool], bool, deps.Deps]]" = OrderedDict()
        self._texts: "OrderedDict[str, Tuple[Optional[str], deps.Deps]]" = OrderedDict()
        self._state: Optional[Dict[str, List[str]]] = None  # attr -> modules setting app.state.attr
        # Modules left unanalysed by a bound on the work per module (nested too deep for a
        # bounded parse, `parsing.parse_is_bounded`, or over `_MAX_MODULE_BYTES`); unreadable
        # and broken modules are not here: Python could not import them either.
        self.skipped: Dict[str, Skipped] = {}
        self._state_deps: deps.Deps = {}
        self._loaded_from: Dict[str, deps.Deps] = {}  # what loading each cached module read

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
        """The file defining module `name`, and whether it is a package, or None.

        Memoised per name (the same module is asked for by loads, the text test and the
        library-callee test): each answer keeps the probes it was found with, replayed into
        whoever asks again, so that a module looked for and not found is a dependency of every
        file that asked (a new file there invalidates it)."""
        return _recorded(self._found, name, lambda: self._find(name))

    def _find(self, name: str) -> Optional[Tuple[Path, bool]]:
        parts = name.split(".")
        if not all(p.isidentifier() for p in parts):
            return None
        # Asked for every dotted name the evaluator meets, library names included: the paths
        # are joined as strings, and only the one found becomes a `Path`.
        join = os.path.join
        for root in self._root_names:
            base = join(root, *parts)
            for candidate, is_pkg in ((join(base, "__init__.py"), True), (base + ".py", False),
                                      (join(base, "__init__.pyi"), True), (base + ".pyi", False)):
                if deps.is_file(candidate):
                    return Path(candidate), is_pkg
        return None

    def leads_to_tasks(self, module: str, attr: Optional[str], depth: int = 0) -> bool:
        """`attr` imported from project module `module` (the module itself for None) may hold,
        forward or produce tasks: that module's text passes the text test, or it re-exports
        `attr` from one that does (followed three imports deep). False outside the project.
        Cached: the linted files of a package import the same names. A "no" reached inside
        a chain may only be the depth limit, so only the first question's "no" is kept."""
        return _recorded(self._leads, (module, attr), lambda: self._leads_uncached(module, attr, depth),
                         keep=lambda found: found or depth == 0)

    def _leads_uncached(self, module: str, attr: Optional[str], depth: int) -> bool:
        passes, has_submodules = self._words_of(module)
        if attr is not None and has_submodules:
            inner, _ = self._words_of(f"{module}.{attr}")
            if inner is not None:  # `from app import deps`: a module
                module, passes, attr = f"{module}.{attr}", inner, None
        if passes is None:
            return False
        if passes:
            return True
        if attr is None or depth >= 3:
            return False
        text = self._text_of(module)
        if text is None or ("import *" not in text and not _imports_name(text, attr)):
            return False  # defined there, in a module without task words
        info = self.module(module)
        if info is None:
            return False
        bindings = info.scope.local(attr)
        if bindings:
            qualname = bindings[-1].qualname if bindings[-1].kind == "import" else None
            if qualname is None or "." not in qualname:
                return False
            base, _, name = qualname.rpartition(".")
            return self.leads_to_tasks(base, name, depth=depth + 1)
        return any(self.leads_to_tasks(source, attr, depth + 1) for source, _ in info.scope.star_imports)

    def _words_of(self, module: str) -> Tuple[Optional[bool], bool]:
        """Whether project module `module`'s text passes the text test (None: not a project
        module, or unreadable), and whether it may have submodules (a package, or a namespace
        package). Cached; the text itself is kept only in the small `_text_of` cache."""
        memo = self._words.get(module)
        if memo is not None:
            deps.replay(memo[2])
            return memo[0], memo[1]
        deps.frame()
        try:
            where = self.find(module)
            text = self._read(module, where[0] if where is not None else None)
            has_submodules = where[1] if where is not None else self.is_package_dir(module)
        finally:
            used = deps.end_frame()
        found = (None if text is None else may_schedule_tasks(text), has_submodules)
        self._words[module] = (*found, used)
        while len(self._words) > _ABSENT_SIZE:
            self._words.popitem(last=False)
        return found

    def _text_of(self, module: str) -> Optional[str]:
        """The text of project module `module`, None if it is not one or cannot be read."""
        if module in self._texts:
            self._texts.move_to_end(module)
            text, used = self._texts[module]
            deps.replay(used)
            return text
        where = self.find(module)
        return self._read(module, where[0] if where is not None else None)

    def _read(self, module: str, path: Optional[Path]) -> Optional[str]:
        if path is None:  # not a project module: nothing to keep (names of libraries are many)
            return None
        text = None
        deps.frame()
        try:
            self.find(module)  # where it was found is a dependency of the text kept
            data = deps.read(path, _MAX_MODULE_BYTES)
            text = data.decode("latin-1") if data is not None else None  # the test's words are ASCII
        except OSError:
            pass
        finally:
            used = deps.end_frame()
        self._texts[module] = (text, used)
        while len(self._texts) > _TEXTS_SIZE:
            self._texts.popitem(last=False)
        return text

    def state_setters(self, attr: str) -> List[str]:
        """Project modules (not tests) whose text assigns `<x>.state.<attr> = ...`: where an
        app's shared objects are set up (`app.state.llm = ...` in a lifespan). One scan of the
        source roots on the first question, kept for the project's life."""
        if self._state is None:
            state: Dict[str, List[str]] = {}
            deps.frame()
            try:
                # Tests skipped: what a test sets up is not the app's state. Unbounded: a bound
                # (as the closers scan has) would only lose setters; not added, so that no
                # result changes on large trees.
                for path in project_files(self.roots, "state"):
                    status = deps.status_of(path)
                    facts = state_facts("", path)
                    deps.scanned("state", "", path, facts, status)
                    if facts:
                        name, _ = self.module_name_for(Path(path))
                        for found in facts.split(","):
                            state.setdefault(found, []).append(name)
            finally:
                self._state_deps = deps.end_frame()
            self._state = state
        else:
            deps.replay(self._state_deps)
        return self._state.get(attr, [])

    def is_package_dir(self, name: str) -> bool:
        """True for a namespace package: a directory under a root with no `__init__.py`."""
        parts = name.split(".")
        return any(deps.is_dir(root.joinpath(*parts)) for root in self.roots)

    def module(self, name: str) -> Optional[ModuleInfo]:
        """The parsed module `name` of this project, parsing it on first use."""
        info = self._modules.get(name)
        if info is not None:
            return self._reuse(name, info)
        if name in self._absent:
            deps.replay(self._absent[name])
            return None
        deps.frame()
        try:
            info = self._load(name)
        finally:
            used = deps.end_frame()
        if info is None:
            # Names that are not project modules (libraries, attributes) are remembered apart,
            # so that they cannot push parsed modules out of the cache.
            self._absent[name] = used
            while len(self._absent) > _ABSENT_SIZE:
                self._absent.popitem(last=False)
            return None
        deps.touch(info)
        self._remember(name, info, used)
        return info

    def adopt(self, name: str, path: Optional[Path], display: str, module: cst.Module,
              is_package: bool, text: Optional[str] = None) -> ModuleInfo:
        """Register the linted file's own whole parse (a file this Python's `ast` cannot read)
        so that no task reaching it parses it again."""
        info = ModuleInfo(name, path, display, module, is_package, self, text)
        deps.touch(info)
        self._remember(name, info)
        return info

    def adopt_sliced(self, name: str, path: Optional[Path], display: str, text: str, tree: ast.Module,
                     is_package: bool) -> "SlicedModuleInfo":
        """Register the linted file from its `ast` (`tree`, of `text`): libcst nodes are built
        only for the statement groups that may hold a site, and those that a lookup follows."""
        info = SlicedModuleInfo(name, path, display, text, tree, is_package, self, linted=True)
        deps.touch(info)
        self._remember(name, info)
        return info

    def adopt_reached(self, name: str, path: Path, display: str, text: str,
                      is_package: bool) -> Optional[SlicedModuleInfo]:
        """The linted file as the module already loaded for it, when an earlier linted file's
        task reached it: one object serves both roles, so that the file is not summarised,
        built and analysed a second time (`SlicedModuleInfo.serve_as_linted`). Only when the
        host's `text` is the text it was loaded from, at the same place; else None (the
        linted file gets its own object, `adopt_sliced`)."""
        info = self._modules.get(name)
        if not isinstance(info, SlicedModuleInfo) or info.linted or info.path is None \
                or info.display != display or info.is_package != is_package \
                or os.path.abspath(info.path) != os.path.abspath(path) or info.source_text() != text:
            return None
        if not info.serve_as_linted():
            return None
        self._reuse(name, info)  # what it was loaded from is the text linted
        return info

    def _reuse(self, name: str, info: ModuleInfo) -> ModuleInfo:
        """A module kept from earlier used again: the most recently used, and what loading it
        read, and the module itself, are dependencies of whoever asks now."""
        self._modules.move_to_end(name)
        deps.replay(self._loaded_from.get(name))
        deps.touch(info)
        return info

    def _remember(self, name: str, info: ModuleInfo, read: Optional[deps.Deps] = None) -> None:
        """Keep `info`, and what loading it `read` (none for a linted file: the host gave its
        text)."""
        self._absent.pop(name, None)
        self.skipped.pop(name, None)
        self._modules[name] = info
        self._modules.move_to_end(name)
        if read is None:
            self._loaded_from.pop(name, None)
        else:
            self._loaded_from[name] = read
        while len(self._modules) > _CACHE_SIZE:
            evicted, _ = self._modules.popitem(last=False)
            self._loaded_from.pop(evicted, None)

    def _load(self, name: str) -> Optional[ModuleInfo]:
        found = self.find(name)
        if found is None:
            return None
        path, is_package = found
        try:
            source = deps.read(path, _MAX_MODULE_BYTES)
            if source is None:
                self.skipped[name] = Skipped(path, display_path(path), TOO_LARGE)
                return None
            text = decode_source(source)
        except (OSError, SyntaxError, LookupError, ValueError):  # unreadable, bad encoding
            return None
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
            if not parse_is_bounded(text, error):
                if _gave_up_on_nesting(error):  # generated code nested too deep: FBG903 where needed
                    self.skipped[name] = Skipped(path, display_path(path), TOO_DEEP)
                return None  # else a syntax error: absent, like an unreadable module
            tree = None  # newer syntax than this Python reads: parse the whole module instead
        try:
            if tree is not None:
                return SlicedModuleInfo(name, path, display_path(path), text, tree, is_package, self)
            return ModuleInfo(name, path, display_path(path), parse(source), is_package, self)
        except Exception:  # libcst raises assorted errors on odd input; absence is the answer
            return None


def _recorded(memo: "OrderedDict[K, Tuple[V, deps.Deps]]", key: K, compute: Callable[[], V],
              keep: Callable[[V], bool] = lambda value: True) -> V:
    """`compute()`, kept in `memo` under `key` (bounded, oldest out) with what it read of the
    file system, which a later use replays into whoever asks: the file being linted, or an
    enclosing memo. An answer `keep` refuses is given but not kept."""
    kept = memo.get(key)
    if kept is not None:
        deps.replay(kept[1])
        return kept[0]
    deps.frame()
    try:
        value = compute()
    finally:
        used = deps.end_frame()
    if keep(value):
        memo[key] = (value, used)
        while len(memo) > _ABSENT_SIZE:
            memo.popitem(last=False)
    return value


@lru_cache(maxsize=64)
def _project_for_dir(directory: Path) -> Project:
    """The project of the files in `directory` (see `roots.roots_for`)."""
    # Files of one package share one Project, so a module they all reach is parsed once.
    return _project_for_roots(roots_for(directory))


@lru_cache(maxsize=64)
def _project_for_roots(roots: Tuple[Path, ...]) -> Project:
    return Project(roots)


def project_for(path: Path) -> Project:
    """The project a linted file belongs to (one shared object per set of roots)."""
    return _project_for_dir(directory_of(path))


def iter_ancestors(name: str) -> Iterator[str]:
    """`a.b.c` -> `a.b.c`, `a.b`, `a` — longest module prefix first."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        yield ".".join(parts[:end])
