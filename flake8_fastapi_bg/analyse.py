"""Analyse: what a task really does, as evidence with file:line.

Starting from the resolved callable, walk its body, evaluate every call, match library calls
against the knowledge base, measure sleeps, notice polling loops, and follow calls into project
code up to `max_depth` levels (cycle-safe), through the wrappers of project decorators and the
callables that forwarders run (see `decorators`). Work handed to a queue or a scheduler, or to a
pool without waiting for it, is offloaded: the walk does not look inside it. Work handed to a
thread or a process and waited for is followed, judged where it runs (a blocking call in a
thread does not block the loop; CPU work in another process does not hold this one's GIL).
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field
from typing import (TYPE_CHECKING, Dict, FrozenSet, Iterator, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple, TypeVar, cast)

import libcst as cst

from . import context, deps, pragmas
from .convert import code_for
from .collect import TaskSite
from .decorators import (CALL, PROCESS, THREAD, Decoration, decoration, forwarded_callables, function_of,
                         handed_argument, param_call, task_forwarded, waits_for)
from .knowledge import KnowledgeBase, Offload
from .model import Evidence, Hop, Located, TaskFacts, Unanalysed
from .scopes import FunctionScope, Scope, own_nodes, own_spans
from .settings import Settings
from .values import (UNKNOWN, Bound, Coroutine, Evaluator, Ext, ExtInstance, Func, Inst,
                     PartialV, SkippedV, Value, display_name, options)

if TYPE_CHECKING:
    from .parsing import ModuleInfo

SLEEPS = frozenset({"time.sleep", "asyncio.sleep", "anyio.sleep", "trio.sleep"})
LONG_SLEEP_SECONDS = 30.0
DELAY_SECONDS = 5.0
# Logging may come before a delaying sleep without making it less of a delay.
_QUIET_PREFIXES = ("logging.", "structlog.", "loguru.")
_LOGGER_NAMES = frozenset({"log", "logger", "_log", "_logger", "LOG", "LOGGER", "logging", "structlog"})
_TAG_CATEGORY = {"cpu-heavy": "cpu", "long-running": "long", "critical": "critical"}


@dataclass
class ResolvedTask:
    """The callable a site schedules, unwrapped from partials and thread/process wrappers."""

    value: Value
    raw: Value
    partials: List[cst.Call] = field(default_factory=list)
    offload: Optional[Offload] = None
    offload_name: Optional[str] = None
    args: Optional[Tuple[cst.Arg, ...]] = None
    decoration: Optional[Decoration] = None  # what the function's decorators make of it
    # `add_task(run_async, heavy, x)`: project functions the task runs because the site passes
    # them to a parameter the task runs (directly, in a thread, in a process)
    handed: List[Tuple[FunctionScope, str]] = field(default_factory=list)
    # the hop entering each of `handed`: the call of the task's body that runs it
    handed_hops: Dict[FunctionScope, Hop] = field(default_factory=dict)
    handed_only: bool = False  # the task itself is reported elsewhere: judge only `handed`

    @property
    def func(self) -> Optional[Func]:
        value = self.value
        if isinstance(value, Bound):
            return value.func
        if isinstance(value, Func):
            return value
        return None

    @property
    def is_async(self) -> Optional[bool]:
        if self.offload is not None:
            return False  # handed to a thread or process by the wrapper
        func = self.func
        if func is None:
            return None
        decorated = self.decoration
        if decorated is not None:
            if decorated.enqueues or decorated.queue:
                return False  # a task object: its `__call__` is a plain def, run in the pool
            if decorated.wrappers:
                return decorated.wrappers[0].scope.is_async  # the outermost wrapper runs first
        return func.scope.is_async

    @property
    def in_process(self) -> Optional[str]:
        """"a Celery task" when the task is a queue's task object called directly."""
        decorated = self.decoration
        return decorated.queue if decorated is not None and not decorated.enqueues else None

    @property
    def runs_body(self) -> bool:
        """False when calling the task never runs the function's body here: a huey task
        enqueues it; the task object of an `async def` only makes a coroutine, never awaited."""
        decorated, func = self.decoration, self.func
        if decorated is None or func is None:
            return True
        if decorated.enqueues:
            return False
        if decorated.queue:
            inner = decorated.wrappers[-1].scope if decorated.wrappers else func.scope
            return not inner.is_async
        return True


def resolve(site: TaskSite, evaluator: Evaluator) -> ResolvedTask:
    if site.callable_expr is None:
        return ResolvedTask(UNKNOWN, UNKNOWN)
    raw = evaluator.expr(site.callable_expr, site.callable_scope)
    value, partials = raw, []
    while isinstance(value, PartialV):
        partials.append(value.call)
        value = value.inner
    task = ResolvedTask(value, raw, partials, args=site.args)
    if isinstance(value, Inst):
        call = evaluator.attribute(value, "__call__")
        if isinstance(call, (Func, Bound)):
            task.value = call
    if isinstance(value, Ext) and site.args is not None:
        offload = evaluator.kb.offload(value.qualname)
        if offload is not None and offload.kind in ("thread", "process") and offload.callable_arg >= 0:
            positional = [a for a in site.args if a.keyword is None and not a.star]
            if len(positional) > offload.callable_arg:
                handed = positional[offload.callable_arg]
                inner = evaluator.expr(handed.value, site.scope)
                while isinstance(inner, PartialV):
                    inner = inner.inner
                task.value = inner
                task.offload = offload
                task.offload_name = value.qualname.rsplit(".", 1)[-1]
                task.args = tuple(a for a in site.args if a is not handed and a not in
                                  positional[:offload.callable_arg])
    func = task.func
    if func is not None:
        task.decoration = decoration(func.scope, evaluator)
        forwarded: List[Tuple[FunctionScope, str, str]] = []
        if task.offload is None and site.passed is not None and site.passed_scope is not None:
            forwarded = task_forwarded(func.scope, site.passed, site.passed_scope, evaluator, task.value)
        elif task.offload is None:
            forwarded = task_forwarded(func.scope, task.args, site.scope, evaluator, task.value)
        task.handed = [(target, how) for target, how, _ in forwarded]
        for target, how, param in forwarded:
            task.handed_hops.setdefault(target, _forwarder_hop(func.scope, target, how, param))
    task.handed_only = site.passed_only
    return task


def _forwarder_hop(forwarder: FunctionScope, target: FunctionScope, how: str, param: str) -> Hop:
    """The hop entering `target`, which the task `forwarder` runs because the site hands it to
    the task's parameter `param`: at the forwarder's call that runs it, or hands it on."""
    call = param_call(forwarder, param)
    where = NodeWhere(forwarder.module, call, forwarder) if call is not None else None
    return Hop(target.qualname, "call", f"{_label(forwarder)} runs {_label(target)}{_HOW[how]} "
               f"(given as '{param}')", where)


@dataclass
class _CallSite:
    node: cst.Call
    loops: Tuple[cst.CSTNode, ...]
    awaited: bool
    top_level: bool  # directly in the function body, not inside a loop, branch or handler


_LOOPS = frozenset({cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp})
_BLOCKS = frozenset({cst.If, cst.Try, cst.ExceptHandler})  # branches and handlers: not top level


def _calls(scope: FunctionScope) -> List[_CallSite]:
    """Every call of the function's own body (not in nested defs, lambdas or classes), in
    source order, with the loops around it (innermost last), whether it is awaited, and
    whether it is top level: outside any loop, branch or handler.

    A call in a `for` statement's iterable (a name or attribute aside) or in a comprehension's
    first iterable is evaluated once, before the loop repeats anything: the innermost loop
    around it is not counted. The context comes from the spans of the walk that lists the
    function's own nodes (`scopes.own_spans`), not from another walk."""
    nodes, ends = own_spans(scope.node)
    awaited = {id(a.expression) for a in own_nodes(scope.node, cst.Await)}
    found: List[_CallSite] = []
    loops: List[Tuple[int, cst.CSTNode]] = []  # (end, loop) around the current node
    blocks: List[int] = []  # the ends of the branches and handlers around it
    once: List[Tuple[int, int]] = []  # (start, end) of the once-evaluated iterables, maybe ahead
    for index, end in ends.items():  # calls, loops and branches, in source order
        while loops and loops[-1][0] <= index:
            loops.pop()
        while blocks and blocks[-1] <= index:
            blocks.pop()
        while once and once[-1][1] <= index:
            once.pop()
        node = nodes[index]
        kind = type(node)
        if kind is cst.Call:
            around = tuple(loop for _, loop in loops)
            if any(first <= index < last for first, last in once):
                around = around[:-1]
            found.append(_CallSite(cast(cst.Call, node), around, id(node) in awaited,
                                   not loops and not blocks))
        elif kind in _BLOCKS:
            blocks.append(end)
        elif kind in _LOOPS:
            loops.append((end, node))
            iterable = _once_iterable(node, nodes, index, end)
            if iterable is not None:
                once.append(iterable)
    return found


def _once_iterable(loop: cst.CSTNode, nodes: List[cst.CSTNode], index: int,
                   end: int) -> Optional[Tuple[int, int]]:
    """Where the iterable of a `for` statement or of a comprehension's first `for` lies among
    `nodes` (the loop at `index`, its descendants up to `end`): (start, end), or None when it
    can hold no call of the function (a name, an attribute, a lambda; a `while` loop)."""
    if isinstance(loop, cst.For):
        if isinstance(loop.iter, (cst.Name, cst.Attribute)):
            return None
        iterable: cst.CSTNode = loop.iter
        after: Optional[cst.CSTNode] = loop.body
    elif isinstance(loop, cst.BaseComp):
        for_in = loop.for_in
        iterable = for_in.iter
        after = for_in.ifs[0] if for_in.ifs else for_in.inner_for_in  # else the comprehension's end
    else:
        return None
    start = _find(nodes, iterable, index + 1, end)
    if start == end:
        return None  # not an own node: a lambda
    return start, _find(nodes, after, start + 1, end) if after is not None else end


def _find(nodes: List[cst.CSTNode], node: cst.CSTNode, start: int, end: int) -> int:
    """The index of `node` among `nodes[start:end]`, else `end`."""
    for index in range(start, end):
        if nodes[index] is node:
            return index
    return end


def literal_seconds(node: cst.BaseExpression) -> Optional[float]:
    """The value of a numeric literal or simple product (`60 * 60`), else None."""
    if isinstance(node, (cst.Integer, cst.Float)):
        try:
            return float(node.evaluated_value)
        except (ValueError, OverflowError):
            return None
    if isinstance(node, cst.BinaryOperation):
        left, right = literal_seconds(node.left), literal_seconds(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.operator, cst.Multiply):
            return left * right
        if isinstance(node.operator, cst.Add):
            return left + right
        if isinstance(node.operator, cst.Divide) and right:
            return left / right
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        value = literal_seconds(node.expression)
        return -value if value is not None else None
    return None


def _sleep_argument(call: cst.Call) -> Optional[cst.BaseExpression]:
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            return arg.value
        if arg.keyword is not None and arg.keyword.value in ("seconds", "delay", "secs"):
            return arg.value
    return None


def _source(node: cst.CSTNode, limit: int = 40) -> str:
    text = " ".join(code_for(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_seconds(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class NodeWhere:
    """A node's place, computed only when a message shows it: positions cost a module render."""

    __slots__ = ("module", "node", "scope", "_position")

    def __init__(self, module: ModuleInfo, node: cst.CSTNode, scope: Optional[Scope] = None) -> None:
        self.module = module
        self.node = node
        self.scope = scope  # the scope holding `node`, if known: a hint for positioning
        self._position: Optional[Tuple[int, int]] = None

    def _resolve(self) -> Tuple[int, int]:
        if self._position is None:
            self._position = self.module.position(self.node, self.scope)
            self.scope = None
        return self._position

    @property
    def path(self) -> str:
        return self.module.display

    @property
    def line(self) -> int:
        return self._resolve()[0]

    @property
    def col(self) -> int:
        return self._resolve()[1]

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Summary:
    """What one function does by itself, computed once per process and knowledge base.

    Evidence is independent of how the function is reached: blocking calls are recorded with
    their `awaited` flag and judged later, once it is known whether the task runs on the loop.
    """

    evidence: List[Evidence] = field(default_factory=list)
    delay: List[Evidence] = field(default_factory=list)  # when this function is the task
    not_delay: List[Evidence] = field(default_factory=list)  # the same sleeps, when reached
    callees: List[FunctionScope] = field(default_factory=list)
    looped: List[FunctionScope] = field(default_factory=list)  # callees called in a `while` loop
    identity: List[Evidence] = field(default_factory=list)  # pragmas, globs, name
    # functions run in a thread or process and waited for, or run by a project forwarder:
    # (function, THREAD | PROCESS | CALL)
    handed: List[Tuple[FunctionScope, str]] = field(default_factory=list)
    wrappers: List[Tuple[FunctionScope, str]] = field(default_factory=list)  # (wrapper, "@retry")
    context: str = CALL  # where the body runs relative to its callers: its decorators may move it
    # The hop entering each function this one runs (`callees`, `handed`, `wrappers`): the
    # function entered, and the call (or the decorator) of this function that enters it.
    callee_calls: Dict[FunctionScope, Hop] = field(default_factory=dict)
    handed_calls: Dict[Tuple[FunctionScope, str], Hop] = field(default_factory=dict)
    wrapper_hops: Dict[FunctionScope, Hop] = field(default_factory=dict)
    # Project modules left unanalysed (`Project.skipped`) that a call of this function runs
    # code of: module name -> the first such call. Kept here, with the memoised summary, so
    # that every task reaching this function says so (FBG903), whichever file computed it.
    unanalysed: Dict[str, Unanalysed] = field(default_factory=dict)


def _need(value: SkippedV, where: Located, function: str) -> Unanalysed:
    """The module left unanalysed that `value` comes from, needed at `where` in `function`."""
    return Unanalysed(value.skipped.display, value.skipped.reason, where, function)


class Analyser:
    """Collects evidence for the tasks of one linted file."""

    def __init__(self, evaluator: Evaluator, kb: KnowledgeBase, settings: Settings) -> None:
        self.evaluator = evaluator
        self.kb = kb
        self.settings = settings

    # -- the task ----------------------------------------------------------------------------
    def facts(self, site: TaskSite, task: ResolvedTask, where: Located) -> TaskFacts:
        value = task.value
        func = task.func
        name = display_name(value)
        library = value.qualname if isinstance(value, Ext) else None
        resolved = func is not None or isinstance(value, Ext)
        evidence: List[Evidence] = []
        tags: FrozenSet[str] = frozenset()
        unanalysed: Dict[str, Unanalysed] = {}
        for option in (value, task.raw):  # the task itself comes from a module left unanalysed
            if isinstance(option, SkippedV):
                unanalysed.setdefault(option.module, _need(option, where, _scope_name(site.scope)))
                if site.callable_expr is not None:  # its name is all there is to show
                    name = context.shorten(code_for(site.callable_expr))
        if func is None:
            if isinstance(value, Ext) and not value.qualname.startswith(_NOT_TASKS):
                evidence = [e for category in ("cpu", "long", "critical")
                            for e in self._library_task(category, value.qualname, where)]
                if not any(e.kind == "critical" for e in evidence):
                    evidence += self._named(site, value.qualname.rsplit(".", 1)[-1], where,
                                            with_context=not self._known_library(value.qualname))
            elif not resolved:
                evidence = self._spelled_name(site, task, where)
                if evidence and site.callable_expr is not None:
                    name = context.shorten(code_for(site.callable_expr))
        else:
            tags = pragmas.function_tags(func.scope.node)
            reached = self.reach(func.scope, task, _receiver(value), unanalysed)
            if self.kb.read_name(func.scope.name):
                # A read (`fetch_credential_item`) is not critical because of its callees' names.
                reached = [e for e in reached if not (e.kind == "critical" and e.strength == _NAME_STRENGTH)]
            on_loop = bool(task.is_async)
            evidence = [_evolve(e, on_loop=True) if e.kind == "blocking" else e
                        for e in reached if e.kind != "blocking" or (on_loop and not e.awaited)]
            if not any(e.kind == "critical" for e in evidence):
                evidence.extend(self._context(site, func.scope.name, func.scope))
        return TaskFacts(site_kind=site.kind, where=where, name=name,
                         qualname=func.scope.qualname if func else None, resolved=resolved,
                         is_async=task.is_async, evidence=tuple(evidence), tags=tags,
                         library_callable=library, offloaded_via=task.offload_name,
                         in_process=task.in_process,
                         unanalysed=tuple(sorted(unanalysed.values(), key=lambda u: u.path)))

    def _library_task(self, category: str, name: str, where: Located) -> List[Evidence]:
        """A library function scheduled directly (`add_task(stripe.Refund.create, ...)`): it is
        the task's whole work. Blocking does not apply: Starlette runs a sync callable in the
        thread pool, and the call site cannot show whether a library method is async."""
        match = self.kb.match(category, name)
        if match is None:
            return []
        return [Evidence(category, name, match.reason, where)]

    def _spelled_name(self, site: TaskSite, task: ResolvedTask, where: Located) -> List[Evidence]:
        """An unresolved task spelled as a name (`email_helper.send_forgot_password` from a
        module the project does not hold): its name is certain even when its code is not, so
        the FBG104 name heuristics and the context apply, and nothing else does."""
        expr = site.callable_expr
        if task.partials or task.offload is not None or not isinstance(expr, (cst.Name, cst.Attribute)):
            return []
        return self._named(site, expr.value if isinstance(expr, cst.Name) else expr.attr.value, where)

    def _named(self, site: TaskSite, name: str, where: Located, with_context: bool = True) -> List[Evidence]:
        """FBG104 evidence for a task known only by its name: what the name says, else the
        context it is scheduled in."""
        reason = self.kb.critical_name(name)
        if reason:
            return [Evidence("critical", name, reason, where, is_call=False,
                             strength=2)]
        return self._context(site, name, None) if with_context else []

    def _known_library(self, name: str) -> bool:
        """A standard-library or known library function: what it does is known, so the route it
        is scheduled from says nothing more (`os.remove` from a `refund` route is a cleanup)."""
        if name.split(".", 1)[0] in _STDLIB:
            return True
        return any(self.kb.match(category, name) is not None
                   for category in ("cpu", "blocking", "long", "critical"))

    # -- FBG104 from context -----------------------------------------------------------------
    def _context(self, site: TaskSite, task_name: str,
                 task_scope: Optional[FunctionScope]) -> List[Evidence]:
        """Critical evidence from where and how a task is scheduled, not from what it calls:
        the name of the route or helper that schedules it (`forgot_password`), or a string it
        is given (`subject="Reset your password"`) or writes in its own body. A task whose own
        name is an observer (`log_...`, `notify_...`) or a read stays what its name says."""
        if not task_name or task_name == "<lambda>" or self.kb.observer_name(task_name) \
                or self.kb.read_name(task_name):
            return []
        schedulers = list(context.scheduling_functions(site, NodeWhere))
        if any(self.kb.observer_name(name) for _, name, _ in schedulers):
            return []  # scheduled by `send_password_changed_notification`: a notice
        for label, name, where in schedulers:
            reason = self.kb.critical_context(name)
            if reason:
                return [Evidence("critical", f"scheduled from {label} '{name}'", reason, where,
                                 is_call=False, strength=3)]
        body = (context.body_clues(task_scope),) if task_scope is not None else ()
        for clue in itertools.chain(context.site_clues(site), *body):
            judge = self.kb.critical_text if clue.kind == "text" else self.kb.critical_context
            reason = judge(clue.value)
            if reason:
                return [Evidence("critical", clue.subject, reason,
                                 NodeWhere(clue.scope.module, clue.node, clue.scope),
                                 is_call=False, strength=3)]
        return []

    def reach(self, root: FunctionScope, task: Optional[ResolvedTask] = None,
              receiver: Optional[Inst] = None,
              unanalysed: Optional[Dict[str, Unanalysed]] = None) -> List[Evidence]:
        """Evidence of `root` and of the project functions it runs, breadth first, each
        function once, at most `max_depth` calls away: the functions it calls, the wrappers of
        their project decorators, the functions they hand to a thread or a process and wait
        for, and, for a task, the functions the site's arguments make it run. `receiver`, the
        instance a method task is bound to, says what `self` holds in the task itself (its
        constructor's arguments). The project modules left unanalysed that the functions
        reached call into are added to `unanalysed`, each once."""
        if task is not None and not task.runs_body:
            return []
        first = self.summary(root, receiver)
        found = [_evolve(e, is_call=False) for e in first.identity] + \
            _in_context(first.delay + first.evidence, first.context)
        # each function once per place it runs: reached in a thread first and on the loop
        # later, its blocking calls still count
        seen = {(root, CALL)}
        level: List[_Step] = [_Step(root, (), (), CALL, False)]
        if task is not None and task.handed_only:  # the task's own work is reported elsewhere
            found, level = [], []
        elif unanalysed is not None:
            for module, need in first.unanalysed.items():
                unanalysed.setdefault(module, need)
        pending: List[Tuple[FunctionScope, _Step]] = []
        for scope, how in (task.handed if task else ()):
            hops = _hop(task.handed_hops if task else {}, scope, scope, _label(scope))
            pending.append((scope, _Step(scope, (_label(scope),), hops, how, False)))
        for _ in range(self.settings.max_depth):
            following: List[_Step] = []
            for step in level:
                caller = self.summary(step.scope, receiver if step.scope is root else None)
                pending.extend(self._runs(caller, step))
            for callee, step in pending:
                if (callee, step.where) in seen or (callee, CALL) in seen:
                    continue
                seen.add((callee, step.where))
                inner = self.summary(callee)
                if unanalysed is not None:
                    for module, need in inner.unanalysed.items():
                        unanalysed.setdefault(module, need)
                evidence = _in_context(inner.not_delay + inner.evidence, _compose(step.where, inner.context))
                # A name says little about work done far from the task: name evidence
                # counts for the task and the functions it calls itself.
                caller_chain, caller_hops = step.chain[:-1], step.hops[:-1]
                found.extend(_rechain(e, caller_chain, caller_hops) for e in inner.identity
                             if e.strength < _NAME_STRENGTH or not caller_chain)
                found.extend(_rechain(e, step.chain, step.hops) for e in evidence)
                if step.looped:  # remote calls repeated stay long-running in a thread
                    found.extend(_rechain(e, step.chain, step.hops) for e in _in_context(
                        _repeated(inner.evidence), _compose(step.where, inner.context)))
                following.append(step)
            pending = []
            level = following
            if not level:
                break
        return found

    @staticmethod
    def _runs(summary: Summary, step: "_Step") -> Iterator[Tuple[FunctionScope, "_Step"]]:
        """What running a function runs next: (function, the step to it: the chain and hops
        that reach it, where its caller runs, whether in a `while` loop)."""
        body = _compose(step.where, summary.context)
        chain, hops, looped = step.chain, step.hops, step.looped
        for wrapper, label in summary.wrappers:  # around the body, where the caller runs it
            entered = _hop(summary.wrapper_hops, wrapper, wrapper, label)
            yield wrapper, _Step(wrapper, chain + (label,), hops + entered, step.where, looped)
        for callee in summary.callees:
            label = _label(callee)
            entered = _hop(summary.callee_calls, callee, callee, label)
            yield callee, _Step(callee, chain + (label,), hops + entered, body,
                                looped or callee in summary.looped)
        for target, how in summary.handed:
            label = _label(target)
            entered = _hop(summary.handed_calls, (target, how), target, label)
            yield target, _Step(target, chain + (label,), hops + entered, _compose(body, how),
                                looped or target in summary.looped)

    # -- one function ------------------------------------------------------------------------
    def summary(self, scope: FunctionScope, receiver: Optional[Inst] = None) -> Summary:
        deps.touch(scope.module)  # kept on the module for later files: see deps.py
        cache: Dict[Tuple[int, int], Tuple[KnowledgeBase, Optional[Inst], Summary]]
        cache = scope.__dict__.setdefault("_summaries", {})
        key = (id(self.kb), id(receiver))
        if key not in cache:
            if receiver is None:
                summary = self._summarise(scope)
            else:
                with self.evaluator.receiving(scope, receiver):
                    summary = self._summarise(scope)
            cache[key] = (self.kb, receiver, summary)  # keep kb and receiver alive: ids stay unique
        return cache[key][2]

    def _summarise(self, scope: FunctionScope) -> Summary:
        summary = Summary(identity=self._identity(scope))
        self._decorated(scope, summary)
        quiet_so_far = True
        for site in _calls(scope):
            callee = self.evaluator.expr(site.node.func, scope)
            if _is_logging(site.node, callee):
                continue
            for option in options(callee):  # a factory's several results: any may run
                quiet_so_far = self._call(summary, scope, site, option, quiet_so_far)
        return summary

    def _call(self, summary: Summary, scope: FunctionScope, site: _CallSite, callee: Value,
              quiet_so_far: bool) -> bool:
        """Record what one call of `scope` does; False once the function did something."""
        if isinstance(callee, SkippedV) and callee.module not in summary.unanalysed:
            # runs code of a module left unanalysed
            summary.unanalysed[callee.module] = _need(callee, NodeWhere(scope.module, site.node, scope),
                                                      scope.qualname)
        if isinstance(callee, ExtInstance):  # calling a library object: `nlp(text)`
            callee = Ext(f"{callee.type}.__call__")
        if isinstance(callee, Ext):
            name = callee.qualname
            where = NodeWhere(scope.module, site.node, scope)
            offload = self.kb.offload(name)
            if offload is not None:
                self._handed(scope, summary, site, offload, name)
                return False
            if name in SLEEPS:
                self._sleep(summary, site, name, where, quiet_so_far)
            elif site.loops:
                summary.evidence.extend(self._loop_call(name, where, site))
            summary.evidence.extend(self._library(name, where, site))
            return False
        target = self._project_target(callee)
        if target is not None and target is not scope and target not in summary.callees:
            summary.callees.append(target)
            summary.callee_calls[target] = Hop(target.qualname, "call",
                                               f"{_label(scope)} calls {_label(target)}",
                                               NodeWhere(scope.module, site.node, scope))
        in_while = any(isinstance(loop, cst.While) for loop in site.loops)
        if target is not None and in_while and target not in summary.looped:
            summary.looped.append(target)
        if target is not None:
            for handed, how in forwarded_callables(site.node, scope, callee, target, self.evaluator):
                if handed is not scope and (handed, how) not in summary.handed:
                    summary.handed.append((handed, how))
                    summary.handed_calls[(handed, how)] = Hop(
                        handed.qualname, "call",
                        f"{_label(scope)} runs {_label(handed)}{_HOW[how]} through {_label(target)}",
                        NodeWhere(scope.module, site.node, scope))
                if in_while and handed not in summary.looped:
                    summary.looped.append(handed)
        return False

    def _decorated(self, scope: FunctionScope, summary: Summary) -> None:
        """What the function's decorators add: the wrappers that run around its body, where
        they run it, and library retries without a stop condition."""
        decorated = decoration(scope, self.evaluator)
        summary.wrappers = [(w.scope, f"@{w.decorator}") for w in decorated.wrappers]
        for w in decorated.wrappers:
            summary.wrapper_hops.setdefault(w.scope, Hop(
                w.scope.qualname, "call", f"@{w.decorator} wraps {_label(scope)}{_HOW[w.how]}",
                NodeWhere(scope.module, w.node, scope) if w.node is not None else None))
        summary.context = decorated.context
        if self.evaluator.project.skipped and isinstance(scope.node, cst.FunctionDef) and scope.parent:
            for decorator in scope.node.decorators:  # a wrapper from a module left unanalysed
                expr = decorator.decorator
                value = self.evaluator.expr(expr.func if isinstance(expr, cst.Call) else expr, scope.parent)
                if isinstance(value, SkippedV) and value.module not in summary.unanalysed:
                    summary.unanalysed[value.module] = _need(value, NodeWhere(scope.module, expr, scope),
                                                             scope.qualname)
        for name, node in decorated.retries:
            summary.evidence.append(Evidence("long", f"@{name}", "retries with waits and no stop condition",
                                             NodeWhere(scope.module, node, scope), is_call=False))

    def _handed(self, scope: FunctionScope, summary: Summary, site: "_CallSite", offload: Offload,
                offload_name: str) -> None:
        """`await asyncio.to_thread(f, x)`, `await loop.run_in_executor(None, f)`: f runs, in a
        thread or a process, and the function waits for it. Queues and schedulers, and pools
        whose result is not waited for here, keep their work away from the task."""
        if offload.kind not in (THREAD, PROCESS) or not waits_for(site.node, scope, offload_name):
            return
        handed = handed_argument(site.node, offload)
        if handed is None:
            return
        value = self.evaluator.expr(handed, scope)
        if isinstance(value, SkippedV) and value.module not in summary.unanalysed:
            summary.unanalysed[value.module] = _need(value, NodeWhere(scope.module, site.node, scope),
                                                     scope.qualname)
        target = function_of(value, self.evaluator)
        if target is not None and target is not scope and (target, offload.kind) not in summary.handed:
            summary.handed.append((target, offload.kind))
            summary.handed_calls[(target, offload.kind)] = Hop(
                target.qualname, "call", f"{_label(scope)} runs {_label(target)}{_HOW[offload.kind]} "
                f"through {offload_name}", NodeWhere(scope.module, site.node, scope))

    def _identity(self, scope: FunctionScope) -> List[Evidence]:
        """Evidence from a project function's identity: pragmas, configured globs, its name."""
        where = NodeWhere(scope.module, scope.node, scope)
        found: List[Evidence] = []
        for tag in sorted(pragmas.function_tags(scope.node)):
            category = _TAG_CATEGORY.get(tag)
            if category:
                found.append(Evidence(category, scope.name, f"annotated '# fastapi-bg: {tag}'",
                                      where, strength=1))
        for category in ("cpu", "long", "critical"):
            match = self.kb.match(category, scope.qualname)
            if match is not None:
                found.append(Evidence(category, scope.qualname, match.reason, where,
                                      strength=1))
        reason = self.kb.critical_name(scope.name)
        if reason:
            found.append(Evidence("critical", scope.name, reason,
                                  where, strength=2))
        return found

    def _project_target(self, callee: Value) -> Optional[FunctionScope]:
        """The project function a call runs here; None for a huey task, whose call enqueues."""
        target = function_of(callee, self.evaluator) if not isinstance(callee, PartialV) else None
        if target is None or decoration(target, self.evaluator).enqueues:
            return None
        return target

    # -- evidence makers ---------------------------------------------------------------------
    def _library(self, name: str, where: Located, site: _CallSite) -> List[Evidence]:
        found = []
        for category in ("cpu", "blocking", "long", "critical"):
            if category == "blocking" and site.awaited:
                continue
            match = self.kb.match(category, name)
            if match is not None:
                found.append(Evidence(category, name, match.reason, where, awaited=site.awaited))
        return found

    def _sleep(self, summary: Summary, site: _CallSite, name: str, where: Located, first: bool) -> None:
        argument = _sleep_argument(site.node)
        seconds = literal_seconds(argument) if argument is not None else None
        shown = _format_seconds(seconds) if seconds is not None else (
            _source(argument) if argument is not None else "")
        subject = f"{name}({shown})"
        if site.loops:
            kind = "polling/retry loop" if isinstance(site.loops[-1], cst.While) else "retry/throttle loop"
            summary.evidence.append(Evidence("long", subject, f"sleeps in a {kind}", where,
                                             awaited=site.awaited, seconds=seconds))
            return
        long_sleep = [Evidence("long", subject, f"sleeps {_format_seconds(seconds)} s", where,
                               awaited=site.awaited, seconds=seconds)] \
            if seconds is not None and seconds >= LONG_SLEEP_SECONDS else []
        if first and site.top_level and (seconds is None or seconds >= DELAY_SECONDS):
            summary.delay.append(Evidence("delay", subject, "sleeps before doing its work", where,
                                          awaited=site.awaited, seconds=seconds))
            summary.not_delay.extend(long_sleep)
        else:
            summary.evidence.extend(long_sleep)

    def _loop_call(self, name: str, where: Located, site: _CallSite) -> List[Evidence]:
        """A remote call repeated by a loop: paging or polling a remote service (any blocking
        or long call in a `while` loop), or a call that is long only when repeated ([repeated]:
        embedding chunk by chunk, paging an exchange's history) in any loop."""
        repeated = self.kb.match("repeated", name)
        if repeated is not None:
            return [Evidence("long", name, f"{repeated.reason} repeated in a loop", where,
                             awaited=site.awaited)]
        if not any(isinstance(loop, cst.While) for loop in site.loops):
            return []
        match = self.kb.match("blocking", name) or self.kb.match("long", name)
        if match is None or match.reason in _NOT_REMOTE:
            return []
        return [Evidence("long", name, f"{match.reason} repeated in a while loop", where,
                         awaited=site.awaited)]


def _compose(outer: str, inner: str) -> str:
    """Where code runs when code running at `outer` runs it at `inner`."""
    return PROCESS if PROCESS in (outer, inner) else THREAD if THREAD in (outer, inner) else CALL


def _in_context(evidence: List[Evidence], where: str) -> List[Evidence]:
    """Off the event loop a blocking call blocks nothing but its thread; in another process,
    CPU-bound work no longer holds this process's GIL."""
    if where == CALL:
        return evidence
    dropped = ("blocking", "cpu") if where == PROCESS else ("blocking",)
    return [_evolve(e, off_loop=True) for e in evidence if e.kind not in dropped]


def _repeated(evidence: Sequence[Evidence]) -> List[Evidence]:
    """Remote calls of a function that a caller runs in a `while` loop: paging or draining a
    remote service, as `Analyser._loop_call` finds for calls made in the loop itself."""
    return [_evolve(e, kind="long", reason=f"{e.reason} repeated in a while loop")
            for e in evidence if e.kind == "blocking" and e.reason not in _NOT_REMOTE]


_NOT_REMOTE = ("blocking sleep", "file I/O")
_NAME_STRENGTH = 2  # `Evidence.strength` of evidence that is only a function's name


def _receiver(value: Value) -> Optional[Inst]:
    """The instance a bound method task runs on, when its construction is known."""
    if isinstance(value, Bound) and isinstance(value.owner, Inst) and value.owner.made is not None:
        return value.owner
    return None


_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ()))
_NOT_TASKS = ("builtins.", "logging.", "structlog.", "loguru.")


def _scope_name(scope: Scope) -> str:
    """The qualified name of a site's scope: a function, else its module."""
    return getattr(scope, "qualname", None) or getattr(scope.module, "name", "") or "<module>"


def _label(scope: FunctionScope) -> str:
    """`Class.method` or `function`: kept on the scope, asked per call followed by `reach`."""
    label: Optional[str] = scope.__dict__.get("_label")
    if label is None:
        cls = scope.enclosing_class()
        label = f"{cls.name}.{scope.name}" if cls is not None else scope.name
        scope.__dict__["_label"] = label
    return label


def _is_logging(call: cst.Call, callee: Value) -> bool:
    if isinstance(callee, Ext) and callee.qualname.startswith(_QUIET_PREFIXES):
        return True
    func = call.func
    while type(func) is cst.Attribute:  # exact node types (as parsed): asked for every call
        func = func.value
    return type(func) is cst.Name and func.value in _LOGGER_NAMES and func is not call.func


def _rechain(evidence: Evidence, chain: Tuple[str, ...], hops: Tuple[Hop, ...] = ()) -> Evidence:
    """`evidence` found after following `chain` (labels) through `hops` (the same steps)."""
    if not chain:
        return evidence
    return _evolve(evidence, chain=chain + evidence.chain, hops=hops + evidence.hops)


def _evolve(evidence: Evidence, **changes: object) -> Evidence:
    """`dataclasses.replace` for `Evidence`, which has no `__post_init__` and no init-only
    field: a copy of its fields with `changes`, without `replace`'s pass over the fields and
    the frozen `__init__`'s `object.__setattr__` per field (one copy per piece of evidence per
    path that reaches it)."""
    new = object.__new__(type(evidence))
    fields = new.__dict__
    fields.update(evidence.__dict__)
    fields.update(changes)
    return new


class _Step(NamedTuple):
    """How `Analyser.reach` got to a function: the labels of the functions followed (`chain`),
    the hops entering them (`hops`, one per label when known), where the code that runs the
    function runs (CALL, THREAD or PROCESS) and whether it is inside a caller's `while` loop.
    A tuple: one is made per call followed, on every path of every task."""

    scope: FunctionScope
    chain: Tuple[str, ...]
    hops: Tuple[Hop, ...]
    where: str
    looped: bool


_HOW = {CALL: "", THREAD: " in a thread", PROCESS: " in a process"}


_K = TypeVar("_K")


def _hop(hops: Mapping[_K, Hop], key: _K, target: FunctionScope, label: str) -> Tuple[Hop, ...]:
    """The recorded hop entering `target` (labelled `label` in chains), or one without a place:
    `_Step.hops` keeps one hop per label."""
    found = hops.get(key)
    return (found if found is not None else Hop(target.qualname, "call", f"runs {label}"),)


__all__ = ["Analyser", "ResolvedTask", "resolve", "literal_seconds", "SLEEPS", "Coroutine",
           "ExtInstance", "Sequence"]
