"""What an expression stands for: an abstract value computed from the lexical binder.

The evaluator answers questions like "is `tasks` a BackgroundTasks?", "which function is
`svc.send`?" and "what is the qualified name of `client.chat.completions.create`?" across the
modules of the project, following imports, re-exports, assignments, `self` attributes,
`functools.partial` and simple factories. It never raises on odd code: what it cannot tell is
`UNKNOWN`, and recursion is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple, Union

import libcst as cst

from .knowledge import KnowledgeBase
from .project import Project, iter_ancestors
from .scopes import Binding, ClassScope, FunctionScope, ModuleScope, Scope, dotted, own_nodes


class Value:
    """Base of abstract values."""


@dataclass(frozen=True, eq=False)
class Unknown(Value):
    pass


UNKNOWN = Unknown()


@dataclass(frozen=True)
class Ext(Value):
    """A library (non-project) module, function, class or method, by qualified name."""

    qualname: str


@dataclass(frozen=True)
class ExtInstance(Value):
    """An instance of a library class (or of a documented pseudo-type from `[returns]`)."""

    type: str


@dataclass(frozen=True, eq=False)
class ModuleV(Value):
    module: object  # project.ModuleInfo


@dataclass(frozen=True, eq=False)
class Func(Value):
    """A project function, method (unbound) or lambda."""

    scope: FunctionScope


@dataclass(frozen=True, eq=False)
class Cls(Value):
    scope: ClassScope


@dataclass(frozen=True, eq=False)
class Inst(Value):
    cls: ClassScope


@dataclass(frozen=True, eq=False)
class Bound(Value):
    """A method bound to an instance: calling it passes `self` implicitly."""

    func: Func
    owner: Value


@dataclass(frozen=True, eq=False)
class PartialV(Value):
    """`functools.partial(inner, *args, **kwargs)`."""

    inner: Value
    call: cst.Call  # the partial(...) call, for its pre-bound arguments


@dataclass(frozen=True, eq=False)
class CallResult(Value):
    """The result of calling `callee`, when nothing more is known about it."""

    callee: Value
    call: cst.Call


@dataclass(frozen=True, eq=False)
class Coroutine(Value):
    """A coroutine object: the result of calling an `async def` without awaiting it."""

    func: Value


BACKGROUND_TASKS = frozenset({
    "fastapi.BackgroundTasks", "fastapi.background.BackgroundTasks",
    "starlette.background.BackgroundTasks",
})
BACKGROUND_TASK = frozenset({"starlette.background.BackgroundTask", "fastapi.background.BackgroundTask"})
ANNOTATED = frozenset({"typing.Annotated", "typing_extensions.Annotated"})
OPTIONAL = frozenset({"typing.Optional", "typing_extensions.Optional", "typing.Union"})
DEPENDS = frozenset({"fastapi.Depends", "fastapi.params.Depends", "fastapi.param_functions.Depends"})
PARTIAL = frozenset({"functools.partial"})
BUILTIN_NAMES = frozenset(dir(__import__("builtins")))

_MAX_EVAL_DEPTH = 40


def is_background_tasks(value: Value) -> bool:
    return isinstance(value, ExtInstance) and value.type in BACKGROUND_TASKS


def ext_name(value: Value) -> Optional[str]:
    return value.qualname if isinstance(value, Ext) else None


@dataclass
class Evaluator:
    """Evaluates expressions in scopes of one project. One per linted file."""

    project: Project
    kb: KnowledgeBase
    _active: Dict[Tuple[int, int], bool] = field(default_factory=dict)
    _members: Dict[Tuple[str, str], Tuple[object, "Value"]] = field(default_factory=dict)

    # -- names -------------------------------------------------------------------------------
    def lookup(self, name: str, scope: Scope) -> Optional[Tuple[Binding, Scope]]:
        return scope.lookup(name)

    def name(self, name: str, scope: Scope) -> Value:
        found = scope.lookup(name)
        module_scope = self._module_scope(scope)
        if module_scope is not None and (found is None or found[1] is module_scope):
            # A `from m import *` after the module's own binding of the name wins over it.
            value = self._from_stars(module_scope, name, found[0].order if found else -1, 0)
            if value is not None:
                return value
        if found is None:
            if name in BUILTIN_NAMES:
                return Ext(f"builtins.{name}")
            return UNKNOWN
        binding, where = found
        return self.binding(binding, where, name)

    def _from_stars(self, scope: Scope, name: str, after: int, depth: int) -> Optional[Value]:
        """What the last `from m import *` of `scope` after order `after` that provides `name`
        binds it to, as Python would: m's `__all__` if it has one, else its public names."""
        for star, order in reversed(scope.star_imports):
            if order <= after:
                break
            if not self._exports(star, name):
                continue
            value = self.qualified(f"{star}.{name}", depth + 1)
            if isinstance(value, Unknown):
                continue
            if isinstance(value, Ext) and self.project.module(star) is not None:
                continue  # a project module that does not define it
            return value
        return None

    def _exports(self, module_name: str, name: str) -> bool:
        module = self.project.module(module_name)
        if module is None:
            return True  # a library module: its names are not ours to check
        bindings = module.scope.local("__all__")
        value = bindings[-1].value if bindings else None
        if isinstance(value, (cst.List, cst.Tuple)):
            names = set()
            for element in value.elements:
                if not isinstance(element.value, cst.SimpleString):
                    return not name.startswith("_")  # computed: assume the usual rule
                names.add(element.value.evaluated_value)
            return name in names
        return not name.startswith("_")

    def binding(self, binding: Binding, where: Scope, name: str) -> Value:
        kind = binding.kind
        if kind == "def":
            return Func(where.child(binding.node))  # type: ignore[arg-type]
        if kind == "class":
            return Cls(where.child(binding.node))  # type: ignore[arg-type]
        if kind == "import":
            return self.qualified(binding.qualname or "")
        if kind == "param":
            return self._param(binding, where, name)
        if kind == "assign" and binding.value is not None:
            if binding.annotation is not None:
                annotated = self.annotation(binding.annotation, where)
                if not isinstance(annotated, Unknown):
                    return annotated
            return self._guarded(binding.value, where, lambda: self.expr(binding.value, where))
        if kind == "annotated" and binding.annotation is not None:
            return self.annotation(binding.annotation, where)
        if kind == "with" and binding.value is not None:
            return self._entered(self.expr(binding.value, where))
        return UNKNOWN

    def _param(self, binding: Binding, where: Scope, name: str) -> Value:
        if isinstance(where, FunctionScope) and where.self_name == name:
            cls = where.enclosing_class()
            if cls is not None:
                return Cls(cls) if where.is_classmethod() else Inst(cls)
        if binding.annotation is not None:
            value = self.annotation(binding.annotation, where)
            if not isinstance(value, Unknown):
                return value
        if binding.value is not None:  # `tasks=Depends(get_tasks)`
            return self._depends(binding.value, where)
        return UNKNOWN

    # -- annotations -------------------------------------------------------------------------
    def annotation(self, expr: cst.BaseExpression, scope: Scope, depth: int = 0) -> Value:
        """The value a parameter or variable annotated with `expr` holds."""
        if depth > 8:
            return UNKNOWN
        if isinstance(expr, cst.SimpleString):
            try:
                inner = cst.parse_expression(expr.evaluated_value)  # type: ignore[arg-type]
            except Exception:
                return UNKNOWN
            return self.annotation(inner, scope, depth + 1)
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
            left = self.annotation(expr.left, scope, depth + 1)
            return left if not _is_none(left) else self.annotation(expr.right, scope, depth + 1)
        if isinstance(expr, cst.Subscript):
            base = self.expr(expr.value, scope)
            name = ext_name(base)
            elements = [e.slice.value for e in expr.slice if isinstance(e.slice, cst.Index)]
            if name in ANNOTATED and elements:
                first = self.annotation(elements[0], scope, depth + 1)
                if isinstance(first, Unknown):
                    for extra in elements[1:]:
                        first = self._depends(extra, scope)
                        if not isinstance(first, Unknown):
                            break
                return first
            if name in OPTIONAL:
                for element in elements:
                    value = self.annotation(element, scope, depth + 1)
                    if not isinstance(value, Unknown) and not _is_none(value):
                        return value
            return UNKNOWN
        if isinstance(expr, cst.Name):
            found = scope.lookup(expr.value)
            if found is not None:
                binding, where = found
                if binding.kind == "assign" and binding.value is not None:  # a type alias
                    return self.annotation(binding.value, where, depth + 1)
        value = self.expr(expr, scope)
        if isinstance(value, Ext):
            return ExtInstance(value.qualname)
        if isinstance(value, Cls):
            return Inst(value.scope)
        return UNKNOWN

    def _depends(self, expr: cst.BaseExpression, scope: Scope) -> Value:
        """The value `Depends(dep)` injects: what `dep` returns."""
        if not isinstance(expr, cst.Call) or ext_name(self.expr(expr.func, scope)) not in DEPENDS:
            return UNKNOWN
        if not expr.args:
            return UNKNOWN
        dependency = self.expr(expr.args[0].value, scope)
        if isinstance(dependency, Cls):
            return Inst(dependency.scope)
        if isinstance(dependency, Func):
            return self.returns(dependency)
        return UNKNOWN

    def returns(self, func: Func) -> Value:
        """What calling a project function gives back, from its annotation or its `return`."""
        node = func.scope.func
        if isinstance(node, cst.Lambda):
            return self._guarded(node.body, func.scope, lambda: self.expr(node.body, func.scope))
        if node.returns is not None:
            value = self.annotation(node.returns.annotation, func.scope.parent or func.scope)
            if not isinstance(value, Unknown):
                return value
        for statement in _return_values(node):
            value = self._guarded(statement, func.scope, lambda s=statement: self.expr(s, func.scope))
            if not isinstance(value, Unknown):
                return value
        return UNKNOWN

    # -- expressions -------------------------------------------------------------------------
    def expr(self, node: cst.BaseExpression, scope: Scope) -> Value:
        try:
            return self._expr(node, scope)
        except RecursionError:
            return UNKNOWN

    def _expr(self, node: cst.BaseExpression, scope: Scope) -> Value:
        if isinstance(node, cst.Name):
            return self.name(node.value, scope)
        if isinstance(node, cst.Attribute):
            return self.attribute(self.expr(node.value, scope), node.attr.value)
        if isinstance(node, cst.Call):
            return self.call(node, scope)
        if isinstance(node, cst.Await):
            inner = self.expr(node.expression, scope)
            return self.awaited(inner)
        if isinstance(node, cst.Lambda):
            return Func(scope.child(node))  # type: ignore[arg-type]
        return UNKNOWN

    def awaited(self, value: Value) -> Value:
        if isinstance(value, Coroutine):
            target = value.func
            if isinstance(target, Bound):
                target = target.func
            return self.returns(target) if isinstance(target, Func) else UNKNOWN
        return value

    def attribute(self, base: Value, attr: str) -> Value:
        if isinstance(base, ModuleV):
            return self.qualified(f"{base.module.name}.{attr}")  # type: ignore[attr-defined]
        if isinstance(base, Ext):
            return Ext(f"{base.qualname}.{attr}")
        if isinstance(base, ExtInstance):
            return Ext(f"{base.type}.{attr}")
        if isinstance(base, (Inst, Cls)):
            return self._member(base, attr)
        return UNKNOWN

    def _member(self, owner: Union[Inst, Cls], attr: str) -> Value:
        cls = owner.cls if isinstance(owner, Inst) else owner.scope
        for klass in self.mro(cls):
            bindings = klass.local(attr)
            if bindings:
                binding = bindings[-1]
                if binding.kind == "def":
                    method = Func(klass.child(binding.node))  # type: ignore[arg-type]
                    if method.scope.is_static():
                        return method
                    if method.scope.is_classmethod():
                        return Bound(method, Cls(klass))
                    return Bound(method, owner) if isinstance(owner, Inst) else method
                return self.binding(binding, klass, attr)
            if isinstance(owner, Inst):
                assigned = klass.instance_attr(attr)
                if assigned:
                    for binding, method in reversed(assigned):
                        value = self.binding(binding, method, attr)
                        if not isinstance(value, Unknown):
                            return value
                    return UNKNOWN
        for base in self.external_bases(cls):
            return Ext(f"{base}.{attr}")
        return UNKNOWN

    def mro(self, cls: ClassScope, depth: int = 0, seen: Optional[set] = None):
        """The class and its project base classes, depth first, each once (good enough for
        lookups; a diamond or a wide lattice is walked once, not along every path)."""
        seen = set() if seen is None else seen
        if id(cls.node) in seen:
            return
        seen.add(id(cls.node))
        yield cls
        if depth > 10:
            return
        for arg in cls.node.bases:  # type: ignore[attr-defined]
            base = self.expr(arg.value, cls.parent or cls)
            if isinstance(base, Cls):
                yield from self.mro(base.scope, depth + 1, seen)

    def external_bases(self, cls: ClassScope):
        for arg in cls.node.bases:  # type: ignore[attr-defined]
            base = self.expr(arg.value, cls.parent or cls)
            if isinstance(base, Ext):
                yield base.qualname

    def call(self, node: cst.Call, scope: Scope) -> Value:
        callee = self.expr(node.func, scope)
        return self.call_value(callee, node, scope)

    def call_value(self, callee: Value, node: cst.Call, scope: Scope) -> Value:
        if isinstance(callee, Cls):
            return Inst(callee.scope)
        if isinstance(callee, Ext):
            name = callee.qualname
            if name in PARTIAL and node.args:
                return PartialV(self.expr(node.args[0].value, scope), node)
            returned = self.kb.returns(name)
            if returned:
                return ExtInstance(returned)
            if _looks_like_class(name):
                return ExtInstance(name)
            return CallResult(callee, node)
        if isinstance(callee, ExtInstance):
            returned = self.kb.returns(f"{callee.type}.__call__")
            return ExtInstance(returned) if returned else CallResult(callee, node)
        if isinstance(callee, (Func, Bound)):
            func = callee if isinstance(callee, Func) else callee.func
            if func.scope.is_async:
                return Coroutine(callee)
            result = self.returns(func)
            return result if not isinstance(result, Unknown) else CallResult(callee, node)
        if isinstance(callee, Inst):
            call = self._member(callee, "__call__")
            if isinstance(call, (Func, Bound)):
                return self.call_value(call, node, scope)
        return CallResult(callee, node) if not isinstance(callee, Unknown) else UNKNOWN

    def _entered(self, value: Value) -> Value:
        """The value `with X as v` binds: X itself for the usual context managers."""
        if isinstance(value, ExtInstance):
            entered = self.kb.returns(f"{value.type}.__enter__")
            return ExtInstance(entered) if entered else value
        return value

    # -- qualified names across the project --------------------------------------------------
    def qualified(self, qualname: str, depth: int = 0) -> Value:
        """What a dotted name refers to: a project module or definition, else a library name."""
        if not qualname or depth > 12:
            return UNKNOWN
        for module_name in iter_ancestors(qualname):
            module = self.project.module(module_name)
            if module is None:
                continue
            rest = qualname[len(module_name) + 1:] if len(qualname) > len(module_name) else ""
            value: Value = ModuleV(module)
            for attr in rest.split(".") if rest else ():
                value = self._module_member(value, attr, depth) if isinstance(value, ModuleV) \
                    else self.attribute(value, attr)
            return value
        return Ext(qualname)

    def _module_member(self, module_value: ModuleV, attr: str, depth: int) -> Value:
        """`module.attr`, computed once per module and name (star imports and re-exports can
        reach the same pair along many paths; a pair being computed reads as unknown)."""
        module = module_value.module
        key = (module.name, attr)  # type: ignore[attr-defined]
        cached = self._members.get(key)
        if cached is not None and cached[0] is module:
            return cached[1]
        self._members[key] = (module, UNKNOWN)
        value = self._member_of(module, attr, depth)
        self._members[key] = (module, value)
        return value

    def _member_of(self, module, attr: str, depth: int) -> Value:
        scope: ModuleScope = module.scope
        bindings = scope.local(attr)
        if bindings:
            binding = bindings[-1]
            later = self._from_stars(scope, attr, binding.order, depth)
            if later is not None:
                return later
            if binding.kind == "import":
                target = binding.qualname or ""
                if target == f"{module.name}.{attr}":  # type: ignore[attr-defined]
                    return UNKNOWN
                return self.qualified(target, depth + 1)
            return self.binding(binding, scope, attr)
        submodule = f"{module.name}.{attr}"  # type: ignore[attr-defined]
        loaded = self.project.module(submodule)
        if loaded is not None:
            return ModuleV(loaded)
        return self._from_stars(scope, attr, -1, depth) or UNKNOWN

    # -- helpers -----------------------------------------------------------------------------
    def _guarded(self, node: cst.CSTNode, scope: Scope, compute) -> Value:
        key = (id(node), id(scope))
        if key in self._active or len(self._active) > _MAX_EVAL_DEPTH:
            return UNKNOWN
        self._active[key] = True
        try:
            return compute()
        finally:
            del self._active[key]

    @staticmethod
    def _module_scope(scope: Scope) -> Optional[ModuleScope]:
        for s in scope.walk_up():
            if isinstance(s, ModuleScope):
                return s
        return None


def _is_none(value: Value) -> bool:
    name = value.qualname if isinstance(value, Ext) else value.type if isinstance(value, ExtInstance) else ""
    return name in ("builtins.None", "None")


def _looks_like_class(qualname: str) -> bool:
    # Called names that start upper-case are classes (`HTML(...)`, `Client(...)`); constants
    # are not called.
    last = qualname.rsplit(".", 1)[-1]
    return bool(last) and last[0].isupper()


def _return_values(node: cst.FunctionDef):
    """The expressions of `return <value>` statements directly in a function (not nested)."""
    return [ret.value for ret in own_nodes(node, cst.Return) if ret.value is not None]


def display_name(value: Value) -> str:
    """The name users see for a task: `resize_image`, `EmailService.send`, `os.remove`."""
    if isinstance(value, Func):
        scope = value.scope
        cls = scope.enclosing_class()
        return f"{cls.name}.{scope.name}" if cls is not None else scope.name
    if isinstance(value, Bound):
        return display_name(value.func)
    if isinstance(value, PartialV):
        return display_name(value.inner)
    if isinstance(value, Ext):
        return value.qualname
    if isinstance(value, Inst):
        return value.cls.name
    return dotted_or(value)


def dotted_or(value: Value) -> str:
    return "<unknown>"


__all__ = [
    "Value", "Unknown", "UNKNOWN", "Ext", "ExtInstance", "ModuleV", "Func", "Cls", "Inst", "Bound",
    "PartialV", "CallResult", "Coroutine", "Evaluator", "is_background_tasks", "ext_name",
    "display_name", "dotted", "BACKGROUND_TASKS", "BACKGROUND_TASK",
]
