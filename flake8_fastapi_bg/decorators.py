"""What really runs: decorators that replace a function, task-queue objects, callable forwarders.

Three ways the code that runs is not the plain body of the function a site or a call names:

* A project decorator returns a nested wrapper that calls the function it was given
  (`@retry(times=3)` is a factory returning such a decorator). The wrapper runs first: its
  loops and sleeps are evidence, its asyncness decides whether the task runs on the event loop,
  and it may hand the function to a thread (`await asyncio.to_thread(func, ...)`).
* A task-queue decorator (`@celery_app.task`, `@dramatiq.actor`, `@broker.task`) makes a task
  object; calling that object runs the body in this process, not on the queue. Calling a huey
  task enqueues it.
* A forwarder is a project function that runs a callable it receives: directly
  (`func(*args)`), in a thread (`loop.run_in_executor(None, func, *args)`,
  `asyncio.to_thread(func)`), in a process, or through another forwarder. The callable the
  caller passes is what runs.

Everything is computed from the syntax and the evaluator, once per function (a forwarder: once
per function and parameter, for the parameters callers pass something to), and anything not
plain (a wrapper that does not visibly call the function, a decorator class) reads as unknown:
the function is then analysed as written, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from . import deps
from .collect import bind_arguments
from .scopes import FunctionScope, Scope, own_nodes
from .values import Bound, CallResult, Cls, Evaluator, Ext, Func, Inst, PartialV, Value

if TYPE_CHECKING:
    from .knowledge import Offload

# Calling the object these decorators make runs the function body in the calling process
# (Celery `Task.__call__`, Dramatiq `Actor.__call__`, Taskiq `AsyncTaskiqDecoratedTask.__call__`,
# RQ's `@job` leaves the function callable as it is). Their `__call__` is a plain def: Starlette
# runs the object in the thread pool, so an `async def` body only makes a coroutine that is
# never awaited, and never runs.
IN_PROCESS_QUEUE_DECORATORS: Tuple[Tuple[str, str], ...] = (
    ("celery.shared_task", "a Celery task"),
    ("celery.*.shared_task", "a Celery task"),
    ("celery.*.task", "a Celery task"),
    ("dramatiq.actor", "a Dramatiq actor"),
    ("dramatiq.*.actor", "a Dramatiq actor"),
    ("taskiq*.task", "a Taskiq task"),
    ("rq.decorators.job", "an RQ job"),
)
# Calling a huey task enqueues it (`TaskWrapper.__call__`): the work leaves the process.
ENQUEUE_ON_CALL_DECORATORS: Tuple[str, ...] = ("huey.*task",)
# Retry decorators that call the function again after a wait. Only an unbounded one (no stop
# condition) is evidence by itself: a few bounded retries of a short call are still short.
RETRY_DECORATORS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    # qualname: (keywords that make it wait, keywords that bound it); () waits: always waits
    "tenacity.retry": (("wait",), ("stop",)),
    "backoff.on_exception": ((), ("max_tries", "max_time")),
    "backoff.on_predicate": ((), ("max_tries", "max_time")),
}

_MAX_FORWARD = 3  # forwarders followed through other forwarders
THREAD, PROCESS, CALL = "thread", "process", "call"
# Called directly and handed to a thread: `await func()` if it is a coroutine function, else
# `await run_in_threadpool(func)`. An async callable runs on the loop, a sync one in a thread.
BY_KIND = "by-kind"


def how_for(how: str, target: FunctionScope) -> str:
    """How a forwarder runs `target`, once it is known which callable it is."""
    if how == BY_KIND:
        return CALL if target.is_async else THREAD
    return how


@dataclass(frozen=True)
class Wrapper:
    """A project decorator's wrapper that replaces a function."""

    scope: FunctionScope  # the nested def that runs instead of the function
    decorator: str  # "retry", shown in evidence chains as "@retry"
    how: str  # how the wrapper runs the function: CALL, THREAD or PROCESS (BY_KIND resolved)
    node: Optional[cst.CSTNode] = field(default=None, compare=False)  # the decorator expression


@dataclass
class Decoration:
    """What a function's decorators make of it."""

    wrappers: List[Wrapper] = field(default_factory=list)  # outermost first
    queue: Optional[str] = None  # "a Celery task": calling the object runs the body here
    queue_node: Optional[cst.CSTNode] = None  # the decorator that makes the task object
    enqueues: bool = False  # calling the object enqueues the work (huey)
    retries: List[Tuple[str, cst.CSTNode]] = field(default_factory=list)  # (qualname, decorator)

    @property
    def context(self) -> str:
        """Where the function's own body runs relative to its outermost wrapper."""
        hows = {w.how for w in self.wrappers}
        return PROCESS if PROCESS in hows else THREAD if THREAD in hows else CALL


def function_of(value: Value, evaluator: Evaluator) -> Optional[FunctionScope]:
    """The project `def` that runs when `value` is called (functions, methods, `__call__`)."""
    options = getattr(value, "options", None)  # a value that may be one of several
    if options is not None:
        found = [f for f in (function_of(o, evaluator) for o in options) if f is not None]
        return found[0] if len(set(found)) == 1 else None
    if isinstance(value, PartialV):
        return function_of(value.inner, evaluator)
    if isinstance(value, Bound):
        return _def_of(value.func)
    if isinstance(value, Inst):
        return _def_of(_unbound(evaluator.attribute(value, "__call__")))
    if isinstance(value, Cls):
        return _def_of(_unbound(evaluator.attribute(value, "__init__")))
    return _def_of(value)


def _unbound(method: Value) -> Value:
    return method.func if isinstance(method, Bound) else method


def _def_of(func: Value) -> Optional[FunctionScope]:
    if isinstance(func, Func) and isinstance(func.scope.node, cst.FunctionDef):
        return func.scope
    return None


# -- decorators -----------------------------------------------------------------------------
def decoration(scope: FunctionScope, evaluator: Evaluator) -> Decoration:
    deps.touch(scope.module)  # kept on the module for later files: see deps.py
    cached: Optional[Decoration] = scope.__dict__.get("_decoration")
    if cached is not None:
        return cached
    scope.__dict__["_decoration"] = Decoration()  # a decorator decorating itself reads as plain
    result = _decoration(scope, evaluator)
    scope.__dict__["_decoration"] = result
    return result


def _decoration(scope: FunctionScope, evaluator: Evaluator) -> Decoration:
    node = scope.node
    found = Decoration()
    if not isinstance(node, cst.FunctionDef) or not node.decorators or scope.parent is None:
        return found
    for decorator in node.decorators:  # outermost first, as written
        expr = decorator.decorator
        name = library_name(expr.func if isinstance(expr, cst.Call) else expr, scope.parent, evaluator)
        if name is not None:
            if any(fnmatchcase(name, p) for p in ENQUEUE_ON_CALL_DECORATORS):
                found.enqueues = True
            queue = next((what for p, what in IN_PROCESS_QUEUE_DECORATORS if fnmatchcase(name, p)), None)
            if queue is not None and found.queue is None:
                found.queue, found.queue_node = queue, expr
            retry = RETRY_DECORATORS.get(name)
            if retry is not None and _unbounded_retry(expr, *retry):
                found.retries.append((name, expr))
            continue
        wrapper = _project_wrapper(expr, scope.parent, evaluator, scope.is_async)
        if wrapper is not None:
            found.wrappers.append(replace(wrapper, node=expr))
    return found


def library_name(expr: cst.BaseExpression, scope: Scope, evaluator: Evaluator) -> Optional[str]:
    """The qualified name of a library decorator. `broker.with_result_backend(...).task`: a
    builder method of a library object (`with_*`) is taken to return the same kind of object."""
    value = evaluator.expr(expr, scope)
    if isinstance(value, Ext):
        return value.qualname
    if isinstance(expr, cst.Attribute):
        base = evaluator.expr(expr.value, scope)
        if isinstance(base, CallResult) and isinstance(base.callee, Ext):
            owner, _, method = base.callee.qualname.rpartition(".")
            if method.startswith("with_") and owner:
                return f"{owner}.{expr.attr.value}"
    return None


def _unbounded_retry(expr: cst.BaseExpression, waits: Tuple[str, ...], bounds: Tuple[str, ...]) -> bool:
    keywords = {a.keyword.value for a in expr.args if a.keyword is not None} if isinstance(expr, cst.Call) \
        else set()
    if isinstance(expr, cst.Call) and any(a.star for a in expr.args):
        return False
    return (not waits or bool(keywords & set(waits))) and not keywords & set(bounds)


def _project_wrapper(expr: cst.BaseExpression, scope: Scope, evaluator: Evaluator,
                     is_async: bool) -> Optional[Wrapper]:
    """`@deco` or `@factory(...)`: the nested wrapper that replaces the function, or None.
    A decorator returning a sync or an async wrapper, as the function is, is taken to pick the
    one that matches it (`if iscoroutinefunction(func): return async_wrapper`)."""
    if isinstance(expr, cst.Call):
        factory = function_of(evaluator.expr(expr.func, scope), evaluator)
        if factory is None or factory.is_async or factory.enclosing_class() is not None:
            return None
        decorators = _returned_defs(factory)
        deco = decorators[0] if len(decorators) == 1 else None
    else:
        deco = function_of(evaluator.expr(expr, scope), evaluator)
        factory = deco
    if deco is None or deco.is_async or deco.self_name is not None:
        return None
    params = list(deco.params().posonly_params) + list(deco.params().params)
    if not params:
        return None
    wrappers = _returned_defs(deco)
    if len({w.is_async for w in wrappers}) > 1:
        wrappers = [w for w in wrappers if w.is_async == is_async]
    if len(wrappers) != 1:
        return None
    wrapper = wrappers[0]
    how = runs_param(wrapper, params[0].name.value, deco, evaluator, 0)
    if how is None:
        return None
    assert factory is not None
    return Wrapper(wrapper, factory.name, CALL if how == BY_KIND and is_async else
                   THREAD if how == BY_KIND else how)


def _returned_defs(func: FunctionScope) -> List[FunctionScope]:
    """The defs nested in `func` that its `return` statements give back by name, each once."""
    node = func.node
    found: List[FunctionScope] = []
    if not isinstance(node, cst.FunctionDef):
        return found
    for ret in own_nodes(node, cst.Return):
        value = ret.value
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Call):
            value = value.args[0].value if value.args else None  # `return wraps(func)(wrapper)`
        if not isinstance(value, cst.Name):
            continue
        bound = func.lookup(value.value)
        if bound is not None and bound[1] is func and bound[0].kind == "def":
            inner = func.child(bound[0].node)
            if isinstance(inner, FunctionScope) and inner not in found:
                found.append(inner)
    return found


# -- forwarders -----------------------------------------------------------------------------
def forwarded_param(scope: FunctionScope, name: str, evaluator: Evaluator, depth: int = 0) -> Optional[str]:
    """How `scope` runs the callable its parameter `name` holds: CALL, THREAD, PROCESS,
    BY_KIND, or None when it does not visibly run it.

    Asked one parameter at a time, for the parameter a caller's argument lands on: most calls
    pass ids, sessions and settings, and whether a callee runs *those* is never asked. Each
    answer is kept on the function; while one is computed, the function reads as running
    none of its parameters (a forwarder that passes a callable on to itself)."""
    deps.touch(scope.module)  # kept on the module for later files: see deps.py
    memo: Dict[str, Optional[str]] = scope.__dict__.setdefault("_forwards", {})
    if name in memo:
        return memo[name]
    if scope.__dict__.get("_forwarding") or depth > _MAX_FORWARD \
            or name not in _forwardable(scope):
        return None
    scope.__dict__["_forwarding"] = True
    try:
        how = runs_param(scope, name, scope, evaluator, depth)
    finally:
        scope.__dict__["_forwarding"] = False
    memo[name] = how
    return how


def _forwardable(scope: FunctionScope) -> Set[str]:
    """The parameters (`self` aside) that some call of the function's own body names: the
    others it runs nowhere."""
    cached: Optional[Set[str]] = scope.__dict__.get("_forwardable")
    if cached is None:
        cached = set()
        if isinstance(scope.node, cst.FunctionDef):
            params = {p.name.value for p in scope.all_params()} - {scope.self_name}
            cached = params & set(_calls_naming(scope))
        scope.__dict__["_forwardable"] = cached
    return cached


def _calls_naming(scope: FunctionScope) -> Dict[str, List[cst.Call]]:
    """The calls of the function's own body, in source order, by each plain name they call or
    pass (also the first argument of a call passed, the callee of a lambda's call): a cheap
    syntactic index, before any evaluation."""
    cached: Optional[Dict[str, List[cst.Call]]] = scope.__dict__.get("_calls_naming")
    if cached is None:
        cached = {}
        for call in _calls(scope):  # exact node types (as parsed): no ABC check per expression
            names = set()
            for expr in [call.func] + [a.value for a in call.args]:
                if type(expr) is cst.Call and expr.args:
                    expr = expr.args[0].value
                elif type(expr) is cst.Lambda and type(expr.body) is cst.Call:
                    expr = expr.body.func
                if type(expr) is cst.Name:
                    names.add(expr.value)
            for name in names:
                cached.setdefault(name, []).append(call)
        scope.__dict__["_calls_naming"] = cached
    return cached


def _calls(scope: FunctionScope) -> List[cst.Call]:
    cached: Optional[List[cst.Call]] = scope.__dict__.get("_own_calls")
    if cached is None:
        cached = own_nodes(scope.node, cst.Call)
        scope.__dict__["_own_calls"] = cached
    return cached


# Offloads whose result is an awaitable: returned to the caller, it is awaited there.
_AWAITABLE_OFFLOADS = ("asyncio.", "anyio.", "starlette.", "fastapi.", "asgiref.", "asyncer.")


def _waited(scope: FunctionScope) -> Dict[int, str]:
    """Calls whose result the function waits for, by id: "await"ed, "return"ed to the caller,
    or submitted to a "pool" the function waits for (`pool.submit(f).result()`, a pool used in
    a `with` block or shut down, which waits for what it runs)."""
    cached: Optional[Dict[int, str]] = scope.__dict__.get("_waited")
    if cached is None:
        node = scope.node
        cached = {id(r.value): "return" for r in own_nodes(node, cst.Return)}
        cached.update({id(a.expression): "await" for a in own_nodes(node, cst.Await)})
        pools = {item.asname.name.value for w in own_nodes(node, cst.With)
                 for item in w.items
                 if item.asname is not None and isinstance(item.asname.name, cst.Name)}
        calls = _calls(scope)
        for call in calls:
            func = call.func
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                    and func.attr.value == "shutdown" \
                    and not any(_is_false(a) for a in call.args if a.keyword is not None
                                and a.keyword.value == "wait"):
                pools.add(func.value.value)
        for call in calls:
            func = call.func
            if not isinstance(func, cst.Attribute):
                continue
            if func.attr.value == "result" and isinstance(func.value, cst.Call):
                cached[id(func.value)] = "pool"  # `pool.submit(f).result()`
            elif isinstance(func.value, cst.Name) and func.value.value in pools:
                cached.setdefault(id(call), "pool")
        scope.__dict__["_waited"] = cached
    return cached


def _is_false(arg: cst.Arg) -> bool:
    return isinstance(arg.value, cst.Name) and arg.value.value == "False"


def waits_for(call: cst.Call, scope: FunctionScope, qualname: str) -> bool:
    """The function waits for what the offload `call` (of library function `qualname`) runs."""
    how = _waited(scope).get(id(call))
    return how in ("await", "pool") or (how == "return" and qualname.startswith(_AWAITABLE_OFFLOADS))


def runs_param(body: FunctionScope, param: str, owner: FunctionScope, evaluator: Evaluator,
               depth: int) -> Optional[str]:
    """How `body` runs the callable held by parameter `param` of `owner` (`body` itself or the
    function it is nested in): CALL, THREAD, PROCESS, or None when it does not visibly run it
    and wait for it."""
    if not isinstance(body.node, cst.FunctionDef):
        return None
    calls = _calls_naming(body).get(param)
    if not calls or not _owns(body, param, owner):  # the name is the parameter in none of them
        return None
    hows = []
    for call in calls:
        if _names_param(call.func, param):
            hows.append(CALL)
            continue
        if not any(_names_param(a.value, param) for a in call.args):
            continue
        how = _hands_param(call, param, body, evaluator, depth)
        if how is not None:
            hows.append(how)
    if CALL in hows and (THREAD in hows or BY_KIND in hows):
        return BY_KIND  # dispatched on the callable's kind
    return hows[0] if hows else None


def _is_param(expr: cst.BaseExpression, param: str, body: FunctionScope, owner: FunctionScope) -> bool:
    """`expr` is the parameter's callable: `func`, `partial(func, x)`, `lambda: func(x)`."""
    return _names_param(expr, param) and _owns(body, param, owner)


def _owns(body: FunctionScope, param: str, owner: FunctionScope) -> bool:
    """`param`, read in `body`, is the parameter of `owner`: the same for every call of the
    body, asked once per body and parameter by `runs_param`."""
    found = body.lookup(param)
    return found is not None and found[0].kind == "param" and found[1] is owner


def _names_param(expr: cst.BaseExpression, param: str) -> bool:
    """`expr` reads the name `param` as a callable: `func`, `partial(func, x)`, `lambda:
    func(x)` (a lambda with a parameter of that name aside); `_owns` says whether the name is
    the parameter. Exact node types (as parsed): no ABC check per argument of every call."""
    if type(expr) is cst.Call and expr.args and _is_partial_name(expr.func):
        expr = expr.args[0].value  # `partial(func, x)`
    elif type(expr) is cst.Lambda and type(expr.body) is cst.Call \
            and param not in {p.name.value for p in expr.params.params}:
        expr = expr.body.func  # `lambda: func(db, size)`
    return type(expr) is cst.Name and expr.value == param


def _is_partial_name(expr: cst.BaseExpression) -> bool:
    return (isinstance(expr, cst.Name) and expr.value == "partial") or \
        (isinstance(expr, cst.Attribute) and expr.attr.value == "partial")


def _hands_param(call: cst.Call, param: str, body: FunctionScope, evaluator: Evaluator,
                 depth: int) -> Optional[str]:
    """`call` hands the parameter's callable to a thread or process pool and waits for it, or
    passes it to a forwarder (`runs_param` has checked that `param` is the parameter)."""
    callee = evaluator.expr(call.func, body)
    if isinstance(callee, Ext):
        offload = evaluator.kb.offload(callee.qualname)
        if offload is None or offload.kind not in (THREAD, PROCESS) \
                or not waits_for(call, body, callee.qualname):
            return None
        handed = handed_argument(call, offload)
        return offload.kind if handed is not None and _names_param(handed, param) else None
    target = function_of(callee, evaluator)
    if target is None or target is body:
        return None
    for name, arg in bind_arguments(target, call.args, skip_self=_skips_self(callee)).items():
        if _names_param(arg.value, param):
            how = forwarded_param(target, name, evaluator, depth + 1)
            if how is not None:
                return how
    return None


def _skips_self(callee: Value) -> bool:
    """Calling `callee` passes the instance implicitly (a bound method, `__call__`, `__init__`)."""
    return isinstance(callee, (Bound, Inst, Cls))


def handed_argument(call: cst.Call, offload: Offload) -> Optional[cst.BaseExpression]:
    """The callable argument of a library offload call (`to_thread(func, ...)`)."""
    if offload.callable_kw:
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == offload.callable_kw:
                return arg.value
    if offload.callable_arg < 0:
        return None
    positional = [a for a in call.args if a.keyword is None]
    if any(a.star for a in positional[:offload.callable_arg + 1]):
        return None
    if len(positional) > offload.callable_arg:
        return positional[offload.callable_arg].value
    return None


def forwarded_callables(call: cst.Call, scope: Scope, callee: Value, target: FunctionScope,
                        evaluator: Evaluator) -> List[Tuple[FunctionScope, str]]:
    """The project functions a call to a forwarder makes run, with how they run: `target` is
    the function the call runs (`function_of(callee)`, which the caller already knows)."""
    return [(handed, how) for handed, how, _ in _handed(target, call.args, scope, evaluator, callee)]


def task_forwarded(func: FunctionScope, args: Optional[Sequence[cst.Arg]], scope: Scope,
                   evaluator: Evaluator, callee: Value) -> List[Tuple[FunctionScope, str, str]]:
    """`add_task(run_async, heavy, x)`: the callables the task's own arguments make it run:
    (function, how it runs, the task's parameter that holds it)."""
    if args is None:
        return []
    return _handed(func, args, scope, evaluator, callee)


def _handed(func: FunctionScope, args: Sequence[cst.Arg], scope: Scope, evaluator: Evaluator,
            callee: Value) -> List[Tuple[FunctionScope, str, str]]:
    """The project functions that arguments `args` (in `scope`) hand to parameters that `func`
    runs: (function, how it runs, the parameter). Only an argument that may evaluate to a
    function asks whether `func` runs its parameter."""
    if not args:
        return []
    if not _forwardable(func):  # runs none of its parameters: no argument to bind
        deps.touch(func.module)  # as `forwarded_param` would
        return []
    found = []
    for name, arg in bind_arguments(func, args, skip_self=_skips_self(callee)).items():
        if not isinstance(arg.value, _MAY_BE_CALLABLE):
            continue
        how = forwarded_param(func, name, evaluator)
        if how is not None:
            handed = function_of(evaluator.expr(arg.value, scope), evaluator)
            if handed is not None:
                found.append((handed, how_for(how, handed), name))
    return found


# The expressions the evaluator may find a callable in (`Evaluator._expr`): it reads any
# other (a literal, an f-string, arithmetic, a comparison) as unknown.
_MAY_BE_CALLABLE = (cst.Name, cst.Attribute, cst.Call, cst.Await, cst.Lambda, cst.Subscript,
                    cst.BooleanOperation, cst.IfExp)


def param_call(scope: FunctionScope, param: str) -> Optional[cst.Call]:
    """The first call of the function's own body that runs the callable its parameter `param`
    holds, or hands it on (to a thread, a process or another forwarder): where a forwarder
    enters what it is given."""
    for call in _calls_naming(scope).get(param, ()):
        if _is_param(call.func, param, scope, scope) or \
                any(_is_param(a.value, param, scope, scope) for a in call.args):
            return call
    return None


__all__ = ["BY_KIND", "CALL", "Decoration", "PROCESS", "THREAD", "Wrapper", "decoration",
           "forwarded_callables",
           "forwarded_param", "function_of", "handed_argument", "how_for", "library_name", "param_call",
           "runs_param",
           "task_forwarded", "waits_for"]
