"""The linted project: where its modules live, and each module parsed at most once.

A project is found from a linted file: the chain of `__init__.py` packages above it, and the
nearest directory with a project marker (pyproject.toml, setup.cfg, setup.py, .git), with its
`src/` folder if there is one. Those directories are the project's source roots; a dotted
module name is looked up under each, the linted file's own root first.

Parsing is lazy and cached per process in a bounded LRU: a module that no task reaches is never
parsed, and one that a hundred tasks reach is parsed once. Anything that cannot be read or
parsed is simply absent: unresolved means no finding, never an error.

Every module is summarised with Python's own `ast` (C speed, a tenth of a libcst parse; for the
linted file, the `ast` flake8 already built), which locates its top-level statements and the
names each one binds (`SlicedModuleInfo`). libcst then parses only the statements that matter,
each once, with positions shifted back to the module's own lines: in the linted file, those
that may hold a task site (`site_groups`); in any module, those that a lookup follows — the
imports of the names used and the definitions called. The linted file is parsed whole only
when this Python's `ast` cannot read it.
"""

from __future__ import annotations

import ast
import io
import os
import re
import tokenize
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, FrozenSet, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from .pragmas import attach_header_comments
from .prefilter import may_schedule_tasks

_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")
_MAX_MODULE_BYTES = 4 * 1024 * 1024  # larger modules are generated code, not task logic
_CACHE_SIZE = 512  # parsed modules kept per project
_ABSENT_SIZE = 8192  # names known not to be project modules
_TEXTS_SIZE = 64  # module texts kept for `Project.leads_to_tasks`

# Counted by tests: the number of modules libcst parses (whole, or some statements of a reached
# module) must equal the files that pass the text test plus the distinct project modules their
# tasks reach. STATEMENT_PARSES counts the statement groups parsed in reached modules.
PARSE_COUNT = 0
STATEMENT_PARSES = 0


def _skip_validation(self: cst.CSTNode) -> None:
    pass


def parse_trusted(source: "str | bytes") -> cst.Module:
    """`cst.parse_module`, without libcst re-validating every node the parser builds.

    Each node's `__post_init__` checks invariants (whitespace shapes, balanced parentheses)
    that parser output holds by construction; on real code that is about 15% of the parse.
    libcst's own comment on `CSTNode.__post_init__` suggests the same. Nodes this package
    builds elsewhere (the fixes) are still validated: the check is off only during the parse,
    and the linter runs one file at a time per process, so no other thread builds nodes then.
    """
    node_class = cst.CSTNode
    validate = node_class.__dict__["__post_init__"]
    node_class.__post_init__ = _skip_validation  # type: ignore[method-assign]
    try:
        return cst.parse_module(source)
    finally:
        node_class.__post_init__ = validate  # type: ignore[method-assign]


def parse(source: "str | bytes") -> cst.Module:
    global PARSE_COUNT
    PARSE_COUNT += 1
    return attach_header_comments(parse_trusted(source))


class ModuleInfo:
    """One parsed module of the project, with lazily computed positions and scopes."""

    def __init__(self, name: str, path: Optional[Path], display: str, module: cst.Module,
                 is_package: bool, project: "Project", text: Optional[str] = None) -> None:
        self.name = name
        self.path = path
        self.display = display
        self._module = module
        self.is_package = is_package
        self.project = project
        # Only `:=` binds a name inside an expression; without one the binder skips expressions.
        self.has_walrus = text is None or ":=" in text
        self._positions: Optional[Dict[cst.CSTNode, CodeRange]] = None
        self._scope = None

    @property
    def module(self) -> cst.Module:
        return self._module

    @property
    def package(self) -> str:
        """The package that relative imports in this module are relative to."""
        if self.is_package:
            return self.name
        return self.name.rpartition(".")[0]

    def position(self, node: cst.CSTNode, scope=None) -> Tuple[int, int]:
        """(1-based line, 0-based column) of `node`'s start; computed on first need.

        `scope` (a `scopes.Scope` of this module that holds `node`) is a hint: a module parsed
        a statement group at a time (`SlicedModuleInfo`) renders only the group it names. A
        wrong or useless hint costs a render of every parsed group."""
        return self.span(node, scope)[0]

    def span(self, node: cst.CSTNode, scope=None) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """((line, col), (line, col)) of `node`'s start and end (end exclusive), as libcst
        computes them: by generating the code of the module, or of the group that holds it."""
        rng = self._range(node, _top_node(scope, self))
        if rng is None:
            return (1, 0), (1, 0)
        return (rng.start.line, rng.start.column), (rng.end.line, rng.end.column)

    def _range(self, node: cst.CSTNode, top: Optional[cst.CSTNode] = None) -> Optional[CodeRange]:
        # A module parsed whole: only a file this Python's `ast` cannot read.
        if self._positions is None:
            self._positions = dict(_positions_of(self.module))
        return self._positions.get(node)

    def site_statements(self) -> Iterator[cst.BaseStatement]:
        """The top-level statements that may hold a task site, parsed as they are needed: here
        all of them (a module parsed whole); `SlicedModuleInfo` gives those of `site_groups`."""
        return iter(self.module.body)

    def part_of(self, node: cst.CSTNode) -> Tuple[cst.Module, int]:
        """A module whose code holds `node` as written, and how many lines of this module come
        before that code: here the whole module (`SlicedModuleInfo` gives one group)."""
        return self.module, 0

    def unstub(self, node: cst.CSTNode) -> cst.CSTNode:
        """The node to analyse for `node` (see `SlicedModuleInfo.unstub`)."""
        return node

    def may_assign_attr(self, node: cst.CSTNode, attr: str) -> bool:
        """False when the method `node` certainly assigns no attribute named `attr`."""
        return True

    def statements_assigning(self, pattern: "re.Pattern[str]") -> List[cst.BaseStatement]:
        """Top-level statements whose text matches `pattern` (`SlicedModuleInfo`: only those
        groups are parsed)."""
        return [s for s in self.module.body if pattern.search(self.module.code_for_node(s))]

    def global_setters(self, name: str) -> List[cst.FunctionDef]:
        """Top-level functions that may declare `name` global (startup hooks, lazy getters)."""
        pattern = re.compile(rf"^[ \t]*global\b[^\n]*\b{re.escape(name)}\b", re.M)
        return [s for s in self.statements_assigning(pattern) if isinstance(s, cst.FunctionDef)]

    @property
    def scope(self):  # -> scopes.ModuleScope (import cycle kept out of module import time)
        if self._scope is None:
            from .scopes import ModuleScope

            self._scope = ModuleScope(self)
        return self._scope

    def __repr__(self) -> str:
        return f"<ModuleInfo {self.name} {self.display}>"


def _top_node(scope, module: ModuleInfo) -> Optional[cst.CSTNode]:
    """The node of the outermost def or class around `scope` (a `scopes.Scope` of `module`):
    a top-level statement of the module unless that def sits in an `if` or `try`."""
    if scope is None or scope.module is not module or scope.parent is None:
        return None
    while scope.parent.parent is not None:
        scope = scope.parent
    return scope.node


def _positions_of(module: cst.Module) -> Mapping[cst.CSTNode, CodeRange]:
    """libcst's positions of every node of `module`, counted from its own first line.

    PositionProvider's own code generation, run directly: through `MetadataWrapper`, a
    resolve also walks the whole tree once more with libcst's rebuilding visitor, for batched
    providers that are not there; that walk cost as much as the positions. The tests compare
    both ways on real code; a libcst whose provider is built otherwise takes the wrapper."""
    provider = PositionProvider()
    try:
        provider._computed = {}
        provider._gen_impl(module)
        found = provider._computed
    except Exception:
        found = None
    if not isinstance(found, dict) or (module.body and module.body[0] not in found):
        return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return found


def _shift_into(positions: Dict[cst.CSTNode, CodeRange], found: Mapping[cst.CSTNode, CodeRange],
                shift: int) -> None:
    """Add `found` to `positions`, `shift` lines further down."""
    for inner, where in found.items():
        positions[inner] = CodeRange((where.start.line + shift, where.start.column),  # type: ignore[arg-type]
                                     (where.end.line + shift, where.end.column))  # type: ignore[arg-type]


_IDENTIFIER = re.compile(r"\w+")


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")  # Python's own line breaks only


class SlicedModuleInfo(ModuleInfo):
    """A module a task reaches, summarised from `ast` and parsed by libcst a statement at a time.

    Top-level statements on overlapping lines form one group, and each group knows the names
    it binds (an over-approximation: a name bound anywhere in it outside nested defs and
    classes). Comment lines directly above a group belong to it, so pragmas above a `def` are
    kept. `statements(i)` parses group i once; `span()` shifts positions to the module's lines.

    A class is parsed with the bodies of its methods left out (`_stub_class`): the lines of
    each body become blank, so every other node keeps its place. A method's body is parsed
    when a scope is made for it (`unstub`): most reached classes are reached for one or two
    methods. `module` assembles the groups as they are parsed, stubs included: the engine
    itself only reads a reached module through its scopes.
    """

    def __init__(self, name: str, path: Optional[Path], display: str, text: str, tree: ast.Module,
                 is_package: bool, project: "Project", linted: bool = False) -> None:
        super().__init__(name, path, display, None, is_package, project)  # type: ignore[arg-type]
        # The linted file: its classes are parsed whole (its site groups are walked, and the
        # per-module checks may read the whole module), and the groups that may hold a site
        # are found from the text (`site_groups`).
        self.linted = linted
        self._lines = _LINE.findall(text)
        self.has_walrus = ":=" in text
        self._groups: List[Tuple[int, int]] = []
        self._binders: Dict[str, List[int]] = {}
        self._stars: List[int] = []
        self._classes: Set[int] = set()  # groups that are one class statement
        self._parsed: Dict[int, cst.Module] = {}
        self._unpositioned: List[int] = []
        self._methods: Dict[int, List[_Method]] = {}  # class groups parsed with stubbed bodies
        self._stubs: Dict[cst.CSTNode, Tuple[int, _Method]] = {}  # stub def -> (group, method)
        self._unstubbed: Dict[cst.CSTNode, cst.FunctionDef] = {}
        self._stores: Dict[cst.CSTNode, FrozenSet[str]] = {}  # stub def -> attributes it assigns
        self._pieces: List[Tuple[cst.Module, int, int]] = []  # unpositioned (method, shift, group)
        group_statements: List[List[ast.stmt]] = []
        for start, end, names, star, lone_class, statements in _statement_groups(tree, self._lines):
            index = len(self._groups)
            self._groups.append((start, end))
            group_statements.append(statements)
            for bound in names:
                self._binders.setdefault(bound, []).append(index)
            if star:
                self._stars.append(index)
            if lone_class is not None:
                self._classes.add(index)
                methods = [] if linted else _methods_of(lone_class, self._lines)
                if methods and sum(m.stub_lines for m in methods) >= _MIN_STUB_LINES:
                    self._methods[index] = methods
        self._site_groups = self._find_site_groups(group_statements) if linted else []

    @property
    def module(self) -> cst.Module:
        """The whole module, assembled from its statement groups (parsed as needed)."""
        if self._module is None:
            body = [s for index in range(len(self._groups)) for s in self.statements(index)]
            self._module = cst.Module(body=body)
        return self._module

    def site_statements(self) -> Iterator[cst.BaseStatement]:
        return (statement for index in self._site_groups for statement in self.statements(index))

    def site_groups(self) -> List[int]:
        """The groups of the linted file that may hold a task site (none for a reached module)."""
        return self._site_groups

    def _find_site_groups(self, statements: List[List[ast.stmt]]) -> List[int]:
        """The groups of the linted file that may hold a task site, in source order: those that
        pass the text test themselves, and, until nothing changes, those that name what such
        a group binds (a helper that calls `add_task`, a dependency returning
        `BackgroundTasks`, an alias) or what the file imports from a project module whose own
        text passes the test (a helper there that forwards tasks). Other imports pass on
        nothing (`from fastapi import APIRouter, BackgroundTasks` passes on `BackgroundTasks`
        alone)."""
        texts = [self._source(start, end) for start, end in self._groups]
        chosen = [may_schedule_tasks(text) for text in texts]
        names: Set[str] = set()
        for index, group in enumerate(statements):
            for statement in group:
                found = self._passed_on(statement, chosen[index])
                if found is None:  # a star import of a module that may define anything
                    return list(range(len(self._groups)))
                names |= found
        known: Set[str] = set()
        idents: Dict[int, Set[str]] = {}  # the words of each group not chosen yet
        while names:
            known |= names
            fresh = []
            for index, text in enumerate(texts):
                if not chosen[index]:
                    words = idents.get(index)
                    if words is None:
                        words = idents[index] = set(_IDENTIFIER.findall(text))
                    if not words.isdisjoint(names):
                        fresh.append(index)
            names = set()
            for index in fresh:
                chosen[index] = True
                for statement in statements[index]:
                    if not isinstance(statement, (ast.Import, ast.ImportFrom)):
                        names |= _bound_names(statement)[0]
            names -= known
        return [i for i, yes in enumerate(chosen) if yes]

    def _passed_on(self, statement: ast.stmt, spells: bool) -> Optional[Set[str]]:
        """The names statement passes on to `site_groups` (None: every group may hold a site).
        `spells`: its group passes the text test."""
        if not spells and isinstance(statement, _BLOCKS):  # `try: from app.jobs import later`
            names: Set[str] = set()
            for block in _blocks_of(statement):
                for inner in block:
                    found = self._passed_on(inner, False)
                    if found is None:
                        return None
                    names |= found
            return names
        if isinstance(statement, ast.Import):
            return {alias.asname or alias.name.split(".")[0] for alias in statement.names
                    if _spells(alias) or self.project.leads_to_tasks(alias.name, None)} \
                or (_bound_names(statement)[0] if spells else set())
        if isinstance(statement, ast.ImportFrom):
            from .scopes import resolve_relative

            base = resolve_relative(self.package, statement.level, statement.module)
            if any(alias.name == "*" for alias in statement.names):
                return None if base is not None and self.project.leads_to_tasks(base, None) else set()
            leads = (lambda name: base is not None and self.project.leads_to_tasks(base, name))
            return {alias.asname or alias.name for alias in statement.names
                    if _spells(alias) or leads(alias.name)} \
                or (_bound_names(statement)[0] if spells else set())  # a comment says what they are
        return _bound_names(statement)[0] if spells else set()

    def part_of(self, node: cst.CSTNode) -> Tuple[cst.Module, int]:
        from .syntax import children

        for index, parsed in self._parsed.items():
            stack: List[cst.CSTNode] = [parsed]
            while stack:
                inner = stack.pop()
                if inner is node:
                    return parsed, self._groups[index][0] - 1
                stack.extend(children(inner))
        raise LookupError("not a node of a parsed statement group")

    def statements_assigning(self, pattern: "re.Pattern[str]") -> List[cst.BaseStatement]:
        found: List[cst.BaseStatement] = []
        for index, (start, end) in enumerate(self._groups):
            if pattern.search(self._source(start, end)):
                found.extend(self.statements(index))
        return found

    def binders(self, name: str) -> List[int]:
        """The groups that may bind `name`, in source order."""
        return self._binders.get(name, [])

    def star_groups(self) -> List[int]:
        return self._stars

    def binds_only_a_class(self, name: str) -> bool:
        """`name` is bound at module level by one `class` statement and nothing else (no other
        binding, no star import): known from the `ast` summary, without a libcst parse."""
        groups = self._binders.get(name, [])
        return len(groups) == 1 and groups[0] in self._classes and not self._stars

    def all_groups(self) -> range:
        return range(len(self._groups))

    def order(self, index: int) -> int:
        """A source-order key of group `index` (its first line)."""
        return self._groups[index][0]

    def statements(self, index: int) -> Sequence[cst.BaseStatement]:
        """The libcst statements of group `index`, parsed on first use."""
        global PARSE_COUNT, STATEMENT_PARSES
        parsed = self._parsed.get(index)
        if parsed is None:
            if not self._parsed:
                PARSE_COUNT += 1  # the module's first statement: one reached module
            STATEMENT_PARSES += 1
            parsed = self._stub_class(index) if index in self._methods else None
            if parsed is None:
                try:
                    parsed = attach_header_comments(parse_trusted(self._source(*self._groups[index])))
                except Exception:  # a statement ast accepts and libcst does not: it binds nothing
                    parsed = cst.Module(body=[])
            self._parsed[index] = parsed
            self._unpositioned.append(index)
        return parsed.body

    def _source(self, start: int, end: int) -> str:
        """The text of lines `start` to `end` (1-based, inclusive)."""
        return "".join(self._lines[start - 1:end])

    def _stub_class(self, index: int) -> Optional[cst.Module]:
        """Class group `index` parsed with its methods' bodies blank but for `...`; None if the
        stubbed text does not give one class with the methods `ast` found."""
        start, end = self._groups[index]
        methods = self._methods[index]
        lines = self._lines[start - 1:end]
        for method in methods:
            if method.stub_lines:
                first = method.body_first - start
                lines[first] = method.indent + "..." + _ending(lines[first])
                for at in range(first + 1, method.end - start + 1):
                    lines[at] = _ending(lines[at])
        try:
            parsed = attach_header_comments(parse_trusted("".join(lines)))
        except Exception:
            return None
        classdef = parsed.body[0] if len(parsed.body) == 1 else None
        if not isinstance(classdef, cst.ClassDef) or not isinstance(classdef.body, cst.IndentedBlock):
            return None
        defs = [s for s in classdef.body.body if isinstance(s, cst.FunctionDef)]
        if [d.name.value for d in defs] != [m.name for m in methods]:
            return None
        for node, method in zip(defs, methods):
            if method.stub_lines:
                self._stubs[node] = (index, method)
        return parsed

    def unstub(self, node: cst.CSTNode) -> cst.CSTNode:
        """The whole `def` of a method parsed as a stub (its body parsed now), else `node`."""
        found = self._stubs.get(node)
        if found is None:
            return node
        full = self._unstubbed.get(node)
        if full is None:
            global STATEMENT_PARSES
            STATEMENT_PARSES += 1
            full = self._unstubbed[node] = self._parse_method(*found)
        return full

    def _parse_method(self, index: int, method: "_Method") -> cst.FunctionDef:
        # After a `class` line of its own, the method keeps its lines' indentation, so its
        # columns are the module's and its lines are off by a known count.
        found: Optional[cst.CSTNode] = None
        try:
            parsed = parse_trusted("class _:\n" + self._source(method.start, method.end))
            found = parsed.body[0].body.body[0]  # type: ignore[attr-defined]
            shift = method.start - 2
        except Exception:
            pass
        if not isinstance(found, cst.FunctionDef) or found.name.value != method.name:
            # Not seen on real code; the whole class parsed before, so take the method from it.
            parsed = parse_trusted(self._source(*self._groups[index]))
            found = [s for s in parsed.body[0].body.body  # type: ignore[attr-defined]
                     if isinstance(s, cst.FunctionDef)][self._methods[index].index(method)]
            shift = self._groups[index][0] - 1
        self._pieces.append((parsed, shift, index))
        return found  # type: ignore[return-value]

    def may_assign_attr(self, node: cst.CSTNode, attr: str) -> bool:
        """False when a stubbed method assigns no attribute named `attr`, so that a class's
        `self.<attr>` is looked up without parsing with libcst the methods that never set it.
        A method whose text never spells `.attr` is out at once; the others are read with
        `ast` (once per method), which is cheap next to libcst."""
        found = self._stubs.get(node)
        if found is None:
            return True
        method = found[1]
        text = self._source(method.start, method.end)
        if re.search(rf"\.[\s\\]*{re.escape(attr)}(?!\w)", text) is None:
            return False
        stores = self._stores.get(node)
        if stores is None:
            try:
                tree = ast.parse("class _:\n" + text)
                stores = frozenset(n.attr for n in ast.walk(tree)
                                   if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store))
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return True
            self._stores[node] = stores
        return attr in stores

    def _range(self, node: cst.CSTNode, top: Optional[cst.CSTNode] = None) -> Optional[CodeRange]:
        if self._positions is None:
            self._positions = {}
        rng = self._positions.get(node)
        if rng is None and top is not None:  # render only the group that holds the hint
            index = next((i for i, parsed in self._parsed.items()
                          if any(statement is top for statement in parsed.body)), None)
            if index is not None:
                self._position(lambda group: group == index)
                rng = self._positions.get(node)
        if rng is None and (self._unpositioned or self._pieces):
            self._position(lambda group: True)
            rng = self._positions.get(node)
        return rng

    def _position(self, wanted: Callable[[int], bool]) -> None:
        """Position the parsed groups that `wanted` selects, and their methods parsed apart."""
        assert self._positions is not None
        for index in [i for i in self._unpositioned if wanted(i)]:
            self._unpositioned.remove(index)
            _shift_into(self._positions, _positions_of(self._parsed[index]), self._groups[index][0] - 1)
        for piece in [p for p in self._pieces if wanted(p[2])]:
            self._pieces.remove(piece)
            _shift_into(self._positions, _positions_of(piece[0]), piece[1])

    @property
    def scope(self):
        if self._scope is None:
            from .scopes import SlicedModuleScope

            self._scope = SlicedModuleScope(self)
        return self._scope


# A class is parsed with stubbed method bodies when that leaves out at least this many lines.
_MIN_STUB_LINES = 8


@dataclass(frozen=True, eq=False)
class _Method:
    """A method of a top-level class, from `ast`: its lines (decorators and the comment lines
    right above included) and where its body starts."""

    name: str
    start: int
    end: int
    body_first: int  # 0: the body starts on a line of the signature, and is never stubbed
    indent: str  # of the body's first line

    @property
    def stub_lines(self) -> int:
        return self.end - self.body_first + 1 if self.body_first else 0


def _methods_of(node: ast.ClassDef, lines: Sequence[str]) -> List[_Method]:
    """The `def` statements directly in a class body, in order."""
    methods = []
    floor = node.body[0].lineno if node.body else node.lineno
    for statement in node.body:
        if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            floor = (statement.end_lineno or statement.lineno) + 1
            continue
        start = min([statement.lineno] + [d.lineno for d in statement.decorator_list])
        first_line = lines[start - 1]
        indent = first_line[:len(first_line) - len(first_line.lstrip(" \t"))]
        while start > floor and lines[start - 2].startswith(indent + "#"):
            start -= 1  # comments right above, at the method's own indentation (pragmas)
        end = statement.end_lineno or statement.lineno
        body = statement.body[0]
        prefix = lines[body.lineno - 1].encode("utf-8")[:body.col_offset].decode("utf-8", "replace")
        own_line = body.lineno > statement.lineno and prefix.strip(" \t") == ""
        methods.append(_Method(statement.name, start, end, body.lineno if own_line else 0,
                               prefix if own_line else ""))
        floor = end + 1
    return methods


def _ending(line: str) -> str:
    """The line break that ends `line` (a blank line in its place)."""
    return line[len(line.rstrip("\r\n")):] or "\n"


def _top_level_runs(tree: ast.Module) -> List[Tuple[int, int, List[ast.stmt]]]:
    """Top-level statements merged when they share lines (`a = 1; b = 2`): (first line,
    decorators included; last line; the statements). libcst makes one statement of each."""
    runs: List[Tuple[int, int, List[ast.stmt]]] = []
    for statement in tree.body:
        start = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", ())])
        end = statement.end_lineno or statement.lineno
        if runs and start <= runs[-1][1]:
            first, last, statements = runs[-1]
            runs[-1] = (first, max(end, last), statements + [statement])
        else:
            runs.append((start, end, [statement]))
    return runs


def _statement_groups(
        tree: ast.Module, lines: Optional[Sequence[str]]
) -> List[Tuple[int, int, Set[str], bool, Optional[ast.ClassDef], List[ast.stmt]]]:
    """The top-level runs with (first line, last line, names bound, star import, the class
    statement if the run is one, its statements). With `lines`, comment lines right above a
    statement join its group."""
    groups: List[Tuple[int, int, Set[str], bool, Optional[ast.ClassDef], List[ast.stmt]]] = []
    for start, end, statements in _top_level_runs(tree):
        names: Set[str] = set()
        star = False
        for statement in statements:
            bound, stars = _bound_names(statement)
            names |= bound
            star = star or stars
        floor = groups[-1][1] + 1 if groups else 1
        while lines is not None and start > floor and lines[start - 2].lstrip().startswith("#"):
            start -= 1  # comments right above belong to the statement (pragmas)
        lone_class = statements[0] if len(statements) == 1 and isinstance(statements[0], ast.ClassDef) \
            else None
        groups.append((start, end, names, star, lone_class, statements))
    return groups


# Top-level statements whose blocks may hold imports of the module (`try`, `if`, `with`).
_BLOCKS = tuple(getattr(ast, kind) for kind in ("If", "Try", "TryStar", "With") if hasattr(ast, kind))


def _blocks_of(statement: ast.stmt) -> Iterator[List[ast.stmt]]:
    for field in ("body", "orelse", "finalbody"):
        block = getattr(statement, field, None)
        if block:
            yield block
    for handler in getattr(statement, "handlers", ()):
        yield handler.body


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


def _spells(alias: ast.alias) -> bool:
    return may_schedule_tasks(alias.name) or may_schedule_tasks(alias.asname or "")


def _bound_names(statement: ast.stmt) -> Tuple[Set[str], bool]:
    """Names a top-level statement may bind at module level, and whether it star-imports."""
    names: Set[str] = set()
    star = False
    stack: List[ast.AST] = [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Import):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
            continue
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    star = True
                else:
                    names.add(alias.asname or alias.name)
            continue
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Store):
                names.add(node.id)
            continue
        if isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        stack.extend(ast.iter_child_nodes(node))
    return names, star


def decode_source(data: bytes) -> str:
    """Source bytes as text, the way Python reads them (coding cookie, BOM)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


_STATE_ASSIGNMENT = re.compile(r"\.state\.(\w+)\s*(?::[^=\n]*)?=(?!=)")
_NOT_APP_DIRS = frozenset({".git", ".hg", ".tox", ".nox", ".venv", "venv", "env", "node_modules", "build",
                           "dist", "site-packages", "__pycache__", "tests", "test", "testing"})


def _project_files(root: Path) -> Iterator[Path]:
    """The project's own `.py` files under `root`: no tests, environments or build output."""
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in _NOT_APP_DIRS and not d.startswith(".")]
        for file in files:
            if file.endswith(".py") and not file.startswith("test_") and file != "conftest.py":
                yield Path(directory, file)


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
        self._modules: "OrderedDict[str, ModuleInfo]" = OrderedDict()
        self._absent: "OrderedDict[str, None]" = OrderedDict()
        # For `leads_to_tasks`: answers, and what it read of modules (few texts are kept).
        self._leads: "OrderedDict[Tuple[str, Optional[str]], bool]" = OrderedDict()
        self._words: "OrderedDict[str, Tuple[Optional[bool], bool]]" = OrderedDict()
        self._texts: "OrderedDict[str, Optional[str]]" = OrderedDict()
        self._state: Optional[Dict[str, List[str]]] = None  # attr -> modules setting app.state.attr

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

    def leads_to_tasks(self, module: str, attr: Optional[str], depth: int = 0) -> bool:
        """`attr` imported from project module `module` (the module itself for None) may hold,
        forward or produce tasks: that module's text passes the text test, or it re-exports
        `attr` from one that does (followed three imports deep). False outside the project.
        Cached: the linted files of a package import the same names. A "no" reached inside
        a chain may only be the depth limit, so only the first question's "no" is kept."""
        key = (module, attr)
        found = self._leads.get(key)
        if found is None:
            found = self._leads_uncached(module, attr, depth)
            if found or depth == 0:
                self._leads[key] = found
                while len(self._leads) > _ABSENT_SIZE:
                    self._leads.popitem(last=False)
        return found

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
            return qualname is not None and "." in qualname \
                and self.leads_to_tasks(*qualname.rsplit(".", 1), depth=depth + 1)
        return any(self.leads_to_tasks(source, attr, depth + 1) for source, _ in info.scope.star_imports)

    def _words_of(self, module: str) -> Tuple[Optional[bool], bool]:
        """Whether project module `module`'s text passes the text test (None: not a project
        module, or unreadable), and whether it may have submodules (a package, or a namespace
        package). Cached; the text itself is kept only in the small `_text_of` cache."""
        found = self._words.get(module)
        if found is None:
            where = self.find(module)
            text = self._read(module, where[0] if where is not None else None)
            has_submodules = where[1] if where is not None else self.is_package_dir(module)
            found = self._words[module] = (None if text is None else may_schedule_tasks(text), has_submodules)
            while len(self._words) > _ABSENT_SIZE:
                self._words.popitem(last=False)
        return found

    def _text_of(self, module: str) -> Optional[str]:
        """The text of project module `module`, None if it is not one or cannot be read."""
        if module in self._texts:
            self._texts.move_to_end(module)
            return self._texts[module]
        where = self.find(module)
        return self._read(module, where[0] if where is not None else None)

    def _read(self, module: str, path: Optional[Path]) -> Optional[str]:
        if path is None:  # not a project module: nothing to keep (names of libraries are many)
            return None
        text = None
        try:
            if path.stat().st_size <= _MAX_MODULE_BYTES:
                text = path.read_bytes().decode("latin-1")  # the test's words are ASCII
        except OSError:
            pass
        self._texts[module] = text
        while len(self._texts) > _TEXTS_SIZE:
            self._texts.popitem(last=False)
        return text

    def state_setters(self, attr: str) -> List[str]:
        """Project modules (not tests) whose text assigns `<x>.state.<attr> = ...`: where an
        app's shared objects are set up (`app.state.llm = ...` in a lifespan). One scan of the
        source roots on the first question, kept for the project's life."""
        if self._state is None:
            self._state = {}
            for root in self.roots:
                for path in _project_files(root):
                    try:
                        if path.stat().st_size > _MAX_MODULE_BYTES:
                            continue
                        text = path.read_bytes().decode("latin-1")
                    except OSError:
                        continue
                    if ".state." not in text:
                        continue
                    name, _ = self.module_name_for(path)
                    for found in set(_STATE_ASSIGNMENT.findall(text)):
                        self._state.setdefault(found, []).append(name)
        return self._state.get(attr, [])

    def is_package_dir(self, name: str) -> bool:
        """True for a namespace package: a directory under a root with no `__init__.py`."""
        parts = name.split(".")
        return any(root.joinpath(*parts).is_dir() for root in self.roots)

    def module(self, name: str) -> Optional[ModuleInfo]:
        """The parsed module `name` of this project, parsing it on first use."""
        info = self._modules.get(name)
        if info is not None:
            self._modules.move_to_end(name)
            return info
        if name in self._absent:
            return None
        info = self._load(name)
        if info is None:
            # Names that are not project modules (libraries, attributes) are remembered apart,
            # so that they cannot push parsed modules out of the cache.
            self._absent[name] = None
            while len(self._absent) > _ABSENT_SIZE:
                self._absent.popitem(last=False)
            return None
        self._remember(name, info)
        return info

    def adopt(self, name: str, path: Optional[Path], display: str, module: cst.Module,
              is_package: bool, text: Optional[str] = None) -> ModuleInfo:
        """Register the linted file's own whole parse (a file this Python's `ast` cannot read)
        so that no task reaching it parses it again."""
        info = ModuleInfo(name, path, display, module, is_package, self, text)
        self._remember(name, info)
        return info

    def adopt_sliced(self, name: str, path: Optional[Path], display: str, text: str, tree: ast.Module,
                     is_package: bool) -> "SlicedModuleInfo":
        """Register the linted file from its `ast` (`tree`, of `text`): libcst parses only the
        statement groups that may hold a site, and those that a lookup follows."""
        info = SlicedModuleInfo(name, path, display, text, tree, is_package, self, linted=True)
        self._remember(name, info)
        return info

    def _remember(self, name: str, info: ModuleInfo) -> None:
        self._absent.pop(name, None)
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
            text = decode_source(source)
        except (OSError, SyntaxError, LookupError, ValueError):  # unreadable, bad encoding
            return None
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None  # newer syntax than this Python reads: parse the whole module instead
        try:
            if tree is not None:
                return SlicedModuleInfo(name, path, display_path(path), text, tree, is_package, self)
            return ModuleInfo(name, path, display_path(path), parse(source), is_package, self)
        except Exception:  # libcst raises assorted errors on odd input; absence is the answer
            return None


def _package_root(directory: Path) -> Path:
    """The directory above the topmost `__init__.py` package that contains `directory`.

    A folder without `__init__.py` inside a package (an implicit namespace subpackage:
    `app/` package, `app/features/` folder, `app/features/x.py`) does not end the chain:
    the modules are still imported as `app.features.x`. The walk stops at the project's
    marker directory (`pyproject.toml`, `.git`, ...)."""
    top = current = directory
    for _ in range(_MAX_PACKAGE_DEPTH):
        if (current / "__init__.py").is_file():
            top = current.parent
        if current.parent == current or any((current / marker).exists() for marker in _MARKERS):
            break
        current = current.parent
    return top


_MAX_PACKAGE_DEPTH = 16


def _marker_root(directory: Path) -> Optional[Path]:
    for candidate in (directory, *directory.parents):
        if any((candidate / marker).exists() for marker in _MARKERS):
            return candidate
    return None


@lru_cache(maxsize=64)
def _project_for_dir(directory: Path) -> Project:
    """Roots in priority order: the top of a real package chain, the project's `src/` and
    marker directory, then — for a loose script, outside any package — its own directory."""
    roots = []
    package_root = _package_root(directory)
    if package_root != directory:
        roots.append(package_root)
    marker = _marker_root(directory)
    if marker is not None:
        for extra in (marker / "src", marker):
            if extra.is_dir() and extra not in roots and _is_within(directory, extra):
                roots.append(extra)
    if package_root == directory and directory not in roots:
        roots.append(directory)  # a loose script imports its neighbours by name
    # Files of one package share one Project, so a module they all reach is parsed once.
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
