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
    assert walked == ["SimpleStatementLine"]
    x = info.scope.local("x")
    assert [(type(b.node).__name__, b.order) for b in x] == [("Assign", 2), ("Assign", 3)]
    assert [b.order for b in info.scope.local("y")] == [3]
    assert walked == ["SimpleStatementLine", "SimpleStatementLine", "If"]
    forget_projects()
