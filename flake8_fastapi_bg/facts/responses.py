"""Where a module's task objects go relative to the responses: the facts of FBG204, FBG205
and FBG209.

* `unattached_tasks`: a `BackgroundTasks()`/`BackgroundTask(...)` built in a route that gets
  tasks but is never returned, passed, stored or attached;
* `discarded_tasks`: a route adds tasks to its injected `BackgroundTasks` and then returns a
  response that brings its own `background=`, on a path with no `return`/`raise` between;
* `injected_response_backgrounds`: `response.background = ...` on the `Response` FastAPI
  injects into a route or dependency, which is not returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Set, Tuple

import libcst as cst

from ..collect import bind_arguments, calls_in
from ..scopes import FunctionScope
from ..syntax import walk
from ..values import BACKGROUND_TASK, BACKGROUND_TASKS, Evaluator, Func, display_name, ext_name
from .callables import function_of
from .flow import FunctionFlow
from .routes import Route, RouteFacts, is_response_call
from .sites import sites_in, tasks_param

if TYPE_CHECKING:
    from ..analyse import ResolvedTask
    from ..collect import TaskSite
    from .module import ModuleContext


@dataclass(frozen=True)
class UnattachedTasks:
    """FBG204: a task object built in a route that never reaches a response."""

    construction: cst.Call  # the `BackgroundTasks()`/`BackgroundTask(...)` call
    single: bool  # a `BackgroundTask(...)` (one task), not a `BackgroundTasks()`
    route: str
    tasks: Tuple[str, ...]  # the names of its tasks, in order (may repeat)
    never_run: Tuple[cst.CSTNode, ...]  # the registrations whose tasks never run


@dataclass(frozen=True)
class DiscardedTasks:
    """FBG205: a response with `background=` returned after tasks were added to the injected
    `BackgroundTasks`, which FastAPI then drops."""

    response: cst.CSTNode  # the response call, or the `resp.background = ...` assignment
    route: str
    param: str  # the injected parameter (the first by name when there are several)
    tasks: Tuple[str, ...]  # the tasks dropped (`via helper` for a helper that adds some)
    never_run: Tuple[cst.CSTNode, ...]  # the registrations whose tasks never run


@dataclass(frozen=True)
class InjectedResponseBackground:
    """FBG209: `.background` set on the `Response` FastAPI injects, which is not returned."""

    assign: cst.Assign
    param: str  # the `Response` parameter
    function: str  # the route or dependency


# -- FBG204 -------------------------------------------------------------------------------------
def unattached_tasks(context: "ModuleContext") -> Tuple[UnattachedTasks, ...]:
    if not context.sites:
        return ()
    facts = context.routes
    by_call = {id(site.call): (site, task) for site, task in context.sites}
    found: List[UnattachedTasks] = []
    for scope in facts.site_functions():
        syntax = facts.function(scope)
        if syntax is None or not syntax.constructions:
            continue
        route = facts.route(scope)
        if route is None:
            continue
        for call in syntax.constructions:
            kind = ext_name(context.evaluator.expr(call.func, route.scope))
            if kind not in BACKGROUND_TASKS and kind not in BACKGROUND_TASK:
                continue
            lost: List[cst.CSTNode] = []
            tasks = _unattached_tasks(call, kind in BACKGROUND_TASK, route, facts, by_call, lost)
            if tasks is not None:
                found.append(UnattachedTasks(call, kind in BACKGROUND_TASK, route.scope.name,
                                             tuple(tasks), tuple(lost)))
    return tuple(found)


def _unattached_tasks(call: cst.Call, single: bool, route: Route, facts: RouteFacts,
                      by_call: Dict[int, Tuple["TaskSite", "ResolvedTask"]],
                      lost: List[cst.CSTNode]) -> Optional[List[str]]:
    """Task names of a construction that no response ever receives, or None when it may.
    `lost` receives the site calls whose tasks never run."""
    flow = facts.flow(route.scope)
    statement = flow.statement_of(call)
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    own = [display_name(by_call[id(call)][1].value)] if id(call) in by_call else []
    own += [display_name(by_call[id(e.value)][1].value) for e in _listed_elements(call)
            if id(e.value) in by_call]
    lost += [call] + [e.value for e in _listed_elements(call)]
    if isinstance(small, cst.Expr) and small.value is call:
        return own if single or _listed_tasks(call) else None
    target = _assigned_name(small, call)
    if target is None or len(route.scope.local(target)) != 1:
        return None
    uses = _name_uses(route.scope.node, target)
    if uses is None:
        return None
    names = own + [display_name(by_call[id(c)][1].value) for c in uses if id(c) in by_call]
    lost += uses
    if not single and not uses and not _listed_tasks(call):
        return None
    return names


def _listed_tasks(call: cst.Call) -> bool:
    """`BackgroundTasks([task, ...])` with a non-empty list."""
    return bool(_listed_elements(call))


def _listed_elements(call: cst.Call) -> List[cst.BaseElement]:
    for arg in call.args:
        value = arg.value
        if isinstance(value, (cst.List, cst.Tuple)) and (arg.keyword is None or arg.keyword.value == "tasks"):
            return list(value.elements)
    return []


def _assigned_name(small: cst.BaseSmallStatement, call: cst.Call) -> Optional[str]:
    if isinstance(small, cst.Assign) and small.value is call and len(small.targets) == 1:
        target = small.targets[0].target
    elif isinstance(small, cst.AnnAssign) and small.value is call:
        target = small.target
    else:
        return None
    return target.value if isinstance(target, cst.Name) else None


def _name_uses(function: cst.CSTNode, name: str) -> Optional[List[cst.Call]]:
    """The `name.add_task(...)` calls in a function, or None when `name` is used any other way
    (returned, passed, stored, attached, called): then it may reach a response.

    Not shared with `websockets._used_otherwise`, which looks alike: `name` here is a local
    built in the function, so its own assignment is no use, and a nested parameter that
    shadows it counts as one (no finding); there it is an injected parameter, which a nested
    parameter shadows, a reassignment uses, and a helper's forwarding call may receive."""
    registrations: List[cst.Call] = []
    receivers: Set[int] = set()
    other: List[cst.Name] = []

    class _Uses(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "add_task" \
                    and isinstance(func.value, cst.Name) and func.value.value == name:
                registrations.append(node)
                receivers.add(id(func.value))

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            walk(node.value, self)
            return False

        def visit_Arg(self, node: cst.Arg) -> bool:
            walk(node.value, self)
            return False

        def visit_AssignTarget(self, node: cst.AssignTarget) -> bool:
            return not (isinstance(node.target, cst.Name) and node.target.value == name)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> bool:
            if node.value is not None:
                walk(node.value, self)
            return False

        def visit_Name(self, node: cst.Name) -> None:
            if node.value == name and id(node) not in receivers:
                other.append(node)

    # visit_Call runs before the receiver Name is visited, so `receivers` is complete in time.
    walk(function, _Uses())
    if other:
        return None
    return registrations


# -- FBG205 -------------------------------------------------------------------------------------
def discarded_tasks(context: "ModuleContext") -> Tuple[DiscardedTasks, ...]:
    if not context.sites:
        return ()
    facts = context.routes
    found: List[DiscardedTasks] = []
    for scope in facts.site_functions():
        route = facts.route(scope)
        if route is None or route.kind != "http":
            continue
        # The returns are read first, the parameters evaluated only for a route that returns
        # a response with tasks of its own: most routes return none.
        responses = list(_responses_with_background(route, facts, context.evaluator))
        if not responses:
            continue
        params = facts.injected_tasks_params(route.scope)
        responses = [r for r in responses if not _mentions(r[2], params)] if params else []
        if not responses:
            continue
        flow = facts.flow(route.scope)
        added: List[Tuple[str, Optional[cst.CSTNode], Optional[cst.CSTNode]]] = [
            (display_name(task.value), flow.statement_of(site.call), site.call)
            for site, task in sites_in(context, route.scope, facts) if tasks_param(site, params)]
        added += [(helper, flow.statement_of(call), None)
                  for call, helper in _helpers_adding_tasks(route.scope, params, context.evaluator)]
        for node, returned, _ in responses:
            dropped = [(name, site) for name, stmt, site in added
                       if stmt is not None and flow.falls_through(stmt, returned)]
            if dropped:
                found.append(DiscardedTasks(node, route.scope.name, sorted(params)[0],
                                            tuple(name for name, _ in dropped),
                                            tuple(site for _, site in dropped if site is not None)))
    return tuple(found)


def _helpers_adding_tasks(route: FunctionScope, params: Set[str],
                          evaluator: Evaluator) -> List[Tuple[cst.Call, str]]:
    """Calls in the route that hand an injected BackgroundTasks to a project function which adds
    tasks to it (one level: `queue_audit(background_tasks, ...)`), with the helper's name."""
    found: List[Tuple[cst.Call, str]] = []
    for call in calls_in(route.node):
        if not any(isinstance(a.value, cst.Name) and a.value.value in params for a in call.args):
            continue
        callee = evaluator.expr(call.func, route)
        helper = function_of(callee)
        if helper is None or not isinstance(helper.node, cst.FunctionDef):
            continue
        mapping = bind_arguments(helper, call.args, skip_self=not isinstance(callee, Func))
        receivers = {name for name, arg in mapping.items()
                     if isinstance(arg.value, cst.Name) and arg.value.value in params}
        if any(isinstance(c.func, cst.Attribute) and c.func.attr.value == "add_task"
               and isinstance(c.func.value, cst.Name) and c.func.value.value in receivers
               for c in calls_in(helper.node)):
            found.append((call, f"via {helper.name}"))
    return found


def _responses_with_background(
        route: Route, facts: RouteFacts,
        evaluator: Evaluator) -> Iterator[Tuple[cst.CSTNode, cst.CSTNode, cst.BaseExpression]]:
    """(node to report, return statement, background expression) of returned responses."""
    syntax = facts.function(route.scope)
    flow = facts.flow(route.scope)
    if syntax is None:
        return
    scope = route.scope
    for ret in syntax.returns:
        statement = flow.statement_of(ret)
        value = ret.value
        if statement is None:
            continue  # not in the function's flow (never: a return is a statement of its def)
        if isinstance(value, cst.Call):
            background = _background_keyword(value)
            if background is not None and is_response_call(evaluator.expr(value.func, scope), evaluator):
                yield value, statement, background
        elif isinstance(value, cst.Name):
            for binding in scope.local(value.value):
                call = binding.value
                if binding.kind == "assign" and isinstance(call, cst.Call):
                    background = _background_keyword(call)
                    assigned = flow.statement_of(binding.node)
                    if background is not None and assigned is not None \
                            and flow.falls_through(assigned, statement) \
                            and is_response_call(evaluator.expr(call.func, scope), evaluator):
                        yield call, statement, background
            for assign in syntax.background_assigns:
                target = assign.targets[0].target
                if len(assign.targets) == 1 and isinstance(target, cst.Attribute) \
                        and isinstance(target.value, cst.Name) and target.value.value == value.value \
                        and _locally_built_response(value.value, scope, evaluator) \
                        and _falls_through(flow, flow.statement_of(assign), statement) \
                        and not _is_none(assign.value):
                    yield assign, statement, assign.value


def _falls_through(flow: FunctionFlow, first: Optional[cst.CSTNode], second: cst.CSTNode) -> bool:
    return first is not None and flow.falls_through(first, second)


def _locally_built_response(name: str, scope: FunctionScope, evaluator: Evaluator) -> bool:
    bindings = scope.local(name)
    return bool(bindings) and all(b.kind == "assign" and isinstance(b.value, cst.Call)
                                  and is_response_call(evaluator.expr(b.value.func, scope), evaluator)
                                  for b in bindings)


def _background_keyword(call: cst.Call) -> Optional[cst.BaseExpression]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "background" and not _is_none(arg.value):
            return arg.value
    return None


def _is_none(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def _mentions(expr: cst.CSTNode, names: Set[str]) -> bool:
    found: List[cst.Name] = []

    class _Names(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            if node.value in names:
                found.append(node)

    walk(expr, _Names())
    return bool(found)


# -- FBG209 -------------------------------------------------------------------------------------
def injected_response_backgrounds(context: "ModuleContext") -> Tuple[InjectedResponseBackground, ...]:
    if not context.sites:
        return ()
    facts = context.routes
    found: List[InjectedResponseBackground] = []
    for scope in facts.site_functions():
        syntax = facts.function(scope)
        if syntax is None or not syntax.background_assigns:
            continue
        params = facts.response_params(scope)
        if not params:
            continue
        route = facts.route(scope)
        if (route is None or route.kind != "http") and not facts.used_as_dependency(scope):
            continue  # a helper given some response: FastAPI does not call it
        returned = {r.value.value for r in syntax.returns if isinstance(r.value, cst.Name)}
        for assign in syntax.background_assigns:
            target = assign.targets[0].target
            if not isinstance(target, cst.Attribute) or not isinstance(target.value, cst.Name):
                continue
            name = target.value.value
            if name not in params or name in returned or len(scope.local(name)) != 1:
                continue
            found.append(InjectedResponseBackground(assign, name, scope.name))
    return tuple(found)


__all__ = ["DiscardedTasks", "InjectedResponseBackground", "UnattachedTasks", "discarded_tasks",
           "injected_response_backgrounds", "unattached_tasks"]
