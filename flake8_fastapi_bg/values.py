"""What an expression stands for: an abstract value computed from the lexical binder.

The evaluator answers questions like "is `tasks` a BackgroundTasks?", "which function is
`svc.send`?" and "what is the qualified name of `client.chat.completions.create`?" across the
modules of the project, following imports, re-exports, assignments, `self` attributes,
`functools.partial` and simple factories. It never raises on odd code: what it cannot tell is
`UNKNOWN`, and recursion is bounded.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import (TYPE_CHECKING, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple,
                    Union, cast)

import libcst as cst

from . import deps
from .knowledge import KnowledgeBase
from .project import Project, Skipped
from .scopes import Binding, ClassScope, FunctionScope, ModuleScope, Scope, dotted, own_nodes

if TYPE_CHECKING:
    from .parsing import ModuleInfo


class Value:
    """Base of abstract values."""


@dataclass(frozen=True, eq=False)
class Unknown(Value):
    pass


UNKNOWN = Unknown()


@dataclass(frozen=True, eq=False)
class SkippedV(Unknown):
    """A name of a project module left unanalysed (`Project.skipped`), and what is derived from
    it (its attributes, what calling it gives): unknown like any value the analysis cannot
    follow, but it keeps which module it needed, for FBG903."""

    module: str
    skipped: Skipped


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
    module: ModuleInfo


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
    # The construction `Cls(...)` and the scope it is in, when known: constructor arguments
    # tell what `self.x = x` holds when `__init__` does not annotate `x`.
    made: Optional[Tuple[cst.Call, "Scope"]] = field(default=None, repr=False)


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
class OneOf(Value):
    """What a factory with several `return`s may give back: each option may be what runs
    (`return dummy_handler` for one configuration, the real handler for the others)."""

    options: Tuple[Value, ...]


_MAX_OPTIONS = 4


def one_of(values: Iterable[Value]) -> Value:
    """The union of `values` that say something; one value stands for itself."""
    options: List[Value] = []
    for value in values:
        for option in value.options if isinstance(value, OneOf) else (value,):
            if _is_known(option) and not any(_same(option, o) for o in options):
                options.append(option)
    if not options:
        return UNKNOWN
    return options[0] if len(options) == 1 else OneOf(tuple(options[:_MAX_OPTIONS]))


def _same(a: Value, b: Value) -> bool:
    # Keep `_SHAREABLE` (below) in step: the values compared by what they stand for.
    if isinstance(a, Func) and isinstance(b, Func):
        return a.scope is b.scope
    if isinstance(a, (Ext, ExtInstance)) and type(a) is type(b):
        return a == b
    if isinstance(a, Inst) and isinstance(b, Inst):
        return a.cls is b.cls
    return a is b


def options(value: Value) -> Tuple[Value, ...]:
    """The values `value` may be: its options for a union, else itself."""
    return value.options if isinstance(value, OneOf) else (value,)


@dataclass(frozen=True, eq=False)
class Provider(Value):
    """A dependency-injection provider (`providers.Singleton(Service, client=...)` of the
    `dependency_injector` library): calling it, or injecting `Provide[Container.x]`, gives
    what it provides."""

    kind: str  # the provider class's name: "Singleton", "Factory", "Resource", "Object", ...
    call: cst.Call
    scope: "Scope" = field(repr=False)


@dataclass(frozen=True, eq=False)
class AppState(Value):
    """`app.state` of the FastAPI/Starlette application (also `request.app.state`): what the
    project assigns to its attributes at startup is what tasks find there."""


APP_STATE = AppState()

# Values that `_same` compares by content (or that are one object, or unknown): an answer of
# these types may be given twice as one object (`Evaluator.name`) without changing a union.
_SHAREABLE = (Unknown, Func, Ext, ExtInstance, Inst, AppState)


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
DEPENDS = frozenset({"fastapi.Depends", "fastapi.params.Depends", "fastapi.param_functions.Depends",
                     "fastapi.Security", "fastapi.params.Security", "fastapi.param_functions.Security"})
PARTIAL = frozenset({"functools.partial"})
DI_PROVIDERS = "dependency_injector.providers."
DI_PROVIDE = frozenset({"dependency_injector.wiring.Provide", "dependency_injector.wiring.Provider"})
TYPE_OF = frozenset({"builtins.type", "typing.Type", "typing_extensions.Type"})
# Iterator-like return annotations of a `yield` dependency or context manager: the first
# argument is what it yields.
YIELDING = frozenset({
    "typing.Generator", "typing.AsyncGenerator", "typing.Iterator", "typing.AsyncIterator",
    "typing.Iterable", "typing.AsyncIterable", "collections.abc.Generator",
    "collections.abc.AsyncGenerator", "collections.abc.Iterator", "collections.abc.AsyncIterator",
    "collections.abc.Iterable", "collections.abc.AsyncIterable", "typing_extensions.AsyncGenerator",
})
CONTEXT_MANAGERS = frozenset({"contextlib.contextmanager", "contextlib.asynccontextmanager"})
PROPERTIES = frozenset({"builtins.property", "functools.cached_property"})
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
    _receivers: Dict[int, "Inst"] = field(default_factory=dict)  # method scope -> its `self`
    # `_first_known`: while a binding of (scope, name) is evaluated, how many of the name's
    # bindings the name may mean; and the answers, by (scope, name, that count).
    _limits: Dict[Tuple[int, str], int] = field(default_factory=dict)
    _names: Dict[Tuple[int, str, int], "Value"] = field(default_factory=dict)
    # `name`: the answers given with nothing in progress, by (scope, name); the module members
    # being computed (`_module_member`); the stack overflows met (`expr`).
    _settled_names: Dict[Tuple[int, str], Tuple[Scope, "Value"]] = field(default_factory=dict)
    _settled_attributes: Dict[Tuple[int, int], Tuple[cst.Attribute, Scope, "Value"]] = \
        field(default_factory=dict)
    _computing: int = 0
    _overflows: int = 0
    # `qualified`: the module part of each dotted name asked (None: no project module).
    _homes: Dict[str, Optional[str]] = field(default_factory=dict)

    @contextmanager
    def receiving(self, method: FunctionScope, receiver: "Inst") -> Iterator[None]:
        """Evaluate with `self` of `method` known to be `receiver` (a constructed instance)."""
        self._receivers[id(method)] = receiver
        try:
            yield
        finally:
            del self._receivers[id(method)]

    # -- names -------------------------------------------------------------------------------
    def lookup(self, name: str, scope: Scope) -> Optional[Tuple[Binding, Scope]]:
        return scope.lookup(name)

    def name(self, name: str, scope: Scope) -> Value:
        """What `name` holds in `scope`. Asked with nothing being computed (no guarded node,
        name chain, module member or receiver in progress: `_settled`), the answer is kept for
        the linted file and given again: it rests only on answers kept the same way, unless
        the stack overflowed meanwhile (`expr`), and what it read of the file system is this
        file's dependency already (this evaluator serves one file). Only values that `one_of`
        tells apart by what they stand for, not by identity (`_SHAREABLE`), are kept: a union
        of two answers for one name stays what it was."""
        if not self._settled():
            return self._name(name, scope)
        key = (id(scope), name)
        kept = self._settled_names.get(key)
        if kept is not None and kept[0] is scope:
            return kept[1]
        overflows = self._overflows
        value = self._name(name, scope)
        if self._overflows == overflows and self._settled() and isinstance(value, _SHAREABLE):
            self._settled_names[key] = (scope, value)
        return value

    def _settled(self) -> bool:
        return not (self._active or self._limits or self._receivers or self._computing)

    def _name(self, name: str, scope: Scope) -> Value:
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
        value = self._first_known(where.local(name) or [binding], where, name)
        if not _is_known(value) and isinstance(where, ModuleScope):
            value = self._set_globally(where, name) or value
        return value

    def _first_known(self, bindings: Sequence[Binding], where: Scope, name: str) -> Value:
        """What a name bound by several statements holds: flow-insensitively, the last binding
        that says something (`img = img.convert(...)` after `with Image.open(p) as img`; a
        `try: import a except ImportError: a = None`; `client = None` before `client = X()`).

        While binding k is evaluated, the name means one of the bindings before it
        (`q = q.where(...)` repeated twenty times is a chain, not a search of every order), and
        each answer is kept: the cost stays quadratic in the bindings of one name at worst."""
        if len(bindings) < 2:
            return self._known_of(bindings, where, name)
        key = (id(where), name)
        limit = self._limits.get(key, len(bindings))
        memo = (id(where), name, limit)
        cached = self._names.get(memo) if not self._receivers else None
        if cached is not None:
            return cached
        value = self._known_of(bindings[:limit], where, name)
        if not self._receivers:
            self._names[memo] = value
        return value

    def _known_of(self, bindings: Sequence[Binding], where: Scope, name: str) -> Value:
        value: Value = UNKNOWN
        # A bare declaration states the type for every assignment (`if TYPE_CHECKING: app:
        # ForgeApp` beside `app = Proxy()`), as a type checker reads it.
        for binding in bindings:
            if binding.kind == "annotated" and binding.annotation is not None:
                declared = self.annotation(binding.annotation, where)
                if isinstance(declared, (Inst, Cls)) or isinstance(declared, ExtInstance) \
                        and not declared.type.startswith(("builtins.", "typing.")):
                    return declared
        key = (id(where), name)
        outer = self._limits.get(key)
        try:
            for index in range(len(bindings) - 1, -1, -1):
                self._limits[key] = index
                value = self.binding(bindings[index], where, name)
                if _is_known(value):
                    return value
        finally:
            if outer is None:
                self._limits.pop(key, None)
            else:
                self._limits[key] = outer
        return value

    def _from_stars(self, scope: Scope, name: str, after: int, depth: int) -> Optional[Value]:
        """What the last `from m import *` of `scope` after order `after` that provides `name`
        binds it to, as Python would: m's `__all__` if it has one, else its public names.
        A name bound nowhere else that a skipped module may provide is that module's."""
        skipped: Optional[Value] = None
        for star, order in reversed(scope.star_imports):
            if order <= after:
                break
            if not self._exports(star, name):
                continue
            value = self.qualified(f"{star}.{name}", depth + 1)
            if isinstance(value, Unknown):
                if isinstance(value, SkippedV) and after < 0 and skipped is None:
                    skipped = value
                continue
            if isinstance(value, Ext) and self.project.module(star) is not None:
                continue  # a project module that does not define it
            return value
        return skipped

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
            return Func(cast(FunctionScope, where.child(binding.node)))  # a "def" binding is a FunctionDef's
        if kind == "class":
            return Cls(cast(ClassScope, where.child(binding.node)))  # a "class" binding is a ClassDef's
        if kind == "import":
            return self.qualified(binding.qualname or "")
        if kind == "param":
            return self._param(binding, where, name)
        if kind == "assign" and binding.value is not None:
            if binding.annotation is not None:
                annotated = self.annotation(binding.annotation, where)
                if not isinstance(annotated, Unknown):
                    return annotated
            assigned = binding.value
            return self._guarded(assigned, where, lambda: self.expr(assigned, where))
        if kind == "annotated" and binding.annotation is not None:
            return self.annotation(binding.annotation, where)
        if kind == "with" and binding.value is not None:
            return self._entered(binding.value, where)
        return UNKNOWN

    def _param(self, binding: Binding, where: Scope, name: str) -> Value:
        if isinstance(where, FunctionScope) and where.self_name == name:
            receiver = self._receivers.get(id(where))
            if receiver is not None:
                return receiver
            cls = where.enclosing_class()
            if cls is not None:
                return Cls(cls) if where.is_classmethod() else Inst(cls)
        annotated: Value = UNKNOWN
        if binding.annotation is not None:
            annotated = self.annotation(binding.annotation, where)
            if _is_known(annotated) and not _is_vague_type(annotated) and (
                    binding.value is None or not isinstance(annotated, Inst)):
                return annotated
        if binding.value is not None:
            depends = self._depends(binding.value, where)  # `tasks=Depends(get_tasks)`
            if isinstance(annotated, Inst) and not self._more_specific(depends, annotated):
                return annotated  # `svc: Service = Depends(...)`: the construction adds nothing
            if not isinstance(depends, Unknown):
                return depends
            # A default stands for what callers usually pass: `handler: type = OpenAIHandler`.
            default = self.expr(binding.value, where.parent or where)
            if _is_known(default) and not _is_declaration(default):
                return default
        return UNKNOWN

    # -- annotations -------------------------------------------------------------------------
    def annotation(self, expr: cst.BaseExpression, scope: Scope, depth: int = 0) -> Value:
        """The value a parameter or variable annotated with `expr` holds."""
        if depth > 8:
            return UNKNOWN
        if isinstance(expr, cst.SimpleString):
            try:
                source = expr.evaluated_value  # bytes for b"...": parse_expression takes both
                inner = cst.parse_expression(source)  # type: ignore[arg-type]  # libcst: typed str only
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
            if name in TYPE_OF and elements:  # `type[Handler]`: the class itself
                value = self.expr(elements[0], scope)
                return value if isinstance(value, (Cls, Ext)) else UNKNOWN
            if name in OPTIONAL:
                for element in elements:
                    value = self.annotation(element, scope, depth + 1)
                    if not isinstance(value, Unknown) and not _is_none(value):
                        return value
            return UNKNOWN
        alias = self._alias(expr, scope)
        if alias is not None:  # a type alias, here or imported
            return self.annotation(alias[0], alias[1], depth + 1)
        value = self.expr(expr, scope)
        if isinstance(value, Ext):
            return ExtInstance(value.qualname)
        if isinstance(value, Cls):
            return Inst(value.scope)
        return UNKNOWN

    def _alias(self, expr: cst.BaseExpression, scope: Scope,
               depth: int = 0) -> Optional[Tuple[cst.BaseExpression, Scope]]:
        """The expression a name or `module.name` was assigned once, followed through imports
        of project modules: `Dep = Annotated[Service, Depends(get)]` used as `svc: Dep`."""
        if depth > 6:
            return None
        found: Optional[Tuple[Binding, Scope]] = None
        if isinstance(expr, cst.Name):
            found = scope.lookup(expr.value)
        elif isinstance(expr, cst.Attribute):
            base = self.expr(expr.value, scope)
            if isinstance(base, ModuleV):
                bindings = base.module.scope.local(expr.attr.value)
                found = (bindings[-1], base.module.scope) if bindings else None
        if found is None:
            return None
        binding, where = found
        if binding.kind == "assign" and binding.value is not None:
            return binding.value, where
        if binding.kind == "import" and binding.qualname:
            module_name, _, attr = binding.qualname.rpartition(".")
            module = self.project.module(module_name) if module_name else None
            if module is None or not attr:
                return None
            return self._alias(cst.Name(attr), module.scope, depth + 1)
        return None

    def _depends(self, expr: cst.BaseExpression, scope: Scope, depth: int = 0) -> Value:
        """The value `Depends(dep)` injects: what `dep` returns."""
        if isinstance(expr, (cst.Name, cst.Attribute)) and depth < 4:  # `svc=ServiceDep`
            alias = self._alias(expr, scope)
            return self._depends(alias[0], alias[1], depth + 1) if alias is not None else UNKNOWN
        if not isinstance(expr, cst.Call) or ext_name(self.expr(expr.func, scope)) not in DEPENDS:
            return UNKNOWN
        if not expr.args:
            return UNKNOWN
        argument = expr.args[0].value
        if isinstance(argument, cst.Subscript):  # `Depends(Provide[Container.service])`
            return self.expr(argument, scope)
        return self._depends_on(self.expr(argument, scope))

    def returns(self, func: Func) -> Value:
        """What calling a project function gives back, from its annotation or its `return`."""
        node = func.scope.func
        if isinstance(node, cst.Lambda):
            return self._guarded(node.body, func.scope, lambda: self.expr(node.body, func.scope))
        if node.returns is not None:
            value = self.annotation(node.returns.annotation, func.scope.parent or func.scope)
            if isinstance(value, Inst):
                # `-> Service` with `return Service(client)`: the construction says more;
                # `-> HandlerProtocol` with `return handler`: the function returned says more.
                built = self._all_of(_return_values(node), func.scope)
                if any(self._more_specific(b, value)
                       or isinstance(b, (Func, Bound)) and self._is_interface(value.cls)
                       for b in options(built)):
                    return built
            if _is_known(value):
                return value
        return self._all_of(_return_values(node), func.scope)

    def _all_of(self, expressions: Iterable[cst.BaseExpression], scope: Scope) -> Value:
        """The union of what `expressions` evaluate to (the first few that say something)."""
        found = []
        for expression in expressions:
            value = self._guarded(expression, scope, lambda: self.expr(expression, scope))
            if _is_known(value):
                found.append(value)
                if len(found) >= _MAX_OPTIONS:
                    break
        return one_of(found)

    def _is_interface(self, cls: ClassScope) -> bool:
        """A `typing.Protocol` or an ABC: its methods say what to call, not what runs."""
        return any(base in _INTERFACE_BASES for base in self.external_bases(cls))

    def yields(self, func: Func) -> Value:
        """What a generator (a `yield` dependency, a `@contextmanager`) yields to its user."""
        node = func.scope.func
        if isinstance(node, cst.Lambda):
            return UNKNOWN
        if node.returns is not None:
            annotation = node.returns.annotation
            if isinstance(annotation, cst.Subscript):
                base = ext_name(self.expr(annotation.value, func.scope.parent or func.scope))
                elements = [e.slice.value for e in annotation.slice if isinstance(e.slice, cst.Index)]
                if base in YIELDING and elements:
                    value = self.annotation(elements[0], func.scope.parent or func.scope)
                    if _is_known(value):
                        return value
        return self._first_of(_yield_values(node), func.scope)

    def _first_of(self, expressions: Iterable[cst.BaseExpression], scope: Scope) -> Value:
        """The first of `expressions` whose value is known (`return None` early exits aside)."""
        for expression in expressions:
            value = self._guarded(expression, scope, lambda: self.expr(expression, scope))
            if _is_known(value):
                return value
        return UNKNOWN

    def _depends_on(self, dependency: Value) -> Value:
        """What FastAPI injects for a dependency callable: a class's instance, what a function
        returns, or what a `yield` dependency yields."""
        if isinstance(dependency, Cls):
            return Inst(dependency.scope)
        if isinstance(dependency, Bound):  # `Depends(container.provide)`
            dependency = dependency.func
        if isinstance(dependency, Func):
            if isinstance(dependency.scope.func, cst.FunctionDef) and _is_generator(dependency.scope.func):
                return self.yields(dependency)
            return self.returns(dependency)
        return UNKNOWN

    # -- expressions -------------------------------------------------------------------------
    def expr(self, node: cst.BaseExpression, scope: Scope) -> Value:
        deps.touch(scope.module)  # what is derived from a module may rest on others: see deps.py
        try:
            return self._expr(node, scope)
        except RecursionError:
            self._overflows += 1
            return UNKNOWN

    def _expr(self, node: cst.BaseExpression, scope: Scope) -> Value:
        if isinstance(node, cst.Name):
            return self.name(node.value, scope)
        if isinstance(node, cst.Attribute):
            if self._settled():  # kept as `name` keeps its answers
                key = (id(node), id(scope))
                kept = self._settled_attributes.get(key)
                if kept is not None and kept[0] is node and kept[1] is scope:
                    return kept[2]
                overflows = self._overflows
                value = self.attribute(self.expr(node.value, scope), node.attr.value)
                if self._overflows == overflows and self._settled() and isinstance(value, _SHAREABLE):
                    self._settled_attributes[key] = (node, scope, value)
                return value
            return self.attribute(self.expr(node.value, scope), node.attr.value)
        if isinstance(node, cst.Call):
            return self.call(node, scope)
        if isinstance(node, cst.Await):
            inner = self.expr(node.expression, scope)
            return self.awaited(inner)
        if isinstance(node, cst.Lambda):
            return Func(scope.child(node))
        if isinstance(node, cst.Subscript):  # `Provide[Container.service]`
            if ext_name(self.expr(node.value, scope)) in DI_PROVIDE and len(node.slice) == 1 \
                    and isinstance(node.slice[0].slice, cst.Index):
                provider = self.expr(node.slice[0].slice.value, scope)
                return self.provided(provider) if isinstance(provider, Provider) else UNKNOWN
            return UNKNOWN
        if isinstance(node, cst.BooleanOperation):  # `client or OpenAI()`: either may be used
            return one_of((self.expr(node.left, scope), self.expr(node.right, scope)))
        if isinstance(node, cst.IfExp):  # `OpenAI() if key else None`
            return one_of((self.expr(node.body, scope), self.expr(node.orelse, scope)))
        return UNKNOWN

    def awaited(self, value: Value) -> Value:
        if isinstance(value, OneOf):
            return one_of(self.awaited(option) for option in value.options)
        if isinstance(value, Coroutine):
            target = value.func
            if isinstance(target, Bound):
                target = target.func
            return self.returns(target) if isinstance(target, Func) else UNKNOWN
        return value

    def attribute(self, base: Value, attr: str) -> Value:
        if isinstance(base, OneOf):
            return one_of(self.attribute(option, attr) for option in base.options)
        if isinstance(base, SkippedV):
            return base
        if attr == "state" and _is_application(base):
            return APP_STATE
        if isinstance(base, AppState):
            return self._app_state(attr)
        if isinstance(base, ModuleV):
            return self.qualified(f"{base.module.name}.{attr}")
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
                    method = Func(cast(FunctionScope, klass.child(binding.node)))  # a FunctionDef's
                    if isinstance(owner, Inst) and self._is_property(method):
                        return self.returns(method)
                    if method.scope.is_static():
                        return method
                    if method.scope.is_classmethod():
                        return Bound(method, Cls(klass))
                    return Bound(method, owner) if isinstance(owner, Inst) else method
                if isinstance(owner, Inst) and all(b.kind == "annotated" for b in bindings):
                    # `minifier: ABCMinifier` declared, `self.minifier = PillowMinifier()` set:
                    # what the methods assign is the more specific.
                    assigned = self._instance_value(klass, owner, attr)
                    if isinstance(assigned, (Inst, ExtInstance, Func, Bound, OneOf)):
                        return assigned
                value = self._first_known(bindings, klass, attr)
                if _is_known(value) or not isinstance(owner, Inst):
                    return value
            if isinstance(owner, Inst):
                # `self.x = ...` in any method, the constructor's parameters included; a class
                # annotation without a value (`client: OpenAI | None = None`) came first.
                assigned = self._instance_value(klass, owner, attr)
                if assigned is not None or bindings:
                    return assigned or UNKNOWN
        for base in self.external_bases(cls):
            return Ext(f"{base}.{attr}")
        return UNKNOWN

    def _more_specific(self, value: Value, declared: Inst) -> bool:
        """`value` (what a dependency gives) says more than the parameter's declared class:
        an instance of a subclass (an interface's implementation), or one whose construction
        is known."""
        if not isinstance(value, Inst):
            return False
        if value.cls is declared.cls:
            return value.made is not None
        return any(klass is declared.cls for klass in self.mro(value.cls))

    def _instance_value(self, klass: ClassScope, owner: Inst, attr: str) -> Optional[Value]:
        """What the methods of `klass` assign to `self.<attr>` (None: none assigns it)."""
        assigned = klass.instance_attr(attr)
        if not assigned:
            return None
        for binding, method in reversed(assigned):
            value = self.binding(binding, method, attr)
            if not _is_known(value) and owner.made is not None:
                value = self._from_constructor(binding.value, method, owner.made)
            if _is_known(value):
                return value
        return UNKNOWN

    def _from_constructor(self, expr: Optional[cst.BaseExpression], method: FunctionScope,
                          made: Tuple[cst.Call, Scope]) -> Value:
        """`self.x = x` in `__init__`, `x` a parameter: the argument the construction passes."""
        if method.name != "__init__" or not isinstance(expr, cst.Name):
            return UNKNOWN
        bindings = method.local(expr.value)
        if len(bindings) != 1 or bindings[0].kind != "param":
            return UNKNOWN
        params = method.params()
        positional = [p.name.value for p in list(params.posonly_params) + list(params.params)][1:]
        call, scope = made
        index = 0
        for arg in call.args:
            if arg.star:
                return UNKNOWN  # `*args`/`**kwargs`: which argument lands where is not known
            if arg.keyword is not None:
                if arg.keyword.value == expr.value:
                    return self._argument(arg.value, scope)
                continue
            if index < len(positional) and positional[index] == expr.value:
                return self._argument(arg.value, scope)
            index += 1
        return UNKNOWN

    def _argument(self, expr: cst.BaseExpression, scope: Scope) -> Value:
        value = self.expr(expr, scope)
        # A provider passed to another provider: the container injects what it provides.
        return self.provided(value) if isinstance(value, Provider) else value

    def _is_property(self, method: Func) -> bool:
        node = method.scope.func
        if not isinstance(node, cst.FunctionDef) or not node.decorators:
            return False
        scope = method.scope.parent or method.scope
        for decorator in node.decorators:
            name = ext_name(self.expr(decorator.decorator, scope))
            if name in PROPERTIES or (name or "").endswith(".cached_property"):
                return True
        return False

    def mro(self, cls: ClassScope, depth: int = 0, seen: Optional[Set[int]] = None) -> Iterator[ClassScope]:
        """The class and its project base classes, depth first, each once (good enough for
        lookups; a diamond or a wide lattice is walked once, not along every path)."""
        seen = set() if seen is None else seen
        if id(cls.node) in seen:
            return
        seen.add(id(cls.node))
        yield cls
        if depth > 10:
            return
        for arg in cls.node.bases:
            base = self.expr(arg.value, cls.parent or cls)
            if isinstance(base, Cls):
                yield from self.mro(base.scope, depth + 1, seen)

    def external_bases(self, cls: ClassScope) -> Iterator[str]:
        for arg in cls.node.bases:
            base = self.expr(arg.value, cls.parent or cls)
            if isinstance(base, Ext):
                yield base.qualname

    def call(self, node: cst.Call, scope: Scope) -> Value:
        callee = self.expr(node.func, scope)
        return self.call_value(callee, node, scope)

    def call_value(self, callee: Value, node: cst.Call, scope: Scope) -> Value:
        if isinstance(callee, OneOf):
            return one_of(self.call_value(option, node, scope) for option in callee.options)
        if isinstance(callee, SkippedV):
            return callee
        if isinstance(callee, Cls):
            return Inst(callee.scope, (node, scope))
        if isinstance(callee, Provider):
            return self.provided(callee)
        if isinstance(callee, Ext):
            name = callee.qualname
            if name in PARTIAL and node.args:
                return PartialV(self.expr(node.args[0].value, scope), node)
            if name.startswith(DI_PROVIDERS) and node.args and "." not in name[len(DI_PROVIDERS):]:
                return Provider(name[len(DI_PROVIDERS):], node, scope)
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

    def provided(self, provider: Provider) -> Value:
        """What a provider gives: the object itself (`Object`), what a `Resource` function
        yields or returns, a class's instance built with the provider's other arguments, what
        a function returns."""
        call, scope = provider.call, provider.scope
        first = self.expr(call.args[0].value, scope)
        if provider.kind == "Object":
            return first
        if isinstance(first, Cls):
            return Inst(first.scope, (call.with_changes(args=call.args[1:]), scope))
        if isinstance(first, Func):
            node = first.scope.func
            if isinstance(node, cst.FunctionDef) and _is_generator(node):
                return self.yields(first)
            return self.returns(first)
        if isinstance(first, Ext):
            return self.call_value(first, call.with_changes(args=call.args[1:]), scope)
        return UNKNOWN

    def _entered(self, expr: cst.BaseExpression, scope: Scope) -> Value:
        """The value `with X as v` binds: what a project `@contextmanager` yields, what a
        project class's `__enter__`/`__aenter__` returns, else X itself."""
        if isinstance(expr, cst.Call):
            callee = self.expr(expr.func, scope)
            func = callee.func if isinstance(callee, Bound) else callee
            if isinstance(func, Func) and isinstance(func.scope.func, cst.FunctionDef) \
                    and _is_generator(func.scope.func):
                return self.yields(func)
        value = self.expr(expr, scope)
        if isinstance(value, Inst):
            for method in ("__aenter__", "__enter__"):
                entered = self._member(value, method)
                if isinstance(entered, Bound):
                    returned = self.returns(entered.func)
                    if _is_known(returned):
                        return returned
            return value
        if isinstance(value, ExtInstance):
            entered_type = self.kb.returns(f"{value.type}.__enter__")
            return ExtInstance(entered_type) if entered_type else value
        return value

    # -- qualified names across the project --------------------------------------------------
    def qualified(self, qualname: str, depth: int = 0) -> Value:
        """What a dotted name refers to: a project module or definition, else a library name."""
        if not qualname or depth > 12:
            return UNKNOWN
        # The longest prefix that is a project module (or a skipped one), found before for this
        # file: the shorter ones are not asked again (their answers were replayed into this
        # file's dependencies the first time, and do not change while it is linted).
        home = self._homes.get(qualname, qualname)
        while home is not None:
            module_name = home
            cut = home.rfind(".")
            home = home[:cut] if cut >= 0 else None
            module = self.project.module(module_name)
            if module is None:
                skipped = self.project.skipped.get(module_name)
                if skipped is not None:
                    self._homes[qualname] = module_name
                    return SkippedV(module_name, skipped)
                continue
            self._homes[qualname] = module_name
            rest = qualname[len(module_name) + 1:] if len(qualname) > len(module_name) else ""
            value: Value = ModuleV(module)
            for attr in rest.split(".") if rest else ():
                value = self._module_member(value, attr, depth) if isinstance(value, ModuleV) \
                    else self.attribute(value, attr)
            return value
        self._homes[qualname] = None
        return Ext(qualname)

    def _module_member(self, module_value: ModuleV, attr: str, depth: int) -> Value:
        """`module.attr`, computed once per module and name (star imports and re-exports can
        reach the same pair along many paths; a pair being computed reads as unknown)."""
        module = module_value.module
        key = (module.name, attr)
        cached = self._members.get(key)
        if cached is not None and cached[0] is module:
            return cached[1]
        self._members[key] = (module, UNKNOWN)
        self._computing += 1
        try:
            value = self._member_of(module, attr, depth)
        finally:
            self._computing -= 1
        self._members[key] = (module, value)
        return value

    def _member_of(self, module: ModuleInfo, attr: str, depth: int) -> Value:
        scope: ModuleScope = module.scope
        bindings = scope.local(attr)
        if bindings:
            binding = bindings[-1]
            later = self._from_stars(scope, attr, binding.order, depth)
            if later is not None:
                return later
            if binding.kind == "import":
                target = binding.qualname or ""
                if target == f"{module.name}.{attr}":
                    return UNKNOWN
                return self.qualified(target, depth + 1)
            value = self._first_known(bindings, scope, attr)
            return value if _is_known(value) else self._set_globally(scope, attr) or value
        submodule = f"{module.name}.{attr}"
        loaded = self.project.module(submodule)
        if loaded is not None:
            return ModuleV(loaded)
        skipped = self.project.skipped.get(submodule)
        if skipped is not None:
            return SkippedV(submodule, skipped)
        return self._from_stars(scope, attr, -1, depth) or UNKNOWN

    def _set_globally(self, scope: ModuleScope, name: str) -> Optional[Value]:
        """A module-level name left `None` at import and assigned in a function that declares
        it `global` (a startup or lifespan hook, a lazy getter): what that function assigns."""
        for node in scope.module.global_setters(name):
            function = scope.child(node)
            if name not in function.declared_global():
                continue
            value = self._first_known(function.local(name), function, name)
            if _is_known(value):
                return value
        return None

    def _app_state(self, attr: str) -> Value:
        """What the project assigns to `<app>.state.<attr>`, wherever it does (a lifespan, a
        startup hook, an app factory): the first assignment whose value is known."""
        pattern = re.compile(rf"\.state\.{re.escape(attr)}\s*(?::[^=\n]*)?=(?!=)")
        for module_name in self.project.state_setters(attr):
            module = self.project.module(module_name)
            if module is None:
                continue
            for statement in module.statements_assigning(pattern):
                for expr, scope in _state_assignments(statement, module.scope, attr):
                    value = self._guarded(expr, scope, lambda: self.expr(expr, scope))
                    if _is_known(value):
                        return value
        return UNKNOWN

    # -- helpers -----------------------------------------------------------------------------
    def _guarded(self, node: cst.CSTNode, scope: Scope, compute: Callable[[], Value]) -> Value:
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
        while scope.parent is not None:  # a module scope has no parent
            scope = scope.parent
        return scope if isinstance(scope, ModuleScope) else None


def _is_none(value: Value) -> bool:
    name = value.qualname if isinstance(value, Ext) else value.type if isinstance(value, ExtInstance) else ""
    return name in ("builtins.None", "None")


_INTERFACE_BASES = frozenset({"typing.Protocol", "typing_extensions.Protocol", "abc.ABC"})

APPLICATIONS = frozenset({"fastapi.FastAPI", "fastapi.applications.FastAPI",
                          "starlette.applications.Starlette"})
CONNECTIONS = frozenset({"fastapi.Request", "fastapi.WebSocket", "fastapi.requests.Request",
                         "starlette.requests.Request", "starlette.requests.HTTPConnection",
                         "starlette.websockets.WebSocket", "fastapi.websockets.WebSocket"})


def _is_application(value: Value) -> bool:
    if isinstance(value, ExtInstance):
        return value.type in APPLICATIONS
    name = ext_name(value) or ""
    return name.endswith(".app") and name[:-4] in CONNECTIONS


def _state_assignments(node: cst.CSTNode, scope: Scope, attr: str
                       ) -> Iterator[Tuple[cst.BaseExpression, Scope]]:
    """`(value, scope)` of each `<x>.state.<attr> = value` in `node`, with the scope it runs in."""
    if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        inner = scope.child(node)
        body = inner.node.body
        for statement in getattr(body, "body", ()):
            yield from _state_assignments(statement, inner, attr)
        return
    if isinstance(node, cst.Lambda):
        return
    if isinstance(node, (cst.Assign, cst.AnnAssign)):
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        if node.value is not None and any(
                isinstance(t, cst.Attribute) and t.attr.value == attr and isinstance(t.value, cst.Attribute)
                and t.value.attr.value == "state" for t in targets):
            yield node.value, scope
        return
    for child in node.children:
        yield from _state_assignments(child, scope, attr)


def _is_known(value: Value) -> bool:
    """Says something about what a name holds: not unknown, not None."""
    return not isinstance(value, Unknown) and not _is_none(value)


# Annotations that say nothing about the object: a parameter annotated so is judged by its default.
_VAGUE_TYPES = frozenset({
    "builtins.type", "builtins.object", "builtins.callable", "typing.Any", "typing.Callable",
    "typing_extensions.Any", "collections.abc.Callable", "typing.Type", "functools.partial",
})


def _is_vague_type(value: Value) -> bool:
    return isinstance(value, ExtInstance) and value.type in _VAGUE_TYPES


# Library parameter markers whose default is a declaration, not the value the function gets.
_DECLARATIONS = ("fastapi.", "starlette.", "pydantic.", "typer.", "dataclasses.", "sqlmodel.Field")


def _is_declaration(value: Value) -> bool:
    name = value.type if isinstance(value, ExtInstance) else ext_name(value) or ""
    return isinstance(value, (ExtInstance, CallResult)) and name.startswith(_DECLARATIONS) or \
        isinstance(value, CallResult) and (ext_name(value.callee) or "").startswith(_DECLARATIONS)


def _is_generator(node: cst.FunctionDef) -> bool:
    return bool(own_nodes(node, cst.Yield))


def _yield_values(node: cst.FunctionDef) -> List[cst.BaseExpression]:
    return [y.value for y in own_nodes(node, cst.Yield)
            if y.value is not None and not isinstance(y.value, cst.From)]


def _looks_like_class(qualname: str) -> bool:
    # Called names that start upper-case are classes (`HTML(...)`, `Client(...)`); constants
    # are not called.
    last = qualname.rsplit(".", 1)[-1]
    return bool(last) and last[0].isupper()


def _return_values(node: cst.FunctionDef) -> List[cst.BaseExpression]:
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
    "SkippedV", "PartialV", "CallResult", "Coroutine", "Provider", "OneOf", "one_of", "options", "Evaluator",
    "is_background_tasks", "ext_name", "display_name", "dotted", "BACKGROUND_TASKS", "BACKGROUND_TASK",
]
