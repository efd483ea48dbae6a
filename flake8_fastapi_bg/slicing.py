"""Modules summarised with Python's `ast`, their libcst statements made a group at a time.

Every module is summarised with Python's own `ast` (C speed, a tenth of a libcst parse; for the
linted file, the `ast` flake8 already built), which locates its top-level statements and the
names each one binds (`SlicedModuleInfo`). Only the statements that matter get libcst nodes,
each once: in the linted file, those that may hold a task site (`site_groups`); in any module,
those that a lookup follows — the imports of the names used and the definitions called.

The analysis reads libcst nodes only. They are built from the `ast` tree already there
(`convert.Converter`, a few times cheaper than a parse), and positioned from `ast`'s own, in
the linted file (its classes whole) as in a reached module (its methods built when a scope
is made for them). libcst's parser runs only for what the converter does not build faithfully
(`match`, type comments, ...; its positions rendered by libcst and shifted back to the
module's lines), and for a rewrite of the linted file: a fix reads the real whitespace and
comments of the group it rewrites, parsed on demand (`as_written`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import (TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Set,
                    Tuple, Union)

import libcst as cst
from libcst.metadata import CodeRange

from . import libcst_compat
from .convert import Converter, Unconvertible
from .parsing import ModuleInfo, _Node, parse, shift_into
from .prefilter import may_schedule_tasks

if TYPE_CHECKING:
    from .project import Project
    from .scopes import SlicedModuleScope


# libcst's parse time grows with the square of how deeply an expression nests (a chain of 2,000
# additions takes it a second, of 5,000 eight), where Python's `ast` takes milliseconds or gives
# up (RecursionError). libcst never parses a top-level statement whose syntax tree, outside the
# bodies of its defs and classes, is deeper than this (real code stays under 140), nor a module
# that `ast` could not build for its nesting (`parsing.parse_is_bounded`, `Project._load`).
MAX_PARSED_DEPTH = 150

_IDENTIFIER = re.compile(r"\w+")


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")  # Python's own line breaks only
# Where `str.splitlines` breaks a line and Python does not.
_OTHER_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def _lines_of(text: str) -> List[str]:
    """`text` split at Python's line breaks, each line with its break: `str.splitlines` when
    the text has no other break it knows (almost always: a few `in` tests, not a regex pass
    over every line), else the regex."""
    for other in _OTHER_BREAKS:
        if other in text:
            return _LINE.findall(text)
    return text.splitlines(True)


class SlicedModuleInfo(ModuleInfo):
    """A module a task reaches (or the linted file), summarised from `ast`, with libcst
    statements made a group at a time.

    Top-level statements on overlapping lines form one group, and each group knows the names
    it binds (an over-approximation: a name bound anywhere in it outside nested defs and
    classes). Comment lines directly above a group belong to it, so pragmas above a `def` are
    kept. `statements(i)` makes group i once: built from `ast` in a reached module, parsed by
    libcst in the linted file; `span()` gives positions in the module's lines. `module`
    assembles the groups made so far: the engine itself only reads a reached module through
    its scopes.
    """

    def __init__(self, name: str, path: Optional[Path], display: str, text: str, tree: ast.Module,
                 is_package: bool, project: "Project", linted: bool = False) -> None:
        super().__init__(name, path, display, None, is_package, project)
        self._scope: Optional[SlicedModuleScope] = None
        # The linted file: its classes are built whole (its site groups are walked, and the
        # per-module checks may read the whole module), and the groups that may hold a site
        # are found from the text (`site_groups`).
        self.linted = linted
        self._lines = _lines_of(text)
        self.has_walrus = ":=" in text
        self._groups: List[Tuple[int, int]] = []
        self._binders: Dict[str, List[int]] = {}
        self._stars: List[int] = []
        self._classes: Set[int] = set()  # groups that are one class statement
        self._deep: Set[int] = set()  # groups libcst never parses (`MAX_PARSED_DEPTH`)
        self._parsed: Dict[int, cst.Module] = {}
        self._unpositioned: List[int] = []  # groups libcst parsed, not positioned yet
        # Groups of a reached module are built from `ast` (`convert`), one converter a module.
        self._converter: Optional[Converter] = None
        self._converted: Set[int] = set()
        self._stores: Dict[cst.CSTNode, FrozenSet[str]] = {}  # converted def -> attributes it assigns
        self._reparsed: List[Tuple[cst.Module, int]] = []  # classes libcst parsed for a method, unpositioned
        # Class groups: the name and line of each `def` directly in the class body (`ast`).
        self._def_lines: Dict[int, List[Tuple[str, int]]] = {}
        group_statements: List[List[ast.stmt]] = []
        for start, end, names, star, lone_class, statements, deep in _statement_groups(tree, self._lines):
            index = len(self._groups)
            self._groups.append((start, end))
            if deep:
                self._deep.add(index)
            group_statements.append(statements)
            for bound in names:
                self._binders.setdefault(bound, []).append(index)
            if star:
                self._stars.append(index)
            if lone_class is not None:
                self._classes.add(index)
                self._def_lines[index] = [(statement.name, statement.lineno) for statement in lone_class.body
                                          if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef))]
        self._site_groups = self._find_site_groups(group_statements) if linted else []
        self._statements = group_statements  # the groups are built from these (`convert`)
        # Groups libcst parsed as written, for a rewrite (`as_written`), with their positions.
        self._written: Dict[int, Tuple[cst.Module, Dict[cst.CSTNode, CodeRange]]] = {}

    @property
    def module(self) -> cst.Module:
        """The whole module, assembled from its statement groups (parsed as needed)."""
        if self._module is None:
            body = [s for index in range(len(self._groups)) for s in self.statements(index)]
            self._module = cst.Module(body=body)
        return self._module

    def source_text(self) -> str:
        return "".join(self._lines)  # the text it was built from, without assembling the module

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

            def leads(name: str) -> bool:
                return base is not None and self.project.leads_to_tasks(base, name)

            return {alias.asname or alias.name for alias in statement.names
                    if _spells(alias) or leads(alias.name)} \
                or (_bound_names(statement)[0] if spells else set())  # a comment says what they are
        return _bound_names(statement)[0] if spells else set()

    def part_of(self, node: cst.CSTNode) -> Tuple[cst.Module, int]:
        index = self._group_of(node, written=True)
        if index is None:
            raise LookupError("not a node of a parsed statement group")
        written = self._written.get(index)
        return written[0] if written is not None else self._parsed[index], self._groups[index][0] - 1

    def _group_of(self, node: cst.CSTNode, written: bool) -> Optional[int]:
        """The group whose statements hold `node`: a group made so far (built from `ast` or
        parsed), or with `written`, a group libcst parsed as written (`as_written`) or that
        `convert` did not build."""
        from .syntax import children

        groups: List[Tuple[int, cst.Module]] = [(i, m) for i, (m, _) in self._written.items()] if written \
            else list(self._parsed.items())
        if written:
            groups += [(i, m) for i, m in self._parsed.items() if i not in self._converted]
        for index, parsed in groups:
            stack: List[cst.CSTNode] = [parsed]
            while stack:
                inner = stack.pop()
                if inner is node:
                    return index
                stack.extend(children(inner))
        return None

    def as_written(self, node: _Node) -> _Node:
        """For a node built from `ast` (`convert`), the node of the same kind and position in
        libcst's parse of its group's text (parsed once, on demand: a rewrite reads the real
        whitespace and comments); else `node`. `span` and `part_of` know the nodes it gives."""
        index = self._group_of(node, written=False)
        if index is None or index not in self._converted:
            return node
        wanted = self._range(node)
        written = self._written.get(index)
        if written is None:
            try:
                parsed = parse(self._source(*self._groups[index]))
            except Exception:  # not seen: ast accepted the group; the node keeps its build
                return node
            ranges: Dict[cst.CSTNode, CodeRange] = {}
            shift_into(ranges, libcst_compat.positions(parsed), self._groups[index][0] - 1)
            written = self._written[index] = (parsed, ranges)
        return next((inner for inner, rng in written[1].items()
                     if type(inner) is type(node) and rng == wanted), node)

    def statements_assigning(self, pattern: "re.Pattern[str]") -> List[cst.BaseStatement]:
        found: List[cst.BaseStatement] = []
        for index, (start, end) in enumerate(self._groups):
            if pattern.search(self._source(start, end)):
                found.extend(self.statements(index))
        return found

    def binders(self, name: str) -> List[int]:
        """The groups that may bind `name`, in source order."""
        return self._binders.get(name, [])

    def top_statements(self, index: int) -> Sequence[ast.stmt]:
        """The `ast` statements of group `index`."""
        return self._statements[index]

    def small_statement(self, index: int, at: int) -> cst.CSTNode:
        """The libcst node of the `at`-th statement of group `index`, a group of simple
        statements only (`top_statements`), made with the group (`statements`). An
        `IndexError` for a group neither `convert` nor libcst builds (not seen: imports that
        `ast` reads are built)."""
        small = [inner for line in self.statements(index) if isinstance(line, cst.SimpleStatementLine)
                 for inner in line.body]
        return small[at]

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

    def statements(self, index: int) -> Sequence[Union[cst.SimpleStatementLine, cst.BaseCompoundStatement]]:
        """The libcst statements of group `index`, built on first use: from `ast`
        (`convert`), else (what `convert` does not build) parsed by libcst."""
        parsed = self._parsed.get(index)
        if parsed is None and index in self._deep:
            return ()  # libcst's parse of it is not bounded: it binds nothing
        if parsed is None:
            parsed = self._convert(index)
            if parsed is None:
                try:
                    parsed = parse(self._source(*self._groups[index]))
                except Exception:  # a statement ast accepts and libcst does not: it binds nothing
                    parsed = cst.Module(body=[])
                self._unpositioned.append(index)
            self._parsed[index] = parsed
        return parsed.body

    def _convert(self, index: int) -> Optional[cst.Module]:
        """Group `index` built from its `ast` statements; None if `convert` cannot."""
        if self._converter is None:
            self._converter = Converter(self._lines)
        try:
            with libcst_compat.unvalidated():
                # The linted file's classes are built whole: its site groups are walked.
                body = self._converter.statements(self._statements[index], stub_methods=not self.linted)
                module = cst.Module(body=body)
        except (Unconvertible, RecursionError):
            return None
        self._converted.add(index)
        return module

    def serve_as_linted(self) -> bool:
        """Make this reached module the linted file too (`Project.adopt_reached`), as if it had
        been made with `linted=True`: the methods its classes built so far have as stubs are
        built whole and put in their class bodies, in place (the scopes and memos made so far
        keep their nodes: a stub's scope is its whole def's already), and its site groups are
        found. False, with nothing changed, when `convert` cannot build such a method whole
        (the linted file then gets an object of its own, as before)."""
        if self.linted:
            return True
        converter = self._converter
        blocks: List[Tuple[cst.IndentedBlock, Dict[cst.CSTNode, cst.CSTNode]]] = []
        if converter is not None:
            try:
                for index in sorted(self._converted):
                    for statement in self._parsed[index].body:
                        if isinstance(statement, cst.ClassDef):
                            _stubbed_blocks(statement, converter, blocks)
            except (Unconvertible, RecursionError, LookupError):
                return False
        for block, wholes in blocks:
            body = [wholes.get(statement, statement) for statement in block.body]
            # libcst's nodes are frozen dataclasses; the block is this module's own, built
            # by `convert`, and its identity is what the scopes made so far hold.
            object.__setattr__(block, "body", body if isinstance(block.body, list) else tuple(body))
        self.linted = True
        self._site_groups = self._find_site_groups(self._statements)
        return True

    def _source(self, start: int, end: int) -> str:
        """The text of lines `start` to `end` (1-based, inclusive)."""
        return "".join(self._lines[start - 1:end])

    def unstub(self, node: cst.CSTNode) -> cst.CSTNode:
        """The whole `def` of a method built as a stub (`convert.Converter.unstub`), else `node`.
        A method `convert` cannot build is taken from libcst's parse of its class."""
        if self._converter is None:
            return node
        try:
            return self._converter.unstub(node)
        except (Unconvertible, RecursionError):
            pass
        origin = self._converter.origin(node)
        index = next((i for i, (start, end) in enumerate(self._groups)
                      if origin is not None and start <= getattr(origin, "lineno", 0) <= end), None)
        if index is None or index not in self._def_lines:
            return node
        try:
            parsed = parse(self._source(*self._groups[index]))
            classdef = cst.ensure_type(parsed.body[0], cst.ClassDef)
            defs = [s for s in cst.ensure_type(classdef.body, cst.IndentedBlock).body
                    if isinstance(s, cst.FunctionDef)]
            at = self._def_lines[index].index((getattr(origin, "name"), getattr(origin, "lineno")))
            found: cst.CSTNode = defs[at]
        except Exception:
            return node  # not seen on real code: the method keeps its stub (it binds nothing)
        self._reparsed.append((parsed, index))
        self._converter._unstubbed[node] = found
        return found

    def may_assign_attr(self, node: cst.CSTNode, attr: str) -> bool:
        """False when a method built from `ast` assigns no attribute named `attr`, so that a
        class's `self.<attr>` is looked up without walking the methods that never set it. A
        method whose text never spells `.attr` is out at once; the others are read in their
        `ast` (once per method)."""
        origin = self._converter.origin(node) if self._converter is not None else None
        if not isinstance(origin, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return True
        start = min([origin.lineno] + [d.lineno for d in origin.decorator_list])
        text = self._source(start, origin.end_lineno or origin.lineno)
        if re.search(rf"\.[\s\\]*{re.escape(attr)}(?!\w)", text) is None:
            return False
        stores = self._stores.get(node)
        if stores is None:
            stores = self._stores[node] = frozenset(
                n.attr for n in ast.walk(origin)
                if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store))
        return attr in stores

    def _range(self, node: cst.CSTNode, top: Optional[cst.CSTNode] = None) -> Optional[CodeRange]:
        for _, ranges in self._written.values():  # a node `as_written` gave (a rewrite: rare)
            if node in ranges:
                return ranges[node]
        if self._converter is not None:
            found = self._converter.range(node)  # a node built from `ast`: its position is `ast`'s
            if found is not None:
                return found
        if self._positions is None:
            self._positions = {}
        rng = self._positions.get(node)
        if rng is None and top is not None:  # render only the group that holds the hint
            index = next((i for i, parsed in self._parsed.items()
                          if any(statement is top for statement in parsed.body)), None)
            if index is not None:
                self._position(lambda group: group == index)
                rng = self._positions.get(node)
        if rng is None and (self._unpositioned or self._reparsed):
            self._position(lambda group: True)
            rng = self._positions.get(node)
        return rng

    def _position(self, wanted: Callable[[int], bool]) -> None:
        """Position the groups libcst parsed that `wanted` selects."""
        assert self._positions is not None
        for index in [i for i in self._unpositioned if wanted(i)]:
            self._unpositioned.remove(index)
            found = libcst_compat.positions(self._parsed[index])
            shift_into(self._positions, found, self._groups[index][0] - 1)
        for parsed, index in [p for p in self._reparsed if wanted(p[1])]:
            self._reparsed.remove((parsed, index))
            shift_into(self._positions, libcst_compat.positions(parsed), self._groups[index][0] - 1)

    @property
    def scope(self) -> SlicedModuleScope:
        if self._scope is None:
            from .scopes import SlicedModuleScope

            self._scope = SlicedModuleScope(self)
        return self._scope


def _stubbed_blocks(node: cst.CSTNode, converter: Converter,
                    found: List[Tuple[cst.IndentedBlock, Dict[cst.CSTNode, cst.CSTNode]]]) -> None:
    """The blocks under class statement `node` (a top-level class built with method stubs)
    that hold stubs, each with the whole def of its stubs (built now). Defs are not entered:
    a stub is a def directly in a class body, or in a block of one. Raises `LookupError`
    for a stub whose whole def `convert` does not build itself."""
    from .syntax import children

    stack: List[cst.CSTNode] = [node]
    while stack:
        inner = stack.pop()
        if isinstance(inner, cst.IndentedBlock):
            wholes: Dict[cst.CSTNode, cst.CSTNode] = {}
            for statement in inner.body:
                if isinstance(statement, cst.FunctionDef):
                    whole = converter.unstub(statement)
                    if whole is not statement:
                        if converter.origin(whole) is None:  # parsed by libcst (`unstub`)
                            raise LookupError("a method libcst parsed")
                        wholes[statement] = whole
            if wholes:
                found.append((inner, wholes))
        stack.extend(child for child in children(inner)
                     if not isinstance(child, (cst.FunctionDef, cst.Lambda)))


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


_Group = Tuple[int, int, Set[str], bool, Optional[ast.ClassDef], List[ast.stmt], bool]


def _statement_groups(tree: ast.Module, lines: Optional[Sequence[str]]) -> List[_Group]:
    """The top-level runs with (first line, last line, names bound, star import, the class
    statement if the run is one, its statements, whether it is too deep for libcst). With
    `lines`, comment lines right above a statement join its group."""
    groups: List[_Group] = []
    for start, end, statements in _top_level_runs(tree):
        names: Set[str] = set()
        star = False
        deep = False
        for statement in statements:
            bound, stars, depth = _bindings_and_depth(statement)
            names |= bound
            star = star or stars
            deep = deep or depth > MAX_PARSED_DEPTH
        floor = groups[-1][1] + 1 if groups else 1
        while lines is not None and start > floor and lines[start - 2].lstrip().startswith("#"):
            start -= 1  # comments right above belong to the statement (pragmas)
        lone_class = statements[0] if len(statements) == 1 and isinstance(statements[0], ast.ClassDef) \
            else None
        groups.append((start, end, names, star, lone_class, statements, deep))
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


def _spells(alias: ast.alias) -> bool:
    return may_schedule_tasks(alias.name) or may_schedule_tasks(alias.asname or "")


def _bound_names(statement: ast.stmt) -> Tuple[Set[str], bool]:
    """Names a top-level statement may bind at module level, and whether it star-imports."""
    names, star, _ = _bindings_and_depth(statement)
    return names, star


def _bindings_and_depth(statement: ast.stmt) -> Tuple[Set[str], bool, int]:
    """`_bound_names`, and how deep the statement's syntax tree goes outside the bodies of the
    defs, classes and lambdas in it (one walk for both)."""
    names: Set[str] = set()
    star = False
    deepest = 0
    stack: List[Tuple[Any, int]] = [(statement, 1)]  # `Any`: fields read by exact type
    pop, push, node_type = stack.pop, stack.append, ast.AST
    while stack:
        node, depth = pop()
        if depth > deepest:
            deepest = depth
        kind = type(node)  # exact types: `ast.parse` makes no subclasses
        if kind in _DEFINES:
            names.add(node.name)
            continue
        if kind is ast.Name:
            if type(node.ctx) is ast.Store:
                names.add(node.id)
            continue
        if kind is ast.Lambda:
            continue
        if kind is ast.Import:
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
            continue
        if kind is ast.ImportFrom:
            for alias in node.names:
                if alias.name == "*":
                    star = True
                else:
                    names.add(alias.asname or alias.name)
            continue
        if kind is ast.ExceptHandler and node.name:
            names.add(node.name)
        depth += 1
        for field in node._fields:  # `ast.iter_child_nodes`, inlined: it runs for every node
            value = getattr(node, field, None)
            if isinstance(value, node_type):
                push((value, depth))
            elif type(value) is list:
                for item in value:
                    if isinstance(item, node_type):
                        push((item, depth))
    return names, star, deepest


_DEFINES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
