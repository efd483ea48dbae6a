"""Bounded cost on hostile input: a pull request must not be able to stall the CI gate.

libcst's parse time grows with the square of how deeply an expression nests (a generated
5,000-term sum takes it about eight seconds of CPU), where Python's `ast` gives up at once
(RecursionError during ast construction). These tests count the work instead of timing it: no
libcst parse is ever attempted on such code, whether it is a module a task reaches, a statement
of one, or the linted file itself; and the rest of the project is analysed as before.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
from support import Parses, forget_projects, run_python, write_tree

from flake8_fastapi_bg import parsing, project, slicing
from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.model import Finding
from flake8_fastapi_bg.settings import Settings

CHAIN = " + ".join(["1"] * 5000)  # `ast` raises RecursionError on it
SHORTER_CHAIN = " + ".join(["1"] * 1000)  # `ast` builds it; libcst would take a quarter second

ROUTES = '''
    from fastapi import APIRouter, BackgroundTasks

    from app.helpers import work

    router = APIRouter()


    @router.post("/go")
    def go(background_tasks: BackgroundTasks):
        background_tasks.add_task(work, b"pw")
        return {}
    '''

HELPERS = '''
    import hashlib

    from app.generated import TABLE, compute


    def work(pw: bytes) -> bytes:
        compute(TABLE)
        return hashlib.pbkdf2_hmac("sha256", pw, b"salt", 100_000)
    '''

GENERATED_TAIL = "TABLE = 1\n\n\ndef compute(n):\n    return n * 2\n"


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    forget_projects()
    yield
    forget_projects()


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """The text of every libcst parse attempted."""
    return Parses(monkeypatch).sources


def write(root: Path, files: Dict[str, str]) -> Path:
    return write_tree(root, files, dedent=True, marker=True)


def lint(root: Path, name: str = "app/routes.py") -> List[Finding]:
    path = root / name
    return lint_source(str(path), path.read_text(), Settings(), path)


def toy(root: Path, generated: str) -> Path:
    """The route schedules a task from a helper module that imports the generated module."""
    return write(root, {"app/__init__.py": "", "app/routes.py": ROUTES, "app/helpers.py": HELPERS,
                        "app/generated.py": generated})


def codes(findings: List[Finding]) -> List[str]:
    return [f.code for f in findings]


def test_a_reached_module_ast_cannot_build_is_never_parsed(tmp_path: Path, fresh_caches,
                                                           parses: List[str]) -> None:
    root = toy(tmp_path, f"x = {CHAIN}\n{GENERATED_TAIL}")
    limit = sys.getrecursionlimit()
    findings = lint(root)
    assert sys.getrecursionlimit() == limit
    # The helper's own work is still judged; the generated module is left out, and no libcst
    # parse was attempted on any of its text. FBG903 says so at the site.
    assert codes(findings) == ["FBG101", "FBG903"]
    assert not [text for text in parses if "1 + 1 + 1" in text or "def compute" in text]
    assert set(project.project_for(root / "app" / "routes.py").skipped) == {"app.generated"}


def test_the_same_module_without_the_generated_line_is_analysed(
        tmp_path: Path, fresh_caches, parses: List[str]) -> None:
    # The near miss: an ordinary module is parsed (the statements the lookups follow) and kept.
    root = toy(tmp_path, GENERATED_TAIL)
    assert codes(lint(root)) == ["FBG101"]
    assert any("def compute" in text for text in parses)
    assert project.project_for(root / "app" / "routes.py").skipped == {}


def test_a_deep_statement_of_a_reached_module_is_not_parsed(tmp_path: Path, fresh_caches,
                                                            parses: List[str]) -> None:
    # `ast` builds the module, so the rest of it is analysed; the one statement nested deeper
    # than libcst parses in bounded time binds nothing (`compute` is looked up: it is called).
    root = toy(tmp_path, f"TABLE = 1\ncompute = pick({SHORTER_CHAIN})\n")
    assert codes(lint(root)) == ["FBG101"]
    assert any(text.startswith("from app.generated import") for text in parses)
    assert not [text for text in parses if "1 + 1 + 1" in text]
    info = project.project_for(root / "app" / "routes.py")
    assert info.skipped == {}
    generated = info.module("app.generated")
    assert isinstance(generated, slicing.SlicedModuleInfo)
    assert generated.statements(generated.binders("compute")[0]) == ()


def test_a_shallow_long_statement_is_still_parsed(tmp_path: Path, fresh_caches, parses: List[str]) -> None:
    # Near miss: a long but flat table (depth 4) is parsed when a lookup needs it.
    table = "[" + ", ".join(["1"] * 1000) + "]"
    root = toy(tmp_path, f"TABLE = 1\ncompute = pick({table})\n")
    assert codes(lint(root)) == ["FBG101"]
    assert any(text.startswith("compute = pick([1, 1") for text in parses)


def test_a_linted_file_ast_cannot_build_is_never_parsed(tmp_path: Path, fresh_caches,
                                                        parses: List[str]) -> None:
    root = toy(tmp_path, GENERATED_TAIL)
    routes = root / "app" / "routes.py"
    routes.write_text(routes.read_text() + f"\n\nx = {CHAIN}\n")
    assert lint(root) == []  # flake8 reports E999; nothing to add
    assert parses == []


@pytest.mark.parametrize("text, error, bounded", [
    ("x = 1\n", SyntaxError("invalid syntax"), True),
    (f"x = {' + '.join(['1'] * 999)}\n", SyntaxError("invalid syntax"), True),  # 1,999 tokens
    (f"x = {' + '.join(['1'] * 1000)}\n", SyntaxError("invalid syntax"), False),  # 2,001
    ("x = " + "(" * 101 + "1" + ")" * 101 + "\n", SyntaxError("invalid syntax"), False),
    ("x = " + "(" * 100 + "1" + ")" * 100 + "\n", SyntaxError("invalid syntax"), True),
    ("x = 1\n", SyntaxError("too many nested parentheses"), False),
    ("x = 1\n", RecursionError("maximum recursion depth exceeded during ast construction"), False),
    ("x = 1\n", MemoryError(), False),
    ("x = (1,\n", SyntaxError("'(' was never closed"), False),  # the tokenizer fails too
])
def test_whole_parse_after_an_ast_failure_is_bounded(text: str, error: BaseException, bounded: bool) -> None:
    if isinstance(error, SyntaxError):
        error.msg = error.args[0]
    assert parsing.parse_is_bounded(text, error) is bounded


@pytest.mark.slow
def test_the_standalone_command_on_the_hostile_toy_project_stays_cheap(tmp_path: Path) -> None:
    # Before the bound: about 8 s of CPU (22 s on a loaded machine). The limit is generous, for
    # a shared CI machine; the counting tests above are the exact proof.
    root = toy(tmp_path, f"x = {CHAIN}\n{GENERATED_TAIL}")
    before = os.times()
    done = run_python("-m", "flake8_fastapi_bg", "--format", "json", ".", cwd=root, timeout=120)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    assert '"FBG101"' in done.stdout, done.stdout + done.stderr
    assert cpu < 4.0
