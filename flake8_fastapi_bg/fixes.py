"""Mechanical rewrites. FBG201 and FBG208: pass the function, not its call. FBG102 (at the end
of this module): an `async def` task that never awaits becomes a plain `def`.

    bg.add_task(send(x, y=1))          ->  bg.add_task(send, x, y=1)
    bg.add_task(await send(x))         ->  bg.add_task(send, x)
    BackgroundTask(f(a))               ->  BackgroundTask(f, a)
    bg.add_task(lambda: notify(x))     ->  bg.add_task(notify, x)

The registration call is rebuilt with libcst: the inner call's callee becomes the first
argument and its arguments follow, each keeping its own whitespace and comments. A multi-line
inner call is dedented to the registration's argument indentation. The edit replaces exactly
the registration call's text; the rest of the file is untouched. A rewrite that would lose a
comment, or that libcst cannot render back into an expression, is not offered.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple, Union

import libcst as cst

from . import deps
from .model import Edit, Fix
from .roots import project_files
from .scopes import own_nodes

if TYPE_CHECKING:
    from .parsing import ModuleInfo
    from .scopes import FunctionScope
    from .values import Evaluator

Whitespace = cst.BaseParenthesizableWhitespace


def pass_function_instead(info: ModuleInfo, registration: cst.Call, inner: cst.Call,
                          description: str) -> Optional[Fix]:
    """`registration(<wrapper of inner>)` -> `registration(inner.func, *inner.args)`.

    The registration must have exactly one argument, positional, that is `inner` itself,
    `await inner` or `lambda: inner`."""
    # The text as written (the linted file's nodes are built from `ast`, without its whitespace).
    registration, inner = info.as_written(registration), info.as_written(inner)
    if len(registration.args) != 1:
        return None
    outer = registration.args[0]
    if outer.keyword is not None or outer.star or not _unwraps_to(outer.value, inner):
        return None
    try:
        new_args = _rebuilt_args(registration, outer, inner)
        if new_args is None:
            return None
        replacement = registration.with_changes(args=new_args)
        if _comments(replacement) != _comments(registration):
            return None
        text = _replaced_text(info, registration, replacement)
        cst.parse_expression(text)
    except Exception:  # libcst refuses odd trees: no fix is better than a broken one
        return None
    start, end = info.span(registration)
    return Fix(description, (Edit(start, end, text),))


def _unwraps_to(value: cst.BaseExpression, inner: cst.Call) -> bool:
    if value.lpar or inner.lpar:
        return False
    if value is inner:
        return True
    if isinstance(value, cst.Await):
        return value.expression is inner
    if isinstance(value, cst.Lambda):
        params = value.params
        no_params = not (params.posonly_params or params.params or params.kwonly_params
                         or params.star_kwarg is not None
                         or isinstance(params.star_arg, cst.Param))
        return no_params and value.body is inner
    return False


def _rebuilt_args(registration: cst.Call, outer: cst.Arg, inner: cst.Call) -> Optional[List[cst.Arg]]:
    delta = _indent_delta(registration.whitespace_before_args, inner.whitespace_before_args)
    dedent = _Dedent(delta)
    inner_args = [cst.ensure_type(a.visit(dedent), cst.Arg) for a in inner.args]
    if not inner_args:
        return [cst.Arg(value=inner.func, comma=outer.comma, whitespace_after_arg=outer.whitespace_after_arg)]
    opening = inner.whitespace_before_args.visit(dedent)
    if not isinstance(opening, cst.ParenthesizedWhitespace):
        opening = cst.SimpleWhitespace(" ")
    first = cst.Arg(value=inner.func, comma=cst.Comma(whitespace_after=opening))
    last = inner_args[-1]
    closing = _closing(_before_close(last), _before_close(outer))
    if closing is None:
        return None
    trailing_comma = isinstance(last.comma, cst.Comma) or isinstance(outer.comma, cst.Comma)
    if trailing_comma:
        before = last.whitespace_after_arg if isinstance(last.comma, cst.Comma) else cst.SimpleWhitespace("")
        last = last.with_changes(whitespace_after_arg=before, comma=cst.Comma(whitespace_after=closing))
    else:
        last = last.with_changes(whitespace_after_arg=closing)
    return [first] + inner_args[:-1] + [last]


def _before_close(arg: cst.Arg) -> Whitespace:
    """The whitespace between an argument (and its comma) and the closing parenthesis."""
    if isinstance(arg.comma, cst.Comma):
        return arg.comma.whitespace_after
    return arg.whitespace_after_arg


def _closing(inner: Whitespace, outer: Whitespace) -> Optional[Whitespace]:
    """One closing whitespace out of two, keeping the comments and the outer indentation."""
    inner_notes, outer_notes = _comments(inner), _comments(outer)
    if inner_notes and outer_notes:
        return None
    if inner_notes:
        if isinstance(outer, cst.ParenthesizedWhitespace) and isinstance(inner, cst.ParenthesizedWhitespace):
            return inner.with_changes(last_line=outer.last_line)
        return inner
    if isinstance(outer, cst.ParenthesizedWhitespace) or not isinstance(inner, cst.ParenthesizedWhitespace):
        return outer
    return inner


def _indent_delta(outer: Whitespace, inner: Whitespace) -> int:
    """How far the inner call's arguments sit to the right of the registration's arguments."""
    if isinstance(outer, cst.ParenthesizedWhitespace) and isinstance(inner, cst.ParenthesizedWhitespace):
        return max(0, len(inner.last_line.value) - len(outer.last_line.value))
    return 0


class _Dedent(cst.CSTTransformer):
    def __init__(self, delta: int) -> None:
        super().__init__()
        self.delta = delta

    def _cut(self, text: str) -> str:
        if self.delta and text.startswith(" " * self.delta):
            return text[self.delta:]
        return text

    def leave_ParenthesizedWhitespace(
            self, original_node: cst.ParenthesizedWhitespace,
            updated_node: cst.ParenthesizedWhitespace) -> cst.ParenthesizedWhitespace:
        indent = self._cut(updated_node.last_line.value)
        return updated_node.with_changes(last_line=cst.SimpleWhitespace(indent))

    def leave_EmptyLine(self, original_node: cst.EmptyLine, updated_node: cst.EmptyLine) -> cst.EmptyLine:
        indent = self._cut(updated_node.whitespace.value)
        return updated_node.with_changes(whitespace=cst.SimpleWhitespace(indent))


def _comments(node: Union[cst.CSTNode, Whitespace]) -> List[str]:
    found: List[str] = []

    class _Comments(cst.CSTVisitor):
        def visit_Comment(self, comment: cst.Comment) -> None:
            found.append(comment.value)

    node.visit(_Comments())
    return found


def _replaced_text(info: ModuleInfo, old: cst.Call, new: cst.Call) -> str:
    """The text of `new` as it renders in place of `old` (block indentation included)."""
    module, shift = info.part_of(old)  # the statement group that holds it, or the whole module
    before = module.code
    after = cst.ensure_type(module.deep_replace(old, new), cst.Module).code
    (start_line, start_col), (end_line, end_col) = info.span(old)
    lines = before.splitlines(keepends=True)
    begin = _offset(lines, (start_line - shift, start_col))
    finish = _offset(lines, (end_line - shift, end_col))
    return after[begin: len(after) - (len(before) - finish)]


def _offset(lines: List[str], position: Tuple[int, int]) -> int:
    line, col = position
    return sum(len(text) for text in lines[: line - 1]) + col


__all__ = ["pass_function_instead"]


# -- FBG102: an async task that never awaits becomes a plain def ---------------------------------

# Calls that need the running event loop: a function using them must stay a coroutine.
_LOOP_BOUND = re.compile(r"\b(get_running_loop|get_event_loop|create_task|ensure_future|"
                         r"create_task_group|TaskGroup|run_coroutine_threadsafe|current_task|"
                         r"call_soon|call_later|call_at)\b")
# Libraries whose objects belong to an event loop: an async client made or used in the body
# (`httpx.AsyncClient`, `aiohttp.ClientSession`, asyncio queues and locks) keeps the coroutine.
_LOOP_LIBRARIES = ("asyncio.", "anyio.", "trio.", "aiohttp.", "aiofiles.", "aiosmtplib.", "aioredis.",
                   "aiobotocore.", "aioboto3.", "asyncpg.", "motor.", "redis.asyncio.", "databases.",
                   "sqlalchemy.ext.asyncio.", "starlette.concurrency.", "fastapi.concurrency.",
                   "starlette.websockets.", "fastapi.WebSocket", "fastapi.websockets.")
_REGISTERS = frozenset({"add_task", "BackgroundTask"})


def plain_def_fix(info: ModuleInfo, scope: FunctionScope, roots: Sequence[Path],
                  evaluator: Optional[Evaluator] = None) -> Optional[Fix]:
    """`async def task(...)` -> `def task(...)` for a task of the linted module that never
    awaits, needs no running loop, and that nothing in the project awaits or uses other than
    by registering it as a task: Starlette then runs it in the thread pool.

    The fix rewrites the file being linted, so a task defined in another module than the site
    keeps its finding without a fix."""
    node = scope.node
    if not isinstance(node, cst.FunctionDef) or node.asynchronous is None or node.decorators:
        return None
    if scope.module is not info or scope.parent is None or scope.parent.parent is not None:
        return None  # only a top-level function of the file being fixed
    if _awaits(node):
        return None
    node = info.as_written(node)  # its text and whitespace as written (read below)
    if node.asynchronous is None:
        return None
    text = info.module.code_for_node(node)
    if _LOOP_BOUND.search(text) or not roots or _uses_the_loop(scope, evaluator):
        return None
    name = node.name.value
    if not _only_scheduled(name, roots):
        return None
    (line, col), _ = info.span(node)
    spacing = node.asynchronous.whitespace_after.value
    if "\n" in spacing or "\\" in spacing:
        return None
    return Fix(f"make '{name}' a plain def: it never awaits, and Starlette runs a def task in the "
               f"thread pool", (Edit((line, col), (line, col + len("async") + len(spacing)), ""),))


def _awaits(node: cst.FunctionDef) -> bool:
    """The body awaits, iterates or enters asynchronously, or yields (not in nested defs)."""
    return any(isinstance(inner, (cst.Await, cst.Yield)) or getattr(inner, "asynchronous", None) is not None
               for inner in own_nodes(node, (cst.Await, cst.Yield, cst.For, cst.With, cst.CompFor)))


def _uses_the_loop(scope: FunctionScope, evaluator: Optional[Evaluator]) -> bool:
    """A call of the body (not of nested defs) goes to a library bound to the event loop, or
    to an async client (`...AsyncClient.post`), as the evaluator resolves it."""
    if evaluator is None:
        return False
    from .values import Ext, ExtInstance, options

    for call in own_nodes(scope.node, cst.Call):
        callee = evaluator.expr(call.func, scope)
        for option in options(callee):
            name = option.qualname if isinstance(option, Ext) else \
                option.type if isinstance(option, ExtInstance) else None
            if name is not None and (name.startswith(_LOOP_LIBRARIES) or ".Async" in name
                                     or name.startswith("Async")):
                return True
    return False


def _only_scheduled(name: str, roots: Sequence[Path]) -> bool:
    """Every use of `name` in the project's files (tests included) is its `def`, an import
    under its own name, or the callable of a registration (`add_task(name, ...)`,
    `BackgroundTask(name, ...)`): nothing awaits it, calls it, or passes it anywhere else (where
    a coroutine function may be required). A file Python cannot parse counts as a use."""
    # Tests included: a test that awaits or calls the task is a use. Unbounded: a file not
    # read could hide a use, and the fix would then break it.
    for path in project_files(roots, "uses", name, tests=True):
        status = deps.status_of(path)
        facts = use_facts(name, path)
        deps.scanned("uses", name, path, facts, status)
        if facts == "no":
            return False
    return True


def use_facts(name: str, path: str) -> str:
    """How the file at `path` uses `name`: "" not at all or only as `_only_scheduled` allows,
    "no" otherwise (a scanner of `deps.SCANNERS`)."""
    try:
        text = (deps.read(path, record=False) or b"").decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "" if only_registered(text, name) else "no"


def only_registered(text: str, name: str) -> bool:
    """The uses of `name` in one file's `text` allow the fix (see `_only_scheduled`)."""
    if name not in text:
        return True
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    registered = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _registration(node.func):
            task = next((k.value for k in node.keywords if k.arg == "func"), None)
            if task is None and node.args and not isinstance(node.args[0], ast.Starred):
                task = node.args[0]
            if task is not None:
                registered.add(id(task))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name or \
                isinstance(node, ast.Attribute) and node.attr == name:
            if id(node) not in registered:
                return False
        elif isinstance(node, ast.alias) and name in (node.name, node.name.rsplit(".", 1)[-1]) \
                and node.asname not in (None, name):
            return False  # imported under another name: its uses are not followed
    return True


def _registration(func: ast.expr) -> bool:
    """`tasks.add_task`, `BackgroundTask`, `starlette.background.BackgroundTask`."""
    spelled = func.attr if isinstance(func, ast.Attribute) else \
        func.id if isinstance(func, ast.Name) else None
    return spelled in _REGISTERS
