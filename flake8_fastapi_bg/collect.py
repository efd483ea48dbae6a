"""Collect: find every place in a module where work is scheduled to run after the response.

Sites are `tasks.add_task(f, ...)` on a value the evaluator proves is a `BackgroundTasks`,
`BackgroundTask(f, ...)`, and calls of project helpers that receive a `BackgroundTasks` and
register a callable they were given (reported at the helper's call, where the real callable is
visible). `add_task` on anything else — rich progress bars, job queues — is not a site.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

import libcst as cst

from .slicing import SlicedModuleInfo
from .scopes import FunctionScope, Scope
from .syntax import walk
from .values import (BACKGROUND_TASK, BUILTIN_NAMES, Bound, Evaluator, Func, PartialV, Value, ext_name,
                     is_background_tasks)

_MAX_FORWARD_DEPTH = 4


@dataclass
class TaskSite:
    """One registration of a task.

    `callable_expr` is evaluated in `callable_scope`; `args` are the arguments the task will be
    called with, or None when they cannot be known (forwarded through `*args`).
    """

    kind: str  # "add_task", "BackgroundTask", "forwarded"
    call: cst.Call  # the reported call
    scope: Scope  # scope of the reported call
    callable_expr: Optional[cst.BaseExpression]
    callable_scope: Scope
    args: Optional[Tuple[cst.Arg, ...]]
    receiver: Optional[cst.BaseExpression] = None
    helper: Optional[str] = None  # "schedule_email (app/helpers.py:12)" for forwarded sites
    helper_chain: Tuple[str, ...] = field(default_factory=tuple)
    # `helper(tasks, crawl)` with `tasks.add_task(run_async, func)` in the helper: the task's
    # arguments as the caller gives them (in `scope`; what the helper computes itself is left
    # opaque), so that what the task runs of them is known. Only for forwarded sites.
    passed: Optional[Tuple[cst.Arg, ...]] = None
    passed_scope: Optional[Scope] = None
    # the helper's own module reports the task itself: this site adds what the caller passes
    passed_only: bool = False


def split_task_args(args: Sequence[cst.Arg]) -> Tuple[Optional[cst.BaseExpression], Tuple[cst.Arg, ...]]:
    """`add_task(func, *args, **kwargs)` -> (func expression, the task's own arguments)."""
    positional = [a for a in args if a.keyword is None and not a.star]
    for arg in args:
        if arg.keyword is not None and arg.keyword.value == "func":
            return arg.value, tuple(a for a in args if a is not arg)
    if not positional or args[0] is not positional[0]:
        return None, tuple(args)
    return positional[0].value, tuple(args[1:])


class _SiteFinder(cst.CSTVisitor):
    def __init__(self, evaluator: Evaluator, module_scope: Scope) -> None:
        self.evaluator = evaluator
        self.stack: List[Scope] = [module_scope]
        self.sites: List[TaskSite] = []

    @property
    def scope(self) -> Scope:
        return self.stack[-1]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        # Decorators and defaults belong to the enclosing scope; libcst visits them as children
        # of the def, which is close enough: they rarely schedule tasks.
        self.stack.append(self.scope.child(node))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.stack.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.stack.append(self.scope.child(node))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.stack.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.stack.append(self.scope.child(node))

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.stack.pop()

    def visit_Call(self, node: cst.Call) -> None:
        try:
            self.sites.extend(sites_of_call(node, self.scope, self.evaluator))
        except RecursionError:
            pass


_LOCAL_KINDS = frozenset({"param", "assign", "annotated", "with"})


def may_hold_tasks(expr: cst.BaseExpression, scope: Scope) -> bool:
    """A cheap syntactic test before evaluating an argument: BackgroundTasks reach helpers as
    local names (parameters, variables) or `self` attributes, never as imported names; and a
    name declared or built as an instance of a project class (`service: OrderService`,
    `service = OrderService(db)`) never holds the library's BackgroundTasks."""
    if isinstance(expr, cst.Name):
        found = scope.lookup(expr.value)
        if found is None or found[0].kind not in _LOCAL_KINDS:
            return False
        binding, where = found
        declared = binding.annotation
        if declared is None and binding.kind == "assign" and isinstance(binding.value, cst.Call):
            declared = binding.value.func
        return declared is None or not _names_a_project_class(declared, where)
    return isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) \
        and expr.value.value in ("self", "cls")


def _names_a_project_class(expr: cst.BaseExpression, scope: Scope) -> bool:
    """`expr` is a plain name of a class of the project, so the evaluator would give an
    instance of a project class (never `BackgroundTasks`, which is the library's): decided
    from the binding and the `ast` summary of the defining module, so the class itself is not
    parsed. Anything less plain (aliases, star imports, re-exports) says False."""
    if not isinstance(expr, cst.Name):
        return False
    found = scope.lookup(expr.value)
    if found is None:
        return False
    binding, where = found
    if where.module.scope.star_imports:  # a later `from m import *` could rebind the name
        return False
    if binding.kind == "class":
        return True
    if binding.kind != "import" or not binding.qualname or "." not in binding.qualname:
        return False
    project = where.module.project
    module_name, _, member = binding.qualname.rpartition(".")
    defining = project.module(module_name)
    return isinstance(defining, SlicedModuleInfo) and defining.binds_only_a_class(member) \
        and project.module(binding.qualname) is None  # not a submodule of the same name


def _library_callee(func: cst.BaseExpression, scope: Scope) -> bool:
    """`func` is a builtin, or a name imported from outside the project (`sorted`, `json.dumps`,
    `HTTPException`): never a project function that could forward a BackgroundTasks, so the
    arguments need not be evaluated. Decided from the bindings and the file system alone."""
    while isinstance(func, cst.Attribute):
        func = func.value
    if not isinstance(func, cst.Name):
        return False
    found = scope.lookup(func.value)
    if found is None:  # a builtin, unless a star import may bind it
        return not scope.module.scope.star_imports and func.value in BUILTIN_NAMES
    binding = found[0]
    if binding.kind != "import" or not binding.qualname:
        return False
    top = binding.qualname.split(".")[0]
    project = scope.module.project
    return project.find(top) is None and not project.is_package_dir(top)


def may_name_background_task(func: cst.BaseExpression, scope: Scope) -> bool:
    """Only a name imported from fastapi/starlette (or a local alias of one) can be the
    BackgroundTask class; other callees are not evaluated, so no module is parsed for them."""
    if isinstance(func, cst.Attribute):
        return func.attr.value == "BackgroundTask"
    if not isinstance(func, cst.Name):
        return False
    found = scope.lookup(func.value)
    if found is None:
        return False
    binding = found[0]
    if binding.kind == "import":
        return (binding.qualname or "").startswith(("fastapi", "starlette"))
    return binding.kind == "assign"


def sites_of_call(node: cst.Call, scope: Scope, evaluator: Evaluator) -> List[TaskSite]:
    func = node.func
    if isinstance(func, cst.Attribute) and func.attr.value == "add_task":
        if is_background_tasks(evaluator.expr(func.value, scope)):
            callable_expr, args = split_task_args(node.args)
            return [TaskSite("add_task", node, scope, callable_expr, scope, args, receiver=func.value)]
        return []
    if may_name_background_task(func, scope) and ext_name(evaluator.expr(func, scope)) in BACKGROUND_TASK:
        callable_expr, args = split_task_args(node.args)
        return [TaskSite("BackgroundTask", node, scope, callable_expr, scope, args)]
    holders = [a.value for a in node.args if may_hold_tasks(a.value, scope)]
    if not holders or _library_callee(func, scope):
        return []
    if any(is_background_tasks(evaluator.expr(value, scope)) for value in holders):
        callee = evaluator.expr(func, scope)
        if isinstance(callee, (Func, Bound)):
            return list(forwarded_sites(node, scope, callee, evaluator, depth=0, chain=()))
    return []


def bind_arguments(func: FunctionScope, args: Sequence[cst.Arg], skip_self: bool) -> Dict[str, cst.Arg]:
    """Map a call's plain arguments to the parameters of `func` (splats are not mapped)."""
    params = func.params()
    positional = list(params.posonly_params) + list(params.params)
    if skip_self and positional:
        positional = positional[1:]
    names = {p.name.value for p in positional} | {p.name.value for p in params.kwonly_params}
    mapping: Dict[str, cst.Arg] = {}
    index = 0
    for arg in args:
        if arg.star:
            break
        if arg.keyword is None:
            if index < len(positional):
                mapping[positional[index].name.value] = arg
            index += 1
        elif arg.keyword.value in names:
            mapping[arg.keyword.value] = arg
    return mapping


def calls_in(function: cst.CSTNode) -> List[cst.Call]:
    """Calls in a function body, lambdas included (a helper may register tasks in one), not in
    nested defs or classes."""
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


def forwarded_sites(call: cst.Call, scope: Scope, callee: Value, evaluator: Evaluator, depth: int,
                    chain: Tuple[str, ...], known: FrozenSet[str] = frozenset()) -> Iterator[TaskSite]:
    """Sites created by a helper that receives a BackgroundTasks and registers tasks on it.

    `known` are the names of `scope` already proven to hold the BackgroundTasks by the outer
    levels of a chain of helpers (an unannotated parameter of a helper cannot prove it). A site
    whose callable is chosen inside a helper that proves its own parameter is reported when
    that helper's module is linted, not again at every caller of the chain."""
    if depth >= _MAX_FORWARD_DEPTH:
        return
    func = callee.func if isinstance(callee, Bound) else callee
    assert isinstance(func, Func)
    helper = func.scope
    if isinstance(helper.node, cst.Lambda):
        return
    mapping = bind_arguments(helper, call.args, skip_self=isinstance(callee, Bound))
    bg_params = {name for name, arg in mapping.items()
                 if (isinstance(arg.value, cst.Name) and arg.value.value in known)
                 or is_background_tasks(evaluator.expr(arg.value, scope))}
    if not bg_params:
        return
    line, _ = helper.module.position(helper.node, helper)
    label = f"{helper.name} ({helper.module.display}:{line})"
    param_bindings = {p.name.value: p for p in helper.all_params()}
    for inner in calls_in(helper.node):
        target = inner.func
        if isinstance(target, cst.Attribute) and target.attr.value == "add_task" \
                and isinstance(target.value, cst.Name) and target.value.value in bg_params:
            param = param_bindings.get(target.value.value)
            callable_expr, args = split_task_args(inner.args)
            if callable_expr is None:
                continue
            annotated = param is not None and param.annotation is not None and \
                is_background_tasks(evaluator.expr(target.value, helper))
            if isinstance(callable_expr, cst.Name) and callable_expr.value in mapping \
                    and callable_expr.value in param_bindings:
                # The task is whatever the caller passed: judge it here, at the caller.
                chosen = mapping[callable_expr.value].value
                yield TaskSite("forwarded", call, scope, chosen, scope,
                               _forwarded_args(args, mapping), helper=label,
                               helper_chain=chain + (label,))
            elif not annotated:
                # The helper's own file cannot prove its parameter is a BackgroundTasks; the
                # caller can, so the caller reports the concrete task.
                yield TaskSite("forwarded", call, scope, callable_expr, helper, None,
                               helper=label, helper_chain=chain + (label,),
                               passed=_passed_args(args, mapping), passed_scope=scope)
            else:
                handed = _passed_args(args, mapping)
                if handed is not None and _hands_function(handed, scope, evaluator):
                    # `tasks.add_task(run_async, func)`: the helper's module reports the task,
                    # the caller what it chose to hand to it
                    yield TaskSite("forwarded", call, scope, callable_expr, helper, None,
                                   helper=label, helper_chain=chain + (label,), passed=handed,
                                   passed_scope=scope, passed_only=True)
        elif depth + 1 < _MAX_FORWARD_DEPTH:
            inner_callee = evaluator.expr(inner.func, helper)
            passed_on = {a.value.value for a in inner.args
                         if isinstance(a.value, cst.Name) and a.value.value in bg_params}
            if not isinstance(inner_callee, (Func, Bound)) or not passed_on:
                continue
            # the helper's own module reports the sites it can prove itself
            proven_there = any(is_background_tasks(evaluator.name(name, helper)) for name in passed_on)
            for site in forwarded_sites(inner, helper, inner_callee, evaluator, depth + 1,
                                        chain + (label,), frozenset(bg_params)):
                chosen_here = passed_here = False
                if site.callable_scope is helper and isinstance(site.callable_expr, cst.Name) \
                        and site.callable_expr.value in mapping:
                    site.callable_expr = mapping[site.callable_expr.value].value
                    site.callable_scope = scope
                    chosen_here = not site.passed_only
                if site.passed is not None and site.passed_scope is helper:
                    lifted = _passed_args(site.passed, mapping)
                    if lifted is not None and _hands_function(lifted, scope, evaluator):
                        site.passed, site.passed_scope, passed_here = lifted, scope, True
                if proven_there and not chosen_here:
                    if not passed_here:
                        continue
                    site.passed_only = True  # the helper's module reports the task itself
                site.call, site.scope = call, scope
                yield site


_OPAQUE = cst.Name("__computed_by_the_helper__")


def _hands_function(args: Tuple[cst.Arg, ...], scope: Scope, evaluator: Evaluator) -> bool:
    """Some argument, as the caller gives it, is a project function (or a partial of one)."""
    for arg in args:
        if arg.value is _OPAQUE:
            continue
        value = evaluator.expr(arg.value, scope)
        while isinstance(value, PartialV):
            value = value.inner
        if isinstance(value, (Func, Bound)):
            return True
    return False


def _passed_args(args: Tuple[cst.Arg, ...], mapping: Dict[str, cst.Arg]) -> Optional[Tuple[cst.Arg, ...]]:
    """The task's arguments up to the first splat, those the helper passes on from its own
    parameters replaced by what the caller gives; None when it passes none of them."""
    out, forwarded = [], False
    for arg in args:
        if arg.star:
            break
        if isinstance(arg.value, cst.Name) and arg.value.value in mapping:
            out.append(arg.with_changes(value=mapping[arg.value.value].value))
            forwarded = True
        else:
            out.append(arg.with_changes(value=_OPAQUE))
    return tuple(out) if forwarded else None


def _forwarded_args(args: Tuple[cst.Arg, ...], mapping: Dict[str, cst.Arg]) -> Optional[Tuple[cst.Arg, ...]]:
    """The task's arguments when the helper passes its own parameters one by one, else None."""
    out = []
    for arg in args:
        if arg.star or not isinstance(arg.value, cst.Name) or arg.value.value not in mapping:
            return None
        out.append(arg.with_changes(value=mapping[arg.value.value].value))
    return tuple(out)


def collect_sites(evaluator: Evaluator, module_scope: Scope) -> List[TaskSite]:
    finder = _SiteFinder(evaluator, module_scope)
    for statement in module_scope.module.site_statements():
        walk(statement, finder)
    return finder.sites
