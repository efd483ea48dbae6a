"""A file that is both linted and reached (an earlier linted file's task runs functions defined
in it) is one module object: `Project.adopt_reached` hands the linted file the object loaded
when it was reached, so that its `ast` is parsed once, its statement groups are built once and
the summaries of its functions are computed once, whatever the lint order.

A pure optimisation: every finding, message, position, evidence chain and fix must be what a
separate run on each file gives, and the persistent cache must still record what each linted
file's result rests on.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import pytest
import support

from flake8_fastapi_bg import analyse, slicing
from flake8_fastapi_bg.cli import main
from flake8_fastapi_bg.edits import apply_fixes
from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.model import Finding
from flake8_fastapi_bg.settings import Settings

A = """\
from fastapi import APIRouter, BackgroundTasks

from app.b import Jobs, later

router = APIRouter()


def settle(order_id):
    later(order_id)


@router.post("/orders/{order_id}")
def create_order(order_id: int, background_tasks: BackgroundTasks):
    background_tasks.add_task(Jobs.report, order_id)
    background_tasks.add_task(settle, order_id)
    return {"ok": True}
"""

# Reached from a.py (`Jobs.report`, `later`), and linted with its own task sites, one of them
# in a method of the class a.py's task reached (built with method stubs when it was reached).
B = """\
import time

import stripe
from fastapi import APIRouter, BackgroundTasks

from app.c import note

router = APIRouter()


def later(order_id):
    note(order_id)


async def slow_sleep(order_id):
    time.sleep(order_id)


class Jobs:
    def __init__(self, tasks: BackgroundTasks) -> None:
        self.tasks = tasks

    @staticmethod
    def report(order_id):
        stripe.Charge.create(amount=order_id)

    def schedule(self, order_id):
        self.tasks.add_task(slow_sleep, order_id)
        self.tasks.add_task(later, order_id)

    if True:
        def nested(self, order_id):
            self.tasks.add_task(later, order_id)


@router.post("/jobs/{order_id}")
def create_job(order_id: int, background_tasks: BackgroundTasks):
    Jobs(background_tasks).schedule(order_id)
    return {}
"""

FILES = {"pyproject.toml": "[project]\nname = \"demo\"\n", "app/__init__.py": "", "app/a.py": A,
         "app/b.py": B, "app/c.py": support.QUIET_HELPER}


@pytest.fixture
def root(tmp_path: Path, monkeypatch) -> Path:
    root = support.write_tree(tmp_path / "proj", FILES)
    monkeypatch.chdir(root)
    support.forget_projects()
    return root


SUMMARISERS = ("flake8_fastapi_bg.engine", "flake8_fastapi_bg.project")


class Work:
    """What the engine does to each module, counted by monkeypatching (the package keeps no
    counters): `ast.parse` of each text to summarise a module (by the engine or the project:
    the fix's scan of the files that use a task parses them for itself), statement groups
    built from `ast` (`convert`), the `SlicedModuleInfo` objects made for each module, and
    the module objects each function was summarised on."""

    def __init__(self, monkeypatch) -> None:
        self.parses: Counter[str] = Counter()
        self.built: Counter[Tuple[str, int]] = Counter()
        self.objects: Dict[str, Set[int]] = {}
        self.kept: List[Any] = []  # the objects counted, kept alive: their ids stay theirs
        parse = ast.parse

        def parsing(source: Any, *args: Any, **kwargs: Any) -> Any:
            if sys._getframe(1).f_globals["__name__"] in SUMMARISERS:
                self.parses[source if isinstance(source, str) else source.decode()] += 1
            return parse(source, *args, **kwargs)

        init = slicing.SlicedModuleInfo.__init__

        def making(info: Any, name: str, *args: Any, **kwargs: Any) -> None:
            init(info, name, *args, **kwargs)
            self.objects.setdefault(name, set()).add(id(info))
            self.kept.append(info)

        convert = slicing.SlicedModuleInfo._convert

        def converting(info: Any, index: int) -> Any:
            self.built[(info.name, index)] += 1
            return convert(info, index)

        self.summarised: Dict[Tuple[str, str], Set[int]] = {}
        summarise = analyse.Analyser._summarise

        def summarising(analyser: Any, scope: Any) -> Any:
            self.summarised.setdefault((scope.module.name, scope.qualname), set()).add(id(scope.module))
            return summarise(analyser, scope)

        monkeypatch.setattr(analyse.Analyser, "_summarise", summarising)
        monkeypatch.setattr(ast, "parse", parsing)
        monkeypatch.setattr(slicing.SlicedModuleInfo, "__init__", making)
        monkeypatch.setattr(slicing.SlicedModuleInfo, "_convert", converting)


def described(finding: Finding) -> Tuple[Any, ...]:
    """Everything a finding says: position, end, message, fix, key and evidence chain."""
    hops = tuple((h.function, h.role, h.reason, h.path, h.line, h.col) for h in finding.evidence)
    return (finding.code, finding.line, finding.col, finding.end_line, finding.end_col, finding.message,
            finding.fix, finding.key, hops)


def lint(root: Path, name: str, text: "str | None" = None) -> List[Tuple[Any, ...]]:
    path = root / name
    source = path.read_text(encoding="utf-8") if text is None else text
    return [described(f) for f in lint_source(name, source, Settings(), path)]


def separately(root: Path, name: str) -> List[Tuple[Any, ...]]:
    """The findings of `name` linted alone, in a process that has seen nothing else."""
    support.forget_projects()
    found = lint(root, name)
    support.forget_projects()
    return found


@pytest.mark.parametrize("order", [("app/a.py", "app/b.py"), ("app/b.py", "app/a.py")])
def test_a_file_linted_and_reached_is_parsed_built_and_summarised_once(root, monkeypatch, order) -> None:
    alone = {name: separately(root, name) for name in order}
    work = Work(monkeypatch)
    together = {name: lint(root, name) for name in order}
    assert together == alone  # positions, ends, messages, fixes and evidence chains
    assert [f[:3] for f in together["app/b.py"]] == [
        ("FBG102", 28, 8), ("FBG105", 28, 8)]  # the sites in methods of a stubbed class are found
    assert work.parses[B] == 1
    assert len(work.objects["app.b"]) == 1
    assert [key for key, count in work.built.items() if count > 1] == []
    assert ("app.b", "app.b.later") in work.summarised
    assert [key for key, modules in work.summarised.items() if len(modules) > 1] == []


def test_the_linted_file_gets_its_own_object_when_the_host_text_is_not_the_files(root, monkeypatch) -> None:
    """An unsaved buffer (or standard input): the object reached from the file on disk does
    not serve; the host's text is what is linted."""
    edited = B.replace("    time.sleep(order_id)\n", "    return order_id\n")
    assert edited != B
    alone = separately(root, "app/b.py")
    work = Work(monkeypatch)
    lint(root, "app/a.py")
    found = lint(root, "app/b.py", edited)
    assert len(work.objects["app.b"]) == 2 and work.parses[edited] == 1
    assert [f[0] for f in alone] == ["FBG102", "FBG105"] and found == []


def test_the_fix_of_a_file_reached_first_is_the_fix_of_the_file_linted_alone(root) -> None:
    path = root / "app/b.py"
    support.forget_projects()
    alone = lint_source("app/b.py", B, Settings(), path)
    support.forget_projects()
    lint(root, "app/a.py")
    shared = lint_source("app/b.py", B, Settings(), path)
    assert [f.fix for f in shared] == [f.fix for f in alone]
    assert any(f.fix is not None for f in shared)
    assert apply_fixes(B, shared) == apply_fixes(B, alone)
    assert "\ndef slow_sleep(order_id):\n" in apply_fixes(B, shared)[0]


STATS = re.compile(r"cache: (\d+) hits, (\d+) misses \((\d+) files? analysed\)")


def run(root: Path, capsys) -> Tuple[List[Tuple[str, int, str]], Tuple[int, ...]]:
    """The standalone command on `root` as a fresh process runs it (a.py is linted first):
    (path, line, code) of its findings, and the cache's (hits, misses, files analysed)."""
    support.forget_projects()
    capsys.readouterr()
    status = main(["--verbose", "--format", "json", "."])
    out, err = capsys.readouterr()
    assert status in (0, 1), err
    stats = STATS.search(err)
    assert stats is not None, err
    return ([(f["path"], f["line"], f["code"]) for f in json.loads(out)],
            tuple(int(n) for n in stats.groups()))


def test_a_shared_module_keeps_the_dependencies_of_what_an_earlier_file_computed_on_it(root, capsys) -> None:
    """b.py's task `later` was summarised while a.py was linted (it calls c.note); b.py, linted
    on the same object, reuses that summary without reading c.py. Its cache entry must still
    depend on c.py."""
    quiet, stats = run(root, capsys)
    assert ("app/b.py", 28, "FBG102") in quiet and stats == (0, 2, 2)
    assert not any(code == "FBG104" and path == "app/b.py" for path, _, code in quiet)
    (root / "app/c.py").write_text(support.STRIPE_HELPER, encoding="utf-8")
    loud, stats = run(root, capsys)
    assert stats == (0, 2, 2)
    assert {("app/a.py", 15, "FBG104"), ("app/b.py", 29, "FBG104"), ("app/b.py", 33, "FBG104")} <= set(loud)


def test_a_reached_class_with_a_method_convert_cannot_build_leaves_the_linted_file_its_own_object(
        root, monkeypatch) -> None:
    """`match` is parsed by libcst, not built from `ast`: the stubbed class of the reached
    object cannot be completed from `convert`, so the linted file is summarised on its own, as
    before, with the findings of a separate run."""
    with_match = B.replace("    def schedule(self, order_id):\n", "    def kind(self, order_id):\n"
                           "        match order_id:\n            case 1:\n                return 'one'\n"
                           "        return 'many'\n\n    def schedule(self, order_id):\n")
    (root / "app/b.py").write_text(with_match, encoding="utf-8")
    alone = {name: separately(root, name) for name in ("app/a.py", "app/b.py")}
    work = Work(monkeypatch)
    together = {name: lint(root, name) for name in ("app/a.py", "app/b.py")}
    assert together == alone and [f[0] for f in together["app/b.py"]] == ["FBG102", "FBG105"]
    assert len(work.objects["app.b"]) == 2 and work.parses[with_match] == 2
