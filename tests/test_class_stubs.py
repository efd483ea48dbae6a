"""Reached modules are built from `ast` (`convert`), the methods of their classes as stubs, and a
method's body when it is used.

A pure optimisation: every finding, message and position must be what libcst's parse of the
whole class gives. The oracle is the engine itself with libcst parsing every group.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict, List, Tuple

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider
from support import forget_projects

from flake8_fastapi_bg import project, slicing
from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.scopes import ClassScope
from flake8_fastapi_bg.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

SERVICES = '''
import hashlib
import time

from fastapi import BackgroundTasks


class Base:
    def __init__(self, tasks: BackgroundTasks) -> None:
        self.tasks = tasks
        self.rounds = 3

    def helper(self):
        return 1


class Reports(Base):
    """A service with many methods, reached for a few of them."""

    kind = "reports"

    def __init__(self, tasks: BackgroundTasks, db) -> None:
        super().__init__(tasks)
        self.db = db
        self.digest = hashlib.sha256

    # fastapi-bg: cpu-heavy
    def crunch(self, n: int) -> int:
        """Adds up, slowly."""
        total = 0
        for i in range(n):
            total += i
        return total

    @staticmethod
    def pause(seconds):
        time.sleep(seconds)

    async def fetch(self,
                    url: str,
                    retries: int = 3) -> None:
        for attempt in range(retries):
            time.sleep(2 ** attempt)

    def one_liner(self): return self.helper()

    def later(self):
        self.cache = {}  # an attribute set outside __init__
        def inner():
            time.sleep(1)
        return inner

    def unused(self):
        x = [i * i for i in range(1000)]
        y = sorted(x)
        return y

    def schedule(self) -> None:
        self.tasks.add_task(self.crunch, 10)
        self.tasks.add_task(self.fetch, "u")
        self.tasks.add_task(self.pause, 5)
        self.tasks.add_task(self.later())
        self.tasks.add_task(self.cache.clear)
'''

ROUTES = '''
from fastapi import APIRouter, BackgroundTasks

from app.services import Reports

router = APIRouter()


@router.post("/reports")
async def make(tasks: BackgroundTasks) -> dict:
    service = Reports(tasks, db=None)
    tasks.add_task(service.fetch, "http://example.com")
    tasks.add_task(service.crunch, 3)
    tasks.add_task(Reports.pause, 1)
    service.schedule()
    return {}
'''


def write(root: Path, files: Dict[str, str], newline: str = "\n", indent: str = "    ") -> Path:
    (root / "pyproject.toml").write_text("")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        body = textwrap.dedent(text).lstrip().replace("    ", indent)
        path.write_bytes(body.replace("\n", newline).encode())
    return root


def lint_all(paths: List[Path], stubs: bool, monkeypatch) -> List[Tuple[str, int, int, str, str]]:
    """`stubs`: reached modules built from `ast`, methods stubbed; else parsed by libcst."""
    forget_projects()
    if stubs:
        monkeypatch.undo()
    else:
        monkeypatch.setattr(slicing.SlicedModuleInfo, "_convert", lambda info, index: None)
    found = []
    for path in paths:
        source = path.read_bytes().decode("utf-8")
        found += [(path.name, f.line, f.col, f.code, f.message)
                  for f in lint_source(str(path), source, Settings(), path)]
    forget_projects()
    return found


@pytest.mark.parametrize("newline,indent", [("\n", "    "), ("\r\n", "    "), ("\n", "\t")],
                         ids=["lf", "crlf", "tabs"])
def test_stubbed_classes_give_the_same_findings(tmp_path: Path, monkeypatch, newline: str,
                                                indent: str) -> None:
    root = write(tmp_path, {"app/__init__.py": "", "app/services.py": SERVICES,
                            "app/routes.py": ROUTES}, newline, indent)
    paths = [root / "app" / "routes.py", root / "app" / "services.py"]
    whole = lint_all(paths, stubs=False, monkeypatch=monkeypatch)
    stubbed = lint_all(paths, stubs=True, monkeypatch=monkeypatch)
    assert stubbed == whole
    messages = "\n".join(f"{name}:{line}:{col} {code} {message}" for name, line, col, code, message in whole)
    # Evidence inside methods that were stubbed, at their real lines: the pragma above `crunch`,
    # the sleeps in `fetch`, `pause` and the nested `inner`.
    assert "'# fastapi-bg: cpu-heavy'" in messages
    assert "app/services.py:42" in messages  # time.sleep(2 ** attempt) in fetch
    assert "app/services.py:36" in messages  # time.sleep(seconds) in pause
    assert len(whole) >= 5


def test_only_the_methods_used_are_parsed(tmp_path: Path, monkeypatch) -> None:
    root = write(tmp_path, {"app/__init__.py": "", "app/services.py": SERVICES,
                            "app/routes.py": ROUTES})
    forget_projects()
    routes = root / "app" / "routes.py"
    lint_source(str(routes), routes.read_text(), Settings(), routes)
    services = project.project_for(routes)._modules["app.services"]
    assert isinstance(services, slicing.SlicedModuleInfo)
    # The three tasks of the route; `schedule` is called by the endpoint, not by a task, and
    # `__init__`, `later`, `unused` and the rest are never needed.
    assert sorted(node.name.value for node in services._converter._unstubbed.values()) \
        == ["crunch", "fetch", "pause"]
    forget_projects()


def test_a_lookup_of_self_x_parses_only_the_methods_that_may_set_x(tmp_path: Path, monkeypatch) -> None:
    root = write(tmp_path, {"app/__init__.py": "", "app/services.py": SERVICES,
                            "app/other.py": "from app.services import Reports\n"})
    forget_projects()
    info = project.project_for(root / "app" / "other.py").module("app.services")
    assert isinstance(info, slicing.SlicedModuleInfo)
    binding = info.scope.local("Reports")[-1]
    reports = info.scope.child(binding.node)
    assert isinstance(reports, ClassScope)
    [(assigned, method)] = reports.instance_attr("cache")
    assert method.name == "later" and isinstance(assigned.value, cst.Dict)
    assert sorted(n.name.value for n in info._converter._unstubbed.values()) == ["later"]
    assert [m.name for _, m in reports.instance_attr("db")] == ["__init__"]
    assert reports.instance_attr("nothing") == []
    assert sorted(n.name.value for n in info._converter._unstubbed.values()) == ["__init__", "later"]
    forget_projects()


def test_positions_in_stubbed_classes_are_libcsts(tmp_path: Path, monkeypatch) -> None:
    """Every node of every method, reached through the scopes, is placed where libcst places it
    in the whole module."""
    root = write(tmp_path, {"app/__init__.py": "", "app/services.py": SERVICES,
                            "app/other.py": "from app.services import Reports\n"})
    forget_projects()
    info = project.project_for(root / "app" / "other.py").module("app.services")
    whole = cst.parse_module((root / "app" / "services.py").read_text())
    expected = MetadataWrapper(whole, unsafe_skip_copy=True).resolve(PositionProvider)
    whole_class = next(s for s in whole.body if isinstance(s, cst.ClassDef) and s.name.value == "Reports")
    reports = info.scope.child(info.scope.local("Reports")[-1].node)
    got, want, kinds = [], [], []
    for stub, real in zip(_defs(reports.node), _defs(whole_class)):
        method = reports.child(stub)
        assert method.node is not stub or stub.name.value == "one_liner"
        for mine, theirs in zip(_nodes(method.node), _nodes(real)):
            kinds.append(mine)
            got.append(info.span(mine, method))
            rng = expected[theirs]
            want.append(((rng.start.line, rng.start.column), (rng.end.line, rng.end.column)))
    bad = [(type(n).__name__, g, w) for n, g, w in zip(kinds, got, want) if g != w]
    assert len(got) > 100 and got == want, sorted({k for k, _, _ in bad})
    forget_projects()


def _defs(classdef: cst.ClassDef) -> List[cst.FunctionDef]:
    return [s for s in classdef.body.body if isinstance(s, cst.FunctionDef)]  # type: ignore[union-attr]


def _nodes(root: cst.CSTNode) -> List[cst.CSTNode]:
    from flake8_fastapi_bg.syntax import children

    found, stack = [], [root]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(reversed(children(node)))
    return found


@pytest.mark.slow
def test_the_fixtures_and_the_example_give_the_same_findings_with_stubs(monkeypatch) -> None:
    paths = sorted(FIXTURES.rglob("*.py")) + sorted((ROOT / "examples").rglob("*.py"))
    whole = lint_all(paths, stubs=False, monkeypatch=monkeypatch)
    assert len(whole) > 50
    assert lint_all(paths, stubs=True, monkeypatch=monkeypatch) == whole
