"""The evidence chain of a reported finding: the registration site, each project function the
task's work passes through, and the leaf evidence, as `model.Hop`s.

The analysis records, per piece of evidence, the project functions it followed: their labels
(`Evidence.chain`, for messages) and the hops entering them (`Evidence.hops`: each function
with the call, the forwarder's call or the decorator that enters it; see `Analyser.reach`).
Here the site comes first, then the helpers a forwarded site passes the task through (at their
definitions), for a queue's task object called directly the decorator that makes it, then
those hops and the leaf. Positions stay lazy: only an output that shows them renders them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Tuple

from .model import Evidence, Hop, Located, TaskFacts, Where

if TYPE_CHECKING:
    from .analyse import Analyser, ResolvedTask
    from .collect import TaskSite


def hops_for(analyser: Analyser, site: TaskSite, task: ResolvedTask, facts: TaskFacts, where: Located,
             leaf: Optional[Evidence]) -> Tuple[Hop, ...]:
    """The hops of a finding about `facts`, whose message names `leaf` (None: the site only)."""
    found: List[Hop] = [Hop(_site_function(site), "site", _scheduled(facts), where)]
    if leaf is None:
        return tuple(found)
    found += _helpers(site)
    found += _task_object(task, facts)
    calls = list(leaf.hops) if len(leaf.hops) == len(leaf.chain) else \
        [Hop(label, "call", f"runs {label}") for label in leaf.chain]
    found += calls
    holder = calls[-1].function if calls else (facts.qualname or facts.name)
    text = f"{'calls ' if leaf.is_call else ''}{leaf.subject} ({leaf.reason})"
    found.append(Hop(holder, "leaf", text, leaf.where))
    return tuple(found)


def _site_function(site: TaskSite) -> str:
    scope = site.scope
    return getattr(scope, "qualname", None) or getattr(scope.module, "name", "") or "<module>"


def _scheduled(facts: TaskFacts) -> str:
    text = f"schedules {facts.qualname or facts.name}"
    if facts.offloaded_via:
        text += f" through {facts.offloaded_via}"
    return text + (" (event loop)" if facts.is_async else " (thread pool)" if facts.is_async is False else "")


def _helpers(site: TaskSite) -> List[Hop]:
    """The helpers a forwarded site passes the task through to `add_task`, outermost first, at
    their definitions (`collect.TaskSite.helper_chain`)."""
    found = []
    chain = site.helper_chain
    for index, helper in enumerate(chain):
        name, _, place = helper.partition(" (")
        path, _, line = place.rstrip(")").rpartition(":")
        does = "registers the task" if index == len(chain) - 1 else "passes the task on"
        if name and path and line.isdigit():
            found.append(Hop(name, "call", f"helper {name} {does}", Where(path, int(line))))
    return found


def _task_object(task: ResolvedTask, facts: TaskFacts) -> List[Hop]:
    """A queue's task object called directly (`@celery_app.task`): the decorator that makes the
    object whose `__call__` runs the body in this process."""
    from .analyse import NodeWhere

    decorated, func = task.decoration, task.func
    if not facts.in_process or decorated is None or func is None or decorated.queue_node is None:
        return []
    scope = func.scope
    return [Hop(scope.qualname, "call", f"{facts.in_process} called directly runs {facts.name} here",
                NodeWhere(scope.module, decorated.queue_node, scope))]


def chain_lines(hops: Tuple[Hop, ...], indent: str = "    ") -> List[str]:
    """The hops as indented text lines, for `--show-chain`: role, function, place, reason."""
    lines = []
    for hop in hops:
        where = hop.where
        place = f"{where.path}:{where.line}:{where.col + 1}" if where is not None else "(place unknown)"
        lines.append(f"{indent}{hop.role:<4} {place} {hop.function}: {hop.reason}")
    return lines
