"""Tasks added to the injected `BackgroundTasks` of a WebSocket route: the facts of FBG206.

FastAPI injects a working `BackgroundTasks` into WebSocket endpoints but never runs it. A task
counts when it is added in the route (or a function nested in it), or by a project function
the route hands the object to which only adds tasks to it (through helpers of its own, a few
levels deep). Not when the endpoint, or such a helper, uses the object any other way: calls
it (`await background_tasks()`), passes it on, stores it; then the tasks may run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Set, Tuple

import libcst as cst

from ..collect import bind_arguments, calls_in, split_task_args
from ..scopes import FunctionScope
from ..syntax import walk
from ..values import Evaluator, Func
from .callables import definition, function_of, is_opaque
from .sites import Registration, code, registration, sites_in, tasks_param

if TYPE_CHECKING:
    from .module import ModuleContext

_MAX_HELPER_DEPTH = 3


@dataclass(frozen=True)
class WebSocketTask:
    """A task the route itself adds to its injected BackgroundTasks, which nothing runs."""

    site: Registration
    route: str
    param: str  # the injected parameter it is added to


@dataclass(frozen=True)
class WebSocketHelper:
    """A call in the route that hands its injected BackgroundTasks to a project function which
    only adds tasks to it."""

    call: cst.Call
    helper: str  # `queue_audit`, `AuditService.record`
    defined_at: str
    route: str
    param: str
    tasks: Tuple[str, ...]  # the tasks it adds, as written (may repeat)


@dataclass(frozen=True)
class WebSocketTasks:
    added: Tuple[WebSocketTask, ...]
    via_helpers: Tuple[WebSocketHelper, ...]


def websocket_tasks(context: "ModuleContext") -> WebSocketTasks:
    facts = context.routes
    added: List[WebSocketTask] = []
    via_helpers: List[WebSocketHelper] = []
    for route in facts.websocket_routes():
        params = facts.injected_tasks_params(route.scope)
        if not params:
            continue
        sites = [(s, t) for s, t in sites_in(context, route.scope, facts, nested=True)
                 if tasks_param(s, params)]
        site_calls = {id(s.call) for s, _ in sites}
        helpers = [h for h in _registering_helpers(route.scope, params, context.evaluator, 0)
                   if id(h[0]) not in site_calls]
        forwarding = {id(s.call) for s, _ in sites if s.kind == "forwarded"} | {id(h[0]) for h in helpers}
        handed_on = {p for p in params if _used_otherwise(route.scope.node, p, forwarding)}
        for site, task in sites:
            param = tasks_param(site, params)
            if param is not None and param not in handed_on:
                added.append(WebSocketTask(registration(site, task), route.scope.name, param))
        for call, helper, param, names in helpers:
            if param not in handed_on:
                via_helpers.append(WebSocketHelper(call, _helper_name(helper), definition(helper),
                                                   route.scope.name, param, tuple(names)))
    return WebSocketTasks(tuple(added), tuple(via_helpers))


def _helper_name(helper: FunctionScope) -> str:
    cls = helper.enclosing_class()
    return f"{cls.name}.{helper.name}" if cls is not None else helper.name


def _registering_helpers(function: FunctionScope, params: Set[str], evaluator: Evaluator,
                         depth: int) -> List[Tuple[cst.Call, FunctionScope, str, List[str]]]:
    """Calls in `function` that hand one of `params` (a BackgroundTasks) to a project function or
    method which only adds tasks to it (directly, or through helpers of its own, a few levels
    deep) and never runs or keeps it: (the call, the helper, the parameter passed, task names)."""
    found: List[Tuple[cst.Call, FunctionScope, str, List[str]]] = []
    if depth >= _MAX_HELPER_DEPTH:
        return found
    for call in calls_in(function.node):
        passed = [a.value.value for a in call.args
                  if isinstance(a.value, cst.Name) and a.value.value in params]
        if not passed or (isinstance(call.func, cst.Attribute) and call.func.attr.value == "add_task"):
            continue
        callee = evaluator.expr(call.func, function)
        helper = function_of(callee)
        if helper is None or not isinstance(helper.node, cst.FunctionDef) or is_opaque(helper):
            continue
        mapping = bind_arguments(helper, call.args, skip_self=not isinstance(callee, Func))
        receivers = {name for name, arg in mapping.items()
                     if isinstance(arg.value, cst.Name) and arg.value.value in params}
        if not receivers:
            continue
        names: List[str] = []
        inner = _registering_helpers(helper, receivers, evaluator, depth + 1)
        inner_calls = {id(c) for c, _, _, _ in inner}
        for found_inner in inner:
            names += found_inner[3]
        for inner_call in calls_in(helper.node):
            func = inner_call.func
            if isinstance(func, cst.Attribute) and func.attr.value == "add_task" \
                    and isinstance(func.value, cst.Name) and func.value.value in receivers:
                names.append(_added_name(inner_call))
        if not names or any(_used_otherwise(helper.node, r, inner_calls) for r in receivers):
            continue
        param = next(iter(sorted(set(passed))))
        found.append((call, helper, param, names))
    return found


def _added_name(call: cst.Call) -> str:
    callable_expr, _ = split_task_args(call.args)
    return code(callable_expr, 40) if callable_expr is not None else "..."


def _used_otherwise(function: cst.CSTNode, name: str, forwarding: Set[int]) -> bool:
    """`name` is used other than as an `add_task` receiver or an argument of a helper that only
    registers tasks: called (`await background_tasks()`), passed on, stored. The endpoint may then
    run the tasks itself. (`responses._name_uses` asks the like of a local variable; see there
    why the two differ.)"""
    allowed: Set[int] = set()
    other: List[cst.Name] = []

    class _Uses(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "add_task" \
                    and isinstance(func.value, cst.Name):
                allowed.add(id(func.value))
            if id(node) in forwarding:
                allowed.update(id(a.value) for a in node.args if isinstance(a.value, cst.Name))

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            walk(node.value, self)
            return False

        def visit_Arg(self, node: cst.Arg) -> bool:
            walk(node.value, self)
            return False

        def visit_Param(self, node: cst.Param) -> bool:
            return False

        def visit_Name(self, node: cst.Name) -> None:
            if node.value == name and id(node) not in allowed:
                other.append(node)

    body = function.body if isinstance(function, (cst.FunctionDef, cst.Lambda)) else function
    walk(body, _Uses())
    return bool(other)


__all__ = ["WebSocketHelper", "WebSocketTask", "WebSocketTasks", "websocket_tasks"]
