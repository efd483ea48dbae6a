"""FBG203's question: does a task receive a value that is closed before it runs?

Background tasks run after the response. Some values a route holds are closed before that:

* a `with`/`async with` target, once the block is left;
* the value of a dependency with `yield` declared `Depends(dep, scope="function")`, whose exit
  code runs when the endpoint returns (FastAPI >= 0.121);
* on FastAPI 0.106-0.117 only: the value of any yield-dependency and any `UploadFile`, closed
  before the response is sent.

A value passed to a task is traced back to its origin through plain assignments, the task's
`functools.partial` arguments, names a lambda or nested def closes over, and `self.x`
attributes set once from such a value. Anything less clear is not reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import libcst as cst

from .analyse import ResolvedTask
from .collect import TaskSite
from .knowledge import split_words
from .routes import ModuleFacts, is_generator
from .scopes import FunctionScope, Scope, dotted
from .syntax import walk
from .values import Func

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


def _version_text(version: Tuple[int, ...]) -> str:
    return ".".join(str(p) for p in version[:3])


class LifetimeChecker:
    """Finds closed values passed to the tasks of one module."""

    def __init__(self, facts: ModuleFacts, version: Tuple[int, ...]) -> None:
        self.facts = facts
        self.evaluator = facts.evaluator
        self.version = version

    def closed_values(self, site: TaskSite, task: ResolvedTask) -> Iterator[ClosedValue]:
        site_function = self.facts.enclosing_function(site.scope)
        seen = set()
        for expr, scope in self._passed(site, task):
            origin = self._origin(expr, scope, 0)
            if origin is None or not self._closed_at(origin, site, site_function):
                continue
            shown = _code(expr)
            if shown not in seen:
                seen.add(shown)
                yield ClosedValue(shown, origin.why, origin.advice)

    # -- what the task receives --------------------------------------------------------------
    def _passed(self, site: TaskSite, task: ResolvedTask) -> Iterator[Tuple[cst.BaseExpression, Scope]]:
        for arg in task.args or ():
            if not arg.star:
                yield arg.value, site.scope
        callable_function = self.facts.enclosing_function(site.callable_scope)
        if callable_function is not None:
            flow = self.facts.flow(callable_function)
            for call in task.partials:
                if flow.contains(call) or _within(call, site.call):
                    for arg in call.args[1:]:
                        if not arg.star:
                            yield arg.value, site.callable_scope
        func = task.value.scope if isinstance(task.value, Func) else None
        if func is not None and site.callable_expr is not None:
            # A lambda or nested def defined where the task is scheduled: what it closes over.
            if func.parent is not None and self.facts.enclosing_function(func.parent) is not None:
                yield from self._free_names(func)

    def _free_names(self, func: FunctionScope) -> Iterator[Tuple[cst.BaseExpression, Scope]]:
        for name in _names_in(func.node):
            found = func.lookup(name.value)
            if found is not None and found[1] is not func and isinstance(found[1], FunctionScope):
                yield name, func

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
            return self._self_attribute_origin(expr, scope, depth)
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
        if (opener or named) & FILE_WORDS and not opener & (RESOURCE_WORDS - FILE_WORDS):
            advice = "pass the data read inside the block, or a path the task opens itself"
        else:
            advice = SESSION_ADVICE
        keyword = "async with" if block.asynchronous is not None else "with"
        return _Origin(f"bound by the `{keyword}` block at line {line}, which has closed it by "
                       f"the time the task runs", advice, block, where)

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
    def _closed_at(self, origin: _Origin, site: TaskSite, site_function: Optional[FunctionScope]) -> bool:
        if origin.block is None:
            return True
        if site_function is None or origin.block_scope is not site_function:
            return False
        flow = self.facts.flow(site_function)
        statement = flow.statement_of(site.call)
        if statement is None or flow.inside(statement, origin.block):
            return False
        return flow.precedes(origin.block, statement)


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
    """Names read in a function or lambda body, attribute names and keywords excluded."""
    names: List[cst.Name] = []

    class _Names(cst.CSTVisitor):
        def visit_Attribute(self, attribute: cst.Attribute) -> bool:
            walk(attribute.value, self)
            return False

        def visit_Arg(self, arg: cst.Arg) -> bool:
            walk(arg.value, self)
            return False

        def visit_Param(self, param: cst.Param) -> bool:
            return False

        def visit_Name(self, name: cst.Name) -> None:
            names.append(name)

    body = node.body  # type: ignore[attr-defined]
    walk(body, _Names())
    return names


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


__all__ = ["ClosedValue", "LifetimeChecker"]
