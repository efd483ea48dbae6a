"""FBG203's question: does a task receive a value that is closed before it runs?

Background tasks run after the response. Some values a route holds are closed before that:

* a `with`/`async with` target, once the block is left: a task scheduled after the block, or
  inside it when the function returns before the tasks run (every function that registers a
  task does, unless the block holds a `yield` or the function runs the tasks itself);
* a value an HTTP middleware stores on `request.state` and closes after `call_next` returns
  (`@app.middleware("http")`, `BaseHTTPMiddleware.dispatch`): read from `request.state.<x>`
  in the route, returned by a dependency that reads it, or read by the task itself from the
  `request` it is given (see `middlewares.py`; a dependency with `yield` that does the same
  counts on FastAPI 0.106-0.117 only);
* the value of a dependency with `yield` declared `Depends(dep, scope="function")`, whose exit
  code runs when the endpoint returns (FastAPI >= 0.121);
* on FastAPI 0.106-0.117 only: the value of any yield-dependency and any `UploadFile`, closed
  before the response is sent.

A value passed to a task is traced back to its origin through plain assignments, the task's
`functools.partial` arguments, names a lambda or nested def closes over (not those it only reads
an attribute of: a closed file still has its `.name`), `self.x` attributes set once from such a
value, and the constructor arguments of a local object whose method is the task
(`service = Service(db)`, `add_task(service.run)`). Anything less clear is not reported.

Not every `with` closes its target: `sqlite3.connect(...)` and `psycopg2.connect(...)` blocks
only end a transaction, and the connection stays usable (proven in the premise tests), so
they are not reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Set, Tuple

import libcst as cst

from ..analyse import ResolvedTask
from .callables import function_of
from ..convert import code_for
from ..collect import TaskSite, bind_arguments
from ..knowledge import split_words
from .middlewares import StateCloser, closing_middlewares
from .routes import RouteFacts, annotation_names, is_generator
from .sites import Registration, registration
from ..scopes import FunctionScope, Scope, dotted, own_nodes
from ..syntax import walk
from ..values import Cls, Func, ext_name

if TYPE_CHECKING:
    from .module import ModuleContext

_MAX_DEPTH = 5
FUNCTION_SCOPE_DEPENDENCIES = (0, 121)
EARLY_EXIT = ((0, 106), (0, 118))  # yield-dependency exit and UploadFile closing before the response

# What a `with` target must look like to count as a resource its block closes: words of the
# context expression's callee (`SessionLocal()`, `open(...)`, `engine.connect()`) or of the target
# name (`as db`). A span, a lock, a timer or `pytest.raises` is not reported.
RESOURCE_WORDS = frozenset({
    "browser", "channel", "client", "conn", "connect", "connection", "cursor", "database", "db",
    "driver", "file", "ftp", "handle", "open", "pool", "session", "sftp", "smtp", "socket",
    "spooled", "tar", "temporary", "tempfile", "transaction", "zip",
})
FILE_WORDS = frozenset({"file", "handle", "open", "spooled", "tar", "temporary", "tempfile", "zip"})
# Context managers whose `with` block ends a transaction but leaves the connection open.
NOT_CLOSING = frozenset({"sqlite3.connect", "sqlite3.dbapi2.connect", "psycopg2.connect"})
# Tasks that clean up what they are given: removing a path the block already removed is harmless,
# and `FileResponse(path, background=BackgroundTask(os.remove, path))` is the idiom.
CLEANUP_TASKS = frozenset({"os.remove", "os.unlink", "os.rmdir", "shutil.rmtree", "pathlib.Path.unlink",
                           "pathlib.Path.rmdir"})
# `delete=False`, `auto_unlink=False`: the block keeps what it would otherwise remove.
KEEP_WORDS = frozenset({"clean", "cleanup", "close", "delete", "remove", "unlink"})
REQUEST_TYPES = frozenset({"fastapi.Request", "fastapi.requests.Request", "starlette.requests.Request",
                           "starlette.requests.HTTPConnection"})

SESSION_ADVICE = "pass ids and open a new session (or connection) inside the task"
UPLOAD_ADVICE = ("read the upload in the endpoint (`await file.read()`) and pass the bytes, "
                 "or save it and pass the path")


@dataclass(frozen=True)
class ClosedValue:
    """A value handed to a task that will be closed when the task runs."""

    shown: str  # the expression as passed: "db", "self.session", "file"
    why: str  # why it is closed by then
    advice: str  # what to pass instead


@dataclass(frozen=True)
class _Origin:
    why: str
    advice: str
    block: Optional[cst.With] = None  # for `with` targets: the block that closes the value
    block_scope: Optional[FunctionScope] = None
    keyword: str = ""  # "with" or "async with"
    line: int = 0  # of the block


def _version_text(version: Tuple[int, ...]) -> str:
    return ".".join(str(p) for p in version[:3])


class LifetimeChecker:
    """Finds closed values passed to the tasks of one module."""

    def __init__(self, facts: RouteFacts, version: Tuple[int, ...]) -> None:
        self.facts = facts
        self.evaluator = facts.evaluator
        self.version = version
        self._closing: Optional[Dict[str, StateCloser]] = None

    def closed_values(self, site: TaskSite, task: ResolvedTask) -> Iterator[ClosedValue]:
        if ext_name(task.value) in CLEANUP_TASKS:
            return
        site_function = self.facts.enclosing_function(site.scope)
        seen = set()
        for expr, scope, holder in self._passed(site, task):
            origin = self._origin(expr, scope, 0)
            why = self._closed_at(origin, site, site_function) if origin is not None else None
            if origin is None or why is None:
                why = self._request_read_by_task(expr, scope, site, task) if holder is None else None
                if why is None:
                    continue
                origin = _Origin(why, SESSION_ADVICE)
            shown = _code(expr)
            if holder is not None:
                shown, why = _code(holder), f"built from '{shown}', {why}"
            if shown not in seen:
                seen.add(shown)
                yield ClosedValue(shown, why, origin.advice)

    # -- what the task receives --------------------------------------------------------------
    def _passed(self, site: TaskSite,
                task: ResolvedTask) -> Iterator[Tuple[cst.BaseExpression, Scope, Optional[cst.Name]]]:
        """What the task receives: (expression, its scope, the object holding it when the task is
        a method of an object built from it)."""
        for arg in task.args or ():
            if not arg.star:
                yield arg.value, site.scope, None
        yield from self._receiver_arguments(site)
        callable_function = self.facts.enclosing_function(site.callable_scope)
        if callable_function is not None:
            flow = self.facts.flow(callable_function)
            for call in task.partials:
                if flow.contains(call) or _within(call, site.call):
                    for arg in call.args[1:]:
                        if not arg.star:
                            yield arg.value, site.callable_scope, None
        func = task.value.scope if isinstance(task.value, Func) else None
        if func is not None and site.callable_expr is not None:
            # A lambda or nested def defined where the task is scheduled: what it closes over.
            if func.parent is not None and self.facts.enclosing_function(func.parent) is not None:
                for name in self._free_names(func):
                    yield name, func, None

    def _free_names(self, func: FunctionScope) -> Iterator[cst.Name]:
        for name in _names_in(func.node):
            found = func.lookup(name.value)
            if found is not None and found[1] is not func and isinstance(found[1], FunctionScope):
                yield name

    def _receiver_arguments(self, site: TaskSite) -> Iterator[Tuple[cst.BaseExpression, Scope, cst.Name]]:
        """`service = Service(db)` then `add_task(service.run)`: the method runs with what the
        object was built from (a project class's constructor arguments, local and assigned once)."""
        expr, scope = site.callable_expr, site.callable_scope
        if not isinstance(expr, cst.Attribute) or not isinstance(expr.value, cst.Name):
            return
        found = scope.lookup(expr.value.value)
        if found is None:
            return
        binding, where = found
        if not isinstance(where, FunctionScope) or len(where.local(expr.value.value)) != 1:
            return
        call = binding.value
        if binding.kind != "assign" or not isinstance(call, cst.Call) \
                or not isinstance(self.evaluator.expr(call.func, where), Cls):
            return
        for arg in call.args:
            if not arg.star:
                yield arg.value, where, expr.value

    # -- where a value comes from ------------------------------------------------------------
    def _origin(self, expr: cst.BaseExpression, scope: Scope, depth: int) -> Optional[_Origin]:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, cst.Name):
            found = scope.lookup(expr.value)
            if found is None:
                return None
            binding, where = found
            if len(where.local(expr.value)) != 1 or not isinstance(where, FunctionScope):
                return None
            if binding.kind == "param" and isinstance(binding.node, cst.Param):
                return self._param_origin(binding.node, where)
            if binding.kind == "assign" and binding.value is not None and \
                    isinstance(binding.value, (cst.Name, cst.Attribute)):
                return self._origin(binding.value, where, depth + 1)
            if binding.kind == "with" and isinstance(binding.node, cst.WithItem):
                return self._with_origin(binding.node, where)
            return None
        if isinstance(expr, cst.Attribute):
            if expr.attr.value == "file":  # UploadFile.file: the spooled file itself
                origin = self._origin(expr.value, scope, depth + 1)
                if origin is not None and origin.advice == UPLOAD_ADVICE:
                    return origin
            if self._is_request_state(expr.value, scope):
                return self._state_origin(expr.attr.value)
            return self._self_attribute_origin(expr, scope, depth)
        return None

    # -- request.state values a middleware closes ---------------------------------------------
    def _closers(self) -> Dict[str, StateCloser]:
        if self._closing is None:
            self._closing = closing_middlewares(self.facts.info)
        return self._closing

    def _state_origin(self, attr: str) -> Optional[_Origin]:
        closer = self._closers().get(attr)
        if closer is None or not self._closes_before_tasks(closer):
            return None
        return _Origin(_state_why(closer, self.version), SESSION_ADVICE)

    def _closes_before_tasks(self, closer: StateCloser) -> bool:
        """A middleware closes before the tasks on every version; a dependency's exit code only
        on FastAPI 0.106-0.117."""
        return closer.kind == "middleware" or EARLY_EXIT[0] <= self.version < EARLY_EXIT[1]

    def _is_request_state(self, expr: cst.BaseExpression, scope: Scope) -> bool:
        """`expr` is `request.state` of a request parameter."""
        return isinstance(expr, cst.Attribute) and expr.attr.value == "state" \
            and isinstance(expr.value, cst.Name) and self._is_request(expr.value, scope)

    def _is_request(self, name: cst.Name, scope: Scope) -> bool:
        found = scope.lookup(name.value)
        if found is None or found[0].kind != "param" or not isinstance(found[0].node, cst.Param):
            return False
        param, where = found[0].node, found[1]
        if param.annotation is None:
            return name.value in ("request", "req")
        return any(ext_name(self.evaluator.expr(n, s)) in REQUEST_TYPES
                   for n, s in annotation_names(param.annotation.annotation, where, 0))

    def _returned_state_origin(self, target: FunctionScope) -> Optional[_Origin]:
        """A plain dependency that returns a value a middleware closes (`return request.state.db`)."""
        found = [self._origin(r.value, target, 1) if r.value is not None else None
                 for r in own_nodes(target.node, cst.Return)]
        origins = [o for o in found if o is not None and o.block is None]
        if not found or len(origins) != len(found):
            return None
        if any(o.why != origins[0].why for o in origins):
            return None
        return _Origin(f"from dependency '{target.name}', {origins[0].why}", origins[0].advice)

    def _request_read_by_task(self, expr: cst.BaseExpression, scope: Scope, site: TaskSite,
                              task: ResolvedTask) -> Optional[str]:
        """The request itself passed to a task that reads `request.state.<x>` a middleware closes."""
        if not isinstance(expr, cst.Name) or not self._is_request(expr, scope) or task.args is None:
            return None
        func = function_of(task.value)
        if func is None or not isinstance(func.node, cst.FunctionDef) or task.partials:
            return None
        mapping = bind_arguments(func, task.args, skip_self=not isinstance(task.value, Func))
        params = {name for name, arg in mapping.items() if arg.value is expr}
        for attribute in _attributes_in(func.node):
            value = attribute.value
            if isinstance(value, cst.Attribute) and value.attr.value == "state" \
                    and isinstance(value.value, cst.Name) and value.value.value in params:
                closer = self._closers().get(attribute.attr.value)
                if closer is not None and self._closes_before_tasks(closer):
                    line, _ = func.module.position(attribute, func)
                    return (f"whose request.state.{attribute.attr.value} (read by the task at "
                            f"{func.module.display}:{line}) is {_closed_text(closer, self.version)}")
        return None

    def _param_origin(self, param: cst.Param, where: FunctionScope) -> Optional[_Origin]:
        early = EARLY_EXIT[0] <= self.version < EARLY_EXIT[1]
        dependency = self.facts.param_dependency(param, where)
        if dependency is not None and isinstance(dependency.target.node, cst.FunctionDef) \
                and is_generator(dependency.target.node):
            name = dependency.target.name
            if dependency.function_scope and self.version >= FUNCTION_SCOPE_DEPENDENCIES:
                return _Origin(f"the value of yield-dependency '{name}' declared with "
                               f"scope=\"function\": its exit code runs when the endpoint returns, "
                               f"before the task", SESSION_ADVICE)
            if early:
                return _Origin(f"the value of yield-dependency '{name}': on FastAPI "
                               f"{_version_text(self.version)} its exit code runs before the "
                               f"response is sent, before the task", SESSION_ADVICE)
            return None
        if dependency is not None and isinstance(dependency.target.node, cst.FunctionDef):
            return self._returned_state_origin(dependency.target)
        if early and dependency is None and self.facts.is_upload_file(param, where):
            return _Origin(f"an UploadFile: on FastAPI {_version_text(self.version)} FastAPI closes "
                           f"it before the response is sent, before the task", UPLOAD_ADVICE)
        return None

    def _with_origin(self, item: cst.WithItem, where: FunctionScope) -> Optional[_Origin]:
        if not isinstance(where.node, cst.FunctionDef):
            return None
        block = self.facts.flow(where).statement_of(item)
        if not isinstance(block, cst.With):
            return None
        line, _ = where.module.position(block, where)
        context = item.item.func if isinstance(item.item, cst.Call) else item.item
        opener = set(split_words((dotted(context) or "").rpartition(".")[2]))
        target = item.asname.name if item.asname is not None else None
        named = set(split_words(target.value)) if isinstance(target, cst.Name) else set()
        if not (opener | named) & RESOURCE_WORDS:
            return None  # not recognisably a resource: a span, a lock, a timer...
        if isinstance(item.item, cst.Call):
            if ext_name(self.evaluator.expr(item.item.func, where)) in NOT_CLOSING:
                return None  # the block ends a transaction; the connection stays open
            if any(a.keyword is not None and isinstance(a.value, cst.Name) and a.value.value == "False"
                   and set(split_words(a.keyword.value)) & KEEP_WORDS for a in item.item.args):
                return None  # `delete=False`: the block keeps the file or folder
        if (opener or named) & FILE_WORDS and not opener & (RESOURCE_WORDS - FILE_WORDS):
            advice = "pass the data read inside the block, or a path the task opens itself"
        else:
            advice = SESSION_ADVICE
        keyword = "async with" if block.asynchronous is not None else "with"
        return _Origin(f"bound by the `{keyword}` block at line {line}, which has closed it by "
                       f"the time the task runs", advice, block, where, keyword, line)

    def _self_attribute_origin(self, expr: cst.Attribute, scope: Scope, depth: int) -> Optional[_Origin]:
        if not isinstance(expr.value, cst.Name):
            return None
        found = scope.lookup(expr.value.value)
        if found is None or found[0].kind != "param":
            return None
        method = found[1]
        if not isinstance(method, FunctionScope) or method.self_name != expr.value.value:
            return None
        cls = method.enclosing_class()
        if cls is None:
            return None
        assigned = cls.instance_attr(expr.attr.value)
        if len(assigned) != 1 or cls.local(expr.attr.value):
            return None
        binding, setter = assigned[0]
        if binding.kind != "assign" or not isinstance(binding.value, cst.Name):
            return None
        origin = self._origin(binding.value, setter, depth + 1)
        return origin if origin is not None and origin.block is None else None

    # -- is it closed where the task is scheduled? -------------------------------------------
    def _closed_at(self, origin: _Origin, site: TaskSite,
                   site_function: Optional[FunctionScope]) -> Optional[str]:
        """Why the value is closed when the task runs, or None when it may not be."""
        if origin.block is None:
            return origin.why
        if site_function is None or origin.block_scope is not site_function:
            return None
        flow = self.facts.flow(site_function)
        statement = flow.statement_of(site.call)
        if statement is None:
            return None
        if not flow.inside(statement, origin.block):
            return origin.why if flow.precedes(origin.block, statement) else None
        if not self._left_before_tasks(origin.block, site, site_function):
            return None
        return (f"bound by the `{origin.keyword}` block at line {origin.line}, which closes it when "
                f"'{site_function.name}' returns, before the task runs")

    def _left_before_tasks(self, block: cst.With, site: TaskSite, function: FunctionScope) -> bool:
        """A task registered inside `block` runs after the block is left: the function returns
        before the response (and its tasks), unless the block holds a `yield` (a dependency or
        generator suspends inside it) or the function runs the tasks itself (`await tasks()`)."""
        if site.scope is not function:
            return False  # registered in a lambda inside the block: it may run anywhere
        syntax = self.facts.function(function)
        if syntax is None:
            return False
        flow = self.facts.flow(function)
        for found in syntax.yields:
            statement = flow.statement_of(found)
            if statement is not None and flow.inside(statement, block):
                return False
        receiver = site.receiver
        if isinstance(receiver, cst.Name) and receiver.value in _called_names(function.node):
            return False
        return True


def _state_why(closer: StateCloser, version: Tuple[int, ...]) -> str:
    if closer.kind == "middleware":
        return (f"which middleware '{closer.middleware}' stores on request.state.{closer.attr} and "
                f"closes at {closer.where} as soon as call_next returns, before the task runs")
    return (f"which yield-dependency '{closer.middleware}' stores on request.state.{closer.attr} and "
            f"closes at {closer.where}: on FastAPI {_version_text(version)} its exit code runs before "
            f"the response is sent, before the task")


def _closed_text(closer: StateCloser, version: Tuple[int, ...]) -> str:
    if closer.kind == "middleware":
        return (f"closed by middleware '{closer.middleware}' at {closer.where} as soon as call_next "
                f"returns, before the task runs")
    return (f"closed by yield-dependency '{closer.middleware}' at {closer.where}: on FastAPI "
            f"{_version_text(version)} its exit code runs before the response is sent, before the task")


def _called_names(function: cst.CSTNode) -> Set[str]:
    """Plain names called in a function (nested functions included)."""
    names: Set[str] = set()

    class _Calls(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Name):
                names.add(node.func.value)

    walk(function, _Calls())
    return names


def _attributes_in(function: cst.CSTNode) -> List[cst.Attribute]:
    found: List[cst.Attribute] = []

    class _Attributes(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            found.append(node)

    walk(function, _Attributes())
    return found


def _within(node: cst.CSTNode, container: cst.CSTNode) -> bool:
    found = []

    class _Find(cst.CSTVisitor):
        def on_visit(self, candidate: cst.CSTNode) -> bool:
            if candidate is node:
                found.append(True)
            return not found

    walk(container, _Find())
    return bool(found)


def _names_in(node: cst.CSTNode) -> List[cst.Name]:
    """Names a function or lambda body uses as values: passed, called, or called methods of
    (`handle.read()`). Attribute names, keywords, and names only read an attribute of
    (`tmp.name`: a closed file still knows its name) are left out."""
    names: List[cst.Name] = []

    class _Names(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            func = call.func
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
                names.append(func.value)

        def visit_Attribute(self, attribute: cst.Attribute) -> bool:
            if not isinstance(attribute.value, cst.Name):
                walk(attribute.value, self)
            return False

        def visit_Arg(self, arg: cst.Arg) -> bool:
            walk(arg.value, self)
            return False

        def visit_Param(self, param: cst.Param) -> bool:
            return False

        def visit_Name(self, name: cst.Name) -> None:
            names.append(name)

    body = node.body if isinstance(node, (cst.FunctionDef, cst.Lambda)) else node
    walk(body, _Names())
    return names


def _code(node: cst.CSTNode) -> str:
    return code_for(node)


@dataclass(frozen=True)
class ClosedArgument:
    """FBG203: a site whose task receives a value closed before it runs (the first one found)."""

    site: Registration
    value: ClosedValue


def closed_arguments(context: "ModuleContext") -> Tuple[ClosedArgument, ...]:
    if not context.sites:
        return ()
    checker = LifetimeChecker(context.routes, context.settings.effective_fastapi_version)
    found: List[ClosedArgument] = []
    for site, task in context.sites:
        closed = next(iter(checker.closed_values(site, task)), None)
        if closed is not None:
            found.append(ClosedArgument(registration(site, task), closed))
    return tuple(found)


__all__ = ["ClosedArgument", "ClosedValue", "LifetimeChecker", "closed_arguments"]
