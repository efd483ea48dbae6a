"""How each task site passes its task: the facts of FBG201, FBG202 and FBG208.

* `called_tasks`: the task expression is a call whose result is certainly not callable
  (`add_task(send(x))`, a coroutine object);
* `argument_mismatches`: the site's arguments cannot bind to the signature of the function
  that runs, when that function is named directly (no factory, no ambiguous name);
* `lost_coroutines`: the task is a sync callable that calls an `async def` and drops the
  coroutine.

`Registration` is how every FBG2xx message names a site; the helpers below it are shared by
the other gatherers of this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, List, Optional, Set, Tuple

import libcst as cst

from ..convert import code_for
from ..fixes import pass_function_instead
from ..model import Fix
from ..scopes import FunctionScope, Scope
from ..syntax import walk
from ..values import PARTIAL, Cls, Evaluator, Func, Inst, PartialV, display_name, ext_name
from .callables import (CalledTask, LostCoroutine, bind_problem, definition, function_of, is_opaque,
                        lost_coroutine, not_callable_result, task_shape)

if TYPE_CHECKING:
    from ..analyse import ResolvedTask
    from ..collect import TaskSite
    from .module import ModuleContext
    from .routes import RouteFacts

_MAX_NAMING_DEPTH = 4


@dataclass(frozen=True)
class Registration:
    """One task site as the FBG2xx messages name it."""

    call: cst.Call  # the registration: where findings about it are reported
    how: str  # "add_task", "BackgroundTask", "add_task (via helper (app/h.py:3))"
    task: str  # the task's name: `send_email`, `EmailService.send`, `os.remove`


@dataclass(frozen=True)
class CalledTaskSite:
    """FBG201: a site whose task is the result of a call, not a callable."""

    site: Registration
    called: CalledTask
    # the registration passing the function and its arguments instead, when the site has no
    # other arguments, is not forwarded, and the called function returns None or is async
    rewritten: Optional[str]
    fix: Optional[Fix]


@dataclass(frozen=True)
class ArgumentMismatch:
    """FBG202: the site's arguments cannot bind to the task function's signature."""

    site: Registration
    problem: str  # "missing required argument 'subject'"
    defined_at: str  # `app/tasks.py:4`


@dataclass(frozen=True)
class LostCoroutineSite:
    """FBG208: a sync task callable that calls an `async def` and drops its coroutine."""

    site: Registration
    kind: str  # "lambda", "function" (a sync def), "decorator" (a sync decorator's wrapper)
    wrapper: str  # the sync decorator's name (for "decorator")
    target: str  # the async function: `notify`, `Notifier.send`
    defined_at: str  # where the async function is defined
    rewritten: Optional[str]  # for a lambda: the registration passing the async function instead
    fix: Optional[Fix]


# -- naming a site ------------------------------------------------------------------------------
def registration(site: "TaskSite", task: "ResolvedTask") -> Registration:
    return Registration(site.call, _how(site), display_name(task.value))


def _how(site: "TaskSite") -> str:
    if site.kind == "BackgroundTask":
        return "BackgroundTask"
    if site.kind == "forwarded":
        return f"add_task (via {site.helper})"
    return "add_task"


def code(node: cst.CSTNode, limit: int = 60) -> str:
    """The source of a node on one line, shortened to `limit` characters."""
    text = " ".join(code_for(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rendered_call(prefix: str, inner: cst.Call) -> str:
    parts = [code(inner.func, 40)] + [code(a.with_changes(comma=cst.MaybeSentinel.DEFAULT), 40)
                                      for a in inner.args]
    text = f"{prefix}({', '.join(parts)})"
    return text if len(text) <= 70 else text[:66] + "...)"


def _site_prefix(site: "TaskSite") -> str:
    if site.kind == "BackgroundTask":
        return "BackgroundTask"
    receiver = site.receiver
    return f"{code(receiver, 30)}.add_task" if receiver is not None else "add_task"


def sites_in(context: "ModuleContext", scope: FunctionScope, routes: "RouteFacts",
             nested: bool = False) -> Iterator[Tuple["TaskSite", "ResolvedTask"]]:
    """The module's sites registered in `scope` (and, with `nested`, in functions inside it)."""
    for site, task in context.sites:
        where = routes.enclosing_function(site.scope) if nested else site.scope
        if where is scope:
            yield site, task


def tasks_param(site: "TaskSite", params: Set[str]) -> Optional[str]:
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


# -- FBG201 -------------------------------------------------------------------------------------
def called_tasks(context: "ModuleContext") -> Tuple[CalledTaskSite, ...]:
    found: List[CalledTaskSite] = []
    for site, task in context.sites:
        if site.callable_expr is None:
            continue
        called = not_callable_result(site.callable_expr, site.callable_scope, context.evaluator, task.raw)
        if called is None:
            continue
        rewritten = None
        if called.fixable and called.call is not None and not site.args and site.kind != "forwarded":
            # the arguments as written (`with_changes` drops what `convert` knows of their text)
            rewritten = _rendered_call(_site_prefix(site), context.info.as_written(called.call))
        found.append(CalledTaskSite(registration(site, task), called, rewritten,
                                    _called_fix(context, site, called)))
    return tuple(found)


def _called_fix(context: "ModuleContext", site: "TaskSite", called: CalledTask) -> Optional[Fix]:
    if not called.fixable or called.call is None or site.kind not in ("add_task", "BackgroundTask") \
            or site.args or site.callable_scope is not site.scope:
        return None
    return pass_function_instead(context.info, site.call, called.call,
                                 f"pass {called.name} and its arguments instead of calling it")


# -- FBG202 -------------------------------------------------------------------------------------
def argument_mismatches(context: "ModuleContext") -> Tuple[ArgumentMismatch, ...]:
    evaluator = context.evaluator
    found: List[ArgumentMismatch] = []
    for site, task in context.sites:
        if site.args is None or task.offload is not None or site.callable_expr is None:
            continue
        unwrapped = task.raw
        while isinstance(unwrapped, PartialV):
            unwrapped = unwrapped.inner
        if isinstance(unwrapped, (Inst, Cls)):
            continue  # a callable object or a class: __call__/__init__/__new__ may differ
        func = function_of(task.value)
        if func is None or is_opaque(func) \
                or not _directly_named(site.callable_expr, site.callable_scope, evaluator):
            continue
        shape = task_shape(task.partials, task.args or ())
        if shape is None:
            continue
        problem = bind_problem(func, skip_first=not isinstance(task.value, Func), shape=shape)
        if problem is None:
            continue
        found.append(ArgumentMismatch(registration(site, task), problem, definition(func)))
    return tuple(found)


def _directly_named(expr: cst.BaseExpression, scope: Scope, evaluator: Evaluator, depth: int = 0) -> bool:
    """The task expression names its function without a factory call or an ambiguous name, so
    the signature the evaluator found is the one that runs."""
    if depth > _MAX_NAMING_DEPTH:
        return False
    if isinstance(expr, cst.Lambda):
        return True
    if isinstance(expr, cst.Attribute):
        return True  # methods and module attributes: resolved through definitions
    if isinstance(expr, cst.Call):
        if ext_name(evaluator.expr(expr.func, scope)) in PARTIAL and expr.args:
            return _directly_named(expr.args[0].value, scope, evaluator, depth + 1)
        return False
    if isinstance(expr, cst.Name):
        found = scope.lookup(expr.value)
        if found is None:
            return False
        binding, where = found
        if binding.kind == "import":
            return True
        if len(where.local(expr.value)) != 1:
            return False  # defined or assigned more than once: which one runs depends on flow
        if binding.kind == "def":
            return True
        if binding.kind == "assign" and binding.value is not None:
            return _directly_named(binding.value, where, evaluator, depth + 1)
    return False


# -- FBG208 -------------------------------------------------------------------------------------
def lost_coroutines(context: "ModuleContext") -> Tuple[LostCoroutineSite, ...]:
    found: List[LostCoroutineSite] = []
    for site, task in context.sites:
        if task.offload is not None:
            continue
        lost = lost_coroutine(site, task.value, task.raw, context.evaluator)
        if lost is None:
            continue
        cls = lost.target.enclosing_class()
        target = f"{cls.name}.{lost.target.name}" if cls is not None else lost.target.name
        rewritten = _rendered_call(_site_prefix(site), lost.call) \
            if lost.kind == "lambda" and lost.call is not None else None
        found.append(LostCoroutineSite(registration(site, task), lost.kind, lost.wrapper, target,
                                       definition(lost.target), rewritten, _lambda_fix(context, site, lost)))
    return tuple(found)


def _lambda_fix(context: "ModuleContext", site: "TaskSite", lost: LostCoroutine) -> Optional[Fix]:
    if lost.call is None or site.kind not in ("add_task", "BackgroundTask") or site.args \
            or not isinstance(site.callable_expr, cst.Lambda) or site.callable_scope is not site.scope:
        return None
    if any(_has_late_work(arg.value) for arg in lost.call.args):
        return None  # evaluating these now instead of in the task would change what runs when
    return pass_function_instead(context.info, site.call, lost.call,
                                 "pass the async function and its arguments instead of a lambda")


def _has_late_work(expr: cst.CSTNode) -> bool:
    found: List[cst.CSTNode] = []

    class _Work(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if isinstance(node, (cst.Call, cst.Await, cst.Yield, cst.NamedExpr, cst.Lambda)):
                found.append(node)
            return not found

    walk(expr, _Work())
    return bool(found)


__all__ = ["ArgumentMismatch", "CalledTaskSite", "LostCoroutineSite", "Registration", "argument_mismatches",
           "called_tasks", "code", "lost_coroutines", "registration", "sites_in", "tasks_param"]
