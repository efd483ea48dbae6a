"""`ModuleContext`, what the engine knows of one linted module, and `ModuleFacts`, the one object
every FBG2xx rule receives: the facts the gatherers of this package produce about the module,
each gathered on first use (most modules need few of them) and shared by the rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, List, Set, Tuple

from . import dependencies, lifetimes, responses, sites, websockets
from .routes import RouteFacts

if TYPE_CHECKING:
    from ..analyse import Analyser, ResolvedTask
    from ..collect import TaskSite
    from ..parsing import ModuleInfo
    from ..settings import Settings
    from ..values import Evaluator


@dataclass(eq=False)
class ModuleContext:
    """One linted module as the engine hands it to the gatherers: the module, the engine parts,
    and its task sites with their resolved tasks (in source order)."""

    info: "ModuleInfo"
    evaluator: "Evaluator"
    analyser: "Analyser"
    settings: "Settings"
    sites: List[Tuple["TaskSite", "ResolvedTask"]] = field(default_factory=list)
    # ids of the site calls whose tasks never run (FBG204-FBG207): set by the engine from the
    # rules' verdicts; their FBG1xx findings are dropped
    never_runs: Set[int] = field(default_factory=set)

    @cached_property
    def routes(self) -> RouteFacts:
        """Routes, dependencies and function syntax of the module, shared by the gatherers."""
        return RouteFacts(self)


class ModuleFacts:
    """The facts of one module for the FBG2xx rules, gathered on first use."""

    def __init__(self, context: ModuleContext) -> None:
        self._context = context

    @property
    def fastapi_version(self) -> Tuple[int, ...]:
        """The FastAPI version the rules judge for (installed, or the option)."""
        return self._context.settings.effective_fastapi_version

    # -- how each site passes its task (sites.py) ----------------------------------------------
    @cached_property
    def called_tasks(self) -> Tuple[sites.CalledTaskSite, ...]:
        """FBG201: sites whose task is the result of a call, not a callable."""
        return sites.called_tasks(self._context)

    @cached_property
    def argument_mismatches(self) -> Tuple[sites.ArgumentMismatch, ...]:
        """FBG202: sites whose arguments cannot bind to the task function's signature."""
        return sites.argument_mismatches(self._context)

    @cached_property
    def lost_coroutines(self) -> Tuple[sites.LostCoroutineSite, ...]:
        """FBG208: sites whose sync task calls an `async def` and drops the coroutine."""
        return sites.lost_coroutines(self._context)

    # -- values closed before the task runs (lifetimes.py) -------------------------------------
    @cached_property
    def closed_arguments(self) -> Tuple[lifetimes.ClosedArgument, ...]:
        """FBG203: sites whose task receives a value closed before it runs."""
        return lifetimes.closed_arguments(self._context)

    # -- where task objects go relative to the responses (responses.py) -----------------------
    @cached_property
    def unattached_tasks(self) -> Tuple[responses.UnattachedTasks, ...]:
        """FBG204: task objects built in a route that never reach a response."""
        return responses.unattached_tasks(self._context)

    @cached_property
    def discarded_tasks(self) -> Tuple[responses.DiscardedTasks, ...]:
        """FBG205: responses with `background=` that make FastAPI drop the injected tasks."""
        return responses.discarded_tasks(self._context)

    @cached_property
    def injected_response_backgrounds(self) -> Tuple[responses.InjectedResponseBackground, ...]:
        """FBG209: `.background` set on the injected `Response`."""
        return responses.injected_response_backgrounds(self._context)

    # -- tasks nothing runs (websockets.py, dependencies.py) -----------------------------------
    @cached_property
    def websocket_tasks(self) -> websockets.WebSocketTasks:
        """FBG206: tasks added to the injected BackgroundTasks of WebSocket routes."""
        return websockets.websocket_tasks(self._context)

    @cached_property
    def added_after_yield(self) -> Tuple[dependencies.AddedAfterYield, ...]:
        """FBG207: tasks a dependency with `yield` adds after its `yield`."""
        return dependencies.added_after_yield(self._context)
