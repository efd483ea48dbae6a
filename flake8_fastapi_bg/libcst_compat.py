"""Every use of libcst beyond its public API, in one place, each with a public fallback.

tests/test_libcst_compat.py fails when a libcst release breaks one of these assumptions:

* `parse_module_unvalidated`: `cst.parse_module` without each node's `__post_init__`
  re-checking invariants (whitespace shapes, balanced parentheses) that parser output holds by
  construction (libcst's own comment on `CSTNode.__post_init__` suggests skipping it for
  trusted trees). The check is switched off only while our parse runs, and only for the
  thread that parses: the original `CSTNode.__post_init__` is back in place when the last
  such parse returns, and a node built meanwhile by another thread is still validated.
  Assumes: node classes inherit `__post_init__` from `CSTNode` (dataclasses call it).
* `positions`: PositionProvider's code generation run directly (`_gen_impl`, `_computed`):
  through `MetadataWrapper`, a resolve also walks the whole tree once more with libcst's
  rebuilding visitor, for batched providers that are not there. Falls back to the wrapper.
* `visit_order`: the order in which a node type's `_visit_and_replace_children` reads its
  fields, taken from the constants of its code. Falls back to the declared field order.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, Mapping, Optional, Sequence, Set

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

# The validating `__post_init__` libcst defines (None if a release stops defining one there).
_VALIDATE = cst.CSTNode.__dict__.get("__post_init__")
_lock = threading.Lock()
_skipping: Set[int] = set()  # threads inside `unvalidated()`


def _post_init_unless_skipping(self: cst.CSTNode, _ident: Callable[[], int] = threading.get_ident,
                               _skipping: Set[int] = _skipping) -> None:
    if _ident() not in _skipping:  # called for every node built: the globals are bound above
        _VALIDATE(self)  # type: ignore[misc]  # libcst: not None whenever this hook is installed


@contextmanager
def unvalidated() -> Iterator[None]:
    """Nodes built by this thread inside the block skip libcst's `__post_init__` validation.
    Re-entrant and thread-safe; on leaving the last block, libcst is as it was."""
    ident = threading.get_ident()
    if _VALIDATE is None or ident in _skipping:
        yield
        return
    with _lock:
        if not _skipping:
            cst.CSTNode.__post_init__ = (  # type: ignore[method-assign]  # libcst: patched
                _post_init_unless_skipping)
        _skipping.add(ident)
    try:
        yield
    finally:
        with _lock:
            _skipping.discard(ident)
            if not _skipping:
                cst.CSTNode.__post_init__ = _VALIDATE  # type: ignore[method-assign]  # libcst: restored


def parse_module_unvalidated(source: "str | bytes") -> cst.Module:
    """`cst.parse_module(source)`, about a sixth cheaper (see the module's docstring)."""
    with unvalidated():
        return cst.parse_module(source)


def positions(module: cst.Module) -> Mapping[cst.CSTNode, CodeRange]:
    """libcst's `PositionProvider` ranges of every node of `module`."""
    provider = PositionProvider()
    found: Optional[Dict[cst.CSTNode, CodeRange]]
    try:
        provider._computed = {}
        provider._gen_impl(module)
        found = provider._computed  # type: ignore[assignment]  # libcst: typed for any provider
    except Exception:
        found = None
    if not isinstance(found, dict) or (module.body and module.body[0] not in found):
        return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return found


def visit_order(cls: type, declared: Sequence[str]) -> Sequence[str]:
    """The names of `declared` (a node type's fields) in the order libcst visits them, as far
    as its `_visit_and_replace_children` shows it; fields it does not name go last."""
    code = getattr(getattr(cls, "_visit_and_replace_children", None), "__code__", None)
    order = [name for name in (code.co_consts if code else ()) if isinstance(name, str) and name in declared]
    return list(dict.fromkeys([*order, *declared]))
