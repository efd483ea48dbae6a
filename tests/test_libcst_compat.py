"""The uses of libcst beyond its public API (flake8_fastapi_bg/libcst_compat.py).

Each test states an assumption about libcst's internals; a libcst release that breaks one
fails here, before it can make the linter slower or wrong.
"""

from __future__ import annotations

import ast
import dataclasses
import threading
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from flake8_fastapi_bg import libcst_compat
from flake8_fastapi_bg.syntax import child_fields

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = (ROOT / "flake8_fastapi_bg" / "slicing.py").read_text()


def node_classes() -> list:
    found, stack = [], [cst.CSTNode]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__.startswith("libcst.")]


# --- parse_module_unvalidated -------------------------------------------------------------------


def test_every_node_class_validates_through_the_one_post_init_of_cstnode() -> None:
    """Swapping `CSTNode.__post_init__` reaches every node: no class defines its own."""
    assert libcst_compat._VALIDATE is not None
    classes = node_classes()
    assert len(classes) > 100
    assert [cls for cls in classes if cls.__post_init__ is not libcst_compat._VALIDATE] == []


def test_validation_is_what_is_skipped() -> None:
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")
    with libcst_compat.unvalidated():
        cst.Name("not a name")  # no check inside the block...
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")  # ...and libcst is as it was after it


def test_the_unvalidated_parse_builds_the_same_tree() -> None:
    assert_same_trees([SAMPLE])


@pytest.mark.slow
def test_the_unvalidated_parse_builds_the_same_tree_on_the_package_and_the_examples() -> None:
    paths = sorted((ROOT / "flake8_fastapi_bg").glob("*.py")) + sorted((ROOT / "examples").rglob("*.py"))
    assert len(paths) > 10
    assert_same_trees([path.read_text() for path in paths])


def assert_same_trees(sources: list) -> None:
    for source in sources:
        trusted, validated = libcst_compat.parse_module_unvalidated(source), cst.parse_module(source)
        assert trusted.deep_equals(validated), source[:80]
        assert trusted.code == source


def test_nothing_stays_patched_after_a_parse_that_fails() -> None:
    with pytest.raises(cst.ParserSyntaxError):
        libcst_compat.parse_module_unvalidated("def broken(:\n")
    assert cst.CSTNode.__dict__["__post_init__"] is libcst_compat._VALIDATE
    with pytest.raises(cst.CSTValidationError):
        cst.Name("still not a name")


def test_nested_blocks_and_other_threads() -> None:
    """Another thread building nodes during our parse is still validated; the last block to
    end, in whichever thread, puts libcst back."""
    inside, release, errors = threading.Event(), threading.Event(), []

    def parse_slowly() -> None:
        with libcst_compat.unvalidated():
            with libcst_compat.unvalidated():  # re-entrant
                inside.set()
                release.wait(10)
            cst.Name("unchecked in this thread")

    worker = threading.Thread(target=parse_slowly)
    worker.start()
    assert inside.wait(10)
    try:
        cst.Name("checked here")
    except cst.CSTValidationError as exc:
        errors.append(exc)
    with libcst_compat.unvalidated():
        cst.Name("unchecked here too")
    release.set()
    worker.join(10)
    assert len(errors) == 1
    assert cst.CSTNode.__dict__["__post_init__"] is libcst_compat._VALIDATE


# --- positions ------------------------------------------------------------------------------------


def test_positions_without_the_metadata_wrapper_are_the_wrappers() -> None:
    """`positions` runs PositionProvider's code generation directly (`_gen_impl`, `_computed`),
    skipping the extra tree walk of `MetadataWrapper.resolve`: the same ranges, node for node,
    and by the direct route (not the fallback)."""
    provider = PositionProvider()
    assert hasattr(provider, "_gen_impl")
    paths = sorted((ROOT / "examples").rglob("*.py"))[:20] + [Path(dataclasses.__file__)]
    compared = 0
    for path in paths:
        module = cst.parse_module(path.read_text(encoding="utf-8"))
        direct = libcst_compat.positions(module)
        assert isinstance(direct, dict), "the direct route failed: positions take the slow wrapper"
        wrapped = dict(MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider))
        assert dict(direct) == wrapped, path
        compared += len(direct)
    assert compared > 5_000


# --- visit_order ----------------------------------------------------------------------------------


def test_visit_order_is_libcsts_own_for_every_node_class() -> None:
    """`syntax.walk` visits children in libcst's order, read from `_visit_and_replace_children`;
    compare with the order libcst's own visitor enters them, on real code."""
    order = []

    class Recorder(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            order.append(node)
            return True

    module = cst.parse_module(SAMPLE)
    module.visit(Recorder())
    ours: list = []
    stack: list = [module]
    from flake8_fastapi_bg.syntax import children

    while stack:
        node = stack.pop()
        ours.append(node)
        stack.extend(reversed(children(node)))
    kept = {id(node) for node in ours}
    assert [node for node in order if id(node) in kept] == ours
    for cls in (cst.FunctionDef, cst.Call, cst.If, cst.ClassDef):
        code = getattr(cls, "_visit_and_replace_children").__code__
        assert any(isinstance(c, str) for c in code.co_consts), cls
        assert child_fields(cls)


def test_visit_order_without_libcsts_code_is_the_declared_order() -> None:
    class Plain:
        pass

    assert list(libcst_compat.visit_order(Plain, ["b", "a"])) == ["b", "a"]
    assert isinstance(ast.parse(SAMPLE), ast.Module)
