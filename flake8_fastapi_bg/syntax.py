"""A fast, read-only walk over libcst trees.

`node.visit(visitor)` in libcst rebuilds every node it passes (it is the same machinery that
transformers use), and calls attribute hooks for every field of every node: on a real app that
walk cost more than parsing. The analysis only *reads* trees, so it walks them here instead:

* children come from the node's fields in source order — the order in which libcst's own
  `_visit_and_replace_children` reads them (`libcst_compat.visit_order`), once per node type —
  skipping the fields that only hold whitespace, parentheses, commas and other tokens, and
  those declared `str` (`Name.value`): a leaf has no field to read;
* `visit_<Type>` / `leave_<Type>` (and overridden `on_visit` / `on_leave`) of an ordinary
  `cst.CSTVisitor` subclass are called with libcst's semantics: a `visit_` that returns False
  skips the children, `leave_` is called either way;
* the walk keeps its own stack, so deeply nested expressions cannot exhaust Python's recursion
  limit; children are pushed on it last first, straight from the fields (no list per node).

The tests compare this walk with libcst's own on real code, node by node.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Set, Tuple

import libcst as cst

from .libcst_compat import visit_order

# Fields that hold only whitespace, comments, brackets and punctuation: nothing to analyse.
_TOKEN_FIELDS = frozenset({
    "leading_lines", "lines_after_decorators", "lpar", "rpar", "lbrace", "rbrace", "lbracket",
    "rbracket", "header", "footer", "comma", "semicolon", "equal", "colon", "first_colon",
    "second_colon", "trailing_whitespace", "newline", "indent", "empty_lines", "default_indent",
    "default_newline", "encoding", "has_trailing_newline", "leading_whitespace", "last_line",
    "first_line", "trailing_comma", "separator", "dot", "relative", "posonly_ind", "operator",
    "asynchronous", "comment",
})

_FIELDS: Dict[type, Tuple[str, ...]] = {}


def _may_hold_node(field: "dataclasses.Field[object]") -> bool:
    """A field declared `str` (`Name.value`, `Integer.value`) never holds a node."""
    return field.type is not str and field.type != "str"


def child_fields(cls: type) -> Tuple[str, ...]:
    """The fields of a node type that may hold nodes worth visiting, in source order."""
    found = _FIELDS.get(cls)
    if found is None:
        declared = [f.name for f in dataclasses.fields(cls) if _may_hold_node(f)] \
            if dataclasses.is_dataclass(cls) else []
        order = visit_order(cls, declared)
        found = _FIELDS[cls] = tuple(name for name in order
                                     if name not in _TOKEN_FIELDS and not name.startswith("whitespace"))
    return found


_REVERSED: Dict[type, Tuple[str, ...]] = {}


def _reversed_fields(cls: type) -> Tuple[str, ...]:
    found = _REVERSED.get(cls)
    if found is None:
        found = _REVERSED[cls] = tuple(reversed(child_fields(cls)))
    return found


# The types met among node fields, by whether they are nodes: a set look-up, not a call per
# value (`isinstance(x, cst.CSTNode)` goes through ABCMeta; even `dict.get` is a call).
_NODE_TYPES: Set[type] = set()
_OTHER_TYPES: Set[type] = {type(None), str, list, tuple}


def _is_node(cls: type) -> bool:
    """Whether `cls` is a node type, once learnt: then `cls in _NODE_TYPES` answers."""
    found = issubclass(cls, cst.CSTNode)
    (_NODE_TYPES if found else _OTHER_TYPES).add(cls)
    return found


def children(node: cst.CSTNode) -> List[cst.CSTNode]:
    """The child nodes of `node` worth analysing, in source order."""
    found: List[cst.CSTNode] = []
    _push_children(node, _reversed_fields(type(node)), found.append)
    found.reverse()
    return found


def _push_children(node: cst.CSTNode, fields: Tuple[str, ...],
                   push: Callable[[cst.CSTNode], None]) -> None:
    """Push the child nodes of `node` held in `fields` (in reverse source order), last first."""
    nodes, others = _NODE_TYPES, _OTHER_TYPES
    for name in fields:
        value = getattr(node, name)
        kind = type(value)
        if kind in nodes:
            push(value)
        elif kind is list or kind is tuple:
            for item in reversed(value):
                item_kind = type(item)
                if item_kind in nodes or (item_kind not in others and _is_node(item_kind)):
                    push(item)
        elif kind not in others and _is_node(kind):
            push(value)


def preorder(root: cst.CSTNode, stop: FrozenSet[type] = frozenset()) -> List[cst.CSTNode]:
    """`root` and its descendants in the order `walk` visits them, without entering (or
    listing) a node whose exact type is in `stop`, `root` aside: what a visitor whose
    `on_visit` records each node and returns False at those types sees, without a call per
    node."""
    return preorder_spans(root, stop)[0]


def preorder_spans(root: cst.CSTNode, stop: FrozenSet[type] = frozenset(),
                   spans: FrozenSet[type] = frozenset()) -> Tuple[List[cst.CSTNode], Dict[int, int]]:
    """`preorder(root, stop)`, and where each listed node whose exact type is in `spans` ends:
    {its index in the list: the index just past its last descendant}, in list order. A node
    at index `i` encloses the node at `j` when `i < j < ends[i]`: one walk answers what a
    visitor's enter/leave hooks on those types would track, for every node at once."""
    found: List[cst.CSTNode] = []
    ends: Dict[int, int] = {}
    special = _special(stop, spans)
    # The stack holds nodes to list and, under the children of a node in `spans`, its index:
    # popped once its descendants are listed.
    stack: List[Any] = [root]  # nodes and ints: `Any`, not a cast per node
    pop, push, add = stack.pop, stack.append, found.append
    nodes, others, fields_of = _NODE_TYPES, _OTHER_TYPES, _REVERSED
    while stack:
        node = pop()
        kind = type(node)
        if kind in special:  # one set look-up for an ordinary node, as without spans
            if kind is int:
                ends[node] = len(found)  # an int: the start of a span whose nodes are listed
                continue
            if kind in stop and node is not root:
                continue
            if kind in spans:
                start = len(found)
                ends[start] = start
                push(start)
        add(node)
        fields = fields_of.get(kind)
        if fields is None:
            fields = _reversed_fields(kind)
        for name in fields:  # inlined `_push_children`, as in `walk`: it runs for every node
            value = getattr(node, name)
            value_kind = type(value)
            if value_kind in nodes:
                push(value)
            elif value_kind is list or value_kind is tuple:
                for item in reversed(value):
                    item_kind = type(item)
                    if item_kind in nodes or (item_kind not in others and _is_node(item_kind)):
                        push(item)
            elif value_kind not in others and _is_node(value_kind):
                push(value)
    return found, ends


_SPECIAL: Dict[Tuple[FrozenSet[type], FrozenSet[type]], FrozenSet[type]] = {}


def _special(stop: FrozenSet[type], spans: FrozenSet[type]) -> FrozenSet[type]:
    """The types `preorder_spans` looks at twice: `stop`, `spans` and its own marks (int)."""
    key = (stop, spans)
    found = _SPECIAL.get(key)
    if found is None:
        found = _SPECIAL[key] = stop | spans | {int}
    return found


Hook = Optional[Callable[[cst.CSTVisitor, cst.CSTNode], object]]
_BASE_ON_VISIT = cst.CSTVisitor.on_visit
_BASE_ON_LEAVE = cst.CSTVisitor.on_leave


def _hooks(visitor_cls: type, node_cls: type) -> Tuple[Hook, Hook]:
    on_visit = getattr(visitor_cls, "on_visit", _BASE_ON_VISIT)
    on_leave = getattr(visitor_cls, "on_leave", _BASE_ON_LEAVE)
    visit = on_visit if on_visit is not _BASE_ON_VISIT else _own(visitor_cls, f"visit_{node_cls.__name__}")
    leave = on_leave if on_leave is not _BASE_ON_LEAVE else _own(visitor_cls, f"leave_{node_cls.__name__}")
    return visit, leave


def _own(visitor_cls: type, name: str) -> Hook:
    """The visitor's hook `name`, unless it is the no-op that every `CSTVisitor` inherits
    (libcst's typed visitor defines one for every node type): not calling those saves two
    calls and a stack entry per node."""
    found = getattr(visitor_cls, name, None)
    return None if found is getattr(cst.CSTVisitor, name, None) else found


# Per visitor class: node class -> (visit hook, leave hook, child fields in reverse source order).
_PLANS: Dict[type, Dict[type, Tuple[Hook, Hook, Tuple[str, ...]]]] = {}


def walk(root: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """Visit `root` and its descendants with `visitor`, like `root.visit(visitor)`, read-only."""
    visitor_cls = type(visitor)
    plans = _PLANS.get(visitor_cls)
    if plans is None:
        plans = _PLANS[visitor_cls] = {}
    nodes, others = _NODE_TYPES, _OTHER_TYPES
    # The stack holds nodes to visit and (leave hook, node) pairs to leave. Children are
    # pushed last first, so that they are popped in source order.
    # `Any`: `type(node) is tuple` tells them apart, which mypy does not follow.
    stack: List[Any] = [root]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        kind = type(node)
        if kind is tuple:  # a CSTNode is never a tuple
            node[0](visitor, node[1])
            continue
        plan = plans.get(kind)
        if plan is None:
            plan = plans[kind] = (*_hooks(visitor_cls, kind), _reversed_fields(kind))
        visit, leave, fields = plan
        if leave is not None:
            push((leave, node))
        if visit is not None and visit(visitor, node) is False:
            continue
        for name in fields:  # inlined `_push_children`: this loop runs for every node walked
            value = getattr(node, name)
            value_kind = type(value)
            if value_kind in nodes:
                push(value)
            elif value_kind is list or value_kind is tuple:
                for item in reversed(value):
                    item_kind = type(item)
                    if item_kind in nodes or (item_kind not in others and _is_node(item_kind)):
                        push(item)
            elif value_kind not in others and _is_node(value_kind):
                push(value)
