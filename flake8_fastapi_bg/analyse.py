"""Analyse: what a task really does, as evidence with file:line.

Starting from the resolved callable, walk its body, evaluate every call, match library calls
against the knowledge base, measure sleeps, notice polling loops, and follow calls into project
code up to `max_depth` levels (cycle-safe). Work handed to a pool or a queue is offloaded: the
walk does not look inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import libcst as cst

from . import pragmas
from .collect import TaskSite
from .knowledge import KnowledgeBase, Offload
from .model import Evidence, TaskFacts, Where
from .scopes import FunctionScope, Scope
from .settings import Settings
from .values import (UNKNOWN, Bound, Cls, Coroutine, Evaluator, Ext, ExtInstance, Func, Inst,
                     PartialV, Value, display_name)

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
        if func is not None:
            return func.scope.is_async
        return None


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
    return task


@dataclass
class _CallSite:
    node: cst.Call
    loops: Tuple[cst.CSTNode, ...]
    awaited: bool
    top_level: bool  # directly in the function body, not inside a loop, branch or handler


class _CallCollector(cst.CSTVisitor):
    """Every call in a function body (not in nested defs), with loop and await context."""

    def __init__(self, root: cst.CSTNode) -> None:
        self.root = root
        self.loops: List[cst.CSTNode] = []
        self.blocks = 0
        self.awaited: set = set()
        self.calls: List[_CallSite] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.root

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return node is self.root

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Await(self, node: cst.Await) -> None:
        if isinstance(node.expression, cst.Call):
            self.awaited.add(node.expression)

    def _enter_loop(self, node: cst.CSTNode) -> None:
        self.loops.append(node)

    def _leave_loop(self) -> None:
        self.loops.pop()

    def visit_While(self, node: cst.While) -> None:
        self._enter_loop(node)

    def leave_While(self, original_node: cst.While) -> None:
        self._leave_loop()

    def visit_For(self, node: cst.For) -> None:
        self._enter_loop(node)

    def leave_For(self, original_node: cst.For) -> None:
        self._leave_loop()

    def _enter_block(self, node: cst.CSTNode) -> None:
        self.blocks += 1

    def _leave_block(self, node: cst.CSTNode) -> None:
        self.blocks -= 1

    visit_If = _enter_block
    leave_If = _leave_block
    visit_Try = _enter_block
    leave_Try = _leave_block
    visit_ExceptHandler = _enter_block
    leave_ExceptHandler = _leave_block

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(_CallSite(node, tuple(self.loops), node in self.awaited,
                                    not self.loops and self.blocks == 0))


def _calls(scope: FunctionScope) -> List[_CallSite]:
    collector = _CallCollector(scope.node)
    scope.node.visit(collector)
    return collector.calls


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
    text = " ".join(cst.Module(body=[]).code_for_node(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_seconds(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class Analyser:
    """Collects evidence for tasks of one linted file."""

    def __init__(self, evaluator: Evaluator, kb: KnowledgeBase, settings: Settings) -> None:
        self.evaluator = evaluator
        self.kb = kb
        self.settings = settings
        self._cache: Dict[Tuple[int, bool, int], List[Evidence]] = {}

    # -- the task ----------------------------------------------------------------------------
    def facts(self, site: TaskSite, task: ResolvedTask, where: Where) -> TaskFacts:
        value = task.value
        func = task.func
        facts = TaskFacts(site_kind=site.kind, where=where, name=display_name(value),
                          qualname=func.scope.qualname if func else None,
                          resolved=func is not None or isinstance(value, Ext),
                          is_async=task.is_async, offloaded_via=task.offload_name)
        if isinstance(value, Ext):
            facts.library_callable = value.qualname
        if func is None:
            return facts
        facts.tags = pragmas.function_tags(func.scope.node)
        on_loop = bool(task.is_async)
        own = self._about_function(func.scope, is_call=False)
        facts.evidence = own + self.evidence(func.scope, on_loop, self.settings.max_depth, top=True)
        return facts

    # -- functions ---------------------------------------------------------------------------
    def _about_function(self, scope: FunctionScope, is_call: bool) -> List[Evidence]:
        """Evidence from a project function's identity: pragmas, configured globs, its name."""
        where = self._where(scope, scope.node)
        found: List[Evidence] = []
        for tag in sorted(pragmas.function_tags(scope.node)):
            category = _TAG_CATEGORY.get(tag)
            if category:
                found.append(Evidence(category, scope.name, f"annotated '# fastapi-bg: {tag}'",
                                      where, is_call=is_call, strength=1))
        for category in ("cpu", "long", "critical"):
            match = self.kb.match(category, scope.qualname)
            if match is not None:
                found.append(Evidence(category, scope.qualname, match.reason, where,
                                      is_call=is_call, strength=1))
        reason = self.kb.critical_name(scope.name)
        if reason:
            found.append(Evidence("critical", scope.name, reason, where, is_call=is_call, strength=2))
        return found

    def evidence(self, scope: FunctionScope, on_loop: bool, depth: int, top: bool = False,
                 chain: Tuple[str, ...] = (), visiting: Optional[set] = None) -> List[Evidence]:
        key = (id(scope), on_loop, depth, top)
        cached = self._cache.get(key)  # type: ignore[arg-type]
        if cached is not None:
            return [_rechain(e, chain) for e in cached]
        visiting = set() if visiting is None else visiting
        if id(scope) in visiting:
            return []
        visiting.add(id(scope))
        try:
            found = self._walk(scope, on_loop, depth, top, visiting)
        finally:
            visiting.discard(id(scope))
        self._cache[key] = found  # type: ignore[index]
        return [_rechain(e, chain) for e in found]

    def _walk(self, scope: FunctionScope, on_loop: bool, depth: int, top: bool,
              visiting: set) -> List[Evidence]:
        found: List[Evidence] = []
        quiet_so_far = True
        for site in _calls(scope):
            callee = self.evaluator.expr(site.node.func, scope)
            if _is_logging(site.node, callee):
                continue
            if isinstance(callee, Ext):
                name = callee.qualname
                where = self._where(scope, site.node)
                if self.kb.offload(name) is not None:
                    quiet_so_far = False
                    continue
                if name in SLEEPS:
                    found.extend(self._sleep(site, name, where, on_loop, top and quiet_so_far))
                elif site.loops and any(isinstance(loop, cst.While) for loop in site.loops):
                    found.extend(self._loop_call(name, where, site))
                found.extend(self._library(name, where, site, on_loop))
                quiet_so_far = False
                continue
            quiet_so_far = False
            target = self._project_target(callee)
            if target is None or depth <= 0:
                continue
            label = target.name if not target.enclosing_class() else \
                f"{target.enclosing_class().name}.{target.name}"  # type: ignore[union-attr]
            found.extend(self._about_function(target, is_call=True))
            inner = self.evidence(target, on_loop or False, depth - 1, chain=(label,), visiting=visiting)
            found.extend(inner)
        return found

    def _project_target(self, callee: Value) -> Optional[FunctionScope]:
        if isinstance(callee, Bound):
            callee = callee.func
        if isinstance(callee, Cls):
            init = self.evaluator.attribute(callee, "__init__")
            callee = init.func if isinstance(init, Bound) else init
        if isinstance(callee, Inst):
            call = self.evaluator.attribute(callee, "__call__")
            callee = call.func if isinstance(call, Bound) else call
        if isinstance(callee, Func) and isinstance(callee.scope.node, cst.FunctionDef):
            return callee.scope
        return None

    # -- evidence makers ---------------------------------------------------------------------
    def _library(self, name: str, where: Where, site: _CallSite, on_loop: bool) -> List[Evidence]:
        found = []
        for category in ("cpu", "blocking", "long", "critical"):
            if category == "blocking" and (site.awaited or not on_loop):
                continue
            match = self.kb.match(category, name)
            if match is not None:
                found.append(Evidence(category, name, match.reason, where, awaited=site.awaited,
                                      on_loop=on_loop))
        return found

    def _sleep(self, site: _CallSite, name: str, where: Where, on_loop: bool,
               first: bool) -> List[Evidence]:
        argument = _sleep_argument(site.node)
        seconds = literal_seconds(argument) if argument is not None else None
        shown = _format_seconds(seconds) if seconds is not None else (
            _source(argument) if argument is not None else "")
        subject = f"{name}({shown})"
        found = []
        if first and site.top_level and (seconds is None or seconds >= DELAY_SECONDS):
            found.append(Evidence("delay", subject, "sleeps before doing its work", where,
                                  awaited=site.awaited, on_loop=on_loop, seconds=seconds))
        elif site.loops:
            kind = "polling/retry loop" if isinstance(site.loops[-1], cst.While) else "retry/throttle loop"
            found.append(Evidence("long", subject, f"sleeps in a {kind}", where,
                                  awaited=site.awaited, on_loop=on_loop, seconds=seconds))
        elif seconds is not None and seconds >= LONG_SLEEP_SECONDS:
            found.append(Evidence("long", subject, f"sleeps {_format_seconds(seconds)} s", where,
                                  awaited=site.awaited, on_loop=on_loop, seconds=seconds))
        return found

    def _loop_call(self, name: str, where: Where, site: _CallSite) -> List[Evidence]:
        """A remote call repeated by a `while` loop: paging or polling a remote service."""
        match = self.kb.match("blocking", name) or self.kb.match("long", name)
        if match is None or match.reason in ("blocking sleep", "file I/O"):
            return []
        return [Evidence("long", name, f"{match.reason} repeated in a while loop", where,
                         awaited=site.awaited)]

    def _where(self, scope: Scope, node: cst.CSTNode) -> Where:
        line, col = scope.module.position(node)
        return Where(scope.module.display, line, col)


def _is_logging(call: cst.Call, callee: Value) -> bool:
    if isinstance(callee, Ext) and callee.qualname.startswith(_QUIET_PREFIXES):
        return True
    func = call.func
    while isinstance(func, cst.Attribute):
        func = func.value
    return isinstance(func, cst.Name) and func.value in _LOGGER_NAMES and func is not call.func


def _rechain(evidence: Evidence, chain: Tuple[str, ...]) -> Evidence:
    if not chain:
        return evidence
    from dataclasses import replace

    return replace(evidence, chain=chain + evidence.chain)


__all__ = ["Analyser", "ResolvedTask", "resolve", "literal_seconds", "SLEEPS", "Coroutine",
           "ExtInstance", "Sequence"]
