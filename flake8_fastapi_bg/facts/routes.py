"""Facts about the functions of one module that FastAPI calls: routes, dependencies, params.

The FBG2xx rules need to know which functions FastAPI itself calls and with what: a route
(`@app.get(...)`, `@router.websocket(...)`, `app.add_api_route(path, endpoint)`) on a value
the evaluator proves is a `FastAPI`/`APIRouter`; a dependency (`Depends(dep)`, `Security(dep)`),
with its `scope=`; the injected parameters (`BackgroundTasks`, `Response`, `UploadFile`,
yield-dependency values). One `RouteFacts` per linted module gathers the syntax once, in a
single pass without evaluation; evaluation (which may load other project modules) happens on
demand, only for the functions a rule asks about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

import libcst as cst

from .flow import FunctionFlow, flow_of, sub_blocks
from ..scopes import ClassScope, FunctionScope, Scope, dotted, own_nodes
from ..syntax import walk
from ..values import (BACKGROUND_TASK, BACKGROUND_TASKS, DEPENDS, Bound, Cls, Evaluator, Ext,
                      ExtInstance, Func, Inst, Value, ext_name, is_background_tasks)

if TYPE_CHECKING:
    from .module import ModuleContext

APP_TYPES = frozenset({"fastapi.FastAPI", "fastapi.applications.FastAPI", "fastapi.APIRouter",
                       "fastapi.routing.APIRouter"})
HTTP_METHODS = frozenset({"get", "post", "put", "patch", "delete", "options", "head", "trace",
                          "api_route"})
SECURITY = frozenset({"fastapi.Security", "fastapi.params.Security", "fastapi.param_functions.Security"})
DEPENDENCY_MARKERS = DEPENDS | SECURITY
UPLOAD_FILE = frozenset({"fastapi.UploadFile", "fastapi.datastructures.UploadFile",
                         "starlette.datastructures.UploadFile"})
_TASK_CLASS_NAMES = frozenset({"BackgroundTasks", "BackgroundTask"})
_MAX_ALIAS_DEPTH = 4


@dataclass(frozen=True)
class Route:
    scope: FunctionScope
    kind: str  # "http" or "websocket"
    app: str  # the receiver as written: "app", "router"


@dataclass
class Dependency:
    """A `Depends(target)` found in the module, resolved."""

    call: cst.Call
    target: FunctionScope
    function_scope: bool  # Depends(..., scope="function")


@dataclass
class FunctionSyntax:
    """What one function body (nested functions excluded) contains, gathered without evaluation."""

    scope: FunctionScope
    yields: List[cst.CSTNode] = field(default_factory=list)
    returns: List[cst.Return] = field(default_factory=list)
    background_keywords: List[cst.Call] = field(default_factory=list)  # calls with background=
    background_assigns: List[cst.Assign] = field(default_factory=list)  # x.background = ...
    constructions: List[cst.Call] = field(default_factory=list)  # maybe BackgroundTask(s)(...)
    awaited_calls: Set[int] = field(default_factory=set)


class _FunctionGatherer(cst.CSTVisitor):
    """Collects a FunctionSyntax from one def body; nested defs, classes and lambdas excluded."""

    def __init__(self, syntax: FunctionSyntax) -> None:
        self.syntax = syntax
        self.root = syntax.scope.node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.root

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Parameters(self, node: cst.Parameters) -> bool:
        return False  # defaults run when the def runs, outside the body

    def visit_Decorator(self, node: cst.Decorator) -> bool:
        return False

    def visit_Yield(self, node: cst.Yield) -> None:
        self.syntax.yields.append(node)

    def visit_Return(self, node: cst.Return) -> None:
        self.syntax.returns.append(node)

    def visit_Await(self, node: cst.Await) -> None:
        if isinstance(node.expression, cst.Call):
            self.syntax.awaited_calls.add(id(node.expression))

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Attribute) and target.target.attr.value == "background":
                self.syntax.background_assigns.append(node)

    def visit_Call(self, node: cst.Call) -> None:
        if any(a.keyword is not None and a.keyword.value == "background" for a in node.args):
            self.syntax.background_keywords.append(node)
        name = dotted(node.func) or ""
        if name.rpartition(".")[2] in _TASK_CLASS_NAMES or \
                _imported_as(self.syntax.scope, name, BACKGROUND_TASK | BACKGROUND_TASKS):
            self.syntax.constructions.append(node)


class _ModuleGatherer(cst.CSTVisitor):
    """Module-wide facts: every `Depends(...)`/`Security(...)` call and every called name."""

    def __init__(self, module_scope: Scope) -> None:
        self.scopes: List[Scope] = [module_scope]
        self.dependency_calls: List[Tuple[cst.Call, Scope]] = []
        self.called_names: Set[str] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.append(self.scopes[-1].child(node))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.append(self.scopes[-1].child(node))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.scopes.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.scopes.append(self.scopes[-1].child(node))

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.scopes.pop()

    def visit_Call(self, node: cst.Call) -> None:
        name = dotted(node.func) or ""
        last = name.rpartition(".")[2]
        scope = self.scopes[-1]
        if last in ("Depends", "Security") or _imported_as(scope, name, DEPENDENCY_MARKERS):
            self.dependency_calls.append((node, scope))
        if last:
            self.called_names.add(last)


def _imported_as(scope: Scope, name: str, qualnames: FrozenSet[str]) -> bool:
    """`name` is a plain name imported under an alias of one of `qualnames` (cheap: no loads)."""
    if not name or "." in name:
        return False
    found = scope.lookup(name)
    return found is not None and found[0].kind == "import" and found[0].qualname in qualnames


def _registration_calls(statements: Sequence[cst.CSTNode], scope: Scope) -> Iterator[Tuple[cst.Call, Scope]]:
    """`app.add_api_route(...)` statements, in any block of the module (statements only, so this
    walk stays cheap: expressions are not entered)."""
    for statement in statements:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) \
                        and isinstance(small.value.func, cst.Attribute) \
                        and small.value.func.attr.value in ("add_api_route", "add_api_websocket_route"):
                    yield small.value, scope
        elif isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            inner = scope.child(statement)
            body = statement.body
            yield from _registration_calls(body.body if isinstance(body, cst.IndentedBlock) else [], inner)
        else:
            for _, _, _, block in sub_blocks(statement):
                yield from _registration_calls(block, scope)


def _decorated_functions(statements: Iterable[cst.CSTNode], scope: Scope,
                         method: str) -> Iterator[FunctionScope]:
    """Functions decorated with `@<x>.<method>(...)`, in any block of the module (statements
    only: expressions are not entered)."""
    for statement in statements:
        if isinstance(statement, cst.FunctionDef):
            inner = scope.child(statement)
            if any(isinstance(d.decorator, cst.Call) and isinstance(d.decorator.func, cst.Attribute)
                   and d.decorator.func.attr.value == method for d in statement.decorators):
                assert isinstance(inner, FunctionScope)
                yield inner
            body = statement.body
            yield from _decorated_functions(body.body if isinstance(body, cst.IndentedBlock) else [],
                                            inner, method)
        elif isinstance(statement, cst.ClassDef):
            body = statement.body
            yield from _decorated_functions(body.body if isinstance(body, cst.IndentedBlock) else [],
                                            scope.child(statement), method)
        else:
            for _, _, _, block in sub_blocks(statement):
                yield from _decorated_functions(block, scope, method)


class RouteFacts:
    """Routes, dependencies and per-function syntax of one linted module, computed on demand."""

    def __init__(self, context: "ModuleContext") -> None:
        self.context = context
        self.info = context.info
        self.evaluator: Evaluator = context.evaluator
        self._syntax: Dict[int, FunctionSyntax] = {}
        self._module: Optional[_ModuleGatherer] = None
        self._flows: Dict[int, FunctionFlow] = {}
        self._routes: Dict[int, Optional[Route]] = {}
        self._registered: Optional[Dict[int, Route]] = None
        self._dependencies: Optional[List[Dependency]] = None

    # -- module-wide syntax (one walk of the module, on first need) ---------------------------
    def _gathered(self) -> _ModuleGatherer:
        if self._module is None:
            self._module = _ModuleGatherer(self.info.scope)
            walk(self.info.module, self._module)
        return self._module

    @property
    def dependency_calls(self) -> List[Tuple[cst.Call, Scope]]:
        return self._gathered().dependency_calls

    @property
    def called_names(self) -> Set[str]:
        """The last names of everything called in the module (`f` for `a.f(...)`)."""
        return self._gathered().called_names

    # -- functions ---------------------------------------------------------------------------
    def function(self, scope: Scope) -> Optional[FunctionSyntax]:
        """What a `def` body contains (computed once per function)."""
        if not isinstance(scope, FunctionScope) or not isinstance(scope.node, cst.FunctionDef):
            return None
        found = self._syntax.get(id(scope.node))
        if found is None:
            found = self._syntax[id(scope.node)] = FunctionSyntax(scope)
            walk(scope.node, _FunctionGatherer(found))
        return found

    def flow(self, scope: FunctionScope) -> FunctionFlow:
        return flow_of(scope.node, self._flows)

    def enclosing_function(self, scope: Scope) -> Optional[FunctionScope]:
        """The nearest enclosing `def` of a scope (itself for a def), skipping lambdas."""
        for candidate in scope.walk_up():
            if isinstance(candidate, FunctionScope) and isinstance(candidate.node, cst.FunctionDef):
                return candidate
            if isinstance(candidate, ClassScope):
                return None
        return None

    def site_functions(self) -> List[FunctionScope]:
        """The defs in which the module's sites are registered (nested lambdas count for their def)."""
        found: Dict[int, FunctionScope] = {}
        for site, _ in self.context.sites:
            function = self.enclosing_function(site.scope)
            if function is not None and function.module is self.info:
                found.setdefault(id(function.node), function)
        return list(found.values())

    # -- routes ------------------------------------------------------------------------------
    def route(self, scope: Scope) -> Optional[Route]:
        """The FastAPI route `scope` is, from its decorators or an `add_api_route` call."""
        if not isinstance(scope, FunctionScope) or not isinstance(scope.node, cst.FunctionDef):
            return None
        key = id(scope.node)
        if key not in self._routes:
            route = self._route_from_decorators(scope)
            self._routes[key] = route if route is not None else self.registered().get(key)
        return self._routes[key]

    def websocket_routes(self) -> List[Route]:
        """The WebSocket routes among the module's functions that may hold a site (those that
        name `BackgroundTasks`), sites or not: a route may hand its tasks to a helper."""
        found: List[Route] = []
        for scope in _decorated_functions(self.info.site_statements(), self.info.scope, "websocket"):
            route = self.route(scope)
            if route is not None and route.kind == "websocket":
                found.append(route)
        seen = {id(r.scope.node) for r in found}
        # `app.add_api_websocket_route(path, endpoint)` names the endpoint, which names
        # `BackgroundTasks`: the statement is among the site statements too, so the whole
        # module need not be parsed for it.
        for call, where in _registration_calls(list(self.info.site_statements()), self.info.scope):
            if isinstance(call.func, cst.Attribute) and call.func.attr.value == "add_api_websocket_route":
                endpoint = _argument(call, 1, "endpoint")
                if endpoint is None or not self.is_app(self.evaluator.expr(call.func.value, where)):
                    continue
                target = self.evaluator.expr(endpoint, where)
                if isinstance(target, Func) and target.scope.module is self.info \
                        and isinstance(target.scope.node, cst.FunctionDef) \
                        and id(target.scope.node) not in seen:
                    seen.add(id(target.scope.node))
                    found.append(Route(target.scope, "websocket", dotted(call.func.value) or "app"))
        return found

    def registered(self) -> Dict[int, Route]:
        if self._registered is None:
            self._registered = {}
            for call, scope in _registration_calls(self.info.module.body, self.info.scope):
                self._route_from_registration(call, scope)
        return self._registered

    def _route_from_decorators(self, scope: FunctionScope) -> Optional[Route]:
        node = scope.node
        assert isinstance(node, cst.FunctionDef)
        parent = scope.parent or scope
        for decorator in node.decorators:
            expr = decorator.decorator
            if not isinstance(expr, cst.Call) or not isinstance(expr.func, cst.Attribute):
                continue
            method = expr.func.attr.value
            if method not in HTTP_METHODS and method != "websocket":
                continue
            if self.is_app(self.evaluator.expr(expr.func.value, parent)):
                kind = "websocket" if method == "websocket" else "http"
                return Route(scope, kind, dotted(expr.func.value) or "app")
        return None

    def _route_from_registration(self, call: cst.Call, scope: Scope) -> None:
        func = call.func
        assert isinstance(func, cst.Attribute)
        endpoint = _argument(call, 1, "endpoint")
        if endpoint is None or not self.is_app(self.evaluator.expr(func.value, scope)):
            return
        target = self.evaluator.expr(endpoint, scope)
        if isinstance(target, Func) and target.scope.module is self.info \
                and isinstance(target.scope.node, cst.FunctionDef):
            kind = "websocket" if func.attr.value == "add_api_websocket_route" else "http"
            assert self._registered is not None
            self._registered.setdefault(id(target.scope.node),
                                        Route(target.scope, kind, dotted(func.value) or "app"))

    def is_app(self, value: Value) -> bool:
        """A FastAPI application or router (or a project subclass of one)."""
        if isinstance(value, ExtInstance):
            return value.type in APP_TYPES
        if isinstance(value, Ext):
            return value.qualname in {f"{t}.router" for t in APP_TYPES}
        if isinstance(value, Inst):
            return any(base in APP_TYPES for klass in self.evaluator.mro(value.cls)
                       for base in self.evaluator.external_bases(klass))
        return False

    # -- dependencies ------------------------------------------------------------------------
    @property
    def dependencies(self) -> List[Dependency]:
        if self._dependencies is None:
            self._dependencies = []
            for call, scope in self.dependency_calls:
                dependency = self.dependency(call, scope)
                if dependency is not None:
                    self._dependencies.append(dependency)
        return self._dependencies

    def dependency(self, call: cst.Call, scope: Scope) -> Optional[Dependency]:
        """`Depends(target, scope=...)` resolved to the project function it calls."""
        if ext_name(self.evaluator.expr(call.func, scope)) not in DEPENDENCY_MARKERS:
            return None
        target_expr = _argument(call, 0, "dependency")
        if target_expr is None:
            return None
        target = callable_function(self.evaluator.expr(target_expr, scope), self.evaluator)
        if target is None:
            return None
        scope_arg = _argument(call, None, "scope")
        function_scope = isinstance(scope_arg, cst.SimpleString) and \
            scope_arg.evaluated_value == "function"
        return Dependency(call, target, function_scope)

    def used_as_dependency(self, scope: FunctionScope) -> List[Dependency]:
        return [d for d in self.dependencies if d.target.node is scope.node]

    # -- parameters --------------------------------------------------------------------------
    def injected_tasks_params(self, scope: FunctionScope) -> Set[str]:
        """Parameters of `scope` that FastAPI fills with the request's BackgroundTasks."""
        if not isinstance(scope.node, cst.FunctionDef):
            return set()
        return {p.name.value for p in scope.all_params()
                if p.name.value != scope.self_name
                and is_background_tasks(self.evaluator.name(p.name.value, scope))}

    def response_params(self, scope: FunctionScope) -> Set[str]:
        """Parameters annotated with a Response class: FastAPI injects a temporary response."""
        found = set()
        for param in scope.all_params():
            if param.annotation is None or param.default is not None:
                continue
            value = self.evaluator.annotation(param.annotation.annotation, scope)
            if isinstance(value, ExtInstance) and is_response_class(value.type):
                found.add(param.name.value)
        return found

    def param_dependency(self, param: cst.Param, scope: FunctionScope) -> Optional[Dependency]:
        """The `Depends(...)` that fills `param`: its default, or an `Annotated[...]` extra."""
        if param.default is not None and isinstance(param.default, cst.Call):
            found = self.dependency(param.default, scope)
            if found is not None:
                return found
        if param.annotation is not None:
            for call, where in _annotated_extras(param.annotation.annotation, scope, 0):
                found = self.dependency(call, where)
                if found is not None:
                    return found
        return None

    def is_upload_file(self, param: cst.Param, scope: FunctionScope) -> bool:
        if param.annotation is None:
            return False
        return any(ext_name(self.evaluator.expr(name, where)) in UPLOAD_FILE
                   for name, where in annotation_names(param.annotation.annotation, scope, 0))


def callable_function(value: Value, evaluator: Evaluator) -> Optional[FunctionScope]:
    """The project `def` that runs when `value` is called (functions, methods, `__call__`)."""
    if isinstance(value, Bound):
        value = value.func
    if isinstance(value, Inst):
        call = evaluator.attribute(value, "__call__")
        value = call.func if isinstance(call, Bound) else call
    if isinstance(value, Func) and isinstance(value.scope.node, cst.FunctionDef):
        return value.scope
    return None


def is_response_class(qualname: str) -> bool:
    return qualname.startswith(("fastapi.", "starlette.")) and qualname.endswith("Response")


def is_response_call(value: Value, evaluator: Evaluator) -> bool:
    """`value` is a response class (or `templates.TemplateResponse`): calling it builds one."""
    if isinstance(value, Ext):
        return value.qualname.rpartition(".")[2].endswith("Response")
    if isinstance(value, Cls):
        return any(base.rpartition(".")[2].endswith("Response")
                   for klass in evaluator.mro(value.scope) for base in evaluator.external_bases(klass))
    return False


def is_generator(node: cst.FunctionDef) -> bool:
    return bool(yields_of(node))


def yields_of(node: cst.FunctionDef) -> List[cst.Yield]:
    return own_nodes(node, cst.Yield)


def _argument(call: cst.Call, position: Optional[int], keyword: str) -> Optional[cst.BaseExpression]:
    """The argument of `call` for a parameter: by keyword, or at `position` before any splat."""
    positional: List[cst.BaseExpression] = []
    splat = False
    for arg in call.args:
        if arg.keyword is not None:
            if arg.keyword.value == keyword:
                return arg.value
        elif arg.star:
            splat = True
        elif not splat:
            positional.append(arg.value)
    if position is not None and position < len(positional):
        return positional[position]
    return None


def _alias_value(expr: cst.BaseExpression, scope: Scope,
                 depth: int = 0) -> Optional[Tuple[cst.BaseExpression, Scope]]:
    """For a name bound once by a plain assignment (a type alias), here or in the project module
    it is imported from: the assigned value and the scope it is in."""
    if depth > _MAX_ALIAS_DEPTH or not isinstance(expr, cst.Name):
        return None
    found = scope.lookup(expr.value)
    if found is None:
        return None
    binding, where = found
    if binding.kind == "import" and binding.qualname:
        module_name, _, attr = binding.qualname.rpartition(".")
        module = where.module.project.module(module_name) if module_name else None
        if module is None or not attr:
            return None
        return _alias_value(cst.Name(attr), module.scope, depth + 1)
    if binding.kind == "assign" and binding.value is not None and len(where.local(expr.value)) == 1:
        return binding.value, where
    return None


def _annotated_extras(expr: cst.BaseExpression, scope: Scope,
                      depth: int) -> Iterator[Tuple[cst.Call, Scope]]:
    """The metadata calls of `Annotated[T, Depends(...)]`, through type aliases."""
    if depth > _MAX_ALIAS_DEPTH:
        return
    alias = _alias_value(expr, scope)
    if alias is not None:
        yield from _annotated_extras(alias[0], alias[1], depth + 1)
        return
    if not isinstance(expr, cst.Subscript):
        return
    elements = [e.slice.value for e in expr.slice if isinstance(e.slice, cst.Index)]
    name = dotted(expr.value) or ""
    if name.rpartition(".")[2] == "Annotated" and elements:
        for extra in elements[1:]:
            if isinstance(extra, cst.Call):
                yield extra, scope
        yield from _annotated_extras(elements[0], scope, depth + 1)
    elif name.rpartition(".")[2] in ("Optional", "Union"):
        for element in elements:
            yield from _annotated_extras(element, scope, depth + 1)


def annotation_names(expr: cst.BaseExpression, scope: Scope,
                     depth: int) -> Iterator[Tuple[cst.BaseExpression, Scope]]:
    """The class names an annotation mentions: `T`, `list[T]`, `T | None`, `Annotated[T, ...]`."""
    if depth > _MAX_ALIAS_DEPTH:
        return
    if isinstance(expr, (cst.Name, cst.Attribute)):
        alias = _alias_value(expr, scope)
        if alias is not None:
            yield from annotation_names(alias[0], alias[1], depth + 1)
        else:
            yield expr, scope
    elif isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
        yield from annotation_names(expr.left, scope, depth + 1)
        yield from annotation_names(expr.right, scope, depth + 1)
    elif isinstance(expr, cst.Subscript):
        elements = [e.slice.value for e in expr.slice if isinstance(e.slice, cst.Index)]
        name = (dotted(expr.value) or "").rpartition(".")[2]
        if name == "Annotated":
            elements = elements[:1]
        for element in elements:
            yield from annotation_names(element, scope, depth + 1)


__all__ = ["RouteFacts", "Route", "Dependency", "FunctionSyntax", "callable_function",
           "is_response_call", "is_response_class", "is_generator", "yields_of", "APP_TYPES",
           "UPLOAD_FILE", "annotation_names"]
