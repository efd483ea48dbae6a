"""Context: what the place a task is scheduled from says about it (FBG104).

A generic `send_email` task is critical when the route scheduling it is `forgot_password`, when
it is given `subject="Reset your password"`, or when its own body writes that text. This module
only gathers the clues, as names and texts with their places; the knowledge base judges them
(`KnowledgeBase.critical_context` for names, `critical_text` for texts) and the analyser turns
a judged clue into evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Tuple

import libcst as cst

from .collect import TaskSite
from .convert import code_for
from .model import Located, Where
from .scopes import FunctionScope, Scope, dotted
from .syntax import walk

_ROUTE_DECORATORS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "api_route",
                               "websocket", "route"})
_TEXT_LIMIT = 40
_LOGGER_NAMES = frozenset({"log", "logger", "_log", "_logger", "LOG", "LOGGER", "logging", "structlog"})
_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical"})


@dataclass(frozen=True)
class Clue:
    """A name or a text the site or the task holds: `kind` is "name" (judged like a route's
    name) or "text" (judged as words a critical mail or job would carry)."""

    kind: str
    subject: str  # how the message shows it: "its argument subject='Reset your password'"
    value: str  # what is judged
    node: cst.CSTNode
    scope: Scope


def scheduling_functions(site: TaskSite, place: Callable[..., Located]) -> Iterator[Tuple[str, str, Located]]:
    """(label, name, where) of the functions that schedule a task: the functions holding the
    site, innermost first (a route when a route decorator says so), then the helpers it
    forwards through. `place(module, node, scope)` makes the `where` of a definition."""
    for scope in site.scope.walk_up():
        if isinstance(scope, FunctionScope) and isinstance(scope.node, cst.FunctionDef):
            decorators = {name.rsplit(".", 1)[-1] for name in scope.decorator_names()}
            label = "route" if decorators & _ROUTE_DECORATORS else "function"
            yield label, scope.name, place(scope.module, scope.node, scope)
    for helper in reversed(site.helper_chain):
        name, _, where = helper.partition(" (")
        path, _, line = where.rstrip(")").rpartition(":")
        if name and path and line.isdigit():
            yield "helper", name, Where(path, int(line))


def site_clues(site: TaskSite) -> Iterator[Clue]:
    """What a site tells about its task: the strings in its arguments and the names it passes
    (`otp_code`, `verification_link=`), as texts; and, for an argument that is a local
    (`message`, `email_data.subject`), the strings of the call that local was assigned (texts)
    and that call's callee name (a name, judged like a route's): `email_data =
    generate_reset_password_email(...)`, `message = MessageSchema(subject="...")`."""
    for arg in site.args or ():
        shown = arg.keyword.value if arg.keyword is not None else None
        for keyword, text, node in _strings(arg.value):
            label = keyword if keyword and keyword != shown else shown
            yield Clue("text", f"its argument {label}={shorten(text)!r}" if label
                       else f"its argument {shorten(text)!r}", text, node, site.scope)
        if shown is not None:
            yield Clue("text", f"its argument {shown}=", shown, arg, site.scope)
        base = arg.value
        while isinstance(base, cst.Attribute):
            base = base.value
        if not isinstance(base, cst.Name):
            continue
        source = _code(arg.value)
        if base is arg.value:
            yield Clue("text", f"its argument {source}", source, arg.value, site.scope)
        found = _local_assignment(site.scope, base.value)
        if found is None:
            continue
        assigned, scope = found
        if isinstance(assigned, cst.Call):
            callee = dotted(assigned.func)
            name = callee.rsplit(".", 1)[-1] if callee else "..."
            if callee:
                yield Clue("name", f"its argument {source} from {name}()", name, assigned, scope)
            for inner in assigned.args:  # `confirmation_url=...`, `reset_token`
                given = inner.keyword.value if inner.keyword is not None else \
                    inner.value.value if isinstance(inner.value, cst.Name) else None
                if given:
                    yield Clue("text", f"its argument {source} from {name}({given})", given,
                               inner, scope)
        for keyword, text, node in _strings(assigned):
            shown = f"{keyword}={shorten(text)!r}" if keyword else repr(shorten(text))
            yield Clue("text", f"its argument {source} ({shown})", text, node, scope)


def body_clues(scope: FunctionScope) -> Iterator[Clue]:
    """The strings a task writes in its own body, as texts (gathered when first asked for)."""
    for _, text, node in _strings(scope.node):
        yield Clue("text", f"its string {shorten(text)!r}", text, node, scope)


def shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 3] + "..."


def _code(node: cst.CSTNode) -> str:
    return shorten(code_for(node))


def _local_assignment(scope: Scope, name: str) -> Optional[Tuple[cst.BaseExpression, FunctionScope]]:
    """The value a local of the enclosing functions was last assigned (never a module-level
    name: looking those up would parse more of the module)."""
    for inner in scope.walk_up():
        if not isinstance(inner, FunctionScope):
            return None
        bindings = inner.local(name)
        if bindings:
            binding = bindings[-1]
            if binding.kind != "assign" or binding.value is None:
                return None
            return binding.value, inner
    return None


def _string_text(node: cst.CSTNode) -> Optional[str]:
    if isinstance(node, cst.SimpleString):
        try:
            value = node.evaluated_value
        except (ValueError, SyntaxError):  # pragma: no cover - libcst parsed it
            return None
        return value if isinstance(value, str) else None
    if isinstance(node, cst.FormattedString):
        return " ".join(part.value for part in node.parts if isinstance(part, cst.FormattedStringText))
    return None


class _Strings(cst.CSTVisitor):
    """String literals under a node, with the keyword argument each one is given in; not in
    nested functions or classes, log/print calls, raise or assert statements, or docstrings."""

    def __init__(self, root: cst.CSTNode) -> None:
        self.root = root
        self.keywords: List[Optional[str]] = [None]
        self.found: List[Tuple[Optional[str], str, cst.CSTNode]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.root

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return node is self.root

    def visit_Raise(self, node: cst.Raise) -> bool:
        return False

    def visit_Assert(self, node: cst.Assert) -> bool:
        return False

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        # a bare string statement is a docstring or a comment-like note
        return not (len(node.body) == 1 and isinstance(node.body[0], cst.Expr)
                    and isinstance(node.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))

    def visit_Call(self, node: cst.Call) -> bool:
        func = node.func
        if isinstance(func, cst.Name) and func.value == "print":
            return False
        if isinstance(func, cst.Attribute) and func.attr.value in _LOG_METHODS:
            return False  # `get_logger().info(...)`, `self.log.warning(...)`
        while isinstance(func, cst.Attribute):
            func = func.value
        return not (isinstance(func, cst.Name) and func.value in _LOGGER_NAMES
                    and func is not node.func)

    def visit_Arg(self, node: cst.Arg) -> None:
        self.keywords.append(node.keyword.value if node.keyword is not None else self.keywords[-1])

    def leave_Arg(self, original_node: cst.Arg) -> None:
        self.keywords.pop()

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        self._add(node)

    def visit_FormattedString(self, node: cst.FormattedString) -> bool:
        self._add(node)
        return False

    def _add(self, node: cst.CSTNode) -> None:
        text = _string_text(node)
        if text and text.strip():
            self.found.append((self.keywords[-1], text, node))


def _strings(node: cst.CSTNode) -> List[Tuple[Optional[str], str, cst.CSTNode]]:
    visitor = _Strings(node)
    walk(node, visitor)
    return visitor.found


__all__ = ["Clue", "body_clues", "scheduling_functions", "shorten", "site_clues"]
