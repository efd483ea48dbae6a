"""Inference costs: what a name holds is computed without searching every order of its bindings."""

from __future__ import annotations

from pathlib import Path

import pytest

from flake8_fastapi_bg import values
from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.settings import Settings


def _chain(length: int, start: str) -> str:
    lines = [
        "from fastapi import BackgroundTasks, FastAPI",
        "from PIL import Image",
        "app = FastAPI()",
        "def build(path):",
        f"    img = {start}",
    ]
    lines += [f"    img = img.step{i}(path)" for i in range(length)]
    lines += [
        '    img = img.convert("RGB")',
        '@app.post("/")',
        "def route(path: str, background_tasks: BackgroundTasks):",
        "    background_tasks.add_task(build, path)",
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("start", ["path.strip()", "Image.open(path)"])
def test_a_long_rebinding_chain_costs_quadratically_at_most(tmp_path: Path, monkeypatch, start: str) -> None:
    # `q = q.where(...)` twenty or forty times is common; each binding once tried the name's
    # every other binding, which tried theirs: exponential in the chain's length.
    calls = []
    original = values.Evaluator.binding

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(values.Evaluator, "binding", counting)
    source = _chain(40, start)
    path = tmp_path / "app.py"
    path.write_text(source)
    findings = lint_source(str(path), source, Settings(), path)
    assert not [f for f in findings if f.code == "FBG901"]
    assert len(calls) < 42 * 42


def test_rebinding_keeps_the_library_type() -> None:
    source = (
        "from fastapi import BackgroundTasks, FastAPI\n"
        "from PIL import Image\n"
        "app = FastAPI()\n"
        "def build(path):\n"
        "    img = Image.open(path)\n"
        '    img = img.convert("RGB")\n'
        "    img = img.rotate(90)\n"
        "    img.save(path)\n"
        '@app.post("/")\n'
        "def route(path: str, background_tasks: BackgroundTasks):\n"
        "    background_tasks.add_task(build, path)\n"
    )
    findings = lint_source("app.py", source, Settings(), Path("app.py"))
    assert [(f.line, f.code) for f in findings] == [(11, "FBG101")]


def _evaluator(tmp_path: Path, source: str):
    from flake8_fastapi_bg.knowledge import KnowledgeBase
    from flake8_fastapi_bg.project import Project
    (tmp_path / "mod.py").write_text(source)
    project = Project((tmp_path,))
    module = project.module("mod")
    assert module is not None
    return values.Evaluator(project, KnowledgeBase.default()), module.scope


def test_a_settled_answer_is_given_again(tmp_path: Path, monkeypatch) -> None:
    evaluator, scope = _evaluator(tmp_path, "import os\nclient = os.path\n")
    computed = []
    original = values.Evaluator._name

    def counting(self, *args):
        computed.append(args)
        return original(self, *args)

    monkeypatch.setattr(values.Evaluator, "_name", counting)
    first = evaluator.name("client", scope)
    assert values.ext_name(first) == "os.path"
    computed.clear()
    assert evaluator.name("client", scope) is first
    assert computed == []


def test_an_answer_given_while_a_value_is_computed_is_not_kept(tmp_path: Path) -> None:
    # A guarded node in progress reads as unknown: what is derived from it then must not be
    # given again once nothing is in progress.
    evaluator, scope = _evaluator(tmp_path, "import os\nclient = None\nclient = os.path\n")
    evaluator._active[(0, 0)] = True
    evaluator._limits[(id(scope), "client")] = 1  # `client` read while its second binding is computed
    assert not values._is_known(evaluator.name("client", scope))
    evaluator._active.clear()
    evaluator._limits.clear()
    assert values.ext_name(evaluator.name("client", scope)) == "os.path"


def test_a_union_of_one_name_twice_keeps_its_options(tmp_path: Path) -> None:
    # Values told apart by identity (a call's result) are computed again, not given twice as
    # one object: `one_of` of two answers stays what it was.
    evaluator, scope = _evaluator(tmp_path, "def make():\n    pass\nthing = make()\n")
    first, second = evaluator.name("thing", scope), evaluator.name("thing", scope)
    assert isinstance(first, values.CallResult) and first is not second
    assert isinstance(values.one_of((first, second)), values.OneOf)
