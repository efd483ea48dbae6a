"""libcst nodes built from Python's `ast`, for statement groups of reached modules.

The analysis reads libcst trees only. A reached module is already summarised with `ast`
(`slicing.SlicedModuleInfo`), and building libcst's nodes from that tree costs a fraction of
asking libcst's parser to read the text again. The trees built here are libcst's parse of the
same text but for whitespace and punctuation (`tests/test_convert.py` compares them field by
field on real code): the fields the analysis reads hold the same values, whitespace fields hold
shared default objects. Comments that pragmas read (the lines right above a def and its
decorators, and the comment after a def's colon) are kept.

`convert` raises `Unconvertible` for what it does not build faithfully (`match`, nesting
deeper than `MAX_DEPTH`, ...); the caller then parses the group with libcst, as before. An
f-string is built where `ast` places each of its fields' expressions where the source has it
(`_FieldReader`); the others (a field across lines, or misplaced by `ast` before Python 3.12)
are parsed by libcst one f-string at a time.
"""

from __future__ import annotations

import ast
import bisect
import re
import tokenize
import weakref
from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, Tuple, Union, cast

import libcst as cst
from libcst.metadata import CodePosition, CodeRange

from . import libcst_compat


class Unconvertible(Exception):
    """A construct this module does not build faithfully."""


# Deeper than this, a statement group goes to libcst's parser (which the caller bounds).
MAX_DEPTH = 120

_WS = cst.SimpleWhitespace("")
with libcst_compat.unvalidated():
    _LPAR = cst.LeftParen()
    _RPAR = cst.RightParen()
    _STUB_BODY = (cst.SimpleStatementLine(body=[cst.Expr(cst.Ellipsis())]),)  # a stubbed method's body
_SP = cst.SimpleWhitespace(" ")
_NL = cst.Newline()
_TW = cst.TrailingWhitespace()
_BLANK = cst.EmptyLine()
# Defaults passed explicitly, shared: libcst makes a new node per field left to its default.
_ASYNC = cst.Asynchronous(whitespace_after=_SP)
_LAMBDA_COLON = cst.Colon(whitespace_before=_WS, whitespace_after=_SP)
_COLON = cst.Colon(whitespace_before=_WS, whitespace_after=_WS)
_BRACES: Dict[str, Any] = {"lbrace": cst.LeftCurlyBrace(whitespace_after=_WS),
                           "rbrace": cst.RightCurlyBrace(whitespace_before=_WS)}
_BRACKETS: Dict[str, Any] = {"lbracket": cst.LeftSquareBracket(whitespace_after=_WS),
                             "rbracket": cst.RightSquareBracket(whitespace_before=_WS)}
# A def's and a class's `whitespace_after_type_parameters`, in libcst releases that have it.
_AFTER_TYPE_PARAMS: Dict[str, Any] = {"whitespace_after_type_parameters": _WS} \
    if "whitespace_after_type_parameters" in cst.FunctionDef.__dataclass_fields__ else {}

_BIN = {
    ast.Add: cst.Add, ast.Sub: cst.Subtract, ast.Mult: cst.Multiply, ast.Div: cst.Divide,
    ast.FloorDiv: cst.FloorDivide, ast.Mod: cst.Modulo, ast.Pow: cst.Power, ast.LShift: cst.LeftShift,
    ast.RShift: cst.RightShift, ast.BitOr: cst.BitOr, ast.BitXor: cst.BitXor, ast.BitAnd: cst.BitAnd,
    ast.MatMult: cst.MatrixMultiply,
}
_AUG = {
    ast.Add: cst.AddAssign, ast.Sub: cst.SubtractAssign, ast.Mult: cst.MultiplyAssign,
    ast.Div: cst.DivideAssign, ast.FloorDiv: cst.FloorDivideAssign, ast.Mod: cst.ModuloAssign,
    ast.Pow: cst.PowerAssign, ast.LShift: cst.LeftShiftAssign, ast.RShift: cst.RightShiftAssign,
    ast.BitOr: cst.BitOrAssign, ast.BitXor: cst.BitXorAssign, ast.BitAnd: cst.BitAndAssign,
    ast.MatMult: cst.MatrixMultiplyAssign,
}
_UNARY = {ast.UAdd: cst.Plus, ast.USub: cst.Minus, ast.Invert: cst.BitInvert, ast.Not: cst.Not}
_CMP = {
    ast.Eq: cst.Equal, ast.NotEq: cst.NotEqual, ast.Lt: cst.LessThan, ast.LtE: cst.LessThanEqual,
    ast.Gt: cst.GreaterThan, ast.GtE: cst.GreaterThanEqual, ast.Is: cst.Is, ast.IsNot: cst.IsNot,
    ast.In: cst.In, ast.NotIn: cst.NotIn,
}
_BOOL = {ast.And: cst.And, ast.Or: cst.Or}

# One shared instance per operator type (operators hold only whitespace).
_OPS: Dict[type, cst.CSTNode] = {}

_STRING = re.compile(
    r"""[rRbBuU]{0,2}(?:'''(?:[^'\\]|\\.|'(?!''))*'''|\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\""""
    r"""|'(?:[^'\\\n]|\\.|\\\n)*'|"(?:[^"\\\n]|\\.|\\\n)*")""", re.S)


def _op(kind: Any) -> Any:
    found = _OPS.get(kind)
    if found is None:
        with libcst_compat.unvalidated():
            found = _OPS[kind] = kind()
    return found


_DOT = _op(cst.Dot)
_EQUAL = _op(cst.AssignEqual)
_LSQB = _op(cst.LeftSquareBracket)
_RSQB = _op(cst.RightSquareBracket)

_MAYBE_PAREN = frozenset(") \t\f\\\r\n#")  # what may come between an expression and a `)` after it


class _Span:
    """Where a node that `ast` has no node for starts and ends: at the outer start of one
    expression and the outer end of another."""

    __slots__ = ("first", "last")

    def __init__(self, first: ast.expr, last: ast.expr) -> None:
        self.first = first
        self.last = last


def _range_of(start: "Tuple[int, int] | CodePosition", end: "Tuple[int, int] | CodePosition") -> CodeRange:
    if not isinstance(start, tuple):
        start = (start.line, start.column)
    if not isinstance(end, tuple):
        end = (end.line, end.column)
    return CodeRange(start, end)


class _Place:
    """Where a node that `ast` has no node of its own for is, relative to one that it has:
    `kind` says how (a def's name, an attribute's name, a parameter, ...)."""

    __slots__ = ("kind", "node", "inner", "where")

    def __init__(self, kind: str, node: ast.AST, inner: Optional[cst.CSTNode] = None,
                 where: Optional[CodeRange] = None) -> None:
        self.kind = kind
        self.node = node
        self.inner = inner
        self.where = where  # kind "at": the range itself (a string of an implicit concatenation)


_DEF_KEYWORD = re.compile(r"(?:async[ \t]+)?(?:def|class)[ \t]+")


class Converter:
    """Builds libcst statements from the `ast` statements of one module's text."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = lines  # the module's lines, line breaks included
        _LIVE.add(self)
        self.depth = 0
        # Every node built that has a position -> its `ast` node (or how to place it from one).
        # Keyed by `id`: libcst's `CSTNode.__hash__` is a Python call, and this dict takes every
        # node built; the node is kept in the value, and compared, so an `id` reused after a
        # node is gone (a group given up half-built) never matches.
        self._origin: Dict[int, Tuple[cst.CSTNode, Union[ast.AST, _Span, _Place]]] = {}
        self._ascii: Dict[int, bool] = {}
        # A tuple's or generator's parentheses that `ast` counts in its span: 1 (own) or 0.
        self._inner_paren: Dict[ast.expr, int] = {}
        self._spanned: Dict[cst.CSTNode, int] = {}  # built tuples and generators: those parentheses
        self._stub_level = 0  # inside a top-level class whose methods are stubbed
        self._statement_line, self._statement_col = 0, 0  # where the simple statement being built starts
        self._stubs: Dict[cst.CSTNode, Tuple[ast.stmt, Sequence[cst.EmptyLine]]] = {}  # stub -> its def
        self._unstubbed: Dict[cst.CSTNode, cst.CSTNode] = {}
        # Expressions libcst parsed (f-strings), with their `ast` node; positioned on first need.
        self._parsed: List[Tuple[cst.BaseExpression, ast.expr]] = []
        self._parsed_ranges: Dict[cst.CSTNode, CodeRange] = {}

    # -- text ------------------------------------------------------------------------------

    def column(self, line: int, byte_col: int) -> int:
        """The character column of UTF-8 byte column `byte_col` on line `line` (1-based)."""
        ascii_ = self._ascii.get(line)
        if ascii_ is None:
            ascii_ = self._ascii[line] = self.lines[line - 1].isascii()
        if ascii_:
            return byte_col
        return len(self.lines[line - 1].encode("utf-8")[:byte_col].decode("utf-8", "replace"))

    def segment(self, node: ast.expr) -> str:
        """The source text of expression `node`."""
        line = node.lineno
        if line == node.end_lineno:  # on one line: an ASCII one needs no column conversion
            text = self.lines[line - 1]
            ascii_ = self._ascii.get(line)
            if ascii_ is None:
                ascii_ = self._ascii[line] = text.isascii()
            if ascii_:
                return text[node.col_offset:node.end_col_offset]
        (line, col), (end_line, end) = self._start(node), self._end(node)
        if line == end_line:
            return str(self.lines[line - 1][col:end])
        parts = [self.lines[line - 1][col:]]
        parts.extend(self.lines[line:end_line - 1])
        parts.append(self.lines[end_line - 1][:end])
        return "".join(parts)

    # -- positions -----------------------------------------------------------------------

    def origin(self, node: cst.CSTNode) -> Union[ast.AST, _Span, _Place, None]:
        """The `ast` node `node` was built from (or how to place it), None if not built here."""
        found = self._origin.get(id(node))
        return found[1] if found is not None and found[0] is node else None

    def _ast(self, node: cst.CSTNode) -> ast.AST:
        found = self.origin(node)
        assert isinstance(found, ast.AST)
        return found

    def range(self, node: cst.CSTNode) -> Optional[CodeRange]:
        """libcst's `PositionProvider` range of `node` (built here), in the module's lines and
        character columns; None for a node that has no `ast` counterpart."""
        origin = self.origin(node)
        if origin is None:
            composed = _COMPOSED.get(type(node))
            found = composed(self, node) if composed is not None else None
            return found if found is not None else self._inner_range(node)
        kind = type(node)
        if isinstance(origin, _Place):
            return self._place(node, origin)
        if isinstance(origin, _Span):
            assert isinstance(node, cst.BooleanOperation)
            left = node.left
            while isinstance(left, cst.BooleanOperation) and not left.lpar:
                left = left.left
            right = node.right
            return CodeRange(self.outer_start(left, origin.first), self.outer_end(right, origin.last))
        if kind is cst.SimpleStatementLine:
            assert isinstance(node, cst.SimpleStatementLine)
            last = self._ast(node.body[-1])
            return CodeRange(self._start(origin), self._end(last))
        if kind is cst.Arg:
            assert isinstance(node, cst.Arg)
            value = self.origin(node.value)
            assert isinstance(value, ast.expr)
            start = self._start(origin) if isinstance(origin, (ast.keyword, ast.Starred)) \
                else self.outer_start(node.value, value)
            return CodeRange(start, self.outer_end(node.value, value))
        if isinstance(node, cst.Tuple) and node.lpar:
            assert isinstance(node, cst.Tuple) and isinstance(origin, ast.Tuple)
            if not origin.elts:
                line, col = self._start(origin)
                return CodeRange((line, col + 1), (line, col + 1))
            first_node, last_node = node.elements[0].value, node.elements[-1].value
            end = self._comma_after(self.outer_end(last_node, self._ast(last_node)))
            start = self.outer_start(first_node, self._ast(first_node))
            if isinstance(node.elements[0], cst.StarredElement):
                start = self._start(origin.elts[0])
            return CodeRange(start, end)
        if kind is cst.GeneratorExp and isinstance(origin, ast.GeneratorExp):
            assert isinstance(node, cst.GeneratorExp)
            last_for = node.for_in
            while last_for.inner_for_in is not None:
                last_for = last_for.inner_for_in
            tail = last_for.ifs[-1].test if last_for.ifs else last_for.iter
            return CodeRange(self.outer_start(node.elt, origin.elt), self.outer_end(tail, self._ast(tail)))
        return CodeRange(self._start(origin), self._end(origin))

    # Nodes `ast` has no node for, placed from their children (`_COMPOSED`).

    def _outer(self, node: cst.CSTNode) -> Optional[CodeRange]:
        """The range of expression `node` with its own parentheses."""
        origin = self.origin(node)
        if not isinstance(origin, ast.expr):
            return None
        return _range_of(self.outer_start(node, origin), self.outer_end(node, origin))

    def _from_to(self, first: cst.CSTNode, last: cst.CSTNode) -> Optional[CodeRange]:
        start, end = self.range(first), self.range(last)
        return None if start is None or end is None else _range_of(start.start, end.end)

    def _assign_target(self, node: cst.AssignTarget) -> Optional[CodeRange]:
        return self._outer(node.target)

    def _suite(self, node: Union[cst.IndentedBlock, cst.SimpleStatementSuite]) -> Optional[CodeRange]:
        return self._from_to(node.body[0], node.body[-1]) if node.body else None

    def _element(self, node: cst.Element) -> Optional[CodeRange]:
        return self._outer(node.value)

    def _dict_element(self, node: cst.DictElement) -> Optional[CodeRange]:
        key, value = self._outer(node.key), self._outer(node.value)
        return None if key is None or value is None else _range_of(key.start, value.end)

    def _subscript_element(self, node: cst.SubscriptElement) -> Optional[CodeRange]:
        return self.range(node.slice)

    def _index(self, node: cst.Index) -> Optional[CodeRange]:
        return self._outer(node.value)

    def _keyword_before(self, where: Tuple[int, int], keyword: str) -> Optional[Tuple[int, int]]:
        """Where `keyword` ends right before `where` (whitespace between), on the same line."""
        line, col = where
        text = self.lines[line - 1][:col].rstrip(" \t\f")
        if not text.endswith(keyword):
            return None
        return line, len(text) - len(keyword)

    def _next_code(self, line: int, col: int, skip: str = " \t\f") -> Optional[Tuple[int, int]]:
        """Where the next character of code is from (line, col) on: past the characters of
        `skip`, comments, line continuations and line breaks; None at the end of the module.
        The forward twin of `_whitespace_start`."""
        lines = self.lines
        text = lines[line - 1]
        while True:
            size = len(text)
            if col < size and text[col] in skip:
                col = size - len(text[col:].lstrip(skip))
            if col >= size or text[col] in "\r\n#" or (text[col] == "\\" and not text[col + 1:].strip()):
                if line >= len(lines):
                    return None
                line, col = line + 1, 0
                text = lines[line - 1]
                continue
            return line, col

    def _whitespace_start(self, where: Tuple[int, int]) -> Tuple[int, int]:
        """Where the whitespace (line breaks included) that ends at `where` starts."""
        line, col = where
        text = self.lines[line - 1][:col]
        while True:
            stripped = text.rstrip(" \t\f")
            if stripped or line == 1:
                if stripped.endswith("\\"):
                    stripped = stripped[:-1]
                return line, len(stripped)
            line -= 1
            text = self.lines[line - 1].rstrip("\r\n")
            if "#" in text:
                text = self._code_part(text)

    def _comp_for(self, node: cst.CompFor) -> Optional[CodeRange]:
        target = self._outer(node.target)
        last: cst.CompFor = node
        while last.inner_for_in is not None:
            last = last.inner_for_in
        tail = self._outer(last.ifs[-1].test if last.ifs else last.iter)
        if target is None or tail is None:
            return None
        start = self._keyword_before((target.start.line, target.start.column), "for")
        if start is not None and node.asynchronous is not None:
            start = self._keyword_before(start, "async")
        return None if start is None else _range_of(self._whitespace_start(start), tail.end)

    def _comp_if(self, node: cst.CompIf) -> Optional[CodeRange]:
        test = self._outer(node.test)
        start = None if test is None else self._keyword_before((test.start.line, test.start.column), "if")
        return None if start is None or test is None else _range_of(self._whitespace_start(start), test.end)

    def _with_item(self, node: cst.WithItem) -> Optional[CodeRange]:
        item = self._outer(node.item)
        end = item if node.asname is None else self._outer(node.asname.name)
        return None if item is None or end is None else _range_of(item.start, end.end)

    def _parameters(self, node: cst.Parameters, owner: ast.AST) -> Optional[CodeRange]:
        params: List[cst.CSTNode] = [*node.posonly_params, *node.params]
        if isinstance(node.star_arg, cst.Param):
            params.append(node.star_arg)
        params.extend(node.kwonly_params)
        if node.star_kwarg is not None:
            params.append(node.star_kwarg)
        if not params:  # empty: where the `)` (or the lambda's `:`) is
            line, col = self._start(owner)
            if isinstance(owner, ast.Lambda):
                col += len("lambda")
            else:
                name = self._def_name(owner)
                if name is None:
                    return None
                col = name.end.column
            text = self.lines[line - 1]
            col = len(text) - len(text[col:].lstrip(" \t\f("))
            return _range_of((line, col), (line, col)) if text[col:col + 1] in ("):") else None
        first, last = self.range(params[0]), params[-1]
        assert isinstance(last, cst.Param)
        tail = self._outer(last.default) if last.default is not None \
            else self._outer(last.annotation.annotation) if last.annotation is not None else self.range(last)
        if first is None or tail is None:
            return None
        start: Tuple[int, int] = (first.start.line, first.start.column)
        if isinstance(node.star_arg, cst.ParamStar) and not node.posonly_params and not node.params:
            line, col = self._whitespace_start(start)  # back over `*, `
            text = self.lines[line - 1][:col].rstrip(" \t\f")
            if not text.endswith(","):
                return None
            line, col = self._whitespace_start((line, len(text) - 1))
            if not self.lines[line - 1][:col].endswith("*"):
                return None
            start = (line, col - 1)
        # The whitespace and comma after the last parameter are its own: up to `)` (or `:`).
        end = self._next_code(tail.end.line, tail.end.column, " \t\f,/")
        if end is None or self.lines[end[0] - 1][end[1]] not in "):":
            return None
        return _range_of(start, end)

    def _else(self, node: Union[cst.Else, cst.Finally]) -> Optional[CodeRange]:
        body = node.body
        if not isinstance(body, cst.IndentedBlock) or not body.body:
            return None
        first = self.origin(body.body[0])
        block = self._suite(body)
        if not isinstance(first, ast.stmt) or block is None:
            return None
        line = self._header_line(first)
        text = self.lines[line - 1]
        keyword = "else" if isinstance(node, cst.Else) else "finally"
        col = len(text) - len(text.lstrip(" \t\f"))
        if not text.startswith(keyword, col):
            return None
        return _range_of((line, col), block.end)

    def _def_name(self, origin: ast.AST) -> Optional[CodeRange]:
        """Where the name of def or class `origin` is."""
        line, col = self._start(origin)
        text = self.lines[line - 1]
        match = _DEF_KEYWORD.match(text, col)
        name: str = getattr(origin, "name")
        if match is None or text[match.end():match.end() + len(name)] != name:
            return None
        return CodeRange((line, match.end()), (line, match.end() + len(name)))

    def _place(self, node: cst.CSTNode, place: _Place) -> Optional[CodeRange]:
        kind, origin = place.kind, place.node
        line, col = self._start(origin)
        text = self.lines[line - 1]
        if kind == "def":  # the name of a def or class
            return self._def_name(origin)
        if kind == "attr":  # the name after the dot
            line, end = self._end(origin)
            size = len(getattr(origin, "attr"))
            return CodeRange((line, end - size), (line, end))
        if kind == "name":  # a parameter's or a keyword argument's name
            size = len(getattr(origin, "arg"))
            return CodeRange((line, col), (line, col + size))
        if kind == "param":
            assert isinstance(node, cst.Param)
            star = node.star if isinstance(node.star, str) else ""
            end_col = col + len(getattr(origin, "arg"))
            if star:
                col = text.rfind(star, 0, col)
            return CodeRange((line, col), (line, end_col))
        if kind == "params":
            assert isinstance(node, cst.Parameters)
            return self._parameters(node, origin)
        if kind == "at":
            return place.where
        if kind == "annotation" or kind == "decorator":
            assert place.inner is not None
            start = self.outer_start(place.inner, origin)
            if kind == "decorator":
                line, col = start
                col = self.lines[line - 1].rfind("@", 0, col)
                start = (line, col)
            return CodeRange(start, self.outer_end(place.inner, origin))
        return None

    def _inner_range(self, node: cst.CSTNode) -> Optional[CodeRange]:
        """The range of a node inside an expression that libcst parsed (an f-string)."""
        while self._parsed:
            expression, origin = self._parsed.pop()
            line, col = self._start(origin)
            line_of = cst.SimpleStatementLine(body=[cst.Expr(expression)])
            found = libcst_compat.positions(cst.Module(body=[line_of]))
            for inner, where in found.items():
                start, end = where.start, where.end
                self._parsed_ranges[inner] = CodeRange(
                    (start.line + line - 1, start.column + (col if start.line == 1 else 0)),
                    (end.line + line - 1, end.column + (col if end.line == 1 else 0)))
        return self._parsed_ranges.get(node)

    def _start(self, node: ast.AST) -> Tuple[int, int]:
        line: int = getattr(node, "lineno")
        return line, self.column(line, getattr(node, "col_offset"))

    def _end(self, node: ast.AST) -> Tuple[int, int]:
        line: int = getattr(node, "end_lineno")
        return line, self.column(line, getattr(node, "end_col_offset"))

    def _own_parens(self, built: cst.CSTNode, node: ast.AST) -> Tuple[int, Optional[CodeRange]]:
        """How many parentheses around expression `node` (built as `built`) lie outside the
        span `ast` gives it; or, for a generator expression without parentheses of its own (a
        call's sole argument), the range that is its whole extent."""
        parens = len(getattr(built, "lpar", ()))
        if type(node) is ast.Tuple or type(node) is ast.GeneratorExp:
            parens -= self._spanned.get(built, 0)
            if not getattr(built, "lpar", ()) and type(node) is ast.GeneratorExp:
                found = self.range(built)
                assert found is not None
                return 0, found
        return parens, None

    def outer_end(self, built: cst.CSTNode, node: ast.AST) -> Tuple[int, int]:
        """Where expression `node` (built as `built`) ends, its own parentheses included."""
        parens, whole = self._own_parens(built, node)
        if whole is not None:
            return whole.end.line, whole.end.column
        line, col = self._end(node)
        while parens > 0:
            paren = self._next_code(line, col)
            if paren is None:
                raise Unconvertible("a `)` missing before the end of the module")
            line, col = paren[0], paren[1] + 1
            parens -= 1
        return line, col

    def _comma_after(self, where: Tuple[int, int]) -> Tuple[int, int]:
        found = self._next_code(*where)
        if found is None or self.lines[found[0] - 1][found[1]] != ",":
            return where
        return found[0], found[1] + 1

    def code(self, node: cst.CSTNode) -> Optional[str]:
        """The source text of expression `node` (built here), its own parentheses included:
        libcst's `code_for_node` but for the indentation of continuation lines (libcst leaves
        out the enclosing block's); None if not known."""
        origin = self.origin(node)
        if not isinstance(origin, ast.expr) or not isinstance(node, cst.BaseExpression):
            return None
        (line, col), (end_line, end_col) = self.outer_start(node, origin), self.outer_end(node, origin)
        if line == end_line:
            return self.lines[line - 1][col:end_col]
        return "".join([self.lines[line - 1][col:], *self.lines[line:end_line - 1],
                        self.lines[end_line - 1][:end_col]])

    # -- statements ------------------------------------------------------------------------

    def statements(self, body: Sequence[ast.stmt], stub_methods: bool = False
                   ) -> List[Union[cst.SimpleStatementLine, cst.BaseCompoundStatement]]:
        """The libcst statements of `body` (ast statements of one block, in order): simple
        statements sharing a line (`a = 1; b = 2`) make one `SimpleStatementLine`."""
        out: List[Union[cst.SimpleStatementLine, cst.BaseCompoundStatement]] = []
        run: List[cst.BaseSmallStatement] = []
        run_leading: Sequence[cst.EmptyLine] = ()
        run_end = -1
        previous: Optional[ast.stmt] = None
        first: Any = None  # the run's first statement (set with the run)
        for statement in body:
            above, previous = previous, statement
            compound = type(statement) in _COMPOUND_TYPES
            if run and (compound or statement.lineno > run_end):
                out.append(self._line(run, run_leading, first))
                run = []
            if compound:
                leading = self.leading(statement, above)
                if stub_methods and type(statement) is ast.ClassDef:
                    self._stub_level += 1
                    try:
                        out.append(self.compound(statement, leading))
                    finally:
                        self._stub_level -= 1
                elif self._stub_level and isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out.append(self._stub(statement, leading))
                else:
                    out.append(self.compound(statement, leading))
                continue
            if not run:
                run_leading = self.leading(statement, above)
                first = statement
            run.append(self.small(statement))
            run_end = statement.end_lineno or statement.lineno
        if run:
            out.append(self._line(run, run_leading, first))
        return out

    def _line(self, run: List[cst.BaseSmallStatement], leading: Sequence[cst.EmptyLine],
              first: ast.stmt) -> cst.SimpleStatementLine:
        """The line of simple statements `run`, the first built from `first`."""
        built = cst.SimpleStatementLine(body=run, leading_lines=leading, trailing_whitespace=_TW)
        self._origin[id(built)] = (built, first)
        return built

    def leading(self, statement: ast.stmt, above: Optional[ast.stmt]) -> Sequence[cst.EmptyLine]:
        """Comment lines right above `statement` (or its first decorator), up to a blank line
        or code: the run pragmas read (`pragmas._adjacent_comments`). As in libcst, the lines
        up to the last one indented as deep as a block that ends right above belong to that
        block (its footer): `above` is the statement before in the block, if any."""
        start = statement.lineno
        for decorator in getattr(statement, "decorator_list", ()):
            start = min(start, decorator.lineno)
        if start < 2 or not self.lines[start - 2].lstrip().startswith("#"):
            return []  # most statements: no comment right above
        return self._comments_above(start, None if above is None else self._ending_indent(above))

    def _ending_indent(self, statement: ast.stmt) -> Optional[int]:
        """The indentation of the outermost indented block that `statement` ends with."""
        return self._block_indent(self._last_block(statement))

    def _last_block(self, statement: ast.stmt) -> Sequence[ast.stmt]:
        while True:
            if isinstance(statement, ast.If):
                orelse = statement.orelse
                if len(orelse) == 1 and isinstance(orelse[0], ast.If) and self._is_elif(orelse[0]):
                    statement = orelse[0]
                    continue
                return orelse or statement.body
            if isinstance(statement, ast.Try) or type(statement).__name__ == "TryStar":
                handlers = getattr(statement, "handlers")
                found: Sequence[ast.stmt] = getattr(statement, "finalbody") or getattr(statement, "orelse") \
                    or (handlers[-1].body if handlers else ()) or getattr(statement, "body")
                return found
            if isinstance(statement, (ast.For, ast.AsyncFor, ast.While)):
                return statement.orelse or statement.body
            if type(statement) in _COMPOUND_TYPES:
                body: Sequence[ast.stmt] = getattr(statement, "body", ())
                return body
            return ()

    def _block_indent(self, block: Sequence[ast.stmt]) -> Optional[int]:
        """The indentation of `block`, None if it is on its header's line."""
        if not block:
            return None
        first = block[0]
        text = self.lines[first.lineno - 1]
        col = self.column(first.lineno, first.col_offset)
        if text[:col].strip():
            return None
        return col

    def _clause_leading(self, line: int, previous: Sequence[ast.stmt]) -> Sequence[cst.EmptyLine]:
        """The comment lines above the `elif`/`else`/`except`/`finally` line `line` that are
        its own (not the footer of the block `previous` before it)."""
        return self._comments_above(line, self._block_indent(previous))

    def _trailing(self, last: ast.stmt) -> cst.TrailingWhitespace:
        """The end of the line of `last`, the last statement on a header's line: its comment."""
        line, end = self._end(last)
        rest = self.lines[line - 1][end:].rstrip("\r\n").lstrip(" \t\f")
        if rest.startswith(";"):
            rest = rest[1:].lstrip(" \t\f")
        if rest.startswith("#"):
            return cst.TrailingWhitespace(comment=cst.Comment(rest), whitespace=_SP, newline=_NL)
        return _TW

    def _comments_above(self, line: int, floor: Optional[int] = None) -> Sequence[cst.EmptyLine]:
        found: List[cst.EmptyLine] = []
        at = line - 1
        while at >= 1:
            raw = self.lines[at - 1]
            text = raw.strip()
            if not text.startswith("#"):
                break
            if floor is not None and len(raw) - len(raw.lstrip()) >= floor:
                break
            comment = raw.rstrip("\r\n").lstrip(" \t\f")  # libcst keeps a comment's trailing blanks
            found.append(cst.EmptyLine(comment=cst.Comment(comment), indent=True, whitespace=_WS,
                                       newline=_NL))
            at -= 1
        found.reverse()
        return found

    def small(self, node: ast.stmt) -> cst.BaseSmallStatement:
        # Where the statement starts: an expression that starts there has no `(` before it.
        self._statement_line, self._statement_col = node.lineno, node.col_offset
        built = self._small(node)
        self._origin[id(built)] = (built, node)
        return built

    def _small(self, node: ast.stmt) -> cst.BaseSmallStatement:
        kind = type(node)
        if kind is ast.Expr:
            assert isinstance(node, ast.Expr)
            return cst.Expr(value=self.expr(node.value))
        if kind is ast.Assign:
            assert isinstance(node, ast.Assign)
            if node.type_comment:
                raise Unconvertible("type comment")
            return cst.Assign(targets=[cst.AssignTarget(target=self.target(t), whitespace_before_equal=_SP,
                                                        whitespace_after_equal=_SP) for t in node.targets],
                              value=self.expr(node.value))
        if kind is ast.AnnAssign:
            assert isinstance(node, ast.AnnAssign)
            return cst.AnnAssign(target=self.target(node.target), annotation=self.annotation(node.annotation),
                                 value=None if node.value is None else self.expr(node.value))
        if kind is ast.AugAssign:
            assert isinstance(node, ast.AugAssign)
            return cst.AugAssign(target=self.target(node.target), operator=_op(_AUG[type(node.op)]),
                                 value=self.expr(node.value))
        if kind is ast.Return:
            assert isinstance(node, ast.Return)
            value = node.value
            return cst.Return(value=None if value is None else self.expr(value), whitespace_after_return=_SP)
        if kind is ast.Pass:
            return cst.Pass()
        if kind is ast.Break:
            return cst.Break()
        if kind is ast.Continue:
            return cst.Continue()
        if kind is ast.Raise:
            assert isinstance(node, ast.Raise)
            exc = None if node.exc is None else self.expr(node.exc)
            cause = None if node.cause is None \
                else cst.From(item=self.expr(node.cause), whitespace_after_from=_SP)
            return cst.Raise(exc=exc, cause=cause,
                             whitespace_after_raise=cst.MaybeSentinel.DEFAULT if node.exc is None else _SP)
        if kind is ast.Assert:
            assert isinstance(node, ast.Assert)
            return cst.Assert(test=self.expr(node.test),
                              msg=None if node.msg is None else self.expr(node.msg),
                              whitespace_after_assert=_SP)
        if kind is ast.Import:
            assert isinstance(node, ast.Import)
            return cst.Import(names=[self.alias(a, dotted=True) for a in node.names],
                              whitespace_after_import=_SP)
        if kind is ast.ImportFrom:
            assert isinstance(node, ast.ImportFrom)
            relative = [_op(cst.Dot)] * (node.level or 0)
            module = None if node.module is None else self.dotted(node.module)
            if len(node.names) == 1 and node.names[0].name == "*":
                return cst.ImportFrom(module=module, names=cst.ImportStar(), relative=relative,
                                      whitespace_after_from=_SP, whitespace_before_import=_SP,
                                      whitespace_after_import=_SP)
            return cst.ImportFrom(module=module, names=[self.alias(a, dotted=False) for a in node.names],
                                  relative=relative, whitespace_after_from=_SP, whitespace_before_import=_SP,
                                  whitespace_after_import=_SP)
        if kind is ast.Global:
            assert isinstance(node, ast.Global)
            return cst.Global(names=[cst.NameItem(name=cst.Name(n)) for n in node.names],
                              whitespace_after_global=_SP)
        if kind is ast.Nonlocal:
            assert isinstance(node, ast.Nonlocal)
            return cst.Nonlocal(names=[cst.NameItem(name=cst.Name(n)) for n in node.names],
                                whitespace_after_nonlocal=_SP)
        if kind is ast.Delete:
            assert isinstance(node, ast.Delete)
            if len(node.targets) == 1:
                target = self.target(node.targets[0])
            else:
                target = cst.Tuple(elements=[cst.Element(value=self.expr(t)) for t in node.targets],
                                   lpar=(), rpar=())
            return cst.Del(target=target, whitespace_after_del=_SP)
        raise Unconvertible(kind.__name__)

    def target(self, node: ast.expr, closer: Optional[Tuple[int, int]] = None, alone: bool = True) -> Any:
        """An assignment target: `ast` accepts only names, attributes, subscripts, tuples,
        lists and starred ones there, which libcst types more narrowly than expressions."""
        return self.expr(node, closer, alone)

    def dotted(self, name: str) -> Union[cst.Name, cst.Attribute]:
        parts = name.split(".")
        found: Union[cst.Name, cst.Attribute] = cst.Name(parts[0])
        for part in parts[1:]:
            found = cst.Attribute(value=found, attr=cst.Name(part), dot=_op(cst.Dot))
        return found

    def alias(self, node: ast.alias, dotted: bool) -> cst.ImportAlias:
        name = self.dotted(node.name) if dotted else cst.Name(node.name)
        asname = None if node.asname is None \
            else cst.AsName(name=cst.Name(node.asname), whitespace_before_as=_SP, whitespace_after_as=_SP)
        return cst.ImportAlias(name=name, asname=asname)

    def annotation(self, node: ast.expr) -> cst.Annotation:
        inner = self.expr(node)
        built = cst.Annotation(annotation=inner, whitespace_after_indicator=_SP)
        self._origin[id(built)] = (built, _Place("annotation", node, inner))
        return built

    def _named(self, name: str, kind: str, node: ast.AST) -> cst.Name:
        built = cst.Name(name)
        self._origin[id(built)] = (built, _Place(kind, node))
        return built

    def block(self, body: Sequence[ast.stmt], owner: ast.AST) -> cst.BaseSuite:
        """The suite of `owner`'s block `body`: an indented block, or the statements on the
        header's own line (`if x: return`)."""
        first = body[0]
        header_line = self._header_line(first)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise Unconvertible("deep")
            if first.lineno == header_line and type(first) not in _COMPOUND_TYPES:
                return cst.SimpleStatementSuite(body=[self.small(s) for s in body], leading_whitespace=_SP,
                                                trailing_whitespace=self._trailing(body[-1]))
            return cst.IndentedBlock(body=self.statements(body), header=self._header(header_line))
        finally:
            self.depth -= 1

    def _stub(self, node: Union[ast.FunctionDef, ast.AsyncFunctionDef], leading: Sequence[cst.EmptyLine]
              ) -> cst.FunctionDef:
        """A method of a top-level class with its body left out (`...`): `unstub` builds the
        whole def when a scope is made for it. Most reached classes are reached for one or
        two methods."""
        level, self._stub_level = self._stub_level, 0
        try:
            header_line = self._header_line(node.body[0])
            body = cst.IndentedBlock(body=_STUB_BODY, header=self._header(header_line)) \
                if node.body[0].lineno != header_line or type(node.body[0]) in _COMPOUND_TYPES \
                else cst.SimpleStatementSuite(body=_STUB_BODY[0].body,
                                              trailing_whitespace=self._trailing(node.body[-1]))
            built = self.function(node, leading, body)
        finally:
            self._stub_level = level
        self._origin[id(built)] = (built, node)
        self._stubs[built] = (node, leading)
        return built

    def unstub(self, node: cst.CSTNode) -> cst.CSTNode:
        """The whole def of a method built as a stub (its body built now), else `node`."""
        found = self._stubs.get(node)
        if found is None:
            return node
        full = self._unstubbed.get(node)
        if full is None:
            with libcst_compat.unvalidated():
                full = self._unstubbed[node] = self.compound(*found)
        return full

    def _header_line(self, first: ast.stmt) -> int:
        """The line of the `:` that opens the block whose first statement is `first`."""
        line = first.lineno
        for decorator in getattr(first, "decorator_list", ()):
            line = min(line, decorator.lineno)
        if self.column(first.lineno, first.col_offset) > 0 and type(first) not in _COMPOUND_TYPES \
                and self.lines[first.lineno - 1][:self.column(first.lineno, first.col_offset)].strip():
            return first.lineno  # on the header's line
        at = line - 1
        while at >= 1:
            text = self.lines[at - 1].strip()
            if text and not text.startswith("#"):
                return at
            at -= 1
        return line

    def _header(self, line: int) -> cst.TrailingWhitespace:
        """The end of a block's header line `line` (after its `:`): its comment."""
        text = self.lines[line - 1].rstrip("\r\n")
        if "#" not in text:
            return _TW
        code = self._code_part(text)
        comment = text[len(code):]
        if not comment.startswith("#"):
            return _TW
        return cst.TrailingWhitespace(comment=cst.Comment(comment), whitespace=_SP, newline=_NL)

    def compound(self, node: ast.stmt, leading: Sequence[cst.EmptyLine]) -> cst.BaseCompoundStatement:
        built = self._compound(node, leading)
        self._origin[id(built)] = (built, node)
        return built

    def _compound(self, node: ast.stmt, leading: Sequence[cst.EmptyLine]) -> cst.BaseCompoundStatement:
        kind = type(node)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise Unconvertible("deep")
            if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                return self.function(node, leading)
            if kind is ast.ClassDef:
                assert isinstance(node, ast.ClassDef)
                if getattr(node, "type_params", None):
                    raise Unconvertible("type parameters")  # `class A[T]:` (3.12): libcst parses it
                arguments = self.arguments(node.bases, node.keywords, self._class_closer(node))
                parens = bool(arguments) or self._empty_parens(node)
                bases = [a for a in arguments if a.keyword is None and a.star != "**"]
                keywords = [a for a in arguments if a.keyword is not None or a.star == "**"]
                return cst.ClassDef(
                    name=self._named(node.name, "def", node), body=self.block(node.body, node),
                    bases=bases, keywords=keywords,
                    decorators=self.decorators(node), leading_lines=leading,
                    lines_after_decorators=self._after_decorators(node),
                    lpar=_op(cst.LeftParen) if parens else cst.MaybeSentinel.DEFAULT,
                    rpar=_op(cst.RightParen) if parens else cst.MaybeSentinel.DEFAULT,
                    whitespace_after_class=_SP, whitespace_after_name=_WS, whitespace_before_colon=_WS,
                    **_AFTER_TYPE_PARAMS)
            if kind is ast.If:
                assert isinstance(node, ast.If)
                return self.if_(node, leading)
            if kind is ast.For or kind is ast.AsyncFor:
                assert isinstance(node, (ast.For, ast.AsyncFor))
                if node.type_comment:
                    raise Unconvertible("type comment")
                return cst.For(target=self.target(node.target), iter=self.expr(node.iter),
                               body=self.block(node.body, node), orelse=self.else_(node.orelse, node.body),
                               asynchronous=_ASYNC if kind is ast.AsyncFor else None,
                               leading_lines=leading, whitespace_after_for=_SP,
                               whitespace_before_in=_SP, whitespace_after_in=_SP, whitespace_before_colon=_WS)
            if kind is ast.While:
                assert isinstance(node, ast.While)
                return cst.While(test=self.expr(node.test), body=self.block(node.body, node),
                                 orelse=self.else_(node.orelse, node.body), leading_lines=leading,
                                 whitespace_after_while=_SP, whitespace_before_colon=_WS)
            if kind is ast.With or kind is ast.AsyncWith:
                assert isinstance(node, (ast.With, ast.AsyncWith))
                if node.type_comment:
                    raise Unconvertible("type comment")
                closer = self._with_closer(node)
                last = len(node.items) - 1
                return cst.With(items=[self.withitem(i, closer if at == last else None, last == 0)
                                       for at, i in enumerate(node.items)],
                                body=self.block(node.body, node),
                                asynchronous=_ASYNC if kind is ast.AsyncWith else None,
                                leading_lines=leading, whitespace_after_with=_SP,
                                whitespace_before_colon=_WS,
                                lpar=_op(cst.LeftParen) if closer else cst.MaybeSentinel.DEFAULT,
                                rpar=_op(cst.RightParen) if closer else cst.MaybeSentinel.DEFAULT)
            if kind is ast.Try:
                assert isinstance(node, ast.Try)
                handlers = [self.handler(h, node.handlers[i - 1].body if i else node.body)
                            for i, h in enumerate(node.handlers)]
                before_else = node.handlers[-1].body if node.handlers else node.body
                finalbody = None
                if node.finalbody:
                    leading_finally = self._clause_leading(self._header_line(node.finalbody[0]),
                                                           node.orelse or before_else)
                    finalbody = cst.Finally(body=self.block(node.finalbody, node),
                                            leading_lines=leading_finally, whitespace_before_colon=_WS)
                return cst.Try(body=self.block(node.body, node), handlers=handlers,
                               orelse=self.else_(node.orelse, before_else), finalbody=finalbody,
                               leading_lines=leading, whitespace_before_colon=_WS)
            raise Unconvertible(kind.__name__)
        finally:
            self.depth -= 1

    def _empty_parens(self, node: ast.ClassDef) -> bool:
        """`class A():`: parentheses without bases."""
        name = self._def_name(node)
        if name is None:
            raise Unconvertible("class header")
        return self.lines[name.end.line - 1][name.end.column:].lstrip(" \t\f").startswith("(")

    def _class_closer(self, node: ast.ClassDef) -> Optional[Tuple[int, int]]:
        """Where the `)` after the bases of a class with one base is."""
        if len(node.bases) + len(node.keywords) != 1:
            return None
        line = self._header_line(node.body[0])
        text = self.lines[line - 1]
        if "#" in text:
            text = self._code_part(text.rstrip("\r\n"))
        text = text.rstrip()
        if not text.endswith(":"):
            raise Unconvertible("class header")
        text = text[:-1].rstrip()
        if not text.endswith(")"):
            raise Unconvertible("class header")
        return line, len(text) - 1

    def if_(self, node: ast.If, leading: Sequence[cst.EmptyLine]) -> cst.If:
        orelse: Union[cst.If, cst.Else, None] = None
        if node.orelse:
            first = node.orelse[0]
            if len(node.orelse) == 1 and isinstance(first, ast.If) and self._is_elif(first):
                self.depth += 1
                try:
                    if self.depth > MAX_DEPTH:
                        raise Unconvertible("deep")
                    orelse = self.if_(first, self._clause_leading(first.lineno, node.body))
                finally:
                    self.depth -= 1
                self._origin[id(orelse)] = (orelse, first)
            else:
                orelse = self.else_(node.orelse, node.body)
        return cst.If(test=self.expr(node.test), body=self.block(node.body, node), orelse=orelse,
                      leading_lines=leading, whitespace_before_test=_SP, whitespace_after_test=_WS)

    def _is_elif(self, node: ast.If) -> bool:
        line = self.lines[node.lineno - 1]
        return line[self.column(node.lineno, node.col_offset):].startswith("elif")

    def else_(self, body: Sequence[ast.stmt], previous: Sequence[ast.stmt]) -> Optional[cst.Else]:
        if not body:
            return None
        return cst.Else(body=self.block(body, body[0]),
                        leading_lines=self._clause_leading(self._header_line(body[0]), previous),
                        whitespace_before_colon=_WS)

    def handler(self, node: ast.ExceptHandler, previous: Sequence[ast.stmt]) -> cst.ExceptHandler:
        built = cst.ExceptHandler(
            leading_lines=self._clause_leading(node.lineno, previous),
            body=self.block(node.body, node), type=None if node.type is None else self.expr(node.type),
            name=None if node.name is None else cst.AsName(name=cst.Name(node.name), whitespace_before_as=_SP,
                                                           whitespace_after_as=_SP),
            whitespace_after_except=_SP if node.type is not None else _WS, whitespace_before_colon=_WS)
        self._origin[id(built)] = (built, node)
        return built

    def withitem(self, node: ast.withitem, closer: Optional[Tuple[int, int]] = None,
                 alone: bool = True) -> cst.WithItem:
        """`closer`: where the `)` of the statement's parentheses is (`with (a as b):`), for
        the last item; `alone`: the only item."""
        if node.optional_vars is None:
            return cst.WithItem(item=self.expr(node.context_expr, closer, alone))
        return cst.WithItem(item=self.expr(node.context_expr),
                            asname=cst.AsName(name=self.target(node.optional_vars, closer, False),
                                              whitespace_before_as=_SP, whitespace_after_as=_SP))

    def _with_closer(self, node: Union[ast.With, ast.AsyncWith]) -> Optional[Tuple[int, int]]:
        """Where the `)` is when the items of `with` are in the statement's own parentheses
        (`with (a as b, c):`), else None (`with (a) as b:`: the first item's)."""
        first = node.items[0].context_expr
        line, col = first.lineno, self.column(first.lineno, first.col_offset)
        if not self._count_before(line, col, 1):
            return None
        # The `(` right before the first item, then its matching `)`: read with the tokenizer.
        start = self._start(node)
        header = self._header_line(node.body[0])
        text = self.lines[start[0] - 1][start[1]:]
        rest = iter([text] + list(self.lines[start[0]:header]))
        depth = 0
        closer: Optional[Tuple[int, int]] = None
        try:
            for token in tokenize.generate_tokens(lambda: next(rest, "")):
                if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE):
                    continue
                if closer is not None:  # the statement's when a `:` follows
                    return closer if token.string == ":" else None
                if token.type != tokenize.OP:
                    continue
                if token.string in "([{":
                    depth += 1
                elif token.string in ")]}":
                    depth -= 1
                    if depth == 0:
                        row, column = token.start
                        closer = start[0] + row - 1, column + (start[1] if row == 1 else 0)
        except (tokenize.TokenError, SyntaxError):
            pass
        raise Unconvertible("with (...)")

    def decorators(self, node: Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]
                   ) -> List[cst.Decorator]:
        found = []
        for index, decorator in enumerate(node.decorator_list):
            leading: Sequence[cst.EmptyLine] = self._comments_above(decorator.lineno) if index else ()
            inner = self.expr(decorator)
            built = cst.Decorator(decorator=inner, leading_lines=leading, whitespace_after_at=_WS,
                                  trailing_whitespace=_TW)
            self._origin[id(built)] = (built, _Place("decorator", decorator, inner))
            found.append(built)
        return found

    def _after_decorators(self, node: Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]
                          ) -> Sequence[cst.EmptyLine]:
        return self._comments_above(node.lineno) if node.decorator_list else ()

    def function(self, node: Union[ast.FunctionDef, ast.AsyncFunctionDef], leading: Sequence[cst.EmptyLine],
                 body: Optional[cst.BaseSuite] = None) -> cst.FunctionDef:
        if node.type_comment:
            raise Unconvertible("type comment")
        if getattr(node, "type_params", None):
            raise Unconvertible("type parameters")  # `def f[T]():` (3.12): libcst parses it
        return cst.FunctionDef(
            name=self._named(node.name, "def", node), params=self.parameters(node.args, node),
            body=self.block(node.body, node) if body is None else body, decorators=self.decorators(node),
            returns=None if node.returns is None else self.annotation(node.returns),
            asynchronous=_ASYNC if isinstance(node, ast.AsyncFunctionDef) else None,
            leading_lines=leading, lines_after_decorators=self._after_decorators(node),
            whitespace_after_def=_SP, whitespace_after_name=_WS, whitespace_before_params=_WS,
            whitespace_before_colon=_WS, **_AFTER_TYPE_PARAMS)

    def parameters(self, args: ast.arguments, owner: ast.AST) -> cst.Parameters:
        built = self._parameters_of(args)
        self._origin[id(built)] = (built, _Place("params", owner))
        return built

    def _parameters_of(self, args: ast.arguments) -> cst.Parameters:
        positional = args.posonlyargs + args.args
        defaults: List[Optional[ast.expr]] = [None] * (len(positional) - len(args.defaults))
        defaults.extend(args.defaults)
        params = [self.param(a, d) for a, d in zip(positional, defaults)]
        posonly = params[:len(args.posonlyargs)]
        plain = params[len(args.posonlyargs):]
        star: Union[cst.Param, cst.ParamStar, cst.MaybeSentinel] = cst.MaybeSentinel.DEFAULT
        if args.vararg is not None:
            star = self.param(args.vararg, None, "*")
        elif args.kwonlyargs:
            star = cst.ParamStar()
        kwonly = [self.param(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults)]
        return cst.Parameters(params=plain, star_arg=star, kwonly_params=kwonly,
                              star_kwarg=None if args.kwarg is None else self.param(args.kwarg, None, "**"),
                              posonly_params=posonly,
                              posonly_ind=cst.ParamSlash() if posonly else cst.MaybeSentinel.DEFAULT)

    def param(self, node: ast.arg, default: Optional[ast.expr], star: str = "") -> cst.Param:
        if node.type_comment:
            raise Unconvertible("type comment")
        built = cst.Param(name=self._named(node.arg, "name", node),
                          annotation=None if node.annotation is None else self.annotation(node.annotation),
                          default=None if default is None else self.expr(default), star=star,
                          whitespace_after_star=_WS, whitespace_after_param=_WS)
        self._origin[id(built)] = (built, _Place("param", node))
        return built

    # -- expressions -----------------------------------------------------------------------

    def expr(self, node: ast.expr, closer: Optional[Tuple[int, int]] = None,
             alone: bool = True) -> cst.BaseExpression:
        """The libcst expression of `node`, with the parentheses written around it. `closer`:
        where the `)` of the parent's own parentheses is when `node` is alone between them
        (`f((a))`: one pair is a's), or with `alone` False, the last thing between them
        (`with (a, (b)):`)."""
        kind = type(node)
        built: cst.BaseExpression
        if kind is ast.Name or kind is ast.Constant:  # leaves: no depth to count
            if self.depth >= MAX_DEPTH:
                raise Unconvertible("deep")
            if kind is ast.Name:
                built = cst.Name(cast(ast.Name, node).id)
            else:
                built = self._constant(cast(ast.Constant, node))
        else:
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise Unconvertible("deep")
                make = _EXPRESSIONS.get(kind)
                if make is None:
                    raise Unconvertible(kind.__name__)
                built = make(self, node)
            finally:
                self.depth -= 1
        # Most expressions have no parentheses of their own, which a look at the characters
        # around them tells: no `)` follows, or no `(` comes before on their line.
        end_line = node.end_lineno or node.lineno
        text = self.lines[end_line - 1]
        ascii_ = self._ascii.get(end_line)
        if ascii_ is None:
            ascii_ = self._ascii[end_line] = text.isascii()
        end = node.end_col_offset or 0
        parens = -1  # not known yet
        if ascii_ and end < len(text):
            after = text[end]
            if after not in _MAYBE_PAREN:
                parens = 0
            elif after == ")":
                if closer is not None and closer == (end_line, end):  # the parent's `)`
                    parens = 0
            elif after in " \t\f":
                rest = text[end:].lstrip(" \t\f")
                if rest and rest[0] not in _MAYBE_PAREN:
                    parens = 0
        if parens < 0:
            start_line = node.lineno
            if start_line == self._statement_line and node.col_offset == self._statement_col:
                parens = 0  # it starts its statement (`x = 1`, `f()`)
            else:
                ascii_ = self._ascii.get(start_line)
                if ascii_ is None:
                    ascii_ = self._ascii[start_line] = self.lines[start_line - 1].isascii()
                head = self.lines[start_line - 1][:node.col_offset].rstrip(" \t\f") if ascii_ else ""
                if head and head[-1] != "(":
                    parens = 0
                else:
                    parens = self._parens(node, closer, alone)
        if kind is ast.Tuple or kind is ast.GeneratorExp:
            inner = self._inner_paren.pop(node, 0)
            parens += inner
            if parens:
                built = built.with_changes(lpar=[_LPAR] * parens, rpar=[_RPAR] * parens)
                self._spanned[built] = inner
        elif parens:
            built = built.with_changes(lpar=[_LPAR] * parens, rpar=[_RPAR] * parens)
        self._origin[id(built)] = (built, node)
        return built

    def _parens(self, node: ast.expr, closer: Optional[Tuple[int, int]] = None, alone: bool = True) -> int:
        """How many pairs of parentheses directly around `node` are its own: as many as the
        `(` right before it and the `)` right after it both count, less the parent's pair."""
        line = node.end_lineno or node.lineno
        after, where = self._count_after(line, self.column(line, node.end_col_offset or 0))
        wrapped = 0
        if after and closer is not None and closer in where:
            after = where.index(closer)  # the parent's `)` closes the run of its own
            wrapped = 1 if alone else 0
        if after <= 0:
            return 0
        before = self._count_before(node.lineno, self.column(node.lineno, node.col_offset), after + wrapped)
        return max(0, min(before - wrapped, after))

    def _count_after(self, line: int, col: int) -> Tuple[int, List[Tuple[int, int]]]:
        """`)` tokens right after (line, col), across whitespace, comments and line breaks,
        and where they are."""
        where: List[Tuple[int, int]] = []
        while True:
            found = self._next_code(line, col)
            if found is None or self.lines[found[0] - 1][found[1]] != ")":
                return len(where), where
            where.append(found)
            line, col = found[0], found[1] + 1

    def _count_before(self, line: int, col: int, limit: int) -> int:
        """`(` tokens right before (line, col), up to `limit`, across whitespace, comment
        lines and line breaks."""
        found = 0
        text = self.lines[line - 1][:col]
        while True:
            stripped = text.rstrip(" \t\f")
            if stripped:
                if stripped[-1] != "(":
                    return found
                found += 1
                if found >= limit:
                    return found
                text = stripped[:-1]
                continue
            line -= 1
            if line < 1:
                return found
            text = self.lines[line - 1].rstrip("\r\n")
            if "#" in text:
                text = self._code_part(text)
            elif text.endswith("\\"):
                text = text[:-1]

    @staticmethod
    def _code_part(text: str) -> str:
        """`text` (one line of code) without its comment."""
        if text.lstrip().startswith("#"):
            return ""
        import io
        import tokenize

        try:
            for token in tokenize.generate_tokens(io.StringIO(text).readline):
                if token.type == tokenize.COMMENT:
                    return text[:token.start[1]]
        except tokenize.TokenError as error:  # the line leaves a bracket open: as expected
            if "multi-line statement" not in str(error):
                raise Unconvertible("comment") from None
        except SyntaxError:
            raise Unconvertible("comment") from None
        return text

    def _name(self, node: ast.Name) -> cst.BaseExpression:
        return cst.Name(node.id)

    def _constant(self, node: ast.Constant) -> cst.BaseExpression:
        value = node.value
        if value is None or value is True or value is False:
            return cst.Name(str(value))
        if value is Ellipsis:
            return cst.Ellipsis()
        text = self.segment(node)
        if isinstance(value, (str, bytes)):
            if _STRING.fullmatch(text):
                return cst.SimpleString(text)
            return self._concatenated(text)
        if isinstance(value, complex):
            return cst.Imaginary(text)
        if isinstance(value, float):
            return cst.Float(text)
        return cst.Integer(text)

    def _concatenated(self, text: str) -> cst.BaseExpression:
        parts = []
        at = 0
        while at < len(text):
            match = _STRING.match(text, at)
            if match is None:
                gap = re.match(r"(?:[ \t\f\r\n]|\\\r?\n|#[^\r\n]*)+", text[at:])
                if gap is None:
                    raise Unconvertible("string")
                at += gap.end()
                continue
            parts.append(cst.SimpleString(match.group()))
            at = match.end()
        if len(parts) < 2:
            raise Unconvertible("string")
        found: Union[cst.SimpleString, cst.ConcatenatedString] = parts[-1]
        for part in reversed(parts[:-1]):
            found = cst.ConcatenatedString(left=part, right=found, whitespace_between=_WS)
        return found

    def _attribute(self, node: ast.Attribute) -> cst.BaseExpression:
        return cst.Attribute(value=self.expr(node.value), attr=self._named(node.attr, "attr", node),
                             dot=_DOT)

    def _call(self, node: ast.Call) -> cst.BaseExpression:
        func = self.expr(node.func)
        end = self._end(node)
        return cst.Call(func=func, args=self.arguments(node.args, node.keywords, (end[0], end[1] - 1)),
                        whitespace_after_func=_WS, whitespace_before_args=_WS)

    def arguments(self, args: Sequence[ast.expr], keywords: Sequence[ast.keyword],
                  closer: Optional[Tuple[int, int]]) -> List[cst.Arg]:
        """The arguments between a pair of parentheses, in source order; `closer`: where the
        `)` is."""
        items: List[Union[ast.expr, ast.keyword]] = [*args, *keywords]
        if keywords and args:
            items.sort(key=lambda item: (item.lineno, item.col_offset))
        last = len(items) - 1
        found = []
        for item in items:
            if isinstance(item, ast.keyword):
                value = self.expr(item.value)
                if item.arg is None:
                    built = cst.Arg(value=value, star="**", whitespace_after_star=_WS,
                                    whitespace_after_arg=_WS)
                else:
                    built = cst.Arg(value=value, keyword=self._named(item.arg, "name", item),
                                    equal=_EQUAL,
                                    whitespace_after_star=_WS, whitespace_after_arg=_WS)
            elif isinstance(item, ast.Starred):
                built = cst.Arg(value=self.expr(item.value), star="*", whitespace_after_star=_WS,
                                whitespace_after_arg=_WS)
            else:
                if type(item) is ast.GeneratorExp and last == 0 \
                        and not self._count_before(item.lineno, self.column(item.lineno, item.col_offset), 1):
                    self._inner_paren[item] = 0  # `f(x for x in y)`: the call's parentheses
                built = cst.Arg(value=self.expr(item, closer if last == 0 else None),
                                whitespace_after_star=_WS, whitespace_after_arg=_WS)
            self._origin[id(built)] = (built, item)
            found.append(built)
        return found

    def _subscript(self, node: ast.Subscript) -> cst.BaseExpression:
        index = node.slice
        if isinstance(index, ast.Tuple) and not self.parenthesized_tuple(index):
            elements = [self._slice_element(e) for e in index.elts]
        else:
            elements = [self._slice_element(index)]
        return cst.Subscript(value=self.expr(node.value), slice=elements, lbracket=_LSQB,
                             rbracket=_RSQB, whitespace_after_value=_WS)

    def _slice_element(self, node: ast.expr) -> cst.SubscriptElement:
        if isinstance(node, ast.Slice):
            return cst.SubscriptElement(slice=cst.Slice(
                lower=None if node.lower is None else self.expr(node.lower),
                upper=None if node.upper is None else self.expr(node.upper),
                step=None if node.step is None else self.expr(node.step), first_colon=_COLON))
        if isinstance(node, ast.Starred):
            raise Unconvertible("starred subscript")
        return cst.SubscriptElement(slice=cst.Index(value=self.expr(node)))

    def _binop(self, node: ast.BinOp) -> cst.BaseExpression:
        return cst.BinaryOperation(left=self.expr(node.left), operator=_op(_BIN[type(node.op)]),
                                   right=self.expr(node.right))

    def _boolop(self, node: ast.BoolOp) -> cst.BaseExpression:
        operator = _op(_BOOL[type(node.op)])
        found = self.expr(node.values[0])
        last = len(node.values) - 1
        for index, value in enumerate(node.values[1:], 1):
            found = cst.BooleanOperation(left=found, operator=operator, right=self.expr(value))
            if index < last:  # `a and b` of `a and b and c`: from a's start to b's end
                self._origin[id(found)] = (found, _Span(node.values[0], value))
        return found

    def _unaryop(self, node: ast.UnaryOp) -> cst.BaseExpression:
        return cst.UnaryOperation(operator=_op(_UNARY[type(node.op)]), expression=self.expr(node.operand))

    def _compare(self, node: ast.Compare) -> cst.BaseExpression:
        return cst.Comparison(left=self.expr(node.left), comparisons=[
            cst.ComparisonTarget(operator=_op(_CMP[type(op)]), comparator=self.expr(right))
            for op, right in zip(node.ops, node.comparators)])

    def _ifexp(self, node: ast.IfExp) -> cst.BaseExpression:
        return cst.IfExp(test=self.expr(node.test), body=self.expr(node.body), orelse=self.expr(node.orelse),
                         whitespace_before_if=_SP, whitespace_after_if=_SP, whitespace_before_else=_SP,
                         whitespace_after_else=_SP)

    def _lambda(self, node: ast.Lambda) -> cst.BaseExpression:
        return cst.Lambda(params=self.parameters(node.args, node), body=self.expr(node.body),
                          colon=_LAMBDA_COLON)

    def _elements(self, elts: Sequence[ast.expr]) -> List[cst.BaseElement]:
        return [cst.StarredElement(value=self.expr(e.value), whitespace_before_value=_WS)
                if isinstance(e, ast.Starred)
                else cst.Element(value=self.expr(e)) for e in elts]

    def _tuple(self, node: ast.Tuple) -> cst.BaseExpression:
        if self.parenthesized_tuple(node):
            self._inner_paren[node] = 1
            return cst.Tuple(elements=self._elements(node.elts), lpar=(), rpar=())
        return cst.Tuple(elements=self._elements(node.elts), lpar=(), rpar=())

    def parenthesized_tuple(self, node: ast.Tuple) -> bool:
        """The parentheses `ast` counts in the span of `node` are its own (`(a, b)`, not
        `(a), b`)."""
        if not node.elts:
            return True
        first = node.elts[0]
        outer = self._back(first.lineno, self.column(first.lineno, first.col_offset), self._parens(first))
        return (node.lineno, self.column(node.lineno, node.col_offset)) < outer

    def outer_start(self, built: cst.CSTNode, node: ast.AST) -> Tuple[int, int]:
        """(line, character column) where expression `node` (built as `built`) starts, its
        own parentheses included."""
        parens, whole = self._own_parens(built, node)
        if whole is not None:
            return whole.start.line, whole.start.column
        return self._back(*self._start(node), parens)

    def _back(self, line: int, col: int, parens: int) -> Tuple[int, int]:
        """Where the `parens`-th `(` before (line, col) is."""
        while parens:
            text = self.lines[line - 1][:col].rstrip(" \t\f")
            if not text:
                line -= 1
                col = len(self.lines[line - 1].rstrip("\r\n"))
                text = self.lines[line - 1].rstrip("\r\n")
                if "#" in text:
                    col = len(self._code_part(text))
                continue
            col = len(text) - 1  # a `(`
            parens -= 1
        return line, col

    def _list(self, node: ast.List) -> cst.BaseExpression:
        return cst.List(elements=self._elements(node.elts), **_BRACKETS)

    def _set(self, node: ast.Set) -> cst.BaseExpression:
        return cst.Set(elements=self._elements(node.elts), **_BRACES)

    def _dict(self, node: ast.Dict) -> cst.BaseExpression:
        elements: List[cst.BaseDictElement] = []
        for key, value in zip(node.keys, node.values):
            if key is None:
                elements.append(cst.StarredDictElement(value=self.expr(value), whitespace_before_value=_WS))
            else:
                elements.append(cst.DictElement(key=self.expr(key), value=self.expr(value),
                                                whitespace_before_colon=_WS, whitespace_after_colon=_SP))
        return cst.Dict(elements=elements, **_BRACES)

    def _for_in(self, generators: Sequence[ast.comprehension]) -> cst.CompFor:
        found: Optional[cst.CompFor] = None
        for generator in reversed(generators):
            ifs = [cst.CompIf(test=self.expr(test), whitespace_before=_SP, whitespace_before_test=_SP)
                   for test in generator.ifs]
            found = cst.CompFor(target=self.target(generator.target), iter=self.expr(generator.iter), ifs=ifs,
                                inner_for_in=found,
                                asynchronous=_ASYNC if generator.is_async else None, whitespace_before=_SP,
                                whitespace_after_for=_SP, whitespace_before_in=_SP, whitespace_after_in=_SP)
        assert found is not None
        return found

    def _listcomp(self, node: ast.ListComp) -> cst.BaseExpression:
        return cst.ListComp(elt=self.expr(node.elt), for_in=self._for_in(node.generators), **_BRACKETS)

    def _setcomp(self, node: ast.SetComp) -> cst.BaseExpression:
        return cst.SetComp(elt=self.expr(node.elt), for_in=self._for_in(node.generators), **_BRACES)

    def _genexp(self, node: ast.GeneratorExp) -> cst.BaseExpression:
        self._inner_paren.setdefault(node, 1)
        return cst.GeneratorExp(elt=self.expr(node.elt), for_in=self._for_in(node.generators), lpar=(),
                                rpar=())

    def _dictcomp(self, node: ast.DictComp) -> cst.BaseExpression:
        return cst.DictComp(key=self.expr(node.key), value=self.expr(node.value),
                            for_in=self._for_in(node.generators), whitespace_before_colon=_WS,
                            whitespace_after_colon=_SP, **_BRACES)

    def _await(self, node: ast.Await) -> cst.BaseExpression:
        return cst.Await(expression=self.expr(node.value), whitespace_after_await=_SP)

    def _yield(self, node: ast.Yield) -> cst.BaseExpression:
        return cst.Yield(value=None if node.value is None else self.expr(node.value))

    def _yieldfrom(self, node: ast.YieldFrom) -> cst.BaseExpression:
        return cst.Yield(value=cst.From(item=self.expr(node.value), whitespace_after_from=_SP))

    def _namedexpr(self, node: ast.NamedExpr) -> cst.BaseExpression:
        return cst.NamedExpr(target=self.expr(node.target), value=self.expr(node.value))

    def _starred(self, node: ast.Starred) -> cst.BaseExpression:
        raise Unconvertible("starred")

    def _joinedstr(self, node: ast.JoinedStr) -> cst.BaseExpression:
        found = self._fstring(node)
        if not isinstance(found, str):
            return found
        # Not built (`found` says why): libcst reads this one.
        try:
            parsed = cst.parse_expression("(" + self.segment(node) + ")").with_changes(lpar=(), rpar=())
        except Exception:
            raise Unconvertible("f-string") from None
        self._parsed.append((parsed, node))
        return parsed

    # f-strings: `ast` gives their structure (the fields, in order, and the expression of
    # each); the text between the fields, the conversions, the format specs and the
    # whitespace inside the braces are read from the source, between the fields' expressions.
    # Before Python 3.12 `ast` places an f-string's expressions by a search in its text, which
    # some f-strings mislead (a field on a later line of the f-string, after a line
    # continuation, ...): an expression is built only where the source puts it (right after
    # its field's `{` and blanks, up to blanks and `=`, `!`, `:` or `}`), on one line.

    def _fstring(self, node: ast.JoinedStr) -> Union[cst.BaseExpression, str]:
        """f-string `node` (with the strings implicitly concatenated to it) built from its
        `ast` and its source text as libcst's parser builds it; or why not (a word)."""
        text = self.segment(node)
        if "\r" in text and text.count("\r") != text.count("\r\n"):
            return "line break"
        reader = _FieldReader(self, text, *self._start(node), node.values)
        strings: List[Union[cst.FormattedString, cst.SimpleString]] = []
        spans: List[Tuple[int, int]] = []
        at = 0
        while at < len(text):
            if strings:  # what may come between implicitly concatenated strings
                gap = _GAP.match(text, at)
                at = at if gap is None else gap.end()
            start = at
            prefix = _FSTRING_PREFIX.match(text, at)
            if prefix is None:
                plain = _STRING.match(text, at)
                if plain is None:
                    return "string"
                strings.append(cst.SimpleString(plain.group()))
                at = plain.end()
            else:
                quote = prefix.group(2)
                try:
                    parts, at = reader.parts(prefix.end(), quote, "r" in prefix.group(1).lower())
                except Unconvertible as error:  # in a field's expression
                    if str(error) == "deep":
                        raise
                    return str(error)
                if parts is None:
                    return reader.problem
                if not text.startswith(quote, at):
                    return "string"
                at += len(quote)
                strings.append(cst.FormattedString(parts=parts, start=prefix.group(), end=_QUOTES[quote]))
            spans.append((start, at))
        if reader.left() or not strings:
            return "fields"
        if len(strings) == 1:
            return strings[0]
        # Implicitly concatenated strings: libcst nests them to the right. Each is placed here.
        found: Union[cst.FormattedString, cst.SimpleString, cst.ConcatenatedString] = strings[-1]
        end = reader.position(spans[-1][1])
        for index in range(len(strings) - 1, -1, -1):
            string = strings[index]
            start_at = reader.position(spans[index][0])
            self._origin[id(string)] = (string, _Place("at", node, where=_range_of(
                start_at, end if string is found else reader.position(spans[index][1]))))
            if string is not found:
                found = cst.ConcatenatedString(left=string, right=found, whitespace_between=_WS)
                if index:  # the outermost is placed by `expr`, as its `ast` node
                    self._origin[id(found)] = (found, _Place("at", node, where=_range_of(start_at, end)))
        return found


class _FieldReader:
    """Reads the fields of the f-strings of one `ast.JoinedStr` from its source text `text`
    (which starts at (`line`, `col`) of the module), taking the fields' `ast` nodes in
    order."""

    def __init__(self, converter: Converter, text: str, line: int, col: int,
                 values: Sequence[ast.expr]) -> None:
        self.converter = converter
        self.text = text
        self.line = line
        self.col = col
        self.values = [v for v in values if isinstance(v, ast.FormattedValue)]
        self.next = 0
        self.problem = ""
        # Where each line of `text` after its first starts.
        self.breaks = [m.end() for m in re.finditer("\n", text)] if "\n" in text else []

    def left(self) -> bool:
        return self.next < len(self.values)

    def position(self, at: int) -> Tuple[int, int]:
        """The (line, character column) in the module of offset `at` of the text."""
        breaks = self.breaks
        if not breaks or at < breaks[0]:
            return self.line, self.col + at
        index = bisect.bisect_right(breaks, at)
        return self.line + index, at - breaks[index - 1]

    def offset(self, where: Tuple[int, int]) -> int:
        """The offset in the text of (line, character column) `where` of the module, -1 if
        outside the text."""
        index = where[0] - self.line
        if index == 0:
            return where[1] - self.col
        if index < 0 or index > len(self.breaks):
            return -1
        return self.breaks[index - 1] + where[1]

    def _fail(self, problem: str) -> Tuple[None, int]:
        self.problem = problem
        return None, 0

    def parts(self, at: int, quote: str, raw: bool, spec: Optional[List[ast.FormattedValue]] = None
              ) -> Tuple[Optional[Tuple[cst.BaseFormattedStringContent, ...]], int]:
        """The parts from offset `at` of the text up to the closing `quote` or, in a format
        spec (`spec`: the `ast` fields in it, taken as read), up to the `}` that closes its
        field; and where they end. None (and `problem` said) for what is not read exactly."""
        text = self.text
        literal = _SPEC_LITERAL if spec is not None else _literal(quote, raw)
        found: List[cst.BaseFormattedStringContent] = []
        size = len(text)
        while True:
            end = _past(literal, text, at)
            if end > at:
                found.append(cst.FormattedStringText(text[at:end]))
                at = end
            if at >= size or text[at] != "{":
                return tuple(found), at
            if spec is None:
                value = self.values[self.next] if self.next < len(self.values) else None
                self.next += 1
            else:
                value = spec.pop(0) if spec else None
            if value is None:
                return self._fail("fields")
            field, at = self._field(at, value, quote, raw)
            if field is None:
                return None, 0
            found.append(field)

    def _field(self, at: int, value: ast.FormattedValue, quote: str, raw: bool
               ) -> Tuple[Optional[cst.FormattedStringExpression], int]:
        """The field at offset `at` (its `{`), whose `ast` is `value`: `{`, blanks, the
        expression, blanks, `=`, `!c`, `:spec`, `}`."""
        text = self.text
        converter = self.converter
        before_end = _past(_BLANKS, text, at + 1)
        before = text[at + 1:before_end]
        expression = value.value
        line = expression.lineno
        if line != expression.end_lineno:
            return self._fail("multi-line field")
        col = converter.column(line, expression.col_offset)
        start = self.offset((line, col))
        if start < before_end or text[before_end:start].strip(" \t("):
            return self._fail("placed elsewhere")
        built = converter.expr(expression)
        if built.lpar:  # its own parentheses (or a tuple's that `ast` counts)
            start = self.offset(converter.outer_start(built, expression))
            stop = self.offset(converter.outer_end(built, expression))
        else:
            stop = start + converter.column(line, expression.end_col_offset or 0) - col
        if start != before_end:
            return self._fail("placed elsewhere")
        at = _past(_BLANKS, text, stop)
        after = text[stop:at]
        equal = None
        if text.startswith("=", at):  # `{x = }`: the blanks around `=` are its own
            end = _past(_BLANKS, text, at + 1)
            equal = cst.AssignEqual(whitespace_before=_blank(after),
                                    whitespace_after=_blank(text[at + 1:end]))
            after, at = "", end
        conversion = None
        if text.startswith("!", at):
            conversion = text[at + 1:at + 2]
            if conversion not in ("r", "s", "a") or value.conversion != ord(conversion):
                return self._fail("conversion")
            at += 2
        format_spec = None
        if text.startswith(":", at):
            spec = value.format_spec
            nested = [v for v in spec.values if isinstance(v, ast.FormattedValue)] \
                if isinstance(spec, ast.JoinedStr) else []
            format_spec, at = self.parts(at + 1, quote, raw, nested)
            if format_spec is None:
                return None, 0
            if nested:
                return self._fail("fields")
        if not text.startswith("}", at):
            return self._fail("field end")
        return cst.FormattedStringExpression(
            expression=built, conversion=conversion, format_spec=format_spec,
            whitespace_before_expression=_blank(before), whitespace_after_expression=_blank(after),
            equal=equal), at + 1


def _past(pattern: "re.Pattern[str]", text: str, at: int) -> int:
    """Where the match of `pattern` (which matches the empty text too) at `at` ends."""
    found = pattern.match(text, at)
    return at if found is None else found.end()


def _blank(text: str) -> cst.SimpleWhitespace:
    return _WS if not text else _SP if text == " " else cst.SimpleWhitespace(text)


_QUOTES: Dict[str, Literal['"', "'", '"""', "'''"]] = {'"': '"', "'": "'", '"""': '"""', "'''": "'''"}
_FSTRING_PREFIX = re.compile("([rR]?[fF][rR]?)('''|\"\"\"|'|\")")
_GAP = re.compile(r"(?:[ \t\f\r\n]|\\\r?\n|#[^\r\n]*)+")
_BLANKS = re.compile(r"[ \t]*")
# The text of a format spec: no escapes (`{{` there opens a field), no line break.
_SPEC_LITERAL = re.compile(r"[^{}\\\r\n]*")
_LITERALS: Dict[Tuple[str, bool], "re.Pattern[str]"] = {}


def _literal(quote: str, raw: bool) -> "re.Pattern[str]":
    """The text between an f-string's fields (`quote` closes the string): doubled braces, and
    escapes as written (`\\N{name}` whole; a backslash before a brace is one of the text)."""
    found = _LITERALS.get((quote, raw))
    if found is None:
        mark = quote[0]
        plain = f"[^{{}}\\\\{mark}]+|{mark}(?!{mark}{mark})" if len(quote) == 3 \
            else f"[^{{}}\\\\{mark}\\r\\n]+"
        escape = r"\\[^{}]?" if raw else r"\\N\{[^{}\r\n]*\}|\\[^{}N]?"
        found = _LITERALS[quote, raw] = re.compile(f"(?:{plain}|{{{{|}}}}|{escape})*")
    return found


_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
             ast.With, ast.AsyncWith, ast.Try) \
    + tuple(getattr(ast, k) for k in ("TryStar", "Match") if hasattr(ast, k))

_COMPOUND_TYPES = frozenset(_COMPOUND)

_COMPOSED: Dict[type, Callable[[Converter, Any], Optional[CodeRange]]] = {
    cst.AssignTarget: Converter._assign_target, cst.IndentedBlock: Converter._suite,
    cst.SimpleStatementSuite: Converter._suite, cst.Element: Converter._element,
    cst.DictElement: Converter._dict_element, cst.SubscriptElement: Converter._subscript_element,
    cst.Index: Converter._index, cst.CompFor: Converter._comp_for, cst.CompIf: Converter._comp_if,
    cst.WithItem: Converter._with_item, cst.Else: Converter._else,
    cst.Finally: Converter._else,
}

_EXPRESSIONS: Dict[type, Callable[[Converter, Any], cst.BaseExpression]] = {
    ast.Name: Converter._name, ast.Constant: Converter._constant, ast.Attribute: Converter._attribute,
    ast.Call: Converter._call, ast.Subscript: Converter._subscript, ast.BinOp: Converter._binop,
    ast.BoolOp: Converter._boolop, ast.UnaryOp: Converter._unaryop, ast.Compare: Converter._compare,
    ast.IfExp: Converter._ifexp, ast.Lambda: Converter._lambda, ast.Tuple: Converter._tuple,
    ast.List: Converter._list, ast.Set: Converter._set, ast.Dict: Converter._dict,
    ast.ListComp: Converter._listcomp, ast.SetComp: Converter._setcomp, ast.GeneratorExp: Converter._genexp,
    ast.DictComp: Converter._dictcomp, ast.Await: Converter._await, ast.Yield: Converter._yield,
    ast.YieldFrom: Converter._yieldfrom, ast.NamedExpr: Converter._namedexpr, ast.Starred: Converter._starred,
    ast.JoinedStr: Converter._joinedstr,
}


_LIVE: "weakref.WeakSet[Converter]" = weakref.WeakSet()  # converters of modules still in use


def code_for(node: cst.CSTNode) -> str:
    """`node`'s code as libcst's `code_for_node` renders it: for an expression built here, the
    source text (its whitespace defaults would render otherwise)."""
    for converter in list(_LIVE):
        if converter.origin(node) is not None:
            found = converter.code(node)
            if found is not None:
                return found
            break
    return cst.Module(body=[]).code_for_node(node)


def convert(statements: Sequence[ast.stmt], lines: Sequence[str]) -> Tuple[cst.Module, Converter]:
    """The libcst module of top-level `statements` (one statement group) of the module whose
    lines are `lines`; raises `Unconvertible`."""
    converter = Converter(lines)
    with libcst_compat.unvalidated():
        module = cst.Module(body=converter.statements(statements))
    return module, converter
