"""libcst nodes built from Python's `ast`, for statement groups of reached modules.

The analysis reads libcst trees only. A reached module is already summarised with `ast`
(`slicing.SlicedModuleInfo`), and building libcst's nodes from that tree costs a fraction of
asking libcst's parser to read the text again. The trees built here are libcst's parse of the
same text but for whitespace and punctuation (`tests/test_convert.py` compares them field by
field on real code): the fields the analysis reads hold the same values, whitespace fields hold
shared default objects. Comments that pragmas read (the lines right above a def and its
decorators, and the comment after a def's colon) are kept.

`convert` raises `Unconvertible` for what it does not build faithfully (`match`, f-strings,
nesting deeper than `MAX_DEPTH`, ...); the caller then parses the group with libcst, as before.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type, Union

import libcst as cst

from . import libcst_compat


class Unconvertible(Exception):
    """A construct this module does not build faithfully."""


# Deeper than this, a statement group goes to libcst's parser (which the caller bounds).
MAX_DEPTH = 120

_WS = cst.SimpleWhitespace("")
_SP = cst.SimpleWhitespace(" ")
_NL = cst.Newline()
_TW = cst.TrailingWhitespace()
_BLANK = cst.EmptyLine()

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


def _op(kind: Type[cst.CSTNode]) -> Any:
    found = _OPS.get(kind)
    if found is None:
        with libcst_compat.unvalidated():
            found = _OPS[kind] = kind()
    return found


class Converter:
    """Builds libcst statements from the `ast` statements of one module's text."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = lines  # the module's lines, line breaks included
        self.depth = 0
        self.origin: Dict[cst.CSTNode, ast.AST] = {}  # every expression node built -> its `ast` node
        self._ascii: Dict[int, bool] = {}

    # -- text ------------------------------------------------------------------------------

    def column(self, line: int, byte_col: int) -> int:
        """The character column of UTF-8 byte column `byte_col` on line `line` (1-based)."""
        ascii_ = self._ascii.get(line)
        if ascii_ is None:
            ascii_ = self._ascii[line] = self.lines[line - 1].isascii()
        if ascii_:
            return byte_col
        return len(self.lines[line - 1].encode("utf-8")[:byte_col].decode("utf-8", "replace"))

    def segment(self, node: ast.AST) -> str:
        """The source text of `node` (an expression or statement with positions)."""
        line, end_line = node.lineno, node.end_lineno  # type: ignore[attr-defined]
        col = self.column(line, node.col_offset)  # type: ignore[attr-defined]
        end = self.column(end_line, node.end_col_offset)  # type: ignore[attr-defined]
        if line == end_line:
            return self.lines[line - 1][col:end]
        parts = [self.lines[line - 1][col:]]
        parts.extend(self.lines[line:end_line - 1])
        parts.append(self.lines[end_line - 1][:end])
        return "".join(parts)

    # -- statements ------------------------------------------------------------------------

    def statements(self, body: Sequence[ast.stmt]) -> List[cst.BaseStatement]:
        """The libcst statements of `body` (ast statements of one block, in order): simple
        statements sharing a line (`a = 1; b = 2`) make one `SimpleStatementLine`."""
        out: List[cst.BaseStatement] = []
        run: List[cst.BaseSmallStatement] = []
        run_end = -1
        for statement in body:
            compound = isinstance(statement, _COMPOUND)
            if run and (compound or statement.lineno > run_end):
                out.append(self._line(run, run_first))
                run = []
            if compound:
                out.append(self.compound(statement))
                continue
            if not run:
                run_first = statement
            run.append(self.small(statement))
            run_end = statement.end_lineno or statement.lineno
        if run:
            out.append(self._line(run, run_first))
        return out

    def _line(self, run: List[cst.BaseSmallStatement], first: ast.stmt) -> cst.SimpleStatementLine:
        return cst.SimpleStatementLine(body=run, leading_lines=self.leading(first), trailing_whitespace=_TW)

    def leading(self, statement: ast.stmt) -> Sequence[cst.EmptyLine]:
        """Comment lines right above `statement` (or its first decorator), up to a blank line
        or code: the run pragmas read (`pragmas._adjacent_comments`)."""
        start = statement.lineno
        for decorator in getattr(statement, "decorator_list", ()):
            start = min(start, decorator.lineno)
        return self._comments_above(start)

    def _comments_above(self, line: int) -> Sequence[cst.EmptyLine]:
        found: List[cst.EmptyLine] = []
        at = line - 1
        while at >= 1:
            text = self.lines[at - 1].strip()
            if not text.startswith("#"):
                break
            found.append(cst.EmptyLine(comment=cst.Comment(text), indent=True, whitespace=_WS, newline=_NL))
            at -= 1
        found.reverse()
        return found

    def small(self, node: ast.stmt) -> cst.BaseSmallStatement:
        kind = type(node)
        if kind is ast.Expr:
            return cst.Expr(value=self.expr(node.value))  # type: ignore[attr-defined]
        if kind is ast.Assign:
            assert isinstance(node, ast.Assign)
            if node.type_comment:
                raise Unconvertible("type comment")
            return cst.Assign(targets=[cst.AssignTarget(target=self.expr(t), whitespace_before_equal=_SP,
                                                        whitespace_after_equal=_SP) for t in node.targets],
                              value=self.expr(node.value))
        if kind is ast.AnnAssign:
            assert isinstance(node, ast.AnnAssign)
            return cst.AnnAssign(target=self.expr(node.target), annotation=self.annotation(node.annotation),
                                 value=None if node.value is None else self.expr(node.value))
        if kind is ast.AugAssign:
            assert isinstance(node, ast.AugAssign)
            return cst.AugAssign(target=self.expr(node.target), operator=_op(_AUG[type(node.op)]),
                                 value=self.expr(node.value))
        if kind is ast.Return:
            value = node.value  # type: ignore[attr-defined]
            return cst.Return(value=None if value is None else self.expr(value), whitespace_after_return=_SP)
        if kind is ast.Pass:
            return cst.Pass()
        if kind is ast.Break:
            return cst.Break()
        if kind is ast.Continue:
            return cst.Continue()
        if kind is ast.Raise:
            assert isinstance(node, ast.Raise)
            return cst.Raise(exc=None if node.exc is None else self.expr(node.exc),
                             cause=None if node.cause is None else cst.From(item=self.expr(node.cause)),
                             whitespace_after_raise=_SP if node.exc is not None else cst.MaybeSentinel.DEFAULT)
        if kind is ast.Assert:
            assert isinstance(node, ast.Assert)
            return cst.Assert(test=self.expr(node.test), msg=None if node.msg is None else self.expr(node.msg),
                              whitespace_after_assert=_SP)
        if kind is ast.Import:
            assert isinstance(node, ast.Import)
            return cst.Import(names=[self.alias(a, dotted=True) for a in node.names], whitespace_after_import=_SP)
        if kind is ast.ImportFrom:
            assert isinstance(node, ast.ImportFrom)
            relative = [_op(cst.Dot)] * (node.level or 0)
            module = None if node.module is None else self.dotted(node.module)
            if len(node.names) == 1 and node.names[0].name == "*":
                return cst.ImportFrom(module=module, names=cst.ImportStar(), relative=relative)
            return cst.ImportFrom(module=module, names=[self.alias(a, dotted=False) for a in node.names],
                                  relative=relative)
        if kind is ast.Global:
            return cst.Global(names=[cst.NameItem(name=cst.Name(n)) for n in node.names])  # type: ignore
        if kind is ast.Nonlocal:
            return cst.Nonlocal(names=[cst.NameItem(name=cst.Name(n)) for n in node.names])  # type: ignore
        if kind is ast.Delete:
            assert isinstance(node, ast.Delete)
            if len(node.targets) == 1:
                target = self.expr(node.targets[0])
            else:
                target = cst.Tuple(elements=[cst.Element(value=self.expr(t)) for t in node.targets])
            return cst.Del(target=target)
        raise Unconvertible(kind.__name__)

    def dotted(self, name: str) -> Union[cst.Name, cst.Attribute]:
        parts = name.split(".")
        found: Union[cst.Name, cst.Attribute] = cst.Name(parts[0])
        for part in parts[1:]:
            found = cst.Attribute(value=found, attr=cst.Name(part), dot=_op(cst.Dot))
        return found

    def alias(self, node: ast.alias, dotted: bool) -> cst.ImportAlias:
        name = self.dotted(node.name) if dotted else cst.Name(node.name)
        asname = None if node.asname is None else cst.AsName(name=cst.Name(node.asname),
                                                             whitespace_before_as=_SP, whitespace_after_as=_SP)
        return cst.ImportAlias(name=name, asname=asname)

    def annotation(self, node: ast.expr) -> cst.Annotation:
        return cst.Annotation(annotation=self.expr(node))

    def block(self, body: Sequence[ast.stmt], owner: ast.AST) -> cst.BaseSuite:
        """The suite of `owner`'s block `body`: an indented block, or the statements on the
        header's own line (`if x: return`)."""
        first = body[0]
        header_line = self._header_line(first)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Unconvertible("deep")
        try:
            if first.lineno == header_line and not isinstance(first, _COMPOUND):
                return cst.SimpleStatementSuite(body=[self.small(s) for s in body], leading_whitespace=_SP,
                                                trailing_whitespace=_TW)
            return cst.IndentedBlock(body=self.statements(body), header=self._header(header_line))
        finally:
            self.depth -= 1

    def _header_line(self, first: ast.stmt) -> int:
        """The line of the `:` that opens the block whose first statement is `first`."""
        line = first.lineno
        for decorator in getattr(first, "decorator_list", ()):
            line = min(line, decorator.lineno)
        if self.column(first.lineno, first.col_offset) > 0 and not isinstance(first, _COMPOUND) \
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
        text = self.lines[line - 1].rstrip("\r\n")
        at = len(text)
        while True:
            at = text.rfind(":", 0, at)
            if at < 0:
                return _TW
            rest = text[at + 1:].strip()
            if not rest:
                return _TW
            if rest.startswith("#"):
                return cst.TrailingWhitespace(comment=cst.Comment(rest), whitespace=_SP, newline=_NL)

    def compound(self, node: ast.stmt) -> cst.BaseCompoundStatement:
        kind = type(node)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Unconvertible("deep")
        try:
            if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                return self.function(node)  # type: ignore[arg-type]
            if kind is ast.ClassDef:
                assert isinstance(node, ast.ClassDef)
                return cst.ClassDef(
                    name=cst.Name(node.name), body=self.block(node.body, node),
                    bases=[cst.Arg(value=self.expr(b)) for b in node.bases],
                    keywords=[self.keyword(k) for k in node.keywords],
                    decorators=self.decorators(node), leading_lines=self.leading(node),
                    lines_after_decorators=self._after_decorators(node),
                    lpar=_op(cst.LeftParen) if node.bases or node.keywords else cst.MaybeSentinel.DEFAULT,
                    rpar=_op(cst.RightParen) if node.bases or node.keywords else cst.MaybeSentinel.DEFAULT,
                    whitespace_after_class=_SP, whitespace_after_name=_WS, whitespace_before_colon=_WS)
            if kind is ast.If:
                return self.if_(node, self.leading(node))  # type: ignore[arg-type]
            if kind is ast.For or kind is ast.AsyncFor:
                assert isinstance(node, (ast.For, ast.AsyncFor))
                if node.type_comment:
                    raise Unconvertible("type comment")
                return cst.For(target=self.expr(node.target), iter=self.expr(node.iter),
                               body=self.block(node.body, node), orelse=self.else_(node.orelse),
                               asynchronous=cst.Asynchronous() if kind is ast.AsyncFor else None,
                               leading_lines=self.leading(node), whitespace_after_for=_SP,
                               whitespace_before_in=_SP, whitespace_after_in=_SP, whitespace_before_colon=_WS)
            if kind is ast.While:
                assert isinstance(node, ast.While)
                return cst.While(test=self.expr(node.test), body=self.block(node.body, node),
                                 orelse=self.else_(node.orelse), leading_lines=self.leading(node),
                                 whitespace_after_while=_SP, whitespace_before_colon=_WS)
            if kind is ast.With or kind is ast.AsyncWith:
                assert isinstance(node, (ast.With, ast.AsyncWith))
                if node.type_comment:
                    raise Unconvertible("type comment")
                return cst.With(items=[self.withitem(i) for i in node.items], body=self.block(node.body, node),
                                asynchronous=cst.Asynchronous() if kind is ast.AsyncWith else None,
                                leading_lines=self.leading(node), whitespace_after_with=_SP,
                                whitespace_before_colon=_WS)
            if kind is ast.Try:
                assert isinstance(node, ast.Try)
                return cst.Try(body=self.block(node.body, node),
                               handlers=[self.handler(h) for h in node.handlers],
                               orelse=self.else_(node.orelse),
                               finalbody=cst.Finally(body=self.block(node.finalbody, node))
                               if node.finalbody else None,
                               leading_lines=self.leading(node))
            raise Unconvertible(kind.__name__)
        finally:
            self.depth -= 1

    def if_(self, node: ast.If, leading: Sequence[cst.EmptyLine]) -> cst.If:
        orelse: Union[cst.If, cst.Else, None] = None
        if node.orelse:
            first = node.orelse[0]
            if len(node.orelse) == 1 and isinstance(first, ast.If) and self._is_elif(first):
                orelse = self.if_(first, ())
            else:
                orelse = cst.Else(body=self.block(node.orelse, node))
        return cst.If(test=self.expr(node.test), body=self.block(node.body, node), orelse=orelse,
                      leading_lines=leading, whitespace_before_test=_SP, whitespace_after_test=_WS)

    def _is_elif(self, node: ast.If) -> bool:
        line = self.lines[node.lineno - 1]
        return line[self.column(node.lineno, node.col_offset):].startswith("elif")

    def else_(self, body: Sequence[ast.stmt]) -> Optional[cst.Else]:
        return cst.Else(body=self.block(body, body[0])) if body else None

    def handler(self, node: ast.ExceptHandler) -> cst.ExceptHandler:
        return cst.ExceptHandler(
            body=self.block(node.body, node), type=None if node.type is None else self.expr(node.type),
            name=None if node.name is None else cst.AsName(name=cst.Name(node.name), whitespace_before_as=_SP,
                                                           whitespace_after_as=_SP),
            whitespace_after_except=_SP if node.type is not None else _WS)

    def withitem(self, node: ast.withitem) -> cst.WithItem:
        return cst.WithItem(item=self.expr(node.context_expr),
                            asname=None if node.optional_vars is None else cst.AsName(
                                name=self.expr(node.optional_vars), whitespace_before_as=_SP,
                                whitespace_after_as=_SP))

    def decorators(self, node: Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]
                   ) -> List[cst.Decorator]:
        found = []
        for index, decorator in enumerate(node.decorator_list):
            leading: Sequence[cst.EmptyLine] = self._comments_above(decorator.lineno) if index else ()
            found.append(cst.Decorator(decorator=self.expr(decorator), leading_lines=leading,
                                       whitespace_after_at=_WS, trailing_whitespace=_TW))
        return found

    def _after_decorators(self, node: Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]
                          ) -> Sequence[cst.EmptyLine]:
        return self._comments_above(node.lineno) if node.decorator_list else ()

    def function(self, node: Union[ast.FunctionDef, ast.AsyncFunctionDef]) -> cst.FunctionDef:
        if node.type_comment:
            raise Unconvertible("type comment")
        leading = self.leading(node)
        return cst.FunctionDef(
            name=cst.Name(node.name), params=self.parameters(node.args), body=self.block(node.body, node),
            decorators=self.decorators(node), returns=None if node.returns is None
            else cst.Annotation(annotation=self.expr(node.returns)),
            asynchronous=cst.Asynchronous() if isinstance(node, ast.AsyncFunctionDef) else None,
            leading_lines=leading, lines_after_decorators=self._after_decorators(node),
            whitespace_after_def=_SP, whitespace_after_name=_WS, whitespace_before_params=_WS,
            whitespace_before_colon=_WS)

    def parameters(self, args: ast.arguments) -> cst.Parameters:
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
        return cst.Param(name=cst.Name(node.arg),
                         annotation=None if node.annotation is None else self.annotation(node.annotation),
                         default=None if default is None else self.expr(default), star=star,
                         whitespace_after_star=_WS, whitespace_after_param=_WS)

    def keyword(self, node: ast.keyword) -> cst.Arg:
        if node.arg is None:
            return cst.Arg(value=self.expr(node.value), star="**", whitespace_after_star=_WS,
                           whitespace_after_arg=_WS)
        return cst.Arg(value=self.expr(node.value), keyword=cst.Name(node.arg), equal=_op(cst.AssignEqual),
                       whitespace_after_star=_WS, whitespace_after_arg=_WS)

    # -- expressions -----------------------------------------------------------------------

    def expr(self, node: ast.expr) -> cst.BaseExpression:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Unconvertible("deep")
        try:
            built = _EXPRESSIONS[type(node)](self, node)
        except KeyError:
            raise Unconvertible(type(node).__name__) from None
        finally:
            self.depth -= 1
        self.origin[built] = node
        return built

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
        found: cst.BaseExpression = parts[-1]
        for part in reversed(parts[:-1]):
            found = cst.ConcatenatedString(left=part, right=found)  # type: ignore[arg-type]
        return found

    def _attribute(self, node: ast.Attribute) -> cst.BaseExpression:
        return cst.Attribute(value=self.expr(node.value), attr=cst.Name(node.attr), dot=_op(cst.Dot))

    def _call(self, node: ast.Call) -> cst.BaseExpression:
        args: List[Tuple[Tuple[int, int], cst.Arg]] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                built = cst.Arg(value=self.expr(arg.value), star="*", whitespace_after_star=_WS,
                                whitespace_after_arg=_WS)
            else:
                built = cst.Arg(value=self.expr(arg), whitespace_after_star=_WS, whitespace_after_arg=_WS)
            args.append(((arg.lineno, arg.col_offset), built))
        if node.keywords:
            for keyword in node.keywords:
                args.append(((keyword.lineno, keyword.col_offset), self.keyword(keyword)))
            args.sort(key=lambda pair: pair[0])
        return cst.Call(func=self.expr(node.func), args=[a for _, a in args],
                        whitespace_after_func=_WS, whitespace_before_args=_WS)

    def _subscript(self, node: ast.Subscript) -> cst.BaseExpression:
        index = node.slice
        if isinstance(index, ast.Tuple) and not self._parenthesized_tuple(index):
            elements = [self._slice_element(e) for e in index.elts]
        else:
            elements = [self._slice_element(index)]
        return cst.Subscript(value=self.expr(node.value), slice=elements, lbracket=_op(cst.LeftSquareBracket),
                             rbracket=_op(cst.RightSquareBracket), whitespace_after_value=_WS)

    def _parenthesized_tuple(self, node: ast.Tuple) -> bool:
        if not node.elts:
            return True
        line = self.lines[node.lineno - 1]
        return line[self.column(node.lineno, node.col_offset):].startswith("(") \
            and (node.elts[0].lineno, node.elts[0].col_offset) != (node.lineno, node.col_offset)

    def _slice_element(self, node: ast.expr) -> cst.SubscriptElement:
        if isinstance(node, ast.Slice):
            return cst.SubscriptElement(slice=cst.Slice(
                lower=None if node.lower is None else self.expr(node.lower),
                upper=None if node.upper is None else self.expr(node.upper),
                step=None if node.step is None else self.expr(node.step)))
        if isinstance(node, ast.Starred):
            raise Unconvertible("starred subscript")
        return cst.SubscriptElement(slice=cst.Index(value=self.expr(node)))

    def _binop(self, node: ast.BinOp) -> cst.BaseExpression:
        return cst.BinaryOperation(left=self.expr(node.left), operator=_op(_BIN[type(node.op)]),
                                   right=self.expr(node.right))

    def _boolop(self, node: ast.BoolOp) -> cst.BaseExpression:
        operator = _op(_BOOL[type(node.op)])
        found = self.expr(node.values[0])
        for value in node.values[1:]:
            found = cst.BooleanOperation(left=found, operator=operator, right=self.expr(value))
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
        return cst.Lambda(params=self.parameters(node.args), body=self.expr(node.body))

    def _elements(self, elts: Sequence[ast.expr]) -> List[cst.BaseElement]:
        return [cst.StarredElement(value=self.expr(e.value)) if isinstance(e, ast.Starred)
                else cst.Element(value=self.expr(e)) for e in elts]

    def _tuple(self, node: ast.Tuple) -> cst.BaseExpression:
        return cst.Tuple(elements=self._elements(node.elts))

    def _list(self, node: ast.List) -> cst.BaseExpression:
        return cst.List(elements=self._elements(node.elts))

    def _set(self, node: ast.Set) -> cst.BaseExpression:
        return cst.Set(elements=self._elements(node.elts))

    def _dict(self, node: ast.Dict) -> cst.BaseExpression:
        elements: List[cst.BaseDictElement] = []
        for key, value in zip(node.keys, node.values):
            if key is None:
                elements.append(cst.StarredDictElement(value=self.expr(value)))
            else:
                elements.append(cst.DictElement(key=self.expr(key), value=self.expr(value)))
        return cst.Dict(elements=elements)

    def _for_in(self, generators: Sequence[ast.comprehension]) -> cst.CompFor:
        found: Optional[cst.CompFor] = None
        for generator in reversed(generators):
            found = cst.CompFor(target=self.expr(generator.target), iter=self.expr(generator.iter),
                                ifs=[cst.CompIf(test=self.expr(test)) for test in generator.ifs],
                                inner_for_in=found,
                                asynchronous=cst.Asynchronous() if generator.is_async else None)
        assert found is not None
        return found

    def _listcomp(self, node: ast.ListComp) -> cst.BaseExpression:
        return cst.ListComp(elt=self.expr(node.elt), for_in=self._for_in(node.generators))

    def _setcomp(self, node: ast.SetComp) -> cst.BaseExpression:
        return cst.SetComp(elt=self.expr(node.elt), for_in=self._for_in(node.generators))

    def _genexp(self, node: ast.GeneratorExp) -> cst.BaseExpression:
        return cst.GeneratorExp(elt=self.expr(node.elt), for_in=self._for_in(node.generators))

    def _dictcomp(self, node: ast.DictComp) -> cst.BaseExpression:
        return cst.DictComp(key=self.expr(node.key), value=self.expr(node.value),
                            for_in=self._for_in(node.generators))

    def _await(self, node: ast.Await) -> cst.BaseExpression:
        return cst.Await(expression=self.expr(node.value))

    def _yield(self, node: ast.Yield) -> cst.BaseExpression:
        return cst.Yield(value=None if node.value is None else self.expr(node.value))

    def _yieldfrom(self, node: ast.YieldFrom) -> cst.BaseExpression:
        return cst.Yield(value=cst.From(item=self.expr(node.value)))

    def _namedexpr(self, node: ast.NamedExpr) -> cst.BaseExpression:
        return cst.NamedExpr(target=self.expr(node.target), value=self.expr(node.value))

    def _starred(self, node: ast.Starred) -> cst.BaseExpression:
        raise Unconvertible("starred")

    def _joinedstr(self, node: ast.JoinedStr) -> cst.BaseExpression:
        # `ast` positions inside f-strings are unreliable before 3.12: libcst reads this one.
        try:
            found = cst.parse_expression("(" + self.segment(node) + ")")
        except Exception:
            raise Unconvertible("f-string") from None
        return found.with_changes(lpar=(), rpar=())


_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
             ast.With, ast.AsyncWith, ast.Try) + tuple(getattr(ast, k) for k in ("TryStar", "Match")
                                                      if hasattr(ast, k))

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


def convert(statements: Sequence[ast.stmt], lines: Sequence[str]) -> Tuple[cst.Module, Converter]:
    """The libcst module of top-level `statements` (one statement group) of the module whose
    lines are `lines`; raises `Unconvertible`."""
    converter = Converter(lines)
    with libcst_compat.unvalidated():
        module = cst.Module(body=converter.statements(statements))
    return module, converter
