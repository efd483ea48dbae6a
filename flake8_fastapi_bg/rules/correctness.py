"""FBG2xx: tasks that break, or silently never run.

Module-level checks: each receives the engine's `ModuleContext` (the module's task sites,
already resolved) and the shared facts of `routes.facts_for`, and yields findings. The facts
modules answer the questions (`callables`, `lifetimes`, `routes`, `flow`); the checks here
only decide and word the message. Every case of these rules involves a registration in the
module (an `add_task` or a `BackgroundTask(...)`), so a module without sites costs nothing.
"""

from __future__ import annotations

from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

import libcst as cst

from ..collect import bind_arguments, split_task_args
from ..facts.callables import definition, function_of, is_opaque
from ..facts.module import ModuleFacts
from ..facts.routes import Route, RouteFacts, facts_for, is_response_call
from ..model import Fix
from ..scopes import FunctionScope
from ..settings import Settings
from ..syntax import walk
from ..values import BACKGROUND_TASK, BACKGROUND_TASKS, Func, display_name, ext_name
from .base import Example, ModuleRule, Verdict, register

EARLY_EXIT = ((0, 106), (0, 118))  # FastAPI versions whose yield-dependencies exit before the response
FUNCTION_SCOPE = (0, 121)


def _code(node: cst.CSTNode, limit: int = 60) -> str:
    text = " ".join(cst.Module(body=[]).code_for_node(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _registration(site) -> str:
    if site.kind == "BackgroundTask":
        return "BackgroundTask"
    if site.kind == "forwarded":
        return f"add_task (via {site.helper})"
    return "add_task"


def _task_name(task) -> str:
    return display_name(task.value)


def _finding(context, code: str, node: cst.CSTNode, message: str, fix: Optional[Fix] = None) -> Verdict:
    return Verdict(node, message, fix)


def _never_runs(context, calls: Iterable[int]) -> None:
    """Record site calls (by id) whose tasks never run: the engine drops their FBG1xx findings."""
    never = getattr(context, "never_runs", None)
    if never is not None:
        never.update(calls)


def _sites_in(context, scope: FunctionScope, facts: RouteFacts, nested: bool = False):
    """The module's sites registered in `scope` (and, with `nested`, in functions inside it)."""
    for site, task in context.sites:
        where = facts.enclosing_function(site.scope) if nested else site.scope
        if where is scope:
            yield site, task


def _tasks_param(site, params: Set[str]) -> Optional[str]:
    """The injected-BackgroundTasks parameter a site registers on, if it is one of `params`."""
    if site.kind == "forwarded":
        for arg in site.call.args:
            if isinstance(arg.value, cst.Name) and arg.value.value in params:
                return arg.value.value
        return None
    receiver = site.receiver
    if isinstance(receiver, cst.Name) and receiver.value in params:
        return receiver.value
    return None


def _rendered_call(prefix: str, inner: cst.Call) -> str:
    parts = [_code(inner.func, 40)] + [_code(a.with_changes(comma=cst.MaybeSentinel.DEFAULT), 40)
                                       for a in inner.args]
    return _shorten(f"{prefix}({', '.join(parts)})")


def _shorten(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 4] + "...)"


def _site_prefix(site) -> str:
    if site.kind == "BackgroundTask":
        return "BackgroundTask"
    receiver = site.receiver
    return f"{_code(receiver, 30)}.add_task" if receiver is not None else "add_task"


# -- FBG204 ------------------------------------------------------------------------------------
def check_never_attached(module: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    context = module.context
    if not context.sites:
        return
    facts = facts_for(context)
    by_call = {id(site.call): (site, task) for site, task in context.sites}
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
            lost: List[int] = []
            tasks = _unattached_tasks(call, kind in BACKGROUND_TASK, route, facts, by_call, lost)
            if tasks is None:
                continue
            _never_runs(context, lost)
            names = ", ".join(dict.fromkeys(tasks))
            if kind in BACKGROUND_TASK:
                message = (f"BackgroundTask({names or '...'}, ...) built in route '{route.scope.name}' "
                           f"never reaches a response's background, so it never runs; pass it as "
                           f"background= of the response you return, or add the task to an injected "
                           f"BackgroundTasks parameter")
            else:
                message = (f"BackgroundTasks() built in route '{route.scope.name}' gets tasks "
                           f"({names or 'listed'}) but never reaches a response's background, so they "
                           f"never run; pass it as background= of the response you return, or add the "
                           f"tasks to an injected BackgroundTasks parameter")
            yield _finding(context, "FBG204", call, message)


def _unattached_tasks(call: cst.Call, single: bool, route: Route, facts: RouteFacts,
                      by_call: Dict[int, tuple], lost: List[int]) -> Optional[List[str]]:
    """Task names of a construction that no response ever receives, or None when it may.
    `lost` receives the ids of the site calls whose tasks never run."""
    flow = facts.flow(route.scope)
    statement = flow.statement_of(call)
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    own = [_task_name(by_call[id(call)][1])] if id(call) in by_call else []
    own += [_task_name(by_call[id(e.value)][1]) for e in _listed_elements(call) if id(e.value) in by_call]
    lost += [id(call)] + [id(e.value) for e in _listed_elements(call)]
    if isinstance(small, cst.Expr) and small.value is call:
        return own if single or _listed_tasks(call) else None
    target = _assigned_name(small, call)
    if target is None or len(route.scope.local(target)) != 1:
        return None
    uses = _name_uses(route.scope.node, target)
    if uses is None:
        return None
    names = own + [_task_name(by_call[id(c)][1]) for c in uses if id(c) in by_call]
    lost += [id(c) for c in uses]
    if not single and not uses and not _listed_tasks(call):
        return None
    return names


def _listed_tasks(call: cst.Call) -> bool:
    """`BackgroundTasks([task, ...])` with a non-empty list."""
    return bool(_listed_elements(call))


def _listed_elements(call: cst.Call) -> List[cst.BaseElement]:
    for arg in call.args:
        listed = isinstance(arg.value, (cst.List, cst.Tuple))
        if listed and (arg.keyword is None or arg.keyword.value == "tasks"):
            return list(arg.value.elements)  # type: ignore[attr-defined]
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
    (returned, passed, stored, attached, called): then it may reach a response."""
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


# -- FBG205 ------------------------------------------------------------------------------------
def check_injected_tasks_discarded(module: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    context = module.context
    if not context.sites:
        return
    facts = facts_for(context)
    for scope in facts.site_functions():
        route = facts.route(scope)
        if route is None or route.kind != "http":
            continue
        params = facts.injected_tasks_params(route.scope)
        if not params:
            continue
        responses = list(_responses_with_background(route, facts, context.evaluator))
        responses = [r for r in responses if not _mentions(r[2], params)]
        if not responses:
            continue
        flow = facts.flow(route.scope)
        added = [(_task_name(task), flow.statement_of(site.call), id(site.call))
                 for site, task in _sites_in(context, route.scope, facts) if _tasks_param(site, params)]
        added += [(helper, flow.statement_of(call), 0)
                  for call, helper in _helpers_adding_tasks(route.scope, params, context.evaluator)]
        for node, returned, _ in responses:
            dropped = [(name, site) for name, stmt, site in added
                       if stmt is not None and flow.falls_through(stmt, returned)]
            lost = [name for name, _ in dropped]
            if not lost:
                continue
            _never_runs(context, [site for _, site in dropped if site])
            names = ", ".join(dict.fromkeys(lost))
            param = sorted(params)[0]
            yield _finding(context, "FBG205", node,
                           f"route '{route.scope.name}' adds tasks ({names}) to the injected "
                           f"BackgroundTasks '{param}' but returns a response with background= set: "
                           f"FastAPI then drops the injected tasks, so they never run; add the "
                           f"response's task to '{param}' as well and return the response without "
                           f"background= (or pass background={param})")


def _helpers_adding_tasks(route: FunctionScope, params: Set[str], evaluator) -> List[Tuple[cst.Call, str]]:
    """Calls in the route that hand an injected BackgroundTasks to a project function which adds
    tasks to it (one level: `queue_audit(background_tasks, ...)`), with the helper's name."""
    found: List[Tuple[cst.Call, str]] = []
    for call in _calls_in(route.node):
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
               for c in _calls_in(helper.node)):
            found.append((call, f"via {helper.name}"))
    return found


def _calls_in(function: cst.CSTNode) -> List[cst.Call]:
    """Calls in a function body, not in nested functions or classes."""
    calls: List[cst.Call] = []

    class _Calls(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is function

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

        def visit_Call(self, node: cst.Call) -> None:
            calls.append(node)

    walk(function, _Calls())
    return calls


def _responses_with_background(route: Route, facts: RouteFacts, evaluator):
    """(node to report, return statement, background expression) of returned responses."""
    syntax = facts.function(route.scope)
    flow = facts.flow(route.scope)
    if syntax is None:
        return
    scope = route.scope
    for ret in syntax.returns:
        statement = flow.statement_of(ret)
        value = ret.value
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
                        and flow.falls_through(flow.statement_of(assign), statement) \
                        and not _is_none(assign.value):
                    yield assign, statement, assign.value


def _locally_built_response(name: str, scope: FunctionScope, evaluator) -> bool:
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
    found = []

    class _Names(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            if node.value in names:
                found.append(node)

    walk(expr, _Names())
    return bool(found)


# -- FBG206 ------------------------------------------------------------------------------------
_MAX_HELPER_DEPTH = 3


def check_websocket_tasks(module: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    context = module.context
    facts = facts_for(context)
    for route in facts.websocket_routes():
        params = facts.injected_tasks_params(route.scope)
        if not params:
            continue
        sites = [(s, t) for s, t in _sites_in(context, route.scope, facts, nested=True)
                 if _tasks_param(s, params)]
        site_calls = {id(s.call) for s, _ in sites}
        helpers = [h for h in _registering_helpers(route.scope, params, context.evaluator, 0)
                   if id(h[0]) not in site_calls]
        forwarding = {id(s.call) for s, _ in sites if s.kind == "forwarded"} | {id(h[0]) for h in helpers}
        handed_on = {p for p in params if _used_otherwise(route.scope.node, p, forwarding)}
        for site, task in sites:
            param = _tasks_param(site, params)
            if param is None or param in handed_on:
                continue
            _never_runs(context, [id(site.call)])
            yield _finding(context, "FBG206", site.call,
                           f"task '{_task_name(task)}' is added to the BackgroundTasks of WebSocket "
                           f"route '{route.scope.name}': FastAPI never runs background tasks for "
                           f"WebSocket endpoints, so it never runs; await the work in the endpoint "
                           f"(or call `await {param}()` before returning)")
        for call, helper, param, names in helpers:
            if param in handed_on:
                continue
            unique = list(dict.fromkeys(names))
            listed = ", ".join(f"'{n}'" for n in unique)
            what, runs = ("tasks", "they never run") if len(unique) > 1 else ("task", "it never runs")
            yield _finding(context, "FBG206", call,
                           f"'{_helper_name(helper)}' (defined at {definition(helper)}) adds {what} "
                           f"{listed} to the BackgroundTasks of WebSocket route '{route.scope.name}': "
                           f"FastAPI never runs background tasks for WebSocket endpoints, so {runs}; "
                           f"await the work in the endpoint (or call `await {param}()` before "
                           f"returning)")


def _helper_name(helper: FunctionScope) -> str:
    cls = helper.enclosing_class()
    return f"{cls.name}.{helper.name}" if cls is not None else helper.name


def _registering_helpers(function: FunctionScope, params: Set[str], evaluator,
                         depth: int) -> List[Tuple[cst.Call, FunctionScope, str, List[str]]]:
    """Calls in `function` that hand one of `params` (a BackgroundTasks) to a project function or
    method which only adds tasks to it (directly, or through helpers of its own, a few levels
    deep) and never runs or keeps it: (the call, the helper, the parameter passed, task names)."""
    found: List[Tuple[cst.Call, FunctionScope, str, List[str]]] = []
    if depth >= _MAX_HELPER_DEPTH:
        return found
    for call in _calls_in(function.node):
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
        for inner_call in _calls_in(helper.node):
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
    return _code(callable_expr, 40) if callable_expr is not None else "..."


def _used_otherwise(function: cst.CSTNode, name: str, forwarding: Set[int]) -> bool:
    """`name` is used other than as an `add_task` receiver or an argument of a helper that only
    registers tasks: called (`await background_tasks()`), passed on, stored. The endpoint may then
    run the tasks itself."""
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

    body = function.body  # type: ignore[attr-defined]
    walk(body, _Uses())
    return bool(other)


# -- FBG207 ------------------------------------------------------------------------------------
def check_added_after_yield(module: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    context = module.context
    version = context.settings.effective_fastapi_version
    if EARLY_EXIT[0] <= version < EARLY_EXIT[1] or not context.sites:
        return  # these versions run the exit code before the response: the task still runs
    facts = facts_for(context)
    for scope in facts.site_functions():
        syntax = facts.function(scope)
        if syntax is None or not syntax.yields:
            continue
        if is_opaque(scope):
            continue  # @contextmanager, @pytest.fixture...: not a FastAPI dependency
        params = facts.injected_tasks_params(scope)
        if not params or not _is_yield_dependency(scope, syntax, facts, version):
            continue
        flow = facts.flow(scope)
        yields = [flow.statement_of(y) for y in syntax.yields]
        for site, task in _sites_in(context, scope, facts):
            if _tasks_param(site, params) is None:
                continue
            statement = flow.statement_of(site.call)
            if statement is None or not any(y is not None and flow.precedes(y, statement) for y in yields):
                continue
            _never_runs(context, [id(site.call)])
            yield _finding(context, "FBG207", site.call,
                           f"dependency '{scope.name}' adds task '{_task_name(task)}' after its yield: "
                           f"its exit code runs after the response's background tasks have already "
                           f"run, so this task never runs; add the task before the yield")


def _is_yield_dependency(scope: FunctionScope, syntax, facts: RouteFacts, version) -> bool:
    """Used with Depends (not with scope="function"), or shaped like a dependency: one yield,
    not in a loop, and never called directly (a streaming generator is called, and yields in
    a loop)."""
    uses = facts.used_as_dependency(scope)
    if uses:
        return not any(d.function_scope for d in uses) or version < FUNCTION_SCOPE
    if len(syntax.yields) != 1 or scope.name in facts.called_names:
        return False
    statement = facts.flow(scope).statement_of(syntax.yields[0])
    path = facts.flow(scope).path(statement) if statement is not None else []
    return not any(isinstance(step[2], (cst.For, cst.While)) for step in path)


# -- FBG209 ------------------------------------------------------------------------------------
def check_background_on_injected_response(module: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    context = module.context
    if not context.sites:
        return
    facts = facts_for(context)
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
            yield _finding(context, "FBG209", assign,
                           f"'{name}.background' is set on the Response that FastAPI injects into "
                           f"'{scope.name}': FastAPI copies only its status code, headers and cookies "
                           f"to the real response and ignores its background, so the task never runs; "
                           f"add the task to an injected BackgroundTasks parameter, or return a "
                           f"response built with background=")


# -- the rule records ----------------------------------------------------------------------------
STARLETTE_BG = ("Starlette: Background Tasks", "https://www.starlette.io/background/")
FASTAPI_BG = ("FastAPI: Background Tasks", "https://fastapi.tiangolo.com/tutorial/background-tasks/")
FASTAPI_YIELD = ("FastAPI: Dependencies with yield",
                 "https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/")
FASTAPI_RESPONSE = ("FastAPI: Response - Change Status Code / Headers",
                    "https://fastapi.tiangolo.com/advanced/response-change-status-code/")

register(ModuleRule(
    code="FBG204", name="tasks-never-attached",
    summary=("A `BackgroundTasks()`/`BackgroundTask()` built in a route gets tasks but never reaches "
             "a response."),
    what=("Flags a `BackgroundTasks()` or `BackgroundTask(...)` constructed inside a FastAPI route "
          "that receives tasks but is never passed on: not given as a response's `background=`, "
          "not assigned to `response.background`, not returned, passed to a helper or stored. "
          "Any such escape counts as attached, so a helper that builds the tasks and returns "
          "them to its caller is not flagged."),
    why=("FastAPI runs only the injected `BackgroundTasks` parameter and the `background` of the "
         "response that is sent. A task object built by hand and never attached is dropped "
         "silently: no error, no log line, the work simply never happens."),
    bad=Example('''from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()


def notify_admins(order_id: int) -> None:
    print("new order", order_id)


@app.post("/orders")
def create_order():
    tasks = BackgroundTasks()
    tasks.add_task(notify_admins, 42)
    return JSONResponse({"id": 42})
'''),
    good=Example('''from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()


def notify_admins(order_id: int) -> None:
    print("new order", order_id)


@app.post("/orders")
def create_order():
    tasks = BackgroundTasks()
    tasks.add_task(notify_admins, 42)
    return JSONResponse({"id": 42}, background=tasks)
'''),
    fix=("Attach the tasks to the response you return (`background=tasks`), or declare a "
         "`BackgroundTasks` parameter and add the tasks to it: FastAPI runs that one for you."),
    references=(FASTAPI_BG, STARLETTE_BG),
    check=check_never_attached,
))

register(ModuleRule(
    code="FBG205", name="injected-tasks-discarded",
    summary=("A route adds tasks to the injected `BackgroundTasks` but returns a response with "
             "`background=` set."),
    what=("Flags the response a route returns with `background=` set (in the constructor, or "
          "through `resp.background = ...` on a response it builds) when tasks were added to "
          "the injected `BackgroundTasks` parameter on the way to that `return`. Not flagged: "
          "returning a response without `background=` (FastAPI attaches the injected tasks "
          "itself), passing the injected object as the background, or adding tasks only on "
          "branches that return elsewhere."),
    why=("FastAPI attaches the injected tasks only to a response whose `background` is empty. "
         "A response that brings its own background replaces them: the injected tasks are "
         "dropped without a trace."),
    bad=Example('''import os

from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

app = FastAPI()


def log_download(name: str) -> None:
    print("downloaded", name)


@app.get("/report")
def download_report(background_tasks: BackgroundTasks):
    background_tasks.add_task(log_download, "report.csv")
    return FileResponse("/tmp/report.csv", background=BackgroundTask(os.remove, "/tmp/report.csv"))
'''),
    good=Example('''import os

from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import FileResponse

app = FastAPI()


def log_download(name: str) -> None:
    print("downloaded", name)


@app.get("/report")
def download_report(background_tasks: BackgroundTasks):
    background_tasks.add_task(log_download, "report.csv")
    background_tasks.add_task(os.remove, "/tmp/report.csv")
    return FileResponse("/tmp/report.csv")
'''),
    fix=("Put every task on the injected `BackgroundTasks` and return the response without "
         "`background=`, or pass the injected object itself as `background=`."),
    references=(FASTAPI_BG, STARLETTE_BG),
    check=check_injected_tasks_discarded,
))

register(ModuleRule(
    code="FBG206", name="tasks-in-websocket-route",
    summary="Tasks are added to the injected `BackgroundTasks` of a WebSocket route.",
    what=("Flags tasks added to the `BackgroundTasks` parameter of a route registered with "
          "`@app.websocket(...)`/`@router.websocket(...)` or `add_api_websocket_route`: directly, "
          "or by a helper function or service method of the project the route hands the object "
          "to (reported at that call in the route, which names the helper and its tasks). Not "
          "flagged when the endpoint runs the object itself (`await background_tasks()`) or "
          "hands it on to code that may run or keep it."),
    why=("FastAPI injects a working `BackgroundTasks` into WebSocket endpoints but never calls "
         "it: there is no response to attach it to. The tasks never run, without an error."),
    bad=Example('''from fastapi import BackgroundTasks, FastAPI, WebSocket

app = FastAPI()


def log_message(text: str) -> None:
    print("message", text)


@app.websocket("/ws")
async def chat(websocket: WebSocket, background_tasks: BackgroundTasks):
    await websocket.accept()
    text = await websocket.receive_text()
    background_tasks.add_task(log_message, text)
    await websocket.send_text("ok")
'''),
    good=Example('''from fastapi import FastAPI, WebSocket

app = FastAPI()


def log_message(text: str) -> None:
    print("message", text)


@app.websocket("/ws")
async def chat(websocket: WebSocket):
    await websocket.accept()
    text = await websocket.receive_text()
    log_message(text)
    await websocket.send_text("ok")
'''),
    fix=("Do the work in the endpoint (`await` it, or `await run_in_threadpool(f, ...)` for "
         "blocking code), start an `asyncio` task you keep a reference to, or enqueue it on a "
         "worker queue."),
    references=(("FastAPI: WebSockets", "https://fastapi.tiangolo.com/advanced/websockets/"), FASTAPI_BG),
    check=check_websocket_tasks,
))

register(ModuleRule(
    code="FBG207", name="task-added-after-yield",
    summary="A dependency with `yield` adds a task after its `yield`.",
    what=("Flags a task added to the injected `BackgroundTasks` after the `yield` of a "
          "dependency (including in its `finally:`), when the dependency has the default scope. "
          "Not flagged for `Depends(..., scope=\"function\")` dependencies, whose exit code runs "
          "before the response, nor on FastAPI 0.106-0.117, which ran all exit code before the "
          "response."),
    why=("The code after `yield` runs after the response has been sent and its background tasks "
         "have run. A task added then is appended to a list nobody reads again: it never runs, "
         "and nothing reports it."),
    bad=Example('''from typing import Iterator

from fastapi import BackgroundTasks, Depends, FastAPI, Request

app = FastAPI()


def write_audit_log(path: str) -> None:
    print("audit", path)


def audit(request: Request, background_tasks: BackgroundTasks) -> Iterator[None]:
    yield
    background_tasks.add_task(write_audit_log, request.url.path)


@app.get("/items", dependencies=[Depends(audit)])
def list_items():
    return []
'''),
    good=Example('''from typing import Iterator

from fastapi import BackgroundTasks, Depends, FastAPI, Request

app = FastAPI()


def write_audit_log(path: str) -> None:
    print("audit", path)


def audit(request: Request, background_tasks: BackgroundTasks) -> Iterator[None]:
    background_tasks.add_task(write_audit_log, request.url.path)
    yield


@app.get("/items", dependencies=[Depends(audit)])
def list_items():
    return []
'''),
    fix=("Add the task before the `yield`; tasks run after the response either way. If the task "
         "needs the outcome of the request, record it on `request.state` and read it in the task."),
    options=("fastapi-version",),
    references=(FASTAPI_YIELD,),
    check=check_added_after_yield,
))

register(ModuleRule(
    code="FBG209", name="background-on-injected-response",
    summary="`.background` is set on the `Response` parameter FastAPI injects.",
    what=("Flags `response.background = ...` on a route's or dependency's parameter annotated "
          "with `Response` (or a subclass), unless that same object is returned."),
    why=("The injected `Response` is a temporary object: FastAPI copies its status code, "
         "headers and cookies onto the response it sends and ignores the rest. Its `background` "
         "is never run."),
    bad=Example('''from fastapi import FastAPI, Response
from starlette.background import BackgroundTask

app = FastAPI()


def build_export(export_id: int) -> None:
    print("export", export_id)


@app.post("/exports")
def start_export(response: Response):
    response.headers["X-Export"] = "7"
    response.background = BackgroundTask(build_export, 7)
    return {"ok": True}
'''),
    good=Example('''from fastapi import BackgroundTasks, FastAPI, Response

app = FastAPI()


def build_export(export_id: int) -> None:
    print("export", export_id)


@app.post("/exports")
def start_export(response: Response, background_tasks: BackgroundTasks):
    response.headers["X-Export"] = "7"
    background_tasks.add_task(build_export, 7)
    return {"ok": True}
'''),
    fix=("Declare a `BackgroundTasks` parameter and add the task to it, or build and return the "
         "response yourself with `background=`."),
    references=(FASTAPI_RESPONSE, FASTAPI_BG),
    check=check_background_on_injected_response,
))
