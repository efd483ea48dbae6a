"""The evidence chain of a reported finding: the registration site, each project function the
task's work passes through, and the leaf evidence, as `model.Hop`s.

The analysis records, per piece of evidence, the labels of the project functions it followed
(`Evidence.chain`) and, when it can, the hops themselves (`Evidence.hops`). When only the labels
are there, the hops are rebuilt here for the few findings that are reported: the same
breadth-first steps as `Analyser.reach`, then, in each caller, the call that enters the next
function. Positions stay lazy: only an output that shows them renders them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Tuple

from .model import Evidence, Hop, Located, TaskFacts

if TYPE_CHECKING:
    import libcst as cst

    from .analyse import Analyser, ResolvedTask
    from .collect import TaskSite
    from .scopes import FunctionScope
    from .values import Inst


def hops_for(analyser: Analyser, site: TaskSite, task: ResolvedTask, facts: TaskFacts, where: Located,
             leaf: Optional[Evidence]) -> Tuple[Hop, ...]:
    """The hops of a finding about `facts`, whose message names `leaf` (None: the site only)."""
    found: List[Hop] = [Hop(_site_function(site), "site", _scheduled(facts), where)]
    if leaf is None:
        return tuple(found)
    calls = list(leaf.hops) if leaf.hops else _rebuilt(analyser, task, leaf.chain)
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


def _rebuilt(analyser: Analyser, task: ResolvedTask, chain: Tuple[str, ...]) -> List[Hop]:
    """Hops for the labels of `chain`, located at the calls that enter each function."""
    try:
        return _follow(analyser, task, chain)
    except Exception:  # a chain is an extra: never lose the finding over it
        return [Hop(label, "call", f"calls {label}") for label in chain]


def _follow(analyser: Analyser, task: ResolvedTask, chain: Tuple[str, ...]) -> List[Hop]:
    from .analyse import NodeWhere, _label, _receiver

    hops: List[Hop] = []
    func = task.func
    scope = func.scope if func is not None else None
    receiver = _receiver(task.value)
    for index, label in enumerate(chain):
        mine = receiver if index == 0 else None
        target = None
        if scope is not None:
            target = next((c for c in analyser.summary(scope, mine).callees if _label(c) == label), None)
        if scope is None or target is None:
            hops += [Hop(rest, "call", f"calls {rest}") for rest in chain[index:]]
            break
        call = _entering_call(analyser, scope, target, mine)
        where = NodeWhere(scope.module, call, scope) if call is not None else None
        hops.append(Hop(target.qualname, "call", f"{_label(scope)} calls {label}", where))
        scope = target
    return hops


def _entering_call(analyser: Analyser, scope: FunctionScope, target: FunctionScope,
                   receiver: Optional[Inst]) -> Optional[cst.Call]:
    """The first call in `scope` whose callee is the project function `target`."""
    from .analyse import _calls
    from .values import options

    evaluator = analyser.evaluator

    def find() -> Optional[cst.Call]:
        for site in _calls(scope):
            callee = evaluator.expr(site.node.func, scope)
            if any(analyser._project_target(option) is target for option in options(callee)):
                return site.node
        return None

    if receiver is None:
        return find()
    with evaluator.receiving(scope, receiver):
        return find()


def chain_lines(hops: Tuple[Hop, ...], indent: str = "    ") -> List[str]:
    """The hops as indented text lines, for `--show-chain`: role, function, place, reason."""
    lines = []
    for hop in hops:
        where = hop.where
        place = f"{where.path}:{where.line}:{where.col + 1}" if where is not None else "(place unknown)"
        lines.append(f"{indent}{hop.role:<4} {place} {hop.function}: {hop.reason}")
    return lines
