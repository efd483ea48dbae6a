"""A light lexical binder: which statements bind a name in a module, class or function.

libcst's ScopeProvider costs about five parses per module. Background-task analysis only needs
to know, for a name used in a function, the statement that binds it (a parameter, an
assignment, a def, an import, a `with ... as`), so each scope collects its bindings in one
shallow pass over its own body, on first use. The same binder serves the linted file and the
modules that tasks reach, so a module is summarised the same way wherever it is met.
"""

from __future__ import annotations

import ast
from collections import OrderedDict
from dataclasses import dataclass
from typing import (TYPE_CHECKING, AbstractSet, Any, Callable, Dict, Iterator, List, Optional, Sequence, Set,
                    Tuple, Type, TypeVar, Union, cast, overload)

import libcst as cst

from .syntax import preorder_spans, walk

if TYPE_CHECKING:
    from .parsing import ModuleInfo
    from .slicing import SlicedModuleInfo

FuncNode = Union[cst.FunctionDef, cst.Lambda]
NodeT = TypeVar("NodeT", bound=cst.CSTNode)


@dataclass(frozen=True)
class Binding:
    """One statement binding a name.

    kind: "param", "assign", "annotated", "def", "class", "import", "with", "for", "other".
    """

    kind: str
    node: cst.CSTNode
    value: Optional[cst.BaseExpression] = None  # assigned value, `with` context, `for` iterable
    qualname: Optional[str] = None  # for imports: the imported dotted name
    annotation: Optional[cst.BaseExpression] = None
    order: int = 0  # source order of the binding statement within its scope body


class _ImportBinding(Binding):
    """An import of a module summarised from `ast` (`SlicedModuleScope`), bound without
    building libcst nodes: its `node` (the `Import`/`ImportFrom` statement) is built on first
    read, from the group it is in. Every other field is what `_Collector` records. A copy is
    made as `_Collector.add` makes one, `Binding(...)` (`dataclasses.replace` would call this
    class's own `__init__`)."""

    _build: Callable[[], cst.CSTNode]

    def __init__(self, qualname: str, order: int, build: Callable[[], cst.CSTNode]) -> None:
        # `Binding` is frozen: fields are set as its own `__init__` sets them; `node` is left
        # unset, so that reading it falls to `__getattr__`.
        for name, value in (("kind", "import"), ("value", None), ("qualname", qualname),
                            ("annotation", None), ("order", order), ("_build", build)):
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        if name != "node":
            raise AttributeError(name)
        node = self._build()
        object.__setattr__(self, "node", node)
        return node


def imported(module: str, asname: Optional[str]) -> Tuple[str, str]:
    """`import module [as asname]`: the name bound and the qualified name it holds (`import a.b`
    binds `a`, the package; `import a.b as c` binds `c` to `a.b`). The binder's libcst walk and
    `import_bindings` both ask here."""
    if asname:
        return asname, module
    top = module.split(".")[0]
    return top, top


def imported_from(base: str, name: str, asname: Optional[str]) -> Tuple[str, str]:
    """`from base import name [as asname]`: the name bound and the qualified name it holds."""
    return asname or name, f"{base}.{name}"


def import_bindings(statements: Sequence[ast.stmt], package: str, order: int,
                    node_of: Callable[[int], cst.CSTNode]) -> Optional[Dict[str, List[Binding]]]:
    """The bindings `_Collector` would record for top-level statements that are all imports
    (`import a.b`, `from .m import x as y`), read from their `ast`; the libcst node of the
    k-th statement is `node_of(k)`, asked only if a binding's `node` is read. None when a
    statement is not an import, or is a star import (`star_imports` reads those)."""
    found: Dict[str, List[Binding]] = {}
    for at, statement in enumerate(statements):
        def build(at: int = at) -> cst.CSTNode:
            return node_of(at)

        if type(statement) is ast.Import:
            for alias in statement.names:
                bound, qualname = imported(alias.name, alias.asname)
                found.setdefault(bound, []).append(_ImportBinding(qualname, order, build))
        elif type(statement) is ast.ImportFrom:
            if any(alias.name == "*" for alias in statement.names):
                return None
            base = resolve_relative(package, statement.level, statement.module)
            if base is None:
                continue
            for alias in statement.names:
                bound, qualname = imported_from(base, alias.name, alias.asname)
                found.setdefault(bound, []).append(_ImportBinding(qualname, order, build))
        else:
            return None
    return found


def dotted(node: cst.CSTNode) -> Optional[str]:
    """`a.b.c` for a Name/Attribute chain, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None


def resolve_relative(package: str, level: int, module: Optional[str]) -> Optional[str]:
    """The absolute module of `from <level dots><module> import ...` inside `package`."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    if module:
        base.append(module)
    return ".".join(base) or None


def own_nodes(node: cst.CSTNode, kind: Union[Type[NodeT], Tuple[Type[NodeT], ...]]) -> List[NodeT]:
    """The nodes of `kind` in a function's own body, in source order: not inside nested defs,
    lambdas or classes, whose code runs at another time.

    The function is walked once per process (`_OwnNodes`): the analysis asks the same function
    for its calls, returns, awaits, yields and `with` blocks, from every linted file whose tasks
    reach it. The nodes are kept by type, so a question costs a look-up per node type present,
    not an `isinstance` (an ABC check for libcst's nodes) per node."""
    return cast(List[NodeT], _own_nodes_of(node).of_kind(kind))


def own_spans(node: cst.CSTNode) -> Tuple[List[cst.CSTNode], Dict[int, int]]:
    """A function's own nodes in source order (as `own_nodes`, every kind) and where each of
    its calls, loops, comprehensions and branches (`_SPANNED`) ends: {index: index just past
    its last descendant} (`syntax.preorder_spans`), from the same single walk."""
    found = _own_nodes_of(node)
    return found.nodes, found.ends


class _OwnNodes:
    """The nodes of one function's own body, in source order and by exact type."""

    def __init__(self, node: cst.CSTNode) -> None:
        self.node = node  # kept alive, so that its id in `_OWN` stays its own
        self.nodes: List[cst.CSTNode]
        self.ends: Dict[int, int]
        self.nodes, self.ends = preorder_spans(node, _NESTED_SCOPES, _SPANNED)
        self.by_type: Dict[type, List[cst.CSTNode]] = {}
        by_type = self.by_type
        for inner in self.nodes:
            kind = type(inner)
            found = by_type.get(kind)
            if found is None:
                by_type[kind] = [inner]
            else:
                found.append(inner)

    def of_kind(self, kind: Union[type, Tuple[type, ...]]) -> List[cst.CSTNode]:
        table = _KINDS.get(kind)
        if table is None:
            table = _KINDS[kind] = {}
        matching: List[type] = []
        for node_type in self.by_type:  # one dict look-up a type, not a call
            found = table.get(node_type)
            if found is None:
                found = table[node_type] = issubclass(node_type, kind)
            if found:
                matching.append(node_type)
        if not matching:
            return []
        if len(matching) == 1:
            return list(self.by_type[matching[0]])
        wanted = set(matching)
        return [inner for inner in self.nodes if type(inner) in wanted]


_NESTED_SCOPES = frozenset({cst.FunctionDef, cst.Lambda, cst.ClassDef})
# What the analysis asks of a call's context (`analyse._calls`): the loops, comprehensions and
# branches around it.
_SPANNED = frozenset({cst.Call, cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp,
                      cst.If, cst.Try, cst.ExceptHandler})
# Per kind asked for (a type or a tuple of types): {node type: whether it is of that kind}.
_KINDS: Dict[object, Dict[type, bool]] = {}


# Functions whose own nodes are kept, by id. Bounded like the parsed-module cache.
_OWN: "OrderedDict[int, _OwnNodes]" = OrderedDict()
_OWN_SIZE = 4096


def _own_nodes_of(node: cst.CSTNode) -> _OwnNodes:
    found = _OWN.get(id(node))
    if found is not None and found.node is node:
        _OWN.move_to_end(id(node))
        return found
    found = _OWN[id(node)] = _OwnNodes(node)
    while len(_OWN) > _OWN_SIZE:
        _OWN.popitem(last=False)
    return found


class _Collector(cst.CSTVisitor):
    """Collects the bindings of one scope's body without entering nested scopes."""

    def __init__(self, scope: "Scope") -> None:
        self.scope = scope
        self.bindings: Dict[str, List[Binding]] = {}
        self.star_imports: List[Tuple[str, int]] = []  # (module, order)
        self.self_attrs: Dict[str, List[Binding]] = {}
        self.declared_global: Set[str] = set()
        self.order = 0  # set by the scope before each body statement
        # Expressions bind names only through `:=`: without one in the module, the walk stops
        # at simple statements (most of the nodes of a body) once their targets are recorded.
        self.into_expressions = getattr(scope.module, "has_walrus", True)

    def add(self, name: str, binding: Binding) -> None:
        if binding.order != self.order:
            # `dataclasses.replace`, without its look-ups of the fields: a body binds many names
            binding = Binding(binding.kind, binding.node, binding.value, binding.qualname, binding.annotation,
                              self.order)
        self.bindings.setdefault(name, []).append(binding)

    # Nested scopes: bind their name, do not enter their bodies.
    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.add(node.name.value, Binding("def", node, order=self.order))
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.add(node.name.value, Binding("class", node, order=self.order))
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Global(self, node: cst.Global) -> None:
        self.declared_global.update(n.name.value for n in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.declared_global.update(n.name.value for n in node.names)

    def _target(self, target: cst.BaseExpression, binding: Binding) -> None:
        if isinstance(target, cst.Name):
            self.add(target.value, binding)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                inner = element.value
                if isinstance(inner, cst.StarredElement):
                    inner = inner.value
                self._target(inner, Binding("other", binding.node, order=self.order))
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            if target.value.value == self.scope.self_name:
                self.self_attrs.setdefault(target.attr.value, []).append(binding)

    def visit_Assign(self, node: cst.Assign) -> Optional[bool]:
        for target in node.targets:
            self._target(target.target, Binding("assign", node, value=node.value, order=self.order))
        return self._expressions()

    def visit_AnnAssign(self, node: cst.AnnAssign) -> Optional[bool]:
        kind = "assign" if node.value is not None else "annotated"
        self._target(node.target, Binding(kind, node, value=node.value,
                                          annotation=node.annotation.annotation, order=self.order))
        return self._expressions()

    def _expressions(self, node: Optional[cst.CSTNode] = None) -> Optional[bool]:
        return None if self.into_expressions else False

    # Simple statements that bind nothing themselves (walrus aside).
    visit_Expr = visit_Return = visit_AugAssign = visit_Raise = visit_Assert = visit_Del = _expressions

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._target(node.target, Binding("assign", node, value=node.value, order=self.order))

    def visit_For(self, node: cst.For) -> None:
        self._target(node.target, Binding("for", node, value=node.iter, order=self.order))

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._target(node.asname.name, Binding("with", node, value=node.item, order=self.order))

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._target(node.name.name, Binding("other", node, order=self.order))

    def visit_TypeAlias(self, node: cst.TypeAlias) -> None:
        self.add(node.name.value, Binding("assign", node, value=node.value, order=self.order))

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = dotted(alias.name)
            if full is None:
                continue
            bound, qualname = imported(full, _alias_name(alias))
            self.add(bound, Binding("import", node, qualname=qualname, order=self.order))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = dotted(node.module) if node.module is not None else None
        base = resolve_relative(self.scope.module.package, len(node.relative), module)
        if base is None:
            return
        if isinstance(node.names, cst.ImportStar):
            self.star_imports.append((base, self.order))
            return
        for alias in node.names:
            if not isinstance(alias.name, cst.Name):
                continue
            bound, qualname = imported_from(base, alias.name.value, _alias_name(alias))
            self.add(bound, Binding("import", node, qualname=qualname, order=self.order))


def _alias_name(alias: cst.ImportAlias) -> Optional[str]:
    """The `as` name of an import alias, if any."""
    asname = alias.asname
    return asname.name.value if asname is not None and isinstance(asname.name, cst.Name) else None


class Scope:
    """A module, class or function body and the names it binds."""

    kind = "scope"
    self_name: Optional[str] = None

    def __init__(self, node: cst.CSTNode, parent: Optional[Scope], module: ModuleInfo, qualname: str) -> None:
        self.node = node
        self.parent = parent
        self.module = module  # parsing.ModuleInfo
        self.qualname = qualname
        self._collector: Optional[_Collector] = None
        self._children: Dict[cst.CSTNode, "Scope"] = {}

    def _body(self) -> Sequence[cst.CSTNode]:
        raise NotImplementedError

    def _collect(self) -> _Collector:
        if self._collector is None:
            collector = _Collector(self)
            self._seed(collector)
            for order, statement in enumerate(self._body(), 1):
                collector.order = order
                walk(statement, collector)
            self._collector = collector
        return self._collector

    def _seed(self, collector: _Collector) -> None:
        """Bindings that do not come from body statements (parameters)."""

    @property
    def bindings(self) -> Dict[str, List[Binding]]:
        return self._collect().bindings

    @property
    def star_imports(self) -> List[Tuple[str, int]]:
        """`from m import *` in this body: (m, order), in source order."""
        return self._collect().star_imports

    def declared_global(self) -> AbstractSet[str]:
        collector = self._collector  # collected once: most calls find it done
        return (collector if collector is not None else self._collect()).declared_global

    def local(self, name: str) -> List[Binding]:
        collector = self._collector
        return (collector if collector is not None else self._collect()).bindings.get(name, [])

    def lookup(self, name: str) -> Optional[Tuple[Binding, "Scope"]]:
        """The binding of `name` seen from this scope, following Python's scoping rules."""
        found = self.local(name) if name not in self.declared_global() else None
        if found:
            return found[-1], self
        scope = self.parent
        while scope is not None:
            # A class body is seen only from itself, not from the functions nested in it.
            if not isinstance(scope, ClassScope) and name not in scope.declared_global():
                found = scope.local(name)
                if found:
                    return found[-1], scope
            scope = scope.parent
        return None

    @overload
    def child(self, node: cst.ClassDef) -> ClassScope: ...

    @overload
    def child(self, node: FuncNode) -> FunctionScope: ...

    @overload
    def child(self, node: Union[cst.ClassDef, FuncNode]) -> Union[ClassScope, FunctionScope]: ...

    @overload
    def child(self, node: cst.CSTNode) -> Scope: ...

    def child(self, node: cst.CSTNode) -> Scope:
        """The scope of a def, lambda or class defined directly in this scope (cached)."""
        existing = self._children.get(node)
        if existing is not None:
            return existing
        if isinstance(node, cst.ClassDef):
            scope: Scope = ClassScope(node, self, self.module, f"{self.qualname_prefix}{node.name.value}")
        elif isinstance(node, cst.FunctionDef):
            whole = self.module.unstub(node)  # a reached class's method is parsed on first use
            if whole is not node:
                scope = self.child(whole)
                self._children[node] = scope
                return scope
            scope = FunctionScope(node, self, self.module, f"{self.qualname_prefix}{node.name.value}")
        elif isinstance(node, cst.Lambda):
            scope = FunctionScope(node, self, self.module, f"{self.qualname_prefix}<lambda>")
        else:
            raise TypeError(f"not a scope node: {type(node).__name__}")
        self._children[node] = scope
        return scope

    @property
    def qualname_prefix(self) -> str:
        return f"{self.qualname}." if self.qualname else ""

    def enclosing_class(self) -> Optional["ClassScope"]:
        return self.parent if isinstance(self.parent, ClassScope) else None

    def walk_up(self) -> Iterator["Scope"]:
        scope: Optional[Scope] = self
        while scope is not None:
            yield scope
            scope = scope.parent


class ModuleScope(Scope):
    kind = "module"

    def __init__(self, module: ModuleInfo) -> None:
        super().__init__(module.module, None, module, module.name)

    def _body(self) -> Sequence[cst.CSTNode]:
        return self.module.module.body


_NO_NAMES: AbstractSet[str] = frozenset()


class SlicedModuleScope(ModuleScope):
    """The module scope of a reached module (`slicing.SlicedModuleInfo`): the bindings of a
    name come from parsing only the statements that may bind it."""

    module: SlicedModuleInfo

    def __init__(self, module: SlicedModuleInfo) -> None:
        Scope.__init__(self, cst.Module(body=[]), None, module, module.name)
        self._local: Dict[str, List[Binding]] = {}
        self._stars: Optional[List[Tuple[str, int]]] = None
        self._groups: Dict[int, Dict[str, List[Binding]]] = {}  # the bindings of each group walked

    def _gather(self, groups: Sequence[int]) -> _Collector:
        collector = _Collector(self)
        for index in groups:
            collector.order = self.module.order(index)
            for statement in self.module.statements(index):
                walk(statement, collector)
        return collector

    def _collect(self) -> _Collector:  # everything: only for callers that want every binding
        if self._collector is None:
            self._collector = self._gather(self.module.all_groups())
        return self._collector

    def local(self, name: str) -> List[Binding]:
        found = self._local.get(name)
        if found is None:
            found = self._local[name] = [binding for index in self.module.binders(name)
                                         for binding in self._group_bindings(index).get(name, ())]
        return found

    def _group_bindings(self, index: int) -> Dict[str, List[Binding]]:
        """The bindings of one statement group, walked once for all the names it binds
        (`from m import a, b, c`): a name's bindings are those of its groups, in order."""
        found = self._groups.get(index)
        if found is None:
            # A group of imports binds what its `ast` says, without libcst nodes (most
            # groups a lookup follows: a name used is usually imported).
            module = self.module
            found = import_bindings(module.top_statements(index), module.package, module.order(index),
                                    lambda at: module.small_statement(index, at))
            if found is None:
                found = self._gather((index,)).bindings
            self._groups[index] = found
        return found

    @property
    def star_imports(self) -> List[Tuple[str, int]]:
        if self._stars is None:
            self._stars = self._gather(self.module.star_groups()).star_imports
        return self._stars

    def declared_global(self) -> AbstractSet[str]:
        return _NO_NAMES


class ClassScope(Scope):
    kind = "class"
    node: cst.ClassDef  # `Scope.child` makes one for a ClassDef only

    def _body(self) -> Sequence[cst.CSTNode]:
        body = self.node.body
        return body.body if isinstance(body, cst.IndentedBlock) else [body]

    @property
    def name(self) -> str:
        return self.node.name.value

    def methods(self) -> Dict[str, cst.FunctionDef]:
        # a "def" binding is a FunctionDef's
        return {name: cast(cst.FunctionDef, b[-1].node) for name, b in self.bindings.items()
                if b and b[-1].kind == "def"}

    def instance_attr(self, attr: str) -> List[Tuple[Binding, "FunctionScope"]]:
        """`self.<attr> = value` assignments in the methods, with the method they are in.
        Methods of a reached class that `ast` shows never assign `attr` are not parsed."""
        found: List[Tuple[Binding, FunctionScope]] = []
        for node in self.methods().values():
            if not self.module.may_assign_attr(node, attr):
                continue
            method = self.child(node)
            assert isinstance(method, FunctionScope)
            found.extend((b, method) for b in method._collect().self_attrs.get(attr, ()))
        return found


class FunctionScope(Scope):
    kind = "function"
    node: FuncNode

    def __init__(self, node: FuncNode, parent: Optional[Scope], module: ModuleInfo, qualname: str) -> None:
        super().__init__(node, parent, module, qualname)
        self.self_name = self._self_param()

    @property
    def func(self) -> FuncNode:
        return self.node

    @property
    def name(self) -> str:
        node = self.node
        return node.name.value if isinstance(node, cst.FunctionDef) else "<lambda>"

    @property
    def is_async(self) -> bool:
        node = self.node
        return isinstance(node, cst.FunctionDef) and node.asynchronous is not None

    def decorator_names(self) -> List[str]:
        node = self.node
        if not isinstance(node, cst.FunctionDef):
            return []
        names = []
        for decorator in node.decorators:
            expr = decorator.decorator
            if isinstance(expr, cst.Call):
                expr = expr.func
            name = dotted(expr)
            if name:
                names.append(name)
        return names

    def is_static(self) -> bool:
        return "staticmethod" in self.decorator_names()

    def is_classmethod(self) -> bool:
        return "classmethod" in self.decorator_names()

    def _self_param(self) -> Optional[str]:
        if not isinstance(self.parent, ClassScope) or not isinstance(self.node, cst.FunctionDef):
            return None
        params = self.node.params
        positional = list(params.posonly_params) + list(params.params)
        if not positional or self.is_static():
            return None
        return positional[0].name.value

    def params(self) -> cst.Parameters:
        return self.node.params

    def all_params(self) -> List[cst.Param]:
        p = self.params()
        out = list(p.posonly_params) + list(p.params)
        if isinstance(p.star_arg, cst.Param):
            out.append(p.star_arg)
        out.extend(p.kwonly_params)
        if p.star_kwarg is not None:
            out.append(p.star_kwarg)
        return out

    def _seed(self, collector: _Collector) -> None:
        for param in self.all_params():
            collector.add(param.name.value, Binding("param", param, value=param.default,
                                                    annotation=param.annotation.annotation
                                                    if param.annotation else None))

    def _body(self) -> Sequence[cst.CSTNode]:
        node = self.node
        if isinstance(node, cst.Lambda):
            return [node.body]
        body = node.body
        return body.body if isinstance(body, cst.IndentedBlock) else [body]
