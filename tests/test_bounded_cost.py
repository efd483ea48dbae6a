"""Bounded cost on hostile input: a pull request must not be able to stall the CI gate.

libcst's parse time grows with the square of how deeply an expression nests (a generated
5,000-term sum takes it about eight seconds of CPU), where Python's `ast` gives up at once
(RecursionError during ast construction). These tests count the work instead of timing it: no
libcst parse is ever attempted on such code, whether it is a module a task reaches, a statement
of one, or the linted file itself; and the rest of the project is analysed as before.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from support import Parses, forget_projects, run_python, write_tree

from flake8_fastapi_bg import analyse, parsing, project, slicing
from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.model import Finding
from flake8_fastapi_bg.scopes import FunctionScope
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
    """The text of every libcst tree made: parsed, or built from `ast` (a reached module)."""
    return Parses(monkeypatch).made


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
    assert not [text for text in parses if "1 + 1 + 1" in text]
    info = project.project_for(root / "app" / "routes.py")
    # The lookup of `compute` followed the helper's import into the generated module (the
    # import itself binds from `ast`, `scopes.import_bindings`: no tree is made for it).
    assert "app.generated" in info._modules
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
    assert '"FBG101"' in done.stdout and '"FBG903"' in done.stdout, done.stdout + done.stderr
    assert cpu < 4.0


# -- FBG903: say so where it matters ------------------------------------------------------------

HOSTILE = f"x = {CHAIN}\n{GENERATED_TAIL}"


def lint_all(root: Path, *names: str) -> Dict[str, List[Finding]]:
    """Each file linted in turn, in this process (summaries are shared between them)."""
    return {name: lint(root, name) for name in names}


def fbg903(findings: List[Finding]) -> List[Finding]:
    return [f for f in findings if f.code == "FBG903"]


def test_fbg903_at_the_site_names_the_module_why_and_where_it_was_needed(tmp_path: Path,
                                                                         fresh_caches) -> None:
    root = toy(tmp_path, HOSTILE)
    findings = lint(root)
    assert codes(findings) == ["FBG101", "FBG903"]
    heavy, skipped = findings
    assert (skipped.line, skipped.col) == (heavy.line, heavy.col) == (10, 4)  # the add_task call
    assert skipped.message.startswith("background task 'work' needs ")
    assert "generated.py, which was not analysed (nested too deeply for Python's parser; needed at " \
           in skipped.message
    assert "helpers.py:7)" in skipped.message  # `compute(TABLE)`
    assert skipped.message.endswith("its findings may be incomplete")
    # the evidence chain (--show-chain, JSON, SARIF): the site, then where the module was needed
    site, need = skipped.evidence
    assert (site.role, need.role, need.function) == ("site", "leaf", "app.helpers.work")
    assert (need.line, need.col) == (7, 4)
    assert need.path is not None and need.path.endswith("helpers.py")
    assert need.reason == "needs " + skipped.message.split(" needs ")[1].split(",")[0] + \
        " (nested too deeply for Python's parser)"


@pytest.mark.parametrize("helpers", [
    pytest.param("import app.generated as g\n\n\ndef work(pw):\n    g.compute(pw)\n", id="module-alias"),
    pytest.param("from app import generated\n\n\ndef work(pw):\n    generated.compute(pw)\n",
                 id="from-package"),
    pytest.param("from app.generated import *\n\n\ndef work(pw):\n    compute(pw)\n", id="star-import"),
    pytest.param("from app.generated import make\n\nclient = make()\n\n\n"
                 "def work(pw):\n    client.send(pw)\n", id="object-made-there"),
    pytest.param("import asyncio\n\nfrom app.generated import compute\n\n\nasync def work(pw):\n"
                 "    await asyncio.to_thread(compute, pw)\n", id="run-in-a-thread"),
    pytest.param("from app.generated import compute\n\n\n@compute\ndef work(pw):\n    return pw\n",
                 id="decorated-there"),
    pytest.param("from app import generated\n\n\n@generated.compute(retries=3)\n"
                 "def work(pw):\n    return pw\n", id="decorator-factory-there"),
])
def test_fbg903_for_each_way_a_task_runs_code_of_the_module(tmp_path: Path, fresh_caches,
                                                            helpers: str) -> None:
    root = toy(tmp_path, HOSTILE)
    (root / "app" / "helpers.py").write_text(helpers)
    assert codes(lint(root)) == ["FBG903"]


@pytest.mark.parametrize("routes", [
    pytest.param(ROUTES.replace("from app.helpers import work", "from app.generated import compute as work"),
                 id="the-task-itself"),
    pytest.param(ROUTES.replace("from app.helpers import work", "from functools import partial\n"
                                "    from app.generated import compute")
                 .replace("add_task(work, ", "add_task(partial(compute, 1), "), id="a-partial-of-it"),
])
def test_fbg903_when_the_task_resolves_into_the_module(tmp_path: Path, fresh_caches, routes: str) -> None:
    root = toy(tmp_path, HOSTILE)
    (root / "app" / "routes.py").write_text(textwrap.dedent(routes).lstrip())
    findings = lint(root)
    assert codes(findings) == ["FBG903"]
    assert f"routes.py:{findings[0].line})" in findings[0].message  # needed at the site itself


def test_fbg903_once_per_site_for_several_hops_and_modules(tmp_path: Path, fresh_caches) -> None:
    root = toy(tmp_path, HOSTILE)
    write(root, {
        "app/helpers.py": '''
            from app.generated import compute
            from app.more import prepare


            def work(pw):
                compute(pw)
                compute(pw)
                prepare(pw)
            ''',
        "app/more.py": '''
            from app.generated import compute
            from app.tables import lookup


            def prepare(pw):
                compute(pw)
                lookup(pw)
            ''',
        "app/tables.py": f"x = {CHAIN}\n\n\ndef lookup(n):\n    return n\n",
    })
    findings = lint(root)
    assert codes(findings) == ["FBG903"]
    message = findings[0].message
    assert "needs modules that were not analysed: " in message
    assert message.count("generated.py (") == 1 and message.count("tables.py (") == 1
    assert "helpers.py:6)" in message and "more.py:7)" in message  # the first call into each


IMPORT = "from app.generated import TABLE, compute"


@pytest.mark.parametrize("helpers", [
    pytest.param(HELPERS.replace("    compute(TABLE)\n", "    pw = pw * TABLE\n"), id="only-a-constant"),
    pytest.param(HELPERS.replace(IMPORT, "from app.missing import compute"), id="missing-project-module"),
    pytest.param(HELPERS.replace(IMPORT, "from thirdparty_lib import compute"), id="third-party-module"),
    pytest.param(HELPERS.replace(IMPORT, f"{IMPORT}\n    from app.plain import compute"),
                 id="name-rebound-to-a-plain-module"),
])
def test_no_fbg903_when_the_task_does_not_run_code_of_a_skipped_module(
        tmp_path: Path, fresh_caches, helpers: str) -> None:
    root = toy(tmp_path, HOSTILE)
    write(root, {"app/helpers.py": helpers, "app/plain.py": "def compute(n):\n    return n\n"})
    assert codes(lint(root)) == ["FBG101"]


def test_no_fbg903_for_a_skipped_module_only_the_route_uses(tmp_path: Path, fresh_caches) -> None:
    # The route (not the task) calls into the module; and a skipped module nothing reaches.
    root = toy(tmp_path, HOSTILE)
    routes = root / "app" / "routes.py"
    text = routes.read_text().replace("    return {}", "    return compute(1)")
    routes.write_text(f"from app.generated import compute\n{text}")
    write(root, {"app/helpers.py": HELPERS.replace(f"{IMPORT}\n", "").replace("    compute(TABLE)\n", ""),
                 "app/unused.py": f"x = {CHAIN}\n"})
    assert codes(lint(root)) == ["FBG101"]


SHARED = {
    "app/common.py": "from app.generated import compute\n\n\ndef prepare(x):\n    return compute(x)\n",
    "app/jobs.py": "from app.common import prepare\n\n\ndef job_a(x):\n    prepare(x)\n\n\n"
                   "def job_b(x):\n    prepare(x)\n",
    "app/a.py": ROUTES.replace("from app.helpers import work", "from app.jobs import job_a")
                      .replace("add_task(work, ", "add_task(job_a, "),
    "app/b.py": ROUTES.replace("from app.helpers import work", "from app.jobs import job_b")
                      .replace("add_task(work, ", "add_task(job_b, "),
}


@pytest.mark.parametrize("order", [("app/a.py", "app/b.py"), ("app/b.py", "app/a.py")])
def test_fbg903_does_not_depend_on_which_file_summarised_the_shared_helper(
        tmp_path: Path, fresh_caches, monkeypatch: pytest.MonkeyPatch, order: Tuple[str, str]) -> None:
    root = toy(tmp_path, HOSTILE)
    write(root, SHARED)
    summarised: List[str] = []
    summarise = analyse.Analyser._summarise

    def counting(self: analyse.Analyser, scope: FunctionScope) -> analyse.Summary:
        summarised.append(scope.name)
        return summarise(self, scope)

    monkeypatch.setattr(analyse.Analyser, "_summarise", counting)
    found = lint_all(root, *order)
    assert {name: codes(findings) for name, findings in found.items()} == {"app/a.py": ["FBG903"],
                                                                           "app/b.py": ["FBG903"]}
    assert all("common.py:5)" in fbg903(findings)[0].message for findings in found.values())
    assert summarised.count("prepare") == 1  # the second file reused the first one's summary


def test_fbg903_through_the_standalone_command_in_one_process(
        tmp_path: Path, fresh_caches, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from flake8_fastapi_bg.cli import main

    root = toy(tmp_path, HOSTILE)
    write(root, SHARED)
    monkeypatch.chdir(root)
    capsys.readouterr()
    assert main(["--no-cache", "--format", "json", "."]) == 1
    found = json.loads(capsys.readouterr().out)
    assert sorted((f["path"], f["line"], f["code"]) for f in found) == [
        ("app/a.py", 10, "FBG903"), ("app/b.py", 10, "FBG903"),
        ("app/routes.py", 10, "FBG101"), ("app/routes.py", 10, "FBG903")]
    assert all("app/generated.py, which was not analysed (nested too deeply" in f["message"]
               for f in found if f["code"] == "FBG903")


@pytest.mark.slow
def test_fbg903_through_flake8(tmp_path: Path) -> None:
    root = toy(tmp_path, HOSTILE)
    write(root, SHARED)
    # flake8 itself stops with a RecursionError building the generated module's `ast`: a project
    # excludes such a file from flake8, and the plugin still sees it as a module tasks reach.
    done = run_python("-m", "flake8", "--select", "FBG", "--fastapi-bg-no-cache", "--extend-exclude",
                      "generated.py", ".", cwd=root, timeout=120)
    assert done.returncode == 1 and not done.stderr, done.stderr
    lines = sorted(line.split(" background task")[0] for line in done.stdout.splitlines())
    assert lines == ["./app/a.py:10:5: FBG903", "./app/b.py:10:5: FBG903",
                     "./app/routes.py:10:5: FBG101", "./app/routes.py:10:5: FBG903"], done.stdout
    assert "needs app/generated.py, which was not analysed" in done.stdout
