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
