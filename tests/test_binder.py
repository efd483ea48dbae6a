"""The lexical binder (`scopes._Collector`)."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path
from typing import List

import libcst as cst
from support import forget_projects, write_tree

from flake8_fastapi_bg import project, scopes, slicing
from flake8_fastapi_bg.scopes import Binding, _Collector
from flake8_fastapi_bg.syntax import walk


def test_a_binding_keeps_every_field_when_the_binder_sets_its_order() -> None:
    # `_Collector.add` copies a binding with the statement's order without `dataclasses.replace`:
    # a field added to `Binding` must not be lost there.
    values = {f.name: object() for f in dataclasses.fields(Binding) if f.name != "order"}
    binding = Binding(**values)  # type: ignore[arg-type]
    scope = types.SimpleNamespace(module=types.SimpleNamespace(has_walrus=False))
    collector = _Collector(scope)  # type: ignore[arg-type]
    collector.order = 7
    collector.add("name", binding)
    assert collector.bindings["name"] == [dataclasses.replace(binding, order=7)]
    collector.order = 0
    collector.add("same", binding)
    assert collector.bindings["same"][0] is binding  # already in order: not copied


def test_the_binder_orders_bindings_by_body_statement() -> None:
    module = cst.parse_module("import os\nx = y = 1\nfor i in range(3):\n    z = i\n")
    scope = types.SimpleNamespace(module=types.SimpleNamespace(has_walrus=False, package=""), self_name=None)
    collector = _Collector(scope)  # type: ignore[arg-type]
    for order, statement in enumerate(module.body, 1):
        collector.order = order
        statement.visit(collector)
    assert {name: [b.order for b in found] for name, found in collector.bindings.items()} == {
        "os": [1], "x": [2], "y": [2], "i": [3], "z": [3]}


LIB = """\
from os import path, sep, getcwd
x = 1
if path:
    x = 2
else:
    y = x
"""


def test_a_reached_module_walks_each_binding_group_once(tmp_path: Path, monkeypatch) -> None:
    root = write_tree(tmp_path, {"app/__init__.py": "", "app/lib.py": LIB,
                                 "app/other.py": "from app.lib import path\n"}, marker=True)
    forget_projects()
    info = project.project_for(root / "app" / "other.py").module("app.lib")
    assert isinstance(info, slicing.SlicedModuleInfo)
    walked: List[str] = []

    def recording(node: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
        walked.append(type(node).__name__)
        walk(node, visitor)

    monkeypatch.setattr(scopes, "walk", recording)
    for name in ("path", "sep", "getcwd"):  # three names of one `from` statement
        [binding] = info.scope.local(name)
        assert binding.kind == "import" and binding.qualname == f"os.{name}"
    assert walked == []  # a group of imports binds from its `ast` (`scopes.import_bindings`)
    x = info.scope.local("x")
    assert [(type(b.node).__name__, b.order) for b in x] == [("Assign", 2), ("Assign", 3)]
    assert [b.order for b in info.scope.local("y")] == [3]
    assert walked == ["SimpleStatementLine", "If"]
    forget_projects()


IMPORTS = """\
import os.path
import os.path as osp, json
from . import sibling
from .sub import thing as other, more
from ..up import far
from .... import beyond
import a; from b import c
# a comment above
from d import (
    e,  # why
    f as g,
)
from star import *
"""


def test_a_reached_modules_imports_bind_from_ast_as_the_binder_would(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"app/__init__.py": "", "app/pkg/__init__.py": "", "app/pkg/lib.py": IMPORTS,
                                 "app/other.py": ""}, marker=True)
    forget_projects()
    info = project.project_for(root / "app" / "other.py").module("app.pkg.lib")
    assert isinstance(info, slicing.SlicedModuleInfo)
    names = ["os", "osp", "json", "sibling", "other", "more", "far", "beyond", "a", "c", "e", "g"]
    fast = {name: info.scope.local(name) for name in names}
    assert not info._parsed  # no group built: what they bind is read from `ast`
    # What `_Collector` records walking the libcst statements of the same groups.
    collector = _Collector(info.scope)
    for index in info.all_groups():
        collector.order = info.order(index)
        for statement in info.statements(index):
            walk(statement, collector)
    assert collector.bindings.get("beyond") is None  # above the top package: not bound
    for name in names:
        expected = [(b.kind, b.qualname, b.order, b.value, b.annotation, b.node)
                    for b in collector.bindings.get(name, [])]
        assert [(b.kind, b.qualname, b.order, b.value, b.annotation, b.node) for b in fast[name]] == expected
    assert fast["c"][0].node is collector.bindings["c"][0].node  # the statement of its group, once
    assert info.scope.star_imports == [("star", info.order(len(list(info.all_groups())) - 1))]
    forget_projects()


def test_an_import_bindings_node_is_built_on_first_read(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"app/__init__.py": "", "app/lib.py": "x = 1\nfrom os import path, sep\n",
                                 "app/other.py": ""}, marker=True)
    forget_projects()
    info = project.project_for(root / "app" / "other.py").module("app.lib")
    assert isinstance(info, slicing.SlicedModuleInfo)
    [path], [sep] = info.scope.local("path"), info.scope.local("sep")
    assert not info._parsed
    assert isinstance(path.node, cst.ImportFrom)
    assert list(info._parsed) == [1]  # its group, built now, once for both names
    [line] = info.statements(1)
    assert isinstance(line, cst.SimpleStatementLine) and path.node is line.body[0] is sep.node
    assert path == path and hash(path) == hash(path)
    forget_projects()
