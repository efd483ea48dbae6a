"""FBG2xx: tasks that break, or silently never run.

Module-level checks: each receives the engine's `ModuleContext` (the module's task sites,
already resolved) and the shared facts of `routes.facts_for`, and yields findings. The facts
modules answer the questions (`callables`, `lifetimes`, `routes`, `flow`); the checks here
only decide and word the message. Every case of these rules involves a registration in the
module (an `add_task` or a `BackgroundTask(...)`), so a module without sites costs nothing.
"""

from __future__ import annotations

from typing import Iterable, Iterator, List, Optional, Set, Tuple

import libcst as cst

from ..collect import bind_arguments, split_task_args
from ..facts.callables import definition, function_of, is_opaque
from ..facts.module import ModuleFacts
from ..facts.routes import RouteFacts, facts_for
from ..model import Fix
from ..scopes import FunctionScope
from ..settings import Settings
from ..syntax import walk
from ..values import Func, display_name
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


# -- the rule records ----------------------------------------------------------------------------
STARLETTE_BG = ("Starlette: Background Tasks", "https://www.starlette.io/background/")
FASTAPI_BG = ("FastAPI: Background Tasks", "https://fastapi.tiangolo.com/tutorial/background-tasks/")
FASTAPI_YIELD = ("FastAPI: Dependencies with yield",
                 "https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/")
FASTAPI_RESPONSE = ("FastAPI: Response - Change Status Code / Headers",
                    "https://fastapi.tiangolo.com/advanced/response-change-status-code/")

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
