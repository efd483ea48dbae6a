"""Tasks a dependency with `yield` adds after its `yield`: the facts of FBG207.

A function counts as a dependency with `yield` when the module uses it with `Depends(...)`
(or `Security(...)`), or when it is shaped like one: one `yield`, not in a loop, and never
called directly in the module (a streaming generator is called, and yields in a loop).
Functions behind a decorator (`@contextmanager`, `@pytest.fixture`) are not dependencies.
Whether the task then runs depends on the FastAPI version and the dependency's `scope=`:
the rule decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional, Tuple

import libcst as cst

from ..scopes import FunctionScope
from .callables import is_opaque
from .routes import FunctionSyntax, RouteFacts
from .sites import Registration, registration, sites_in, tasks_param

if TYPE_CHECKING:
    from .module import ModuleContext


@dataclass(frozen=True)
class AddedAfterYield:
    """A task added to the injected BackgroundTasks after the `yield` of a dependency."""

    site: Registration
    dependency: str
    function_scoped: bool  # some `Depends(...)` of it says scope="function"


def added_after_yield(context: "ModuleContext") -> Tuple[AddedAfterYield, ...]:
    if not context.sites:
        return ()
    facts = context.routes
    found: List[AddedAfterYield] = []
    for scope in facts.site_functions():
        syntax = facts.function(scope)
        if syntax is None or not syntax.yields:
            continue
        if is_opaque(scope):
            continue  # @contextmanager, @pytest.fixture...: not a FastAPI dependency
        params = facts.injected_tasks_params(scope)
        if not params:
            continue
        function_scoped = _yield_dependency(scope, syntax, facts)
        if function_scoped is None:
            continue
        flow = facts.flow(scope)
        yields = [flow.statement_of(y) for y in syntax.yields]
        for site, task in sites_in(context, scope, facts):
            if tasks_param(site, params) is None:
                continue
            statement = flow.statement_of(site.call)
            if statement is None or not any(y is not None and flow.precedes(y, statement) for y in yields):
                continue
            found.append(AddedAfterYield(registration(site, task), scope.name, function_scoped))
    return tuple(found)


def _yield_dependency(scope: FunctionScope, syntax: FunctionSyntax, facts: RouteFacts) -> Optional[bool]:
    """None when `scope` is not a dependency with yield; else whether a `Depends(...)` of it
    declares scope="function"."""
    uses = facts.used_as_dependency(scope)
    if uses:
        return any(d.function_scope for d in uses)
    if len(syntax.yields) != 1 or scope.name in facts.called_names:
        return None
    statement = facts.flow(scope).statement_of(syntax.yields[0])
    path = facts.flow(scope).path(statement) if statement is not None else []
    return None if any(isinstance(step[2], (cst.For, cst.While)) for step in path) else False


__all__ = ["AddedAfterYield", "added_after_yield"]
