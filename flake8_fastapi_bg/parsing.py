"""Parsing one module with libcst, and the positions of its nodes.

`parse` is libcst's parse without the validation of nodes that parser output never fails
(`libcst_compat.parse_module_unvalidated`), with the comments right above the first statement
attached to it (`pragmas.attach_header_comments`). `ModuleInfo` is a module parsed whole (only a
file this Python's `ast` cannot read; `slicing.SlicedModuleInfo` is the usual kind): its
positions are computed on first need, by rendering the module's code.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Mapping, Optional, Tuple, TypeVar

import libcst as cst
from libcst.metadata import CodeRange

from . import libcst_compat
from .pragmas import attach_header_comments

if TYPE_CHECKING:
    from .project import Project
    from .scopes import ModuleScope, Scope


def parse_trusted(source: "str | bytes") -> cst.Module:
    """`cst.parse_module` of code read from disk, without libcst re-validating every node its
    parser builds (see `libcst_compat`). Nodes built elsewhere (the fixes) are still validated."""
    return libcst_compat.parse_module_unvalidated(source)


def parse(source: "str | bytes") -> cst.Module:
    """A module (or a statement group) parsed, with its header comments on its first statement."""
    return attach_header_comments(parse_trusted(source))


# A module this Python's `ast` cannot read (newer syntax) is parsed whole by libcst only if no
# logical line holds more tokens, or nests brackets deeper, than this (`parse_is_bounded`):
# libcst's parse time grows with the square of how deeply code nests (a chain of 2,000
# additions takes it a second, of 5,000 eight), where `ast` takes milliseconds or gives up.
_MAX_LINE_TOKENS = 2000
_Node = TypeVar("_Node", bound=cst.CSTNode)
_MAX_BRACKETS = 100


def parse_is_bounded(text: str, error: BaseException) -> bool:
    """Whether libcst may parse `text` whole after Python's `ast` failed on it with `error`.

    Never when `ast` gave up on the nesting (RecursionError, MemoryError, "too many nested
    parentheses"): libcst would take seconds to minutes there. Otherwise (syntax newer than this
    Python, a real syntax error) only when Python's tokenizer, which does not recurse, finds no
    logical line of more than `_MAX_LINE_TOKENS` tokens and no brackets nested deeper than
    `_MAX_BRACKETS`."""
    if isinstance(error, (RecursionError, MemoryError)) \
            or (isinstance(error, SyntaxError) and "nested" in (error.msg or "")):
        return False
    tokens = brackets = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.NEWLINE:
                tokens = 0
                continue
            tokens += 1
            if token.type == tokenize.OP:
                if token.string in "([{":
                    brackets += 1
                elif token.string in ")]}":
                    brackets -= 1
            if tokens > _MAX_LINE_TOKENS or brackets > _MAX_BRACKETS:
                return False
    except (tokenize.TokenError, SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def decode_source(data: bytes) -> str:
    """Source bytes as text, the way Python reads them (coding cookie, BOM)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


class ModuleInfo:
    """One parsed module of the project, with lazily computed positions and scopes."""

    def __init__(self, name: str, path: Optional[Path], display: str, module: Optional[cst.Module],
                 is_package: bool, project: "Project", text: Optional[str] = None) -> None:
        self.name = name
        self.path = path
        self.display = display
        self._module = module  # None: a `SlicedModuleInfo`, which assembles it when asked
        self.is_package = is_package
        self.project = project
        # Only `:=` binds a name inside an expression; without one the binder skips expressions.
        self.has_walrus = text is None or ":=" in text
        self._positions: Optional[Dict[cst.CSTNode, CodeRange]] = None
        self._scope: Optional[ModuleScope] = None

    @property
    def module(self) -> cst.Module:
        assert self._module is not None  # given, or assembled by `SlicedModuleInfo.module`
        return self._module

    def source_text(self) -> str:
        """The module's source text."""
        return self.module.code

    @property
    def package(self) -> str:
        """The package that relative imports in this module are relative to."""
        if self.is_package:
            return self.name
        return self.name.rpartition(".")[0]

    def position(self, node: cst.CSTNode, scope: Optional[Scope] = None) -> Tuple[int, int]:
        """(1-based line, 0-based column) of `node`'s start; computed on first need.

        `scope` (a `scopes.Scope` of this module that holds `node`) is a hint: a module parsed
        a statement group at a time (`SlicedModuleInfo`) renders only the group it names. A
        wrong or useless hint costs a render of every parsed group."""
        return self.span(node, scope)[0]

    def span(self, node: cst.CSTNode, scope: Optional[Scope] = None
             ) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """((line, col), (line, col)) of `node`'s start and end (end exclusive), as libcst
        computes them: by generating the code of the module, or of the group that holds it."""
        rng = self._range(node, top_node(scope, self))
        if rng is None:
            return (1, 0), (1, 0)
        return (rng.start.line, rng.start.column), (rng.end.line, rng.end.column)

    def _range(self, node: cst.CSTNode, top: Optional[cst.CSTNode] = None) -> Optional[CodeRange]:
        # A module parsed whole: only a file this Python's `ast` cannot read.
        if self._positions is None:
            self._positions = dict(libcst_compat.positions(self.module))
        return self._positions.get(node)

    def site_statements(self) -> Iterator[cst.BaseStatement]:
        """The top-level statements that may hold a task site, parsed as they are needed: here
        all of them (a module parsed whole); `SlicedModuleInfo` gives those of `site_groups`."""
        return iter(self.module.body)

    def part_of(self, node: cst.CSTNode) -> Tuple[cst.Module, int]:
        """A module whose code holds `node` as written, and how many lines of this module come
        before that code: here the whole module (`SlicedModuleInfo` gives one group)."""
        return self.module, 0

    def as_written(self, node: _Node) -> _Node:
        """`node` with the whitespace and comments of the text, for a rewrite: here `node`
        itself (parsed by libcst; see `SlicedModuleInfo.as_written`)."""
        return node

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
    def scope(self) -> ModuleScope:  # imported on first use: scopes imports this module
        if self._scope is None:
            from .scopes import ModuleScope

            self._scope = ModuleScope(self)
        return self._scope

    def __repr__(self) -> str:
        return f"<ModuleInfo {self.name} {self.display}>"


def top_node(scope: Optional[Scope], module: ModuleInfo) -> Optional[cst.CSTNode]:
    """The node of the outermost def or class around `scope` (a `scopes.Scope` of `module`):
    a top-level statement of the module unless that def sits in an `if` or `try`."""
    if scope is None or scope.module is not module or scope.parent is None:
        return None
    while scope.parent.parent is not None:
        scope = scope.parent
    return scope.node


def shift_into(positions: Dict[cst.CSTNode, CodeRange], found: Mapping[cst.CSTNode, CodeRange],
               shift: int) -> None:
    """Add `found` to `positions`, `shift` lines further down."""
    for inner, where in found.items():
        positions[inner] = CodeRange((where.start.line + shift, where.start.column),
                                     (where.end.line + shift, where.end.column))
