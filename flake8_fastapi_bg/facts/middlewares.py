"""Values an HTTP middleware stores on `request.state` and closes before the tasks run.

A common way to give every request a database session is a middleware:

    @app.middleware("http")
    async def db_session_middleware(request: Request, call_next):
        request.state.db = SessionLocal()
        try:
            return await call_next(request)
        finally:
            request.state.db.close()

`@app.middleware("http")` and `BaseHTTPMiddleware.dispatch` get the response from `call_next`
as soon as it starts, so the `finally` closes the session before the body is sent and before
the background tasks run (proven in tests/premises). FBG203 asks this module which
`request.state` attributes are closed that way, anywhere in the project.

A middleware is any function with a `call_next` parameter that calls it; the request is the
parameter before it. An attribute counts as closed when the same function stores it
(`request.state.db = ...`) and, after calling `call_next`, calls `.close()`/`.aclose()` on it
(or on the local it stored) outside an `except` handler, or when it stores the target of a
`with`/`async with` block that looks like a session and holds the `call_next` call.

A dependency with `yield` that takes the request and stores and closes a session the same way
around its `yield` is recorded too (`kind="dependency"`): its exit code runs before the tasks
only on some FastAPI versions, which `lifetimes` decides.

The scan reads Python's `ast` of the linted file and of the project's files whose text says
`.state.` and `call_next` or `yield` (test and fixture folders, virtual environments and hidden
folders are skipped), once per project and run: it is only asked for when a task receives
something from `request.state`.
"""

from __future__ import annotations

import ast
import weakref
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Set, Tuple, Union, cast

from .. import deps
from ..knowledge import split_words
from ..parsing import decode_source
from ..project import Project, display_path
from ..roots import project_files

if TYPE_CHECKING:
    from ..parsing import ModuleInfo

_FuncDef = Union[ast.FunctionDef, ast.AsyncFunctionDef]

CLOSE_METHODS = frozenset({"close", "aclose"})
# What a `with` target stored on request.state must look like to be a session it closes.
SESSION_WORDS = frozenset({"client", "conn", "connection", "cursor", "database", "db", "session",
                           "transaction", "uow"})
_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class StateCloser:
    """A `request.state` attribute a middleware closes when `call_next` returns."""

    attr: str
    middleware: str  # the middleware (or dependency) function's name
    where: str  # "app/main.py:40": the close (or the `with` that closes it)
    kind: str = "middleware"  # or "dependency": a dependency with `yield` closes it after the yield


# Per project: the closers found, and the file-system dependencies of the scan (`deps`).
_PROJECT_CACHE: "weakref.WeakKeyDictionary[Project, Tuple[Dict[str, StateCloser], deps.Deps]]" = \
    weakref.WeakKeyDictionary()


def closing_middlewares(info: "ModuleInfo") -> Dict[str, StateCloser]:
    """`request.state` attributes closed by a middleware of the linted module `info` or of its
    project, by attribute name (the linted module's own first)."""
    found: Dict[str, StateCloser] = {}
    text = _text_of(info)
    if text is not None:
        for closer in closers_in(text, info.display).values():
            _add(found, closer)
    for closer in _project_closers(info.project).values():
        _add(found, closer)
    return found


def _text_of(info: "ModuleInfo") -> Optional[str]:
    if info.path is not None:
        try:
            return decode_source(deps.read(info.path) or b"")
        except (OSError, SyntaxError, LookupError, ValueError):
            return None
    return info.source_text()  # a module without a file: its own text


def _project_closers(project: Project) -> Dict[str, StateCloser]:
    memo = _PROJECT_CACHE.get(project)
    if memo is not None:
        deps.replay(memo[1])
        return memo[0]
    found: Dict[str, StateCloser] = {}
    deps.frame()
    try:
        # Tests skipped (a test's middleware is not the app's); bounded: a file not read can
        # only lose a closer, never make a finding.
        for path in project_files(project.roots, "closers", bounded=True):
            status = deps.status_of(path)
            closers = _closers_of(path)
            deps.scanned("closers", "", path, _facts(closers), status)
            for closer in closers:
                _add(found, closer)
    finally:
        used = deps.end_frame()
    _PROJECT_CACHE[project] = (found, used)
    return found


def _closers_of(path: str) -> List[StateCloser]:
    """The closers of the project file at `path` (none unless its text says `.state.` and
    `call_next` or `yield`)."""
    try:
        data = deps.read(path, _MAX_BYTES, record=False)
        if data is None or b".state." not in data or (b"call_next" not in data and b"yield" not in data):
            return []
        text = decode_source(data)
    except (OSError, SyntaxError, LookupError, ValueError):
        return []
    return list(closers_in(text, display_path(Path(path))).values())


def _facts(closers: List[StateCloser]) -> str:
    """The closers as text: empty for none (as `deps.SCANNERS` expects of a file without facts)."""
    return repr([(c.attr, c.middleware, c.where, c.kind) for c in closers]) if closers else ""


def closer_facts(arg: str, path: str) -> str:
    """What the project scan takes from the file at `path` (a scanner of `deps.SCANNERS`)."""
    return _facts(_closers_of(path))


def closers_in(text: str, display: str) -> Dict[str, StateCloser]:
    """The `request.state` attributes the middlewares of one module close after `call_next`,
    and those its dependencies with `yield` close after their `yield` (a middleware first)."""
    if "state" not in text or ("call_next" not in text and "yield" not in text):
        return {}
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    found: Dict[str, StateCloser] = {}
    for node, owner in _functions(tree):
        shown = f"{owner}.{node.name}" if owner else node.name
        args = node.args.posonlyargs + node.args.args
        names = [a.arg for a in args]
        if "call_next" in names and names.index("call_next") > 0:
            request = names[names.index("call_next") - 1]
            nodes = list(_own_nodes(node))
            pivots: List[ast.expr] = [n for n in nodes if isinstance(n, ast.Call)
                                      and isinstance(n.func, ast.Name) and n.func.id == "call_next"]
            for closer in _closed_by(nodes, shown, request, display, pivots, "middleware"):
                _add(found, closer)
            continue
        # A dependency: a plain function taking the request; its body is walked only then.
        requests = [a.arg for a in args if _is_request_param(a)] if owner is None else []
        if not requests:
            continue
        nodes = list(_own_nodes(node))
        pivots = [n for n in nodes if isinstance(n, (ast.Yield, ast.YieldFrom))]
        if pivots:
            for closer in _closed_by(nodes, shown, requests[0], display, pivots, "dependency"):
                _add(found, closer)
    return found


# What holds statements: a function is found without visiting a single expression.
_STATEMENT_HOLDERS = (ast.stmt, ast.excepthandler, ast.match_case)


def _functions(tree: ast.Module) -> Iterator[Tuple[_FuncDef, Optional[str]]]:
    """Every function of the module, with the class it is a method of (None for others), in
    the order `ast.walk` meets them (breadth first): a walk of the statements only, where
    `ast.walk` would visit every expression node too."""
    queue = deque([(cast(ast.AST, tree), cast(Optional[str], None))])
    while queue:
        node, owner = queue.popleft()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node, owner
        inner = node.name if isinstance(node, ast.ClassDef) else None
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _STATEMENT_HOLDERS):
                queue.append((child, inner))


def _add(found: Dict[str, StateCloser], closer: StateCloser) -> None:
    """Keep one closer per attribute: the first middleware, else the first dependency (a
    middleware closes before the tasks on every FastAPI version, a dependency only on some)."""
    existing = found.get(closer.attr)
    if existing is None or (existing.kind != "middleware" and closer.kind == "middleware"):
        found[closer.attr] = closer


def _is_request_param(arg: ast.arg) -> bool:
    annotation = arg.annotation
    if annotation is None:
        return arg.arg in ("request", "req")
    name = annotation.attr if isinstance(annotation, ast.Attribute) else \
        annotation.id if isinstance(annotation, ast.Name) else ""
    return name in ("Request", "HTTPConnection")


def _closed_by(nodes: List[ast.AST], shown: str, request: str, display: str, pivots: List[ast.expr],
               kind: str) -> Iterator[StateCloser]:
    """What a function (its own `nodes`) stores on `<request>.state` and closes after one of
    `pivots` (the calls of `call_next`, or the `yield`s) has run."""
    if not pivots:
        return
    parents: Dict[int, ast.AST] = {}
    for parent in nodes:
        for child in ast.iter_child_nodes(parent):
            parents[id(child)] = parent
    first = min(n.lineno for n in pivots)
    stored: Dict[str, Set[str]] = {}  # attr -> local names stored in it
    stores: Dict[str, ast.Assign] = {}
    for node in nodes:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                attr = _state_attr(target, request)
                if attr is not None:
                    stores.setdefault(attr, node)
                    if isinstance(node.value, ast.Name):
                        stored.setdefault(attr, set()).add(node.value.id)
    for attr, store in stores.items():
        block = _closing_block(store, stored.get(attr, set()), attr, pivots, parents)
        if block is not None:
            yield StateCloser(attr, shown, f"{display}:{block.lineno}", kind)
            continue
        locals_ = stored.get(attr, set())
        for node in nodes:
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute) \
                    or node.func.attr not in CLOSE_METHODS or node.lineno <= first:
                continue
            closed = node.func.value
            named = isinstance(closed, ast.Name) and closed.id in locals_
            if (named or _state_attr(closed, request) == attr) and not _in_handler(node, parents):
                yield StateCloser(attr, shown, f"{display}:{node.lineno}", kind)
                break


def _closing_block(store: ast.Assign, names: Set[str], attr: str, pivots: List[ast.expr],
                   parents: Dict[int, ast.AST]) -> Optional[Union[ast.With, ast.AsyncWith]]:
    """The `with` block whose session-like target is stored and which holds a pivot."""
    node: Optional[ast.AST] = parents.get(id(store))
    while node is not None:
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                target = item.optional_vars
                if isinstance(target, ast.Name) and target.id in names and \
                        _looks_like_session(item.context_expr, target.id, attr) and \
                        any(_inside(pivot, node, parents) for pivot in pivots):
                    return node
        node = parents.get(id(node))
    return None


def _looks_like_session(context: ast.expr, target: str, attr: str) -> bool:
    func = context.func if isinstance(context, ast.Call) else context
    last = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    words = set(split_words(last)) | set(split_words(target)) | set(split_words(attr))
    return bool(words & SESSION_WORDS)


def _inside(node: ast.AST, container: ast.AST, parents: Dict[int, ast.AST]) -> bool:
    current: Optional[ast.AST] = node
    while current is not None:
        if current is container:
            return True
        current = parents.get(id(current))
    return False


def _in_handler(node: ast.AST, parents: Dict[int, ast.AST]) -> bool:
    """`node` runs only when an exception is handled: inside an `except` clause."""
    current = parents.get(id(node))
    while current is not None:
        if isinstance(current, ast.ExceptHandler):
            return True
        current = parents.get(id(current))
    return False


def _state_attr(node: ast.AST, request: str) -> Optional[str]:
    """`attr` for `<request>.state.attr`."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
            and node.value.attr == "state" and isinstance(node.value.value, ast.Name) \
            and node.value.value.id == request:
        return node.attr
    return None


def _own_nodes(function: _FuncDef) -> Iterator[ast.AST]:
    """The nodes of a function's body, nested functions and classes left out."""
    stack: List[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.append(child)


__all__ = ["StateCloser", "closing_middlewares", "closers_in"]
